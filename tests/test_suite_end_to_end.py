"""experiment=suite end to end at a tiny size: a real multirun of `lsgzoo.train` over 2 tasks × 2 attention
configurations (none, full) × 2 seeds, then `lsgzoo report --baseline` prints the task × configuration matrix."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from lsgzoo.report import inference
from lsgzoo.report.collect import collect_runs
from lsgzoo.report.groups import matrix_markdown
from lsgzoo.report.stats import apply_baseline, group_runs
from wandb_offline import read_offline_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXES = ["suite_task=linked_pairs,mqar", "attention_mode=none,full", "seed=0,1"]
TINY = ["data.source.num_train=32", "data.source.num_validation=8", "data.source.num_test=8", "data.batch_size=8",
        "data.eval_batch_size=8", "trainer.max_steps=2", "trainer.val_check_interval=2", "optim.warmup_steps=0",
        "test_after_training=false", "hydra/launcher=basic"]


TASKS = ("linked_pairs", "mqar")
FULL, NONE = 256, 8  # block_size of the full-attention rows and of sparsity_type=none


def expected_p_values(summaries: list[dict]) -> tuple[list[float], list[float]]:
    """Per task, full against none on val/loss, recomputed from the per-seed summaries: the exact paired
    sign-flip test (runs pair by seed), then Holm over the table's family of the two comparisons."""
    raw = []
    for task in TASKS:
        loss = {(s["attention"]["block_size"], s["seed"]): s["metrics"]["val/loss"] for s in summaries
                if s["data"] == task}
        full, none = (np.array([loss[block, seed] for seed in (0, 1)]) for block in (FULL, NONE))
        raw.append(float(stats.permutation_test((full, none), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                                permutation_type="samples", vectorized=True).pvalue))
    return raw, [float(p) for p in multipletests(raw, method="holm")[1]]


def marked_cells(matrix: str) -> dict[str, bool]:
    """{task: whether the `full` row's cell carries the significance mark} from a matrix.md table."""
    header = next(line for line in matrix.splitlines() if line.startswith("| sparsity_type |"))
    row = next(line for line in matrix.splitlines() if line.startswith(f"| full | {FULL} |"))
    cells = dict(zip(*([cell.strip() for cell in line.strip("|").split("|")] for line in (header, row))))
    return {task: cells[task].endswith("*") for task in TASKS}


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
    raw, adjusted = expected_p_values(summaries)
    assert [float(rows["full"][f"{task} p"]) for task in TASKS] == pytest.approx(raw)
    assert [float(rows["full"][f"{task} p_adjusted"]) for task in TASKS] == pytest.approx(adjusted)
    assert marked_cells(report.stdout) == {task: p < 0.05 for task, p in zip(TASKS, adjusted)}
    assert (out / "matrix.png").stat().st_size > 1000

    # Two seeds: the exact paired test's smallest p is 0.5, so nothing is marked at α = 0.05. The same runs read
    # at an α between a raw p and its Holm-adjusted p show whether the mark follows the adjusted one.
    alpha = min(raw) + (adjusted[raw.index(min(raw))] - min(raw)) / 2
    assert min(raw) < alpha < adjusted[raw.index(min(raw))]
    grouped = group_runs(collect_runs(sweep_dir), "val/loss", "min")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference, "ALPHA", alpha)
        apply_baseline(grouped, "sparsity_type=none")
        assert marked_cells(matrix_markdown(grouped)) == {task: p < alpha for task, p in zip(TASKS, adjusted)}
