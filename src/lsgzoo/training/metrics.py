"""Text metrics on decoded predictions, each a mean over examples.

A metric scores one (prediction, reference) pair at a time, giving every output name a
(numerator, weight) contribution; its value is sum(numerators) / sum(weights) over the examples.
ROUGE and exact match weigh each example 1 (the plain mean over examples); answer_accuracy weighs
an example by its reference words (the fraction of slots right). Keeping the two sums, not a mean,
is what lets `lsgzoo.training.module.TextMetricMeans` reduce them across DDP ranks exactly.

ROUGE is rouge-score's `RougeScorer` F1 per pair (stemming on; rougeLsum splits sentences on
newlines), averaged: no bootstrap resampling. Importing this module loads nothing heavy.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
CLASSIFICATION_OUTPUTS = ("accuracy", "macro_f1")  # what ClassificationModule logs; data.metrics does not apply
Contribution = dict[str, tuple[float, float]]


@dataclass(frozen=True)
class TextMetric:
    """outputs: the names it logs (under val/ and test/); score(prediction, reference) → Contribution."""

    outputs: tuple[str, ...]
    score: Callable[[str, str], Contribution]


@cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_pair(prediction: str, reference: str) -> Contribution:
    """ROUGE-1/2/L/Lsum F1 of one pair, each with weight 1."""
    scores = _rouge_scorer().score(reference, prediction)
    return {name: (scores[name].fmeasure, 1.0) for name in ROUGE_TYPES}


def exact_match_pair(prediction: str, reference: str) -> Contribution:
    """1 when the prediction equals the reference after whitespace normalisation, else 0."""
    return {"exact_match": (float(prediction.split() == reference.split()), 1.0)}


def answer_accuracy_pair(prediction: str, reference: str) -> Contribution:
    """Reference words matched at the same word position, weighted by the reference's word count."""
    expected = reference.split()
    correct = sum(p == e for p, e in zip(prediction.split(), expected))
    return {"answer_accuracy": (float(correct), float(len(expected)))}


METRICS = {
    "rouge": TextMetric(ROUGE_TYPES, rouge_pair),
    "exact_match": TextMetric(("exact_match",), exact_match_pair),
    "answer_accuracy": TextMetric(("answer_accuracy",), answer_accuracy_pair),
}


def check_metric_names(names) -> None:
    """Raise ValueError naming the first unknown metric and the known ones."""
    for name in names:
        if name not in METRICS:
            raise ValueError(f"{name!r} is unknown; choose from {', '.join(METRICS)}")


def metric_outputs(names) -> list[str]:
    """The names the metrics `names` log, in order (rouge → rouge1, rouge2, rougeL, rougeLsum)."""
    check_metric_names(names)
    return [output for name in names for output in METRICS[name].outputs]


def metric_sums(names, predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """{output: [sum of numerators, sum of weights]} over the pairs."""
    check_metric_names(names)
    sums = {output: [0.0, 0.0] for output in metric_outputs(names)}
    for prediction, reference in zip(predictions, references, strict=True):
        for name in names:
            for output, (numerator, weight) in METRICS[name].score(prediction, reference).items():
                sums[output][0] += numerator
                sums[output][1] += weight
    return sums


def compute_metrics(names, predictions: list[str], references: list[str]) -> dict:
    """{output: mean over the pairs} for the metrics `names` ({} for outputs with no weight, e.g. no pairs)."""
    sums = metric_sums(names, predictions, references)
    return {output: numerator / weight for output, (numerator, weight) in sums.items() if weight > 0}


def validation_metrics(task: str, names) -> list[str]:
    """Every metric a run of `task` logs under val/ (what data.monitor may name): the loss, then the task's."""
    outputs = metric_outputs(names) if task == "seq2seq" else list(CLASSIFICATION_OUTPUTS)
    return ["val/loss", *(f"val/{output}" for output in outputs)]
