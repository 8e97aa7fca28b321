"""Linked pairs (position-addressed retrieval): the embedded default task, under its suite name.

The generator is `lsgzoo.data.synthetic.LinkedPairsTask` and the source `lsgzoo.data.sources.SyntheticSource`
(both unchanged, so `data=synthetic` and its committed results stay as they are); `data=linked_pairs` is
the same config under this name. A marker `k1` and, `min_distance`..`max_distance` words after it, its
payload run; `num_decoys` more payload runs sit elsewhere with no marker; `filler_vocab` filler words
fill the rest. Target: the linked payload.

What makes it long-range: the payload is told from the decoys only by its distance from the marker,
which exceeds a local-only encoder's reach (see `lsgzoo.data.synthetic`).

Chance level (ignoring the input): 1 / payload_vocab (6.25 % by default). Trivial baseline (sees the
payload runs, cannot link them to the marker): 1 / (num_decoys + 1) (25 % by default).
"""

from lsgzoo.data.sources import SyntheticSource as LinkedPairsSource
from lsgzoo.data.synthetic import LinkedPairsTask

__all__ = ["LinkedPairsSource", "LinkedPairsTask"]
