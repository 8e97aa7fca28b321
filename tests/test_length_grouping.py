"""Length-grouped training batches: an order from (seed, epoch) alone, less padding, exact mid-epoch resume."""

import datasets
import numpy as np
import pytest

from lsgzoo.data.datamodule import EpochShuffleSampler, LengthGroupedSampler, TextDataModule, padding_fraction
from lsgzoo.data.tokenization import train_tokenizer

LENGTHS = [int(n) for n in np.random.default_rng(7).integers(10, 400, size=203)]


def batches_of(order, batch_size):
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def test_each_epoch_is_a_permutation_drawn_from_seed_and_epoch():
    sampler = LengthGroupedSampler(LENGTHS, batch_size=8, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(len(LENGTHS)))
    assert list(LengthGroupedSampler(LENGTHS, batch_size=8, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == list(range(len(LENGTHS)))
    assert list(LengthGroupedSampler(LENGTHS, batch_size=8, seed=4)) != first


def test_batches_are_runs_of_the_sorted_mega_batch_and_only_the_short_one_is_last(monkeypatch):
    monkeypatch.setattr(LengthGroupedSampler, "MEGA_BATCHES", 100)  # one mega-batch: the whole split
    lengths = [int(n) for n in np.random.default_rng(1).permutation(203) + 10]  # distinct: no ties to order
    order = list(LengthGroupedSampler(lengths, batch_size=8, seed=0))
    by_length = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    runs = {tuple(sorted(by_length[i:i + 8])) for i in range(0, 200, 8)}
    batches = batches_of(order, 8)
    assert {tuple(sorted(batch)) for batch in batches[:-1]} == runs
    assert sorted(batches[-1]) == sorted(by_length[200:])  # the 3 shortest, a short batch, last


def test_grouping_cuts_the_padding():
    grouped = batches_of(list(LengthGroupedSampler(LENGTHS, batch_size=8, seed=0)), 8)
    shuffled = batches_of(list(EpochShuffleSampler(len(LENGTHS), seed=0)), 8)
    assert padding_fraction(LENGTHS, grouped, 16) < 0.5 * padding_fraction(LENGTHS, shuffled, 16)
    assert padding_fraction([3, 5], [[0, 1]], 4) == pytest.approx(1 - 8 / 16)  # both padded to 8


def data_module(group_by_length, lengths=(5, 9, 14, 3, 30, 22, 7, 11, 18, 26, 4)):
    rows = {"source": [" ".join(["w"] * n) for n in lengths], "target": ["t"] * len(lengths)}
    raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)})
    tokenizer = train_tokenizer(rows["source"] + rows["target"], "word", 50)
    module = TextDataModule(None, tokenizer, batch_size=2, max_source_length=64, pad_to_multiple_of=4, datasets=raw,
                            seed=5, group_by_length=group_by_length)
    module.setup()
    return module


@pytest.mark.parametrize("group_by_length,grouped", [(None, True), (True, True), (False, False)])
def test_grouping_is_on_where_lengths_vary_unless_set(group_by_length, grouped):
    sampler = data_module(group_by_length).train_dataloader().sampler
    assert isinstance(sampler, LengthGroupedSampler) == grouped
    assert isinstance(data_module(None, lengths=(6,) * 5).train_dataloader().sampler, LengthGroupedSampler) is False


def test_a_mid_epoch_resume_trains_on_exactly_the_remaining_grouped_batches():
    loader = data_module(True).train_dataloader()
    loader.sampler.set_epoch(1)
    epoch = [batch["input_ids"].tolist() for batch in loader]
    resumed = data_module(True)
    resumed.load_state_dict({"train_epoch": 1, "train_batches_done": 2})
    assert [batch["input_ids"].tolist() for batch in resumed.train_dataloader()] == epoch[2:]
    assert len(epoch) == 6
