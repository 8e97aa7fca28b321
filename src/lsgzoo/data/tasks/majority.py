"""Majority symbol (global aggregation): which of `num_symbols` symbols occurs most often in the document.

A document of `length` words, each one of the symbols `s0..s{k-1}`, shuffled. The counts are as even
as the length allows except that the winner leads the runner-up by exactly `margin`: with
r = ⌈(length − margin) / k⌉, the winner occurs r + margin times, the runner-up r times, and the other
k − 2 symbols share the rest as evenly as possible (each at most r). Label: the winner's index
(classification, `num_symbols` classes); target: the winner's word, for `data.task=seq2seq`. The
winner is uniform over the symbols.

What makes it long-range: the answer is a function of every word of the document; any window of w
words holds about w / k of each symbol, and the lead of `margin` is spread over the whole length, so
the majority inside a local window is close to a guess (a window of 30 words in 510 sees an expected
lead of 30·margin/length ≈ 1.9 occurrences at the default margin, against a spread of several).
Note that in an encoder-decoder the decoder's cross-attention (and the global tokens) see every
position, so encoder reach is not what this task needs: it measures whether a model aggregates
precisely enough (a frequency gap of margin / length) over a long input.

Chance level: 1 / num_symbols (25 % by default). Trivial baseline: the labels are balanced, so
guessing a constant class also scores 1 / num_symbols; the majority of a local window scores a little
above it.
"""

from dataclasses import dataclass

from lsgzoo.data.tasks.base import GeneratedTask, TaskSource, require

SYMBOL = "s"


@dataclass(frozen=True)
class MajorityTask(GeneratedTask):
    """Knobs of the majority generator; `example(seed, index)` is a pure function of (knobs, seed, index)."""

    length: int = 510
    num_symbols: int = 4
    margin: int = 32

    def __post_init__(self):
        require(self.num_symbols >= 2, f"num_symbols={self.num_symbols} must be ≥ 2")
        require(1 <= self.margin < self.length, f"margin={self.margin} must be in [1, length={self.length})")
        runner_up = self.runner_up_count
        require(runner_up >= 1 and self.others_total >= 0,
                f"length={self.length} cannot hold num_symbols={self.num_symbols} symbols with a lead of "
                f"margin={self.margin}" + (": with 2 symbols length − margin must be even" if self.num_symbols == 2
                                           else "; raise length or lower margin"))

    @property
    def num_labels(self) -> int:
        return self.num_symbols

    @property
    def runner_up_count(self) -> int:
        """r = ⌈(length − margin) / num_symbols⌉: the runner-up's count; the winner has r + margin."""
        return -(-(self.length - self.margin) // self.num_symbols)

    @property
    def others_total(self) -> int:
        """Words left for the k − 2 symbols that are neither winner nor runner-up (must be in [0, (k − 2)·r])."""
        return self.length - 2 * self.runner_up_count - self.margin

    def counts(self, rng) -> list[int]:
        """Counts per symbol (sum = length): a random winner has r + margin, a random runner-up r, the rest ≤ r."""
        r, k = self.runner_up_count, self.num_symbols
        order = rng.sample(range(k), k)  # order[0] wins, order[1] is the runner-up
        counts = [0] * k
        counts[order[0]], counts[order[1]] = r + self.margin, r
        others = order[2:]
        if others:  # spread others_total ≤ (k − 2)·r as evenly as possible: each gets ⌊·⌋ or ⌊·⌋ + 1 ≤ r
            base, extra = divmod(self.others_total, len(others))
            for position, symbol in enumerate(others):
                counts[symbol] = base + (position < extra)
        return counts

    def vocabulary(self) -> list[str]:
        return [f"{SYMBOL}{i}" for i in range(self.num_symbols)]

    def example(self, seed: int, index: int) -> dict:
        """{"source", "target", "label"}; identical for identical (knobs, seed, index)."""
        rng = self.rng(seed, index)
        counts = self.counts(rng)
        words = [f"{SYMBOL}{symbol}" for symbol, count in enumerate(counts) for _ in range(count)]
        rng.shuffle(words)
        winner = max(range(self.num_symbols), key=counts.__getitem__)
        return {"source": " ".join(words), "target": f"{SYMBOL}{winner}", "label": winner}


class MajoritySource(TaskSource):
    """`data=majority`: `MajorityTask` splits (see `TaskSource`)."""

    task_class = MajorityTask
