"""Exact resume, the Lightning side: when `last.ckpt` is written, how, and the random state it carries.

`LastCheckpoint` writes `last.ckpt` every n optimizer steps at a point where nothing of the step is
left to do (after the step's validation, if one runs); `AtomicCheckpointIO` makes every checkpoint
file complete-or-absent (`lsgzoo.training.checkpoints.save_atomically`); `RandomStateCheckpoint`
stores the torch / numpy / python random states in each checkpoint and puts them back before the
first resumed batch. With the data order of `lsgzoo.data.datamodule.EpochShuffleSampler`, a resumed
run on one process repeats the uninterrupted run's steps bit for bit on CPU (tested with
`trainer.deterministic`).
"""

import random
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lsgzoo.training.checkpoints import save_atomically, verify_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, writing through `save_atomically` and reading every checkpoint (resume,
    test, predict) through `verify_checkpoint` and a weights-only load: never a pickle load."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save_atomically(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return torch.load(verify_checkpoint(path), map_location=map_location or "cpu", weights_only=True)


def _validation_follows(trainer) -> bool:
    """Whether Lightning runs validation right after the current training batch."""
    fit_loop = trainer.fit_loop
    return bool(trainer.enable_validation) and fit_loop.epoch_loop._should_check_val_fx(fit_loop._data_fetcher)


class LastCheckpoint(Checkpoint):
    """Writes `path` every `every_n_steps` optimizer steps, after the step's validation when one follows.

    Saving after validation makes the checkpoint hold the step's validation result and the best
    checkpoint's bookkeeping, so a resume neither repeats nor skips a validation. The file is also
    written when training ends. A `Checkpoint`, so Lightning runs it after the best-model callback.
    """

    def __init__(self, path, every_n_steps: int):
        self.path, self.every_n_steps = Path(path), every_n_steps
        self._saved_step: int | None = None
        self._after_validation = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._saved_step or trainer.fit_loop.epoch_loop._should_accumulate():
            return
        if _validation_follows(trainer):
            self._after_validation = True
        else:
            self._save(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._after_validation and not trainer.sanity_checking:
            self._after_validation = False
            self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_step != self._saved_step:
            self._save(trainer)

    def _save(self, trainer) -> None:
        trainer.save_checkpoint(str(self.path), weights_only=False)  # the full training state, for resume
        self._saved_step = trainer.global_step


def capture_random_state() -> dict:
    """torch (CPU and CUDA), numpy and python random states, as tensors and plain values (weights_only-safe)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Inverse of `capture_random_state`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RandomStateCheckpoint(Callback):
    """Saves the random states with every checkpoint; a resumed run gets them back before its first batch.

    Restoring at the first batch rather than at load time keeps set-up work between the load and the
    first step (dataloaders, sanity checks) from moving the streams that dropout draws from.
    """

    def __init__(self):
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        return capture_random_state()

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is not None:
            restore_random_state(self._pending)
            self._pending = None
