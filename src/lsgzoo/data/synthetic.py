"""The embedded default task: linked pairs in a long document.

A document is `length` whitespace-separated words. Most are filler words `w0..`. It holds
`num_pairs` markers `k1..kK`, each once, in a random order across the document, and each
marker is followed, at a random distance in [min_distance, max_distance], by its payload
word `p0..`, repeated `payload_span` times. The target lists the payloads in marker order: "payload(k1) payload(k2) ...".

Why a local-only encoder cannot solve it: a marker and its payload are at least
`min_distance` positions apart, but after L local-attention layers with block size bs a
position has seen at most L·(2·bs − 1) neighbours on each side (47 for L = 2, bs = 16).
Nothing in the encoder output at a marker then depends on its payload, and the payload's
encoder output is independent of which marker precedes it. The decoder reads the encoder
output by content: finding "the payload after k3" would need it to first read where k3 is
and then read the position that many tokens later, two dependent reads that one decoder
layer cannot chain (each cross-attention query is fixed before it reads anything). The only
route left is the single global token, one vector shared by all pairs in a layer. With a
sparse selector, the marker's block sees compressed tokens up to ~80 positions away (bs =
sparse_block_size = 16, sparsity_factor = 4), so the payload reaches the marker's own state
in the first layer. `tests/test_synthetic.py` checks these reach numbers on the real
attention pattern. Markers sit in separate regions of the document, so no other payload lies
within a marker's sparse reach.
"""

import random
from dataclasses import dataclass

FILLER, MARKER, PAYLOAD = "w", "k", "p"


@dataclass(frozen=True)
class LinkedPairsTask:
    """Generator settings; `example(i)` is a pure function of (seed, split, i)."""

    length: int = 1024
    num_pairs: int = 4
    min_distance: int = 48
    max_distance: int = 80
    filler_vocab: int = 64
    payload_vocab: int = 16
    payload_span: int = 1

    def __post_init__(self):
        if self.num_pairs < 1:
            raise ValueError(f"num_pairs={self.num_pairs} must be ≥ 1")
        if not 0 < self.min_distance <= self.max_distance:
            raise ValueError(
                f"need 0 < min_distance ≤ max_distance, got min_distance={self.min_distance}, "
                f"max_distance={self.max_distance}"
            )
        if self.payload_span < 1:
            raise ValueError(f"payload_span={self.payload_span} must be ≥ 1")
        if self.region_length <= self.max_distance + self.payload_span:
            raise ValueError(
                f"length={self.length} is too short for num_pairs={self.num_pairs} pairs spanning up to "
                f"max_distance={self.max_distance}: each pair needs a region longer than max_distance + payload_span; "
                "raise length or lower num_pairs"
            )
        if self.filler_vocab < 1 or self.payload_vocab < 2:
            raise ValueError("filler_vocab must be ≥ 1 and payload_vocab ≥ 2")

    @property
    def region_length(self) -> int:
        return self.length // self.num_pairs

    def vocabulary(self) -> list[str]:
        """Every word the task can produce."""
        return ([f"{FILLER}{i}" for i in range(self.filler_vocab)]
                + [f"{MARKER}{i + 1}" for i in range(self.num_pairs)]
                + [f"{PAYLOAD}{i}" for i in range(self.payload_vocab)])

    def example(self, seed: int, index: int) -> dict:
        """One {"source", "target"} record; identical for identical (settings, seed, index)."""
        rng = random.Random(f"{seed}:{index}")
        words = [f"{FILLER}{rng.randrange(self.filler_vocab)}" for _ in range(self.length)]
        order = list(range(self.num_pairs))
        rng.shuffle(order)  # order[r] = marker placed in region r
        payloads = [rng.randrange(self.payload_vocab) for _ in range(self.num_pairs)]
        slack = self.region_length - self.max_distance - self.payload_span
        for region, marker in enumerate(order):
            start = region * self.region_length + rng.randrange(max(1, slack // 3))
            distance = rng.randint(self.min_distance, self.max_distance)
            words[start] = f"{MARKER}{marker + 1}"
            for offset in range(self.payload_span):
                words[start + distance + offset] = f"{PAYLOAD}{payloads[marker]}"
        return {"source": " ".join(words), "target": " ".join(f"{PAYLOAD}{p}" for p in payloads)}

    def split(self, seed: int, size: int) -> list[dict]:
        return [self.example(seed, i) for i in range(size)]
