"""Multi-query associative recall (content-addressed lookup), after Zoology's MQAR (Arora et al. 2023).

A document of `length` words: filler words `w0..`, `num_pairs` key→value pairs written as two adjacent
words `kK vV` (keys and values distinct within a document), then the separator `?` and `num_queries`
distinct keys of those pairs, in random order. Target: the values bound to the queried keys, in
query order ("v12 v3 ..."). With `num_queries=1` the record also carries `label` = that value's
index, so `data.task=classification` works too (`value_vocab` classes).

Every pair's key lies at least `min_distance` words before the first query word (and, when
`max_distance` is set, at most `max_distance` words before it). Why that is long-range: the encoder
state at a query word must hold the value bound to the matching key, which sits `min_distance` or
more positions away, so it needs attention that reaches that far; a local-only encoder (reach
L·(2·block_size − 1) after L layers, 30 for the default 2 layers of block 8) holds only the query's
own key there. The decoder cannot chain "read query i" with "find its key" in one cross-attention
layer (each query of cross-attention is fixed before it reads the encoder).

Chance level (ignoring the input): 1 / value_vocab per answer word (1/64 by default). Trivial
baseline (a model that cannot link queries to pairs, but sees which values occur): pick among the
document's `num_pairs` values, ≈ 1 / num_pairs per answer word (12.5 % by default).
"""

from dataclasses import dataclass

from lsgzoo.data.tasks.base import GeneratedTask, TaskSource, require

FILLER, KEY, VALUE, SEPARATOR = "w", "k", "v", "?"


@dataclass(frozen=True)
class AssociativeRecallTask(GeneratedTask):
    """Knobs of the MQAR generator; `example(seed, index)` is a pure function of (knobs, seed, index)."""

    length: int = 510
    num_pairs: int = 8
    num_queries: int = 4
    key_vocab: int = 64
    value_vocab: int = 64
    min_distance: int = 64
    max_distance: int | None = None
    filler_vocab: int = 1

    def __post_init__(self):
        require(self.num_pairs >= 1, f"num_pairs={self.num_pairs} must be ≥ 1")
        require(1 <= self.num_queries <= self.num_pairs,
                f"num_queries={self.num_queries} must be in [1, num_pairs={self.num_pairs}]: queries ask distinct keys")
        require(self.key_vocab >= self.num_pairs and self.value_vocab >= self.num_pairs,
                f"key_vocab={self.key_vocab} and value_vocab={self.value_vocab} must be ≥ num_pairs={self.num_pairs}: "
                "keys and values are distinct within a document")
        require(self.value_vocab >= 2, f"value_vocab={self.value_vocab} must be ≥ 2")
        require(self.filler_vocab >= 1, f"filler_vocab={self.filler_vocab} must be ≥ 1")
        require(self.min_distance >= 1, f"min_distance={self.min_distance} must be ≥ 1")
        require(self.max_distance is None or self.max_distance >= self.min_distance,
                f"max_distance={self.max_distance} must be ≥ min_distance={self.min_distance} (or null: anywhere)")
        first, end = self.pair_region
        require(end - first >= 2 * self.num_pairs,
                f"length={self.length} leaves {max(0, end - first)} words for num_pairs={self.num_pairs} pairs "
                f"(2 words each) at min_distance={self.min_distance}..max_distance={self.max_distance} from the "
                "queries; raise length or max_distance, or lower num_pairs, num_queries or min_distance")

    @property
    def num_labels(self) -> int | None:
        return self.value_vocab if self.num_queries == 1 else None

    @property
    def query_start(self) -> int:
        """Position of the first query word (the separator sits just before it)."""
        return self.length - self.num_queries

    @property
    def pair_region(self) -> tuple[int, int]:
        """[first, end): the positions a pair's two words may occupy; every key is ≥ min_distance before the queries.

        A key at p has its value at p + 1; p ≤ query_start − min_distance, and p + 1 stays before the separator.
        """
        end = self.query_start - self.min_distance + 2
        first = 0 if self.max_distance is None else max(0, self.query_start - self.max_distance)
        return first, min(end, self.query_start - 1)

    def vocabulary(self) -> list[str]:
        return ([f"{FILLER}{i}" for i in range(self.filler_vocab)] + [f"{KEY}{i}" for i in range(self.key_vocab)]
                + [f"{VALUE}{i}" for i in range(self.value_vocab)] + [SEPARATOR])

    def example(self, seed: int, index: int) -> dict:
        """{"source", "target"} (+ "label" for one query); identical for identical (knobs, seed, index)."""
        rng = self.rng(seed, index)
        words = [f"{FILLER}{rng.randrange(self.filler_vocab)}" for _ in range(self.query_start - 1)]
        keys = rng.sample(range(self.key_vocab), self.num_pairs)
        values = rng.sample(range(self.value_vocab), self.num_pairs)
        first, end = self.pair_region
        # sorted distinct offsets s_j in [0, room) shifted by j never overlap: slot j is [s_j + j, s_j + j + 2)
        offsets = sorted(rng.sample(range(end - first - self.num_pairs), self.num_pairs))
        for j, (offset, key, value) in enumerate(zip(offsets, keys, values)):
            position = first + offset + j
            words[position: position + 2] = [f"{KEY}{key}", f"{VALUE}{value}"]
        asked = rng.sample(range(self.num_pairs), self.num_queries)
        words += [SEPARATOR] + [f"{KEY}{keys[pair]}" for pair in asked]
        record = {"source": " ".join(words), "target": " ".join(f"{VALUE}{values[pair]}" for pair in asked)}
        if self.num_queries == 1:
            record["label"] = values[asked[0]]
        return record


class AssociativeRecallSource(TaskSource):
    """`data=mqar`: `AssociativeRecallTask` splits (see `TaskSource`)."""

    task_class = AssociativeRecallTask
