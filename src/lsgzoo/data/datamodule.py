"""`TextDataModule`: tokenizes a source once, batches with padding to a block multiple.

Batches: input_ids / attention_mask (n, t) with t a multiple of `pad_to_multiple_of` (the
LSG block size, so no sequence needs extra padding inside the model), and `labels`
(n, s) padded with -100 (seq2seq) or (n,) class ids (classification).

The training order is a function of (seed, epoch) alone (`EpochShuffleSampler`; with `group_by_length`,
`LengthGroupedSampler`: batches of similar lengths, less padding), and the module's
`state_dict` records how far into its epoch training got, so a run resumed from a mid-epoch
checkpoint trains on exactly the batches the uninterrupted run would have (single process).
"""

import math

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

TASKS = ("seq2seq", "classification")


def length_statistics(lengths: list[int], max_length: int) -> dict:
    """Token-length summary of one split before truncation."""
    ordered = sorted(lengths)
    if not ordered:
        return {"count": 0}

    def quantile(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"count": len(ordered), "mean": sum(ordered) / len(ordered), "min": ordered[0], "p50": quantile(0.5),
            "p90": quantile(0.9), "max": ordered[-1],
            "truncated_fraction": sum(n > max_length for n in ordered) / len(ordered)}


class EpochShuffleSampler(Sampler[int]):
    """A permutation of `size` indices drawn from (seed, epoch) only, never from the global random state.

    Lightning calls `set_epoch` at each epoch start. `resume_at(epoch, skip)` makes the next pass
    continue that epoch's order after its first `skip` indices (the ones an interrupted run consumed).
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0
        self._skip = 0

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, skip: int) -> None:
        self.epoch, self._skip = epoch, skip

    def order(self, rng: np.random.Generator) -> np.ndarray:
        """This epoch's index order (rng seeded from (seed, epoch))."""
        return rng.permutation(self.size)

    def __iter__(self):
        order = self.order(np.random.default_rng(np.random.SeedSequence([self.seed % 2**63, self.epoch])))
        start, self._skip = self._skip, 0
        return iter(order[start:].tolist())


class LengthGroupedSampler(EpochShuffleSampler):
    """Batches of similar lengths, in an order drawn from (seed, epoch) only (HF Trainer's group_by_length idea).

    Each epoch: a permutation, cut into mega-batches of `MEGA_BATCHES` batches; each mega-batch sorted by
    length (longest first) and cut into batches; the full batches shuffled, a short last batch kept last
    (so the DataLoader's consecutive `batch_size` chunks are exactly these batches and `resume_at` skips
    whole batches). lengths: one per index.
    """

    MEGA_BATCHES = 50

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        super().__init__(len(lengths), seed)
        self.lengths, self.batch_size = np.asarray(lengths), batch_size

    def order(self, rng: np.random.Generator) -> np.ndarray:
        permutation = rng.permutation(self.size)
        mega = self.batch_size * self.MEGA_BATCHES
        grouped = np.concatenate([chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                                  for chunk in np.split(permutation, range(mega, self.size, mega))])
        full = self.size // self.batch_size
        batches = grouped[:full * self.batch_size].reshape(full, self.batch_size)[rng.permutation(full)]
        return np.concatenate([batches.reshape(-1), grouped[full * self.batch_size:]])


def padding_fraction(lengths: list[int], batches: list[list[int]], multiple: int) -> float:
    """Share of the padded source positions of `batches` (index lists) that are padding, as `collate` pads."""
    padded = sum(math.ceil(max(lengths[i] for i in batch) / multiple) * multiple * len(batch) for batch in batches)
    return 1 - sum(lengths[i] for batch in batches for i in batch) / padded


class TextDataModule(L.LightningDataModule):
    """source: object with `load()` → DatasetDict (see `lsgzoo.data.sources`); tokenizer: a fast tokenizer."""

    def __init__(self, source, tokenizer, task: str = "seq2seq", batch_size: int = 8, eval_batch_size: int | None = None,
                 max_source_length: int = 4096, max_target_length: int = 256, pad_to_multiple_of: int = 1,
                 num_workers: int = 0, datasets=None, seed: int = 0, group_by_length: bool | None = None):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task={task!r} is unknown; choose one of {', '.join(TASKS)}")
        for name, value in (("batch_size", batch_size), ("max_source_length", max_source_length),
                            ("max_target_length", max_target_length), ("pad_to_multiple_of", pad_to_multiple_of)):
            if value < 1:
                raise ValueError(f"data.{name}={value} must be ≥ 1")
        self.source, self.tokenizer, self.task = source, tokenizer, task
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.pad_to_multiple_of, self.num_workers = pad_to_multiple_of, num_workers
        self.raw = datasets
        self.seed = seed
        self.group_by_length = group_by_length
        self.splits: dict = {}
        self.statistics: dict = {}
        self._train_sampler: EpochShuffleSampler | None = None
        self._resume_position: tuple[int, int] | None = None

    def setup(self, stage: str | None = None):
        if self.splits:
            return
        if self.raw is None:
            self.raw = self.source.load()
        for split, dataset in self.raw.items():
            encoded = dataset.map(self.encode, batched=True, remove_columns=dataset.column_names,
                                  desc=f"tokenizing {split}")
            self.statistics[split] = {
                "source_tokens": length_statistics(encoded["source_length"], self.max_source_length)}
            if self.task == "seq2seq":
                self.statistics[split]["target_tokens"] = length_statistics(encoded["target_length"],
                                                                            self.max_target_length)
            self.splits[split] = encoded.with_format("python")

    def encode(self, batch: dict) -> dict:
        source = self.tokenizer(batch["source"])["input_ids"]
        out = {"input_ids": [ids[: self.max_source_length - 1] + ids[-1:] if len(ids) > self.max_source_length else ids
                             for ids in source],
               "source_length": [len(ids) for ids in source]}
        if self.task == "seq2seq":
            target = self.tokenizer(batch["target"])["input_ids"]
            out["labels"] = [ids[: self.max_target_length - 1] + ids[-1:] if len(ids) > self.max_target_length else ids
                             for ids in target]
            out["target_length"] = [len(ids) for ids in target]
            out["target"] = batch["target"]
        else:
            out["labels"] = [int(label) for label in batch["label"]]
        return out

    def collate(self, rows: list[dict]) -> dict:
        multiple = self.pad_to_multiple_of
        width = math.ceil(max(len(r["input_ids"]) for r in rows) / multiple) * multiple
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
            attention_mask[i, : len(row["input_ids"])] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask,
                 "num_tokens": sum(len(row["input_ids"]) for row in rows)}  # real tokens, counted on the host
        if self.task == "seq2seq":
            target_width = max(len(r["labels"]) for r in rows)
            labels = torch.full((len(rows), target_width), -100, dtype=torch.long)
            for i, row in enumerate(rows):
                labels[i, : len(row["labels"])] = torch.tensor(row["labels"])
            batch["labels"] = labels
            batch["target"] = [r["target"] for r in rows]
        else:
            batch["labels"] = torch.tensor([r["labels"] for r in rows], dtype=torch.long)
        return batch

    def loader(self, split: str, shuffle: bool) -> DataLoader:
        """A loader over one split; its own generator keeps loader start-up off the global random state."""
        if split not in self.splits:
            raise ValueError(f"the data has no {split!r} split")
        sampler = self.train_sampler(split) if shuffle else None
        return DataLoader(self.splits[split], batch_size=self.batch_size if shuffle else self.eval_batch_size,
                          sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed % 2**63))

    def source_lengths(self, split: str) -> list[int]:
        """Token length of each (truncated) source of `split`."""
        return [len(ids) for ids in self.splits[split]["input_ids"]]

    def grouped(self, split: str) -> bool:
        """Whether `split` is batched by length: `group_by_length`, or (None) whether its lengths vary."""
        if self.group_by_length is not None:
            return self.group_by_length
        return len(set(self.source_lengths(split))) > 1

    def train_sampler(self, split: str) -> EpochShuffleSampler:
        if self.grouped(split):
            return LengthGroupedSampler(self.source_lengths(split), self.batch_size, self.seed)
        return EpochShuffleSampler(len(self.splits[split]), self.seed)

    def train_dataloader(self):
        loader = self.loader("train", shuffle=True)
        self._train_sampler = loader.sampler
        if self._resume_position is not None and self._single_process():
            epoch, batches_done = self._resume_position
            if batches_done >= len(loader):
                epoch, batches_done = epoch + 1, 0
            self._train_sampler.resume_at(epoch, batches_done * self.batch_size)
        self._resume_position = None
        return loader

    def _single_process(self) -> bool:
        """Skipping consumed batches is exact only without a distributed sampler wrapped around ours."""
        return self.trainer is None or self.trainer.world_size == 1

    def state_dict(self) -> dict:
        """The training epoch and how many of its batches the model has trained on (saved in checkpoints)."""
        if self._train_sampler is None or self.trainer is None:
            return {}
        batches_done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"train_epoch": self._train_sampler.epoch, "train_batches_done": batches_done}

    def load_state_dict(self, state: dict) -> None:
        """Remember where to continue; `train_dataloader` applies it once."""
        if "train_epoch" in state:
            self._resume_position = (int(state["train_epoch"]), int(state["train_batches_done"]))

    def val_dataloader(self):
        return self.loader("validation", shuffle=False)

    def test_dataloader(self):
        return self.loader("test", shuffle=False)
