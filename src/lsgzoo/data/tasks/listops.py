"""ListOps (hierarchical structure), after the Long Range Arena task (Tay et al. 2021).

An expression is a list `[OP a1 ... an ]` with an operator among MAX, MIN, MED (median, rounded
down: for an even count the floor of the two middle values' mean) and SUM_MOD (sum modulo 10), and
2..`max_args` arguments, each a digit 0-9 or, with probability `branch_probability` while the depth is
below `max_depth`, a nested list. Written with one word per token: `[MAX 4 3 [MIN 2 3 ] 1 0 ]`. Every
list's value is a digit, so the label is the root's value (10 classes); target: the digit as text,
for `data.task=seq2seq`. Expressions are drawn until one has between `min_length` and `length`
tokens (at most `max_tries` draws per example; all from the example's own random stream).

What makes it long-range: the root operator's arguments span the whole sequence (hundreds of
tokens), and each nested value must be computed from its own span before it combines with
arguments far away; a local window sees fragments of lists whose values depend on unseen tokens.
The decoder's cross-attention sees every position, but reading the tokens is not computing the
nested values: that needs the encoder to compose over spans longer than its local reach.

Chance level: 10 %. Trivial baseline: the most frequent label (skewed: MAX pulls towards 9, MIN
towards 0): label 0, ≈ 15 % of 2,000 examples at the default settings (`tests/test_tasks.py` checks it
stays within 10-30 %).
"""

import statistics
from dataclasses import dataclass

from lsgzoo.data.tasks.base import GeneratedTask, TaskSource, require

OPERATORS = ("MAX", "MIN", "MED", "SUM_MOD")
CLOSE = "]"


def apply_operator(operator: str, values: list[int]) -> int:
    """The digit an operator yields on its argument digits."""
    if operator == "MAX":
        return max(values)
    if operator == "MIN":
        return min(values)
    if operator == "MED":
        return int(statistics.median(values))  # floor of the mean of the two middle values for an even count
    if operator == "SUM_MOD":
        return sum(values) % 10
    raise ValueError(f"unknown ListOps operator {operator!r}; known: {', '.join(OPERATORS)}")


@dataclass(frozen=True)
class ListOpsTask(GeneratedTask):
    """Knobs of the ListOps generator; `example(seed, index)` is a pure function of (knobs, seed, index)."""

    length: int = 510
    min_length: int = 256
    max_depth: int = 8
    max_args: int = 8
    branch_probability: float = 0.25
    max_tries: int = 2000

    def __post_init__(self):
        require(self.max_args >= 2, f"max_args={self.max_args} must be ≥ 2")
        require(self.max_depth >= 1, f"max_depth={self.max_depth} must be ≥ 1")
        require(0.0 <= self.branch_probability <= 1.0,
                f"branch_probability={self.branch_probability} must be in [0, 1]")
        require(4 <= self.min_length <= self.length,
                f"need 4 ≤ min_length ≤ length (the shortest list is 4 tokens), got min_length={self.min_length}, "
                f"length={self.length}")
        require(self.max_tries >= 1, f"max_tries={self.max_tries} must be ≥ 1")
        largest = self.max_list_tokens(self.max_depth)
        require(largest >= self.min_length,
                f"max_depth={self.max_depth} and max_args={self.max_args} allow at most {largest} tokens, fewer than "
                f"min_length={self.min_length}; raise max_depth or max_args, or lower min_length")

    @property
    def num_labels(self) -> int:
        return 10

    def max_list_tokens(self, depth: int) -> int:
        """Tokens of the largest list whose nesting depth is at most `depth` (1: a flat list)."""
        inner = 1 if depth == 1 else self.max_list_tokens(depth - 1)
        return 2 + self.max_args * inner

    def vocabulary(self) -> list[str]:
        return [f"[{op}" for op in OPERATORS] + [CLOSE] + [str(d) for d in range(10)]

    def draw(self, rng, depth: int, out: list[str]) -> int:
        """Append one random list at nesting `depth` (1: the root) to `out`; return its value."""
        operator = rng.choice(OPERATORS)
        out.append(f"[{operator}")
        values = []
        for _ in range(rng.randint(2, self.max_args)):
            if depth < self.max_depth and rng.random() < self.branch_probability:
                values.append(self.draw(rng, depth + 1, out))
            else:
                digit = rng.randrange(10)
                out.append(str(digit))
                values.append(digit)
        out.append(CLOSE)
        return apply_operator(operator, values)

    def example(self, seed: int, index: int) -> dict:
        """{"source", "target", "label"}; raises ValueError when max_tries draws miss [min_length, length]."""
        rng = self.rng(seed, index)
        for _ in range(self.max_tries):
            tokens: list[str] = []
            value = self.draw(rng, 1, tokens)
            if self.min_length <= len(tokens) <= self.length:
                return {"source": " ".join(tokens), "target": str(value), "label": value}
        raise ValueError(f"no ListOps expression of min_length={self.min_length}..length={self.length} tokens in "
                         f"max_tries={self.max_tries} draws (seed {seed}, example {index}); widen the length range or "
                         "tune branch_probability, max_args, max_depth")


class ListOpsSource(TaskSource):
    """`data=listops`: `ListOpsTask` splits (see `TaskSource`)."""

    task_class = ListOpsTask
