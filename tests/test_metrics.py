"""Text metrics: ROUGE as documented (the mean over examples of rouge-score's per-pair F1), DDP-correct sums."""

import pytest

from lsgzoo.training.metrics import compute_metrics

# (prediction, reference, hand-computed F1 for rouge1, rouge2, rougeL (= rougeLsum: one sentence each))
PAIRS = [
    # unigrams 3/3 of the prediction, 3/6 of the reference; bigrams 2/2 and 2/5; LCS 3
    ("the cat sat", "the cat sat on the mat", 2 / 3, 2 * 1 * 0.4 / 1.4, 2 / 3),
    ("a dog ran", "a dog ran", 1.0, 1.0, 1.0),
    ("hello there", "general kenobi", 0.0, 0.0, 0.0),
    # unigrams 2/2 and 2/6; bigrams 1/1 and 1/5; LCS 2
    ("the cat", "the cat sat on the mat", 2 * (1 / 3) / (4 / 3), 2 * 0.2 / 1.2, 2 * (1 / 3) / (4 / 3)),
]


def hand_means() -> dict:
    count = len(PAIRS)
    rouge1, rouge2, rouge_l = (sum(pair[column] for pair in PAIRS) / count for column in (2, 3, 4))
    return {"rouge1": rouge1, "rouge2": rouge2, "rougeL": rouge_l, "rougeLsum": rouge_l}


def test_rouge_is_the_plain_mean_of_per_example_f1():
    predictions, references = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    scores = compute_metrics(["rouge"], predictions, references)
    assert scores == pytest.approx(hand_means(), abs=1e-9)


def test_rouge_mean_over_many_distinct_scores():
    """Prefixes of k = 1..10 of a 10-word reference: unigram precision 1 and recall k/10, so rouge1 = rougeL =
    2k / (10 + k); bigram recall (k - 1)/9, so rouge2 = 2(k - 1) / (8 + k). Ten distinct values: a bootstrap
    median of resampled means lands on their mean only by chance."""
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()
    predictions = [" ".join(words[:k]) for k in range(1, 11)]
    scores = compute_metrics(["rouge"], predictions, [" ".join(words)] * 10)
    rouge1 = sum(2 * k / (10 + k) for k in range(1, 11)) / 10
    rouge2 = sum(2 * (k - 1) / (8 + k) for k in range(1, 11)) / 10
    assert scores == pytest.approx({"rouge1": rouge1, "rouge2": rouge2, "rougeL": rouge1, "rougeLsum": rouge1},
                                   abs=1e-9)


def test_exact_match_and_answer_accuracy():
    scores = compute_metrics(["exact_match", "answer_accuracy"], ["a b  c", "x y"], ["a b c", "x z w"])
    assert scores == pytest.approx({"exact_match": 0.5, "answer_accuracy": 4 / 6})


def test_sums_reduced_across_ranks_give_the_mean_over_all_examples():
    """Two 'ranks' with 1 and 3 examples: the merged states (what DDP's sum reduction does) give the mean
    over the 4 examples, not the mean of the two ranks' means."""
    from lsgzoo.training.module import TextMetricMeans

    rank0, rank1 = TextMetricMeans(["rouge", "exact_match"]), TextMetricMeans(["rouge", "exact_match"])
    rank0.update([PAIRS[0][0]], [PAIRS[0][1]])
    rank1.update([p[0] for p in PAIRS[1:]], [p[1] for p in PAIRS[1:]])
    rank0.merge_state(rank1)
    merged = {name: float(value) for name, value in rank0.compute().items()}
    assert merged == pytest.approx({**hand_means(), "exact_match": 0.25}, abs=1e-9)
