"""benchmarks/gpu_smoke.sh on CPU with --tiny: every check runs and lands in one JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

from lsgzoo.selectors.registry import available_selectors

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_smoke_tiny_on_cpu_writes_its_json(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu_smoke.sh"), str(tmp_path), "--device", "cpu", "--tiny"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert sorted(report["selectors_fp32"]) == sorted(available_selectors())
    assert all(row["forward"] < 1e-5 and row["grad"] is None for row in report["selectors_fp32"].values())
    assert report["long_bf16"]["lsg_fwd_bwd_s"] > 0 and report["long_bf16"]["bart_sdpa_fwd_bwd_s"] > 0
    run = report["variable_length_training"]
    assert run["status"] == "completed" and run["global_step"] == 50 and run["attention_fallbacks"] == []
    assert run["train_tokens_per_s"] > 0 and run["peak_memory_mb"] > 0


def test_gpu_matrix_tiny_on_cpu_keeps_its_budget_and_writes_both_jsons(tmp_path):
    """benchmarks/gpu.sh under small per-dtype budgets: it ends within them (plus one cell's start-up), writes
    both JSONs, and lists the cells it had no time for as skipped by the budget (never silently dropped)."""
    budgets = {"bf16": 25, "fp32": 15}
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "BF16_BUDGET_S": str(budgets["bf16"]), "FP32_BUDGET_S": str(budgets["fp32"])}
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu.sh"), str(tmp_path), "--device", "cpu", "--tiny",
                           "--lengths", "256", "--no-plots"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for dtype, budget in budgets.items():
        result = json.loads((tmp_path / f"cpu-{dtype}.json").read_text())
        assert result["budget_seconds"] == budget and result["elapsed_seconds"] <= budget + 10
        measured = {f"{row['name']}|{row['length']}|{row['mode']}" for row in result["rows"]}
        over_budget = {key for key, why in result["skipped"].items() if "time budget" in why}
        assert over_budget and not measured & over_budget  # how many cells fit depends on the machine's load
