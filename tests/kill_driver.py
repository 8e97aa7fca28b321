"""Run `python -m lsgzoo.train` and SIGKILL the process at a chosen point (fault-injection tests).

    python tests/kill_driver.py KILL_POINT [hydra overrides ...]

KILL_POINT:
  none                 no kill (the parent may kill at a random time instead)
  step:S               at the start of the training step after optimizer step S
  save:N:write         during the N-th checkpoint write (1-based, best and last alike), half of the bytes written
  save:N:before-rename the N-th file is written and fsynced (and the old last.ckpt kept), not yet renamed in
  save:N:after-rename  just after the N-th file was renamed into place, before anything else
"""

import io
import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_at_step(step: int) -> None:
    from lsgzoo.training.module import LSGModule

    original = LSGModule.training_step

    def training_step(self, batch, batch_idx):
        if self.global_step == step:
            _die()
        return original(self, batch, batch_idx)

    LSGModule.training_step = training_step


class _DyingOs:
    """`os` for the checkpoint module during one save: dies just before or just after the final rename."""

    def __init__(self, target: Path, phase: str):
        self.target, self.phase = target, phase

    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, destination):
        final = Path(destination) == self.target
        if final and self.phase == "before-rename":
            _die()
        os.replace(source, destination)
        if final and self.phase == "after-rename":
            _die()


def _kill_in_save(number: int, phase: str) -> None:
    import torch

    from lsgzoo.training import checkpoints, resume_callbacks

    saves = {"count": 0}
    save_atomically, torch_save = checkpoints.save_atomically, torch.save

    def half_save(obj, handle, *args, **kwargs):
        buffer = io.BytesIO()
        torch_save(obj, buffer, *args, **kwargs)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        _die()

    def counting_save(checkpoint, path):
        saves["count"] += 1
        if saves["count"] != number:
            return save_atomically(checkpoint, path)
        if phase == "write":
            torch.save = half_save
        else:
            checkpoints.os = _DyingOs(Path(path), phase)
        save_atomically(checkpoint, path)

    resume_callbacks.save_atomically = counting_save


def install(point: str) -> None:
    kind, _, rest = point.partition(":")
    if kind == "step":
        _kill_at_step(int(rest))
    elif kind == "save":
        number, phase = rest.split(":")
        _kill_in_save(int(number), phase)
    elif kind != "none":
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = ["lsgzoo.train", *sys.argv[2:]]
    from lsgzoo.train import main

    main()
