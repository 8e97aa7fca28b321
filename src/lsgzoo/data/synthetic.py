"""The embedded default task: linked pairs in a long document.

A document is `length` whitespace-separated words, mostly filler words `w0..`. It is cut into
`num_pairs + num_decoys` equal regions in random order. A pair region holds a marker `k1..kK`
(a run of `span` equal words) and, a random distance in [min_distance, max_distance] after the
marker's last word, its payload (a run of `span` equal words `p0..`). A decoy region holds a
payload run with no marker. The target lists the linked payloads in marker order:
"payload(k1) payload(k2) ...". With the default (one pair, three decoys) the answer is one of
four payload runs in the document, and only its distance from the marker tells which.

Why a local-only encoder cannot solve it: after L local-attention layers with block size bs a
position has seen at most L·(2·bs − 1) neighbours on each side (23 for L = 2, bs = 8), less
than min_distance = 24. So nothing in the encoder output at a marker depends on its payload,
and a payload's encoder output does not depend on whether a marker precedes it: linked payload
and decoys look alike. The decoder reads the encoder output by content; telling the linked run
apart would need it to first read where the marker is and then read the position that far
after it, two dependent reads that one decoder layer cannot chain (each cross-attention query
is fixed before it reads anything). A local-only model is then left with guessing among the
payload runs (1 / (num_decoys + 1) = 25 % by default); the single global token, one vector
shared by the whole document, is its only long-range path. With a sparse selector (bs =
sparse_block_size = 8, sparsity_factor = 4) every block also sees compressed tokens up to 40
positions beyond its local window, so the payload's first layer sees the marker (and vice
versa). `tests/test_synthetic.py` checks these reach numbers on the real attention pattern and
that no other payload lies within a marker's sparse reach.
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
    span: int = 1
    num_decoys: int = 0

    def __post_init__(self):
        if self.num_pairs < 1:
            raise ValueError(f"num_pairs={self.num_pairs} must be ≥ 1")
        if not 0 < self.min_distance <= self.max_distance:
            raise ValueError(
                f"need 0 < min_distance ≤ max_distance, got min_distance={self.min_distance}, "
                f"max_distance={self.max_distance}"
            )
        if self.span < 1:
            raise ValueError(f"span={self.span} must be ≥ 1")
        if self.region_length <= self.max_distance + 2 * self.span:
            raise ValueError(
                f"length={self.length} is too short for num_pairs={self.num_pairs} pairs spanning up to "
                f"max_distance={self.max_distance}: each pair needs a region longer than max_distance + 2·span; "
                "raise length or lower num_pairs"
            )
        if self.num_decoys < 0:
            raise ValueError(f"num_decoys={self.num_decoys} must be ≥ 0")
        if self.filler_vocab < 1 or self.payload_vocab < 2:
            raise ValueError("filler_vocab must be ≥ 1 and payload_vocab ≥ 2")

    @property
    def region_length(self) -> int:
        return self.length // (self.num_pairs + self.num_decoys)

    def vocabulary(self) -> list[str]:
        """Every word the task can produce."""
        return ([f"{FILLER}{i}" for i in range(self.filler_vocab)]
                + [f"{MARKER}{i + 1}" for i in range(self.num_pairs)]
                + [f"{PAYLOAD}{i}" for i in range(self.payload_vocab)])

    def example(self, seed: int, index: int) -> dict:
        """One {"source", "target"} record; identical for identical (settings, seed, index)."""
        rng = random.Random(f"{seed}:{index}")
        words = [f"{FILLER}{rng.randrange(self.filler_vocab)}" for _ in range(self.length)]
        order = list(range(self.num_pairs)) + [None] * self.num_decoys
        rng.shuffle(order)  # order[r] = marker placed in region r (None: a decoy payload)
        payloads = [rng.randrange(self.payload_vocab) for _ in range(self.num_pairs)]
        slack = self.region_length - self.max_distance - 2 * self.span
        for region, marker in enumerate(order):
            start = region * self.region_length + rng.randrange(max(1, slack // 3))
            distance = rng.randint(self.min_distance, self.max_distance)
            payload_start = start + self.span - 1 + distance
            if marker is None:
                payload = f"{PAYLOAD}{rng.randrange(self.payload_vocab)}"
            else:
                payload = f"{PAYLOAD}{payloads[marker]}"
                words[start: start + self.span] = [f"{MARKER}{marker + 1}"] * self.span
            words[payload_start: payload_start + self.span] = [payload] * self.span
        return {"source": " ".join(words), "target": " ".join(f"{PAYLOAD}{p}" for p in payloads)}

    def split(self, seed: int, size: int) -> list[dict]:
        return [self.example(seed, i) for i in range(size)]
