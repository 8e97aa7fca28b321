"""Needles in real papers (content-addressed retrieval in real long text): ACLSum bodies as the haystack.

A document of `length` words: a window of an ACLSum paper body (from the `aclsum` package, read
offline through `AclSumSource`; each split draws from that split's papers, so haystacks never repeat
across splits), with `num_needles` sentences "The passphrase of vaultK is passV ." inserted at random
word positions (keys and values distinct within a document), then the question "What is the
passphrase of vaultK ?" about one of them. Target: that needle's value word `passV`; `label`: V, so
`data.task=classification` works too (`value_vocab` classes). Words are whitespace-separated, so
with the word-level tokenizer every word is one token and the distances below are token distances.

What makes it long-range: every needle ends at least `min_distance` words before the question, so
the encoder state of the question's key word can only hold the answer through attention reaching
that far; with several needles, seeing which values occur is not enough (the decoder cannot chain
"read the asked key" with "find its needle" in one cross-attention layer).

Chance level (ignoring the input): 1 / value_vocab (1/32 by default). Trivial baseline (a model that
sees the needles' values but cannot link the question to its needle): ≈ 1 / num_needles (25 % by
default).
"""

import functools
from dataclasses import dataclass, replace

from lsgzoo.data.tasks.base import GeneratedTask, TaskSource, require

KEY, VALUE = "vault", "pass"
SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}


def needle_words(key: int, value: int) -> list[str]:
    return ["The", "passphrase", "of", f"{KEY}{key}", "is", f"{VALUE}{value}", "."]


def question_words(key: int) -> list[str]:
    return ["What", "is", "the", "passphrase", "of", f"{KEY}{key}", "?"]


@functools.lru_cache(maxsize=8)
def paper_words(data_dir: str | None, split: str) -> tuple[tuple[str, ...], ...]:
    """The whitespace-split body of every paper of one ACLSum split (cached per process)."""
    from lsgzoo.data.sources import AclSumSource

    rows = AclSumSource(target="abstract", data_dir=data_dir).records(SPLIT_FILES[split])
    return tuple(tuple(row["source"].split()) for row in rows)


@dataclass(frozen=True)
class AclSumNeedleTask(GeneratedTask):
    """Knobs of the needle generator; `example(seed, index)` is a pure function of (knobs, seed, index).

    haystack_split: which ACLSum split supplies the haystacks (`TaskSource` sets it per split).
    """

    length: int = 1022
    num_needles: int = 4
    key_vocab: int = 32
    value_vocab: int = 32
    min_distance: int = 512
    data_dir: str | None = None
    haystack_split: str = "train"

    def __post_init__(self):
        require(self.num_needles >= 1, f"num_needles={self.num_needles} must be ≥ 1")
        require(self.key_vocab >= self.num_needles and self.value_vocab >= self.num_needles,
                f"key_vocab={self.key_vocab} and value_vocab={self.value_vocab} must be ≥ num_needles="
                f"{self.num_needles}: keys and values are distinct within a document")
        require(self.haystack_split in SPLIT_FILES,
                f"haystack_split={self.haystack_split!r} is unknown; use one of {', '.join(SPLIT_FILES)}")
        require(self.min_distance >= 1, f"min_distance={self.min_distance} must be ≥ 1")
        require(self.haystack_length - self.min_distance >= 0,
                f"length={self.length} leaves {self.haystack_length} haystack words, fewer than min_distance="
                f"{self.min_distance}: raise length or lower min_distance or num_needles")

    @property
    def num_labels(self) -> int:
        return self.value_vocab

    @property
    def haystack_length(self) -> int:
        """Paper words per document: length minus the needles and the question."""
        return self.length - self.num_needles * len(needle_words(0, 0)) - len(question_words(0))

    def for_split(self, split: str) -> "AclSumNeedleTask":
        return replace(self, haystack_split=split)

    def haystacks(self) -> tuple[tuple[str, ...], ...]:
        """This split's paper bodies long enough for one document; raises when there are none."""
        papers = tuple(words for words in paper_words(self.data_dir, self.haystack_split)
                       if len(words) >= self.haystack_length)
        require(bool(papers), f"no ACLSum {self.haystack_split} paper has {self.haystack_length} body words for length="
                              f"{self.length}; lower length")
        return papers

    def vocabulary(self) -> list[str]:
        words = set(needle_words(0, 0) + question_words(0))
        return (sorted(words - {f"{KEY}0", f"{VALUE}0"}) + [f"{KEY}{i}" for i in range(self.key_vocab)]
                + [f"{VALUE}{i}" for i in range(self.value_vocab)])

    def example(self, seed: int, index: int) -> dict:
        """{"source", "target", "label"}; identical for identical (knobs, seed, index) and ACLSum release."""
        rng = self.rng(seed, index)
        papers = self.haystacks()
        paper = papers[rng.randrange(len(papers))]
        start = rng.randrange(len(paper) - self.haystack_length + 1)
        haystack = list(paper[start: start + self.haystack_length])
        keys = rng.sample(range(self.key_vocab), self.num_needles)
        values = rng.sample(range(self.value_vocab), self.num_needles)
        # insertion points among the first haystack_length − min_distance + 1 gaps: at least min_distance paper
        # words (and any later needles) separate a needle's end from the question
        gaps = sorted(rng.choices(range(self.haystack_length - self.min_distance + 1), k=self.num_needles))
        for gap, key, value in reversed(list(zip(gaps, keys, values))):
            haystack[gap:gap] = needle_words(key, value)
        asked = rng.randrange(self.num_needles)
        words = haystack + question_words(keys[asked])
        return {"source": " ".join(words), "target": f"{VALUE}{values[asked]}", "label": values[asked]}


class AclSumNeedleSource(TaskSource):
    """`data=aclsum_needle`: `AclSumNeedleTask` splits; split s draws haystacks from ACLSum split s."""

    task_class = AclSumNeedleTask
