"""Fault injection (CI-sized): SIGKILL mid-training and mid-checkpoint-write, damaged checkpoints, a run dir
that cannot be written, a full disk. The ≥20-trial campaign is experiments/fault_injection.py.

Every resumed run is compared with one uninterrupted reference run: the final weights must be bit-identical
(CPU, one thread, `trainer.deterministic`) and every logged training loss equal.
"""

import csv
import errno
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsgzoo.training.checkpoints import (CheckpointError, RunDirError, checkpoint_problem, resumable_step,
                                         resume_checkpoint, save_atomically)
from lsgzoo.training.config import compose_config
from lsgzoo.training.rundir import load_run_model, read_summary
from test_training import TINY, env_for_subprocess

ROOT = Path(__file__).resolve().parents[1]
MAX_STEPS = 10
# 8 batches an epoch, validation every 3 steps, last.ckpt every 2: kills land mid-epoch, at an epoch end,
# around validations and inside checkpoint writes. Dropout makes the random state matter.
EXACT = TINY + ["logger=csv", "num_threads=1", "trainer.deterministic=true", "test_after_training=false",
                "model.dropout=0.1", "trainer.val_check_interval=3", "trainer.enable_progress_bar=false",
                f"trainer.max_steps={MAX_STEPS}"]
KILL_POINTS = [f"step:{step}" for step in range(1, MAX_STEPS)] + [
    f"save:{number}:{phase}" for number in range(1, 6) for phase in ("write", "before-rename", "after-rename")]
# The first checkpoint is last.ckpt at step 2 (save 1): a kill at these points leaves nothing to resume from.
BEFORE_FIRST_CHECKPOINT = ["step:1", "save:1:write", "save:1:before-rename"]


def train(run_dir: Path, overrides: list[str]) -> None:
    from lsgzoo.training.run import run_training

    run_training(compose_config(EXACT + overrides), run_dir, EXACT + overrides)


def killed_run(run_dir: Path, point: str) -> subprocess.CompletedProcess:
    """Start the EXACT run in a subprocess that SIGKILLs itself at `point` (tests/kill_driver.py)."""
    command = [sys.executable, str(ROOT / "tests" / "kill_driver.py"), point, *EXACT, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, capture_output=True, text=True, env=env_for_subprocess(), timeout=600)


def continue_run(run_dir: Path) -> int:
    """Resume a killed run to MAX_STEPS with resume=true; the step it resumed from (the summary's record)."""
    train(run_dir, ["resume=true"])
    return read_summary(run_dir)["resumed_from_step"]


def checkpoint_step(run_dir: Path) -> int | None:
    """global_step of the newest sound checkpoint a resume would pick (None: none was written)."""
    return resumable_step(run_dir / "checkpoints")


def loss_curve(run_dir: Path) -> dict[int, float]:
    """{logged step: train/loss} over every metrics version, a later version's row replacing an earlier one."""
    curve = {}
    versions = sorted((run_dir / "metrics").glob("version_*"), key=lambda path: int(path.name.split("_")[1]))
    for version in versions:
        if not (version / "metrics.csv").exists():  # a resume with nothing left to train logs no row
            continue
        with open(version / "metrics.csv") as handle:
            curve.update({int(row["step"]): float(row["train/loss"]) for row in csv.DictReader(handle)
                          if row.get("train/loss")})
    return curve


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def assert_exact(reference: Path, resumed: Path, resumed_from_step: int) -> None:
    """Bit-identical final weights; every logged loss equal; only the resume step's own row may be missing
    (a kill between writing its checkpoint and logging its row)."""
    expected, got = weights(reference), weights(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected), "weights differ after resume"
    reference_curve, resumed_curve = loss_curve(reference), loss_curve(resumed)
    assert {step: reference_curve[step] for step in resumed_curve} == resumed_curve
    assert set(reference_curve) - set(resumed_curve) <= {resumed_from_step - 1}
    assert all(step in resumed_curve for step in reference_curve if step >= resumed_from_step)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("reference")
    train(run_dir, [])
    assert read_summary(run_dir)["global_step"] == MAX_STEPS
    return run_dir


@pytest.mark.parametrize("point", random.Random(7).sample(
    [point for point in KILL_POINTS if point not in BEFORE_FIRST_CHECKPOINT], 1))
def test_sigkill_at_a_random_point_then_resume_is_exact(reference, tmp_path, point):
    run_dir = tmp_path / "run"
    result = killed_run(run_dir, point)
    assert result.returncode == -9, result.stderr[-3000:]
    on_disk = checkpoint_step(run_dir)
    assert on_disk is not None and on_disk > 0, f"{point} left no checkpoint to resume from"
    assert continue_run(run_dir) == on_disk
    assert read_summary(run_dir)["global_step"] == MAX_STEPS
    assert_exact(reference, run_dir, on_disk)


def test_a_kill_before_the_first_checkpoint_then_resume_starts_over_and_says_so(reference, tmp_path, capfd):
    """Killed with only last.ckpt.partial written: resume=true trains from step 0, on stderr and in the summary."""
    run_dir = tmp_path / "run"
    assert killed_run(run_dir, "save:1:before-rename").returncode == -9
    assert checkpoint_step(run_dir) is None and list((run_dir / "checkpoints").glob("*.partial"))
    capfd.readouterr()
    assert continue_run(run_dir) == 0
    assert "holds no checkpoint (the run was stopped before writing its first); training starts over from step 0" \
        in capfd.readouterr().err
    assert read_summary(run_dir)["global_step"] == MAX_STEPS
    assert_exact(reference, run_dir, 0)


def test_kill_while_writing_last_keeps_the_previous_checkpoint(reference, tmp_path):
    """Killed halfway through writing a checkpoint: the old last.ckpt is intact and the half file is discarded."""
    run_dir = tmp_path / "run"
    assert killed_run(run_dir, "save:3:write").returncode == -9
    checkpoints = run_dir / "checkpoints"
    assert list(checkpoints.glob("*.partial")), "the kill left a half-written file"
    assert checkpoint_problem(checkpoints / "last.ckpt") is None
    train(run_dir, ["resume=true"])
    assert not list(checkpoints.glob("*.partial"))
    assert_exact(reference, run_dir, 0)


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2:]
    else:  # one bit in the middle: inside a weight's bytes, invisible to torch.load
        data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(reference, tmp_path, capsys, how):
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(reference / "checkpoints", checkpoints)
    damage(checkpoints / "last.ckpt", how)
    assert checkpoint_problem(checkpoints / "last.ckpt") is not None
    assert resume_checkpoint(checkpoints) == checkpoints / "last.prev.ckpt"
    assert "previous good checkpoint" in capsys.readouterr().err
    assert (checkpoints / "last.damaged.ckpt").exists() and not (checkpoints / "last.ckpt").exists()


@pytest.mark.parametrize("how", ["truncated", "bit-flipped"])
def test_no_good_checkpoint_is_a_clear_error_and_nothing_is_loaded(reference, tmp_path, how):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    for name in ("last.ckpt", "last.prev.ckpt", "best.ckpt"):
        damage(run_dir / "checkpoints" / name, how)
    with pytest.raises(CheckpointError, match=r"last\.ckpt: .*last\.prev\.ckpt: .*Nothing was loaded"):
        train(run_dir, ["resume=true"])
    assert read_summary(run_dir)["status"] == "failed"
    with pytest.raises(CheckpointError, match="best.ckpt"):
        load_run_model(run_dir)


def test_a_full_disk_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    save_atomically({"step": 1}, path)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(OSError, match="No space left"):
        save_atomically({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_too_little_free_space_fails_at_start(tmp_path, monkeypatch):
    """Simulated: disk_usage reports 1 MiB free (experiments/fault_injection.py fills a real tmpfs)."""
    from lsgzoo.training import checkpoints

    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 0, 2**20))
    with pytest.raises(RunDirError, match=r"1\.0 MiB free but its checkpoints need about"):
        train(tmp_path / "run", [])
    assert not list((tmp_path / "run" / "checkpoints").iterdir())


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory this process cannot create files in: chattr +i as root, mode 0555 otherwise."""
    directory = tmp_path / "locked"
    directory.mkdir()
    as_root = os.geteuid() == 0
    locked = subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0 if as_root \
        else (directory.chmod(0o555) or True)
    try:
        (directory / "probe").touch()
        writable = True
    except OSError:
        writable = False
    if writable or not locked:
        pytest.skip("cannot make a directory unwritable here")
    yield directory
    if as_root:
        subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o755)


def test_an_unwritable_run_dir_fails_at_start(unwritable_dir):
    with pytest.raises(RunDirError, match="is not writable"):
        train(unwritable_dir, [])
    shell = subprocess.run([sys.executable, "-m", "lsgzoo.train", f"hydra.run.dir={unwritable_dir}"],
                           capture_output=True, text=True, env=env_for_subprocess())
    assert shell.returncode != 0 and "is not writable" in shell.stderr, shell.stderr[-2000:]
