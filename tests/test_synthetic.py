"""The synthetic linked-pairs task: determinism, structure, and the reach argument on real patterns."""

import pytest
import torch

from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.pattern import attention_pattern
from lsgzoo.data.synthetic import LinkedPairsTask
from lsgzoo.training.config import compose_config


def default_task() -> LinkedPairsTask:
    source = compose_config().data.source
    keys = ("length", "num_pairs", "num_decoys", "min_distance", "max_distance", "filler_vocab", "payload_vocab", "span")
    return LinkedPairsTask(**{k: source[k] for k in keys})


def test_examples_are_deterministic_and_distinct():
    task = default_task()
    assert task.example(0, 5) == task.example(0, 5)
    assert task.example(0, 5) != task.example(0, 6)
    assert task.example(0, 5) != task.example(1, 5)


def test_structure_markers_payloads_and_target():
    task = default_task()
    for index in range(50):
        example = task.example(3, index)
        words = example["source"].split()
        assert len(words) == task.length
        target = example["target"].split()
        assert len(target) == task.num_pairs
        runs = [i for i, w in enumerate(words) if w.startswith("p") and (i == 0 or words[i - 1] != w)]
        assert len(runs) == task.num_pairs + task.num_decoys
        for marker in range(1, task.num_pairs + 1):
            positions = [i for i, w in enumerate(words) if w == f"k{marker}"]
            assert positions == list(range(positions[0], positions[0] + task.span))
            last = positions[-1]
            linked = [r for r in runs if task.min_distance <= r - last <= task.max_distance]
            assert len(linked) == 1 and words[linked[0]: linked[0] + task.span] == [target[marker - 1]] * task.span
            assert not any(w.startswith("p") for w in words[last + 1: last + task.min_distance])


def stacked_connectivity(attention, sparsity_type: str, length: int, layers: int) -> torch.Tensor:
    """Float (length, length): which token positions reach which through `layers` LSG layers of the composed
    `attention` settings with `sparsity_type`, one global token excluded (information through it is not counted)."""
    settings = LSGAttentionConfig(sparsity_type=sparsity_type, block_size=attention.block_size,
                                  sparse_block_size=attention.sparse_block_size,
                                  sparsity_factor=attention.sparsity_factor, num_global_tokens=1)
    layer = attention_pattern(settings, length).connectivity.any(0)[1:, 1:].float()
    stacked = layer
    for _ in range(layers - 1):
        stacked = ((stacked @ layer) > 0).float()
    return stacked


def reach(connectivity: torch.Tensor, positions: range) -> tuple[int, int]:
    """(guaranteed, largest) forward distance reached from the given query positions."""
    guaranteed, largest = [], []
    for i in positions:
        row = connectivity[i]
        d = 0
        while i + d + 1 < row.numel() and row[i + d + 1]:
            d += 1
        guaranteed.append(d)
        largest.append(int(torch.nonzero(row).max()) - i)
    return min(guaranteed), max(largest)


@pytest.mark.parametrize("sparsity_type", ["pooling", "norm"])
def test_local_only_cannot_link_pairs_but_sparse_can(sparsity_type):
    """The docs' argument on the real attention patterns of the default config (globals excluded)."""
    cfg = compose_config()
    task = default_task()
    attention = cfg.attention
    layers = cfg.model.encoder_layers
    length = cfg.data.max_source_length
    queries = range(attention.block_size * 3, length - 3 * task.max_distance)

    _, local_largest = reach(stacked_connectivity(attention, "none", length, layers), queries)
    assert local_largest < task.min_distance, "a local-only encoder could link a marker to its payload"

    sparse = stacked_connectivity(attention, sparsity_type, length, 1)
    sparse_guaranteed, sparse_largest = reach(sparse, queries)
    assert sparse_guaranteed >= task.max_distance, "the first sparse layer must reach every payload"
    # another pair's payload never lies within a marker's sparse reach (both directions)
    for index in range(30):
        words = task.example(7, index)["source"].split()
        markers = [i for i, w in enumerate(words) if w.startswith("k")]
        payloads = [i for i, w in enumerate(words) if w.startswith("p")]
        for m in markers:
            near = [p for p in payloads if abs(p - m) <= sparse_largest]
            assert all(p > m for p in near)
            assert len({words[p] for p in near}) == 1


def test_bad_settings_fail_early():
    with pytest.raises(ValueError, match="max_distance"):
        LinkedPairsTask(min_distance=90, max_distance=80)
    with pytest.raises(ValueError, match="num_pairs"):
        LinkedPairsTask(length=300, num_pairs=4)
