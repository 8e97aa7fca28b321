"""Text metrics on decoded predictions: name → fn(predictions, references) → {metric: value}.

ROUGE comes from `rouge-score` (with stemming; rougeLsum splits sentences on newlines).
"""


def rouge(predictions: list[str], references: list[str]) -> dict:
    """Mean ROUGE-1/2/L/Lsum F1 over pairs."""
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for prediction, reference in zip(predictions, references, strict=True):
        aggregator.add_scores(scorer.score(reference, prediction))
    if not predictions:
        return {}
    return {name: score.mid.fmeasure for name, score in aggregator.aggregate().items()}


def exact_match(predictions: list[str], references: list[str]) -> dict:
    """Fraction of predictions equal to their reference after whitespace normalisation."""
    pairs = list(zip(predictions, references, strict=True))
    hits = sum(" ".join(p.split()) == " ".join(r.split()) for p, r in pairs)
    return {"exact_match": hits / max(1, len(pairs))}


def answer_accuracy(predictions: list[str], references: list[str]) -> dict:
    """Fraction of reference words matched at the same word position (slot accuracy)."""
    correct = total = 0
    for prediction, reference in zip(predictions, references, strict=True):
        predicted, expected = prediction.split(), reference.split()
        total += len(expected)
        correct += sum(p == e for p, e in zip(predicted, expected))
    return {"answer_accuracy": correct / max(1, total)}


METRICS = {"rouge": rouge, "exact_match": exact_match, "answer_accuracy": answer_accuracy}


def compute_metrics(names: list[str], predictions: list[str], references: list[str]) -> dict:
    results = {}
    for name in names:
        if name not in METRICS:
            raise ValueError(f"metric {name!r} is unknown; choose from {', '.join(METRICS)}")
        results.update(METRICS[name](predictions, references))
    return results
