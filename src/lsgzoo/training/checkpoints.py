"""Checkpoints that survive a kill at any moment, and the checks that pick a sound one to resume from.

Writes: `save_atomically` (behind `AtomicCheckpointIO`) writes `<name>.partial`, fsyncs it and renames
it into place, so a checkpoint file is always complete; before `last.ckpt` is replaced, the previous
one is kept as `last.prev.ckpt` (a hard link, so `last.ckpt` never disappears).

Reads: `checkpoint_problem` checks every zip member's CRC-32 (torch's own loader does not, so a flipped
bit in a weight would load silently), then loads it with `weights_only=True` and checks the Lightning
keys. `resume_checkpoint` picks `last.ckpt`, else `last.prev.ckpt` with a message, else raises.

Space: `check_run_dir_writable` (a probe write at start) and `check_free_space` (room for the
checkpoints a run keeps) fail early with the path, the numbers and the fix. Nothing here imports
Lightning (`load_run_model` uses `verify_checkpoint`).
"""

import contextlib
import errno
import os
import shutil
import sys
import zipfile
from pathlib import Path

from lsgzoo.training.config import ConfigError

LAST = "last.ckpt"
PREVIOUS_LAST = "last.prev.ckpt"
DAMAGED_LAST = "last.damaged.ckpt"
PARTIAL_SUFFIX = ".partial"
REQUIRED_KEYS = ("state_dict", "global_step", "loops", "optimizer_states")
PROBE_BYTES = 1 << 20
BYTES_PER_PARAMETER = 3 * 4  # fp32 weights + AdamW's two moments
CHECKPOINT_FILES = 4  # best, last, last.prev and one being written


class CheckpointError(RuntimeError):
    """No checkpoint can be resumed from; the message lists each candidate and what is wrong with it."""


class ResumeCheckpointMissing(ConfigError, FileNotFoundError):
    """resume=true names a run dir without checkpoints/last.ckpt (a user error, reported as one line)."""


class RunDirError(OSError):
    """The run dir cannot hold the run's files (unwritable, or not enough free space)."""


def save_atomically(checkpoint: dict, path) -> None:
    """torch.save `checkpoint` to `path` via a fsynced `.partial` file; the old last.ckpt stays as last.prev.ckpt."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    if path.name == LAST and path.exists():
        _keep_previous(path, path.with_name(PREVIOUS_LAST))
    os.replace(partial, path)
    _fsync_dir(path.parent)


def _keep_previous(path: Path, previous: Path) -> None:
    """Make `previous` a second name of the current file (a copy where hard links are not supported)."""
    staged = previous.with_name(previous.name + PARTIAL_SUFFIX)
    staged.unlink(missing_ok=True)
    try:
        os.link(path, staged)
    except OSError:
        shutil.copy2(path, staged)
    os.replace(staged, previous)


def _fsync_dir(directory: Path) -> None:
    """Persist the renames in `directory` (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def checkpoint_problem(path) -> str | None:
    """What is wrong with the checkpoint at `path` (None when it is complete, intact and loadable)."""
    import torch

    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"not a complete checkpoint file (truncated?): {error}"
    except Exception as error:  # zipfile raises assorted errors on mangled headers
        return f"unreadable zip structure: {type(error).__name__}: {error}"
    if damaged is not None:
        return f"checksum mismatch in {damaged} (the file was modified or damaged after it was written)"
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]  # torch's unpickling errors run many lines
        return f"does not load: {type(error).__name__}: {first_line}"
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    return f"not a Lightning training checkpoint (no {', '.join(missing)})" if missing else None


def verify_checkpoint(path) -> Path:
    """`path` when it is a sound checkpoint; else a CheckpointError saying what is wrong."""
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(f"{path}: {problem}; nothing was loaded")
    return Path(path)


def resume_checkpoint(checkpoint_dir) -> Path:
    """The checkpoint to resume from: last.ckpt, else last.prev.ckpt (with a message), else an error.

    A damaged last.ckpt is renamed to last.damaged.ckpt so that the next save does not keep it as
    the "previous good" one; leftover `.partial` files of a killed save are removed.
    """
    checkpoint_dir = Path(checkpoint_dir)
    for leftover in checkpoint_dir.glob("*" + PARTIAL_SUFFIX):
        leftover.unlink(missing_ok=True)
    last, previous = checkpoint_dir / LAST, checkpoint_dir / PREVIOUS_LAST
    if not last.exists() and not previous.exists():
        raise ResumeCheckpointMissing(f"resume=true but {last} does not exist; pass hydra.run.dir=<the run dir to "
                                      "resume> (the one holding checkpoints/last.ckpt)")
    problems = {}
    for candidate in (last, previous):
        problems[candidate.name] = checkpoint_problem(candidate)
        if problems[candidate.name] is None:
            if candidate == previous:
                _set_aside_damaged(last, problems[LAST])
            return candidate
    listed = "; ".join(f"{name}: {problem}" for name, problem in problems.items())
    raise CheckpointError(f"cannot resume from {checkpoint_dir}: {listed}. Nothing was loaded. Start a new run "
                          "(without resume=true) or put a good checkpoint back as checkpoints/last.ckpt.")


def resumable_step(checkpoint_dir) -> int | None:
    """global_step of the checkpoint `resume_checkpoint` would pick (last.ckpt, else last.prev.ckpt, whichever is
    sound), read weights-only and without its side effects; None when neither is sound."""
    import torch

    for candidate in (Path(checkpoint_dir) / LAST, Path(checkpoint_dir) / PREVIOUS_LAST):
        if checkpoint_problem(candidate) is None:
            return torch.load(candidate, map_location="cpu", weights_only=True)["global_step"]
    return None


def _set_aside_damaged(last: Path, problem: str) -> None:
    if last.exists():
        os.replace(last, last.with_name(DAMAGED_LAST))
    print(f"lsgzoo: {last.name} is unusable ({problem}); it is kept as {DAMAGED_LAST} and the run resumes from "
          f"{PREVIOUS_LAST}, the previous good checkpoint", file=sys.stderr, flush=True)


def check_run_dir_writable(run_dir) -> None:
    """Write, fsync and delete a 1 MiB probe in `run_dir` (created if missing); raise RunDirError if that fails."""
    directory = Path(run_dir)
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise RunDirError(error.errno, f"the run dir {run_dir} is not writable ({_reason(error)}); choose another "
                          "with hydra.run.dir=... or free/fix it before training") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def check_free_space(run_dir, num_parameters: int) -> None:
    """Raise RunDirError unless the run dir's disk has room for the checkpoints of a model this size."""
    directory = Path(run_dir) / "checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint_bytes = num_parameters * BYTES_PER_PARAMETER
    present = sum(path.stat().st_size for path in directory.glob("*.ckpt") if path.is_file())
    needed = max(0, CHECKPOINT_FILES * checkpoint_bytes - present)
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise RunDirError(errno.ENOSPC, f"the run dir {run_dir} has {free / 2**20:.1f} MiB free but its checkpoints "
                          f"need about {needed / 2**20:.1f} MiB ({CHECKPOINT_FILES} files of "
                          f"~{checkpoint_bytes / 2**20:.1f} MiB); free space or choose another hydra.run.dir")


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)
