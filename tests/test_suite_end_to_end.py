"""experiment=suite end to end at a tiny size: a real multirun of `lsgzoo.train` over 2 tasks × 2 attention
configurations (none, full) × 2 seeds, then `lsgzoo report --baseline` prints the task × configuration matrix."""

import csv
import json
import os
import subprocess
import sys

from wandb_offline import read_offline_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXES = ["suite_task=linked_pairs,mqar", "attention_mode=none,full", "seed=0,1"]
TINY = ["data.source.num_train=32", "data.source.num_validation=8", "data.source.num_test=8", "data.batch_size=8",
        "data.eval_batch_size=8", "trainer.max_steps=2", "trainer.val_check_interval=2", "optim.warmup_steps=0",
        "test_after_training=false", "hydra/launcher=basic"]


def environment() -> dict:
    """The worktree's source first (also for the jobs), W&B quiet and offline, one thread."""
    path = os.pathsep.join(filter(None, [os.path.join(ROOT, "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}


def test_suite_multirun_and_its_matrix_with_significance(tmp_path):
    sweep_dir = tmp_path / "suite"
    env = environment()
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "-m", "experiment=suite", *AXES, *TINY,
                             f"hydra.sweep.dir={sweep_dir}"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/summary.json"))]
    assert len(summaries) == 8 and all(s["status"] == "completed" and s["global_step"] == 2 for s in summaries)
    assert {(s["data"], s["attention"]["block_size"], s["seed"]) for s in summaries} == {
        (task, block, seed) for task in ("linked_pairs", "mqar") for block in (8, 256) for seed in (0, 1)}
    tags = read_offline_run(next(sweep_dir.glob("0/wandb/offline-run-*")))["run"]["tags"]
    assert {"linked_pairs", "selector:none", "block:8", "factor:4", "seed:0"} <= set(tags)

    # two steps leave every answer wrong; the validation loss still differs between runs, so the test has data
    report = subprocess.run([sys.executable, "-m", "lsgzoo", "report", str(sweep_dir), "--baseline",
                             "sparsity_type=none", "--metric", "val/loss", "--mode", "min"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "adjusted p < 0.05 against `sparsity_type=none` of the same task (Holm over" in report.stdout
    assert "| sparsity_type | block_size | sparse_block_size | sparsity_factor | linked_pairs | mqar |" in report.stdout
    matrix_lines = [line for line in report.stdout.splitlines() if line.startswith(("| full | 256 |", "| none | 8 |"))]
    assert len(matrix_lines) == 2 and all(line.count(" [") == 2 for line in matrix_lines)  # the matrix rows
    out = sweep_dir / "report"
    with open(out / "matrix.csv") as handle:
        rows = {row["sparsity_type"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"none", "full"} and rows["full"]["block_size"] == "256"
    assert all(row[f"{task} n"] == "2" and row[f"{task} interval_low"] for row in rows.values()
               for task in ("linked_pairs", "mqar"))
    assert all(float(rows["full"][f"{task} p_adjusted"]) >= float(rows["full"][f"{task} p"]) >= 0
               for task in ("linked_pairs", "mqar"))  # full vs none
    assert (out / "matrix.png").stat().st_size > 1000
