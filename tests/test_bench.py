"""The benchmark cannot rot: a --smoke run goes through the real subprocess machinery."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from lsgzoo.bench import matrix as mx
from lsgzoo.bench.flops import forward_flops

SRC = Path(__file__).resolve().parents[1] / "src"


def run_module(*args, timeout=600):
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_help_is_fast_and_imports_no_torch():
    code = "import sys; from lsgzoo.bench.__main__ import parse_args; parse_args(['--smoke']); print('torch' in sys.modules)"
    assert run_module("-c", code).stdout.strip() == "False"
    assert "--full" in run_module("-m", "lsgzoo.bench", "--help").stdout


def test_smoke_run_writes_table_json_and_plots(tmp_path):
    done = run_module("-m", "lsgzoo.bench", "--smoke", "--only", "fused", "--out", str(tmp_path), "--name", "smoke")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "smoke.json").read_text())
    cells = {(row["name"], row["length"], row["mode"]) for row in result["rows"]}
    for length in mx.LENGTHS["smoke"]:
        for mode in mx.MODES:
            assert ("lsg-norm-32/32-f2-fused", length, mode) in cells
    assert ("generate-lsg", 256, "fwd") in cells
    assert result["gemm_best"] > 0 and result["threads"] >= 1 and result["versions"]["torch"]
    assert all(row["seconds_median"] > 0 and 0 < row.get("fraction_of_gemm", 1) for row in result["rows"])
    assert (tmp_path / "smoke-time.png").stat().st_size > 0 and (tmp_path / "smoke-memory.png").exists()
    assert "lsg-norm-32/32-f2-fused" in done.stdout and not result["failures"]


def test_flop_counts_match_the_issue_figures():
    dims = mx.BART_BASE
    assert forward_flops(mx.lsg().as_json(), 4096, dims) == pytest.approx(0.40e12, rel=0.02)
    assert forward_flops(mx.BART.as_json(), 4096, dims) == pytest.approx(0.66e12, rel=0.02)
    assert forward_flops(mx.lsg().as_json(), 16384, dims) == pytest.approx(1.6e12, rel=0.03)


def test_matrices_have_unique_names_and_skip_rules_parse():
    for name in ("smoke", "short", "full", "gpu"):
        names = [case.name for case in mx.matrix(name)]
        assert len(names) == len(set(names))
    case = mx.Case("x", "lsg", skip={"train@>=8192": "too slow", "*@1024": "no"})
    assert case.skip_reason("train", 16384) == "too slow" and case.skip_reason("fwd", 16384) is None
    assert case.skip_reason("fwd", 1024) == "no" and case.skip_reason("train", 4096) is None
    with pytest.raises(ValueError, match="unknown matrix"):
        mx.matrix("huge")


def test_lightning_training_step_row_measures_both_sides():
    from lsgzoo.bench.worker import run_job

    job = {"case": {"name": "lightning-train-step", "kind": "lightning", "params": {"length": 256}}, "length": 256,
           "mode": "fwd", "iterations": 2, "threads": 1, "device": "cpu", "dtype": "fp32",
           "dims": {"d_model": 32, "heads": 2, "ffn": 64, "layers": 1, "vocab": 300}}
    result = run_job(job)
    # bare steps before and after the Lightning ones (each run's warm-up step dropped)
    assert len(result["lightning_seconds"]) == 2 and len(result["bare_seconds"]) == 4
    assert result["bare_seconds_median"] == pytest.approx(statistics.median(result["bare_seconds"]))
    assert result["seconds"][0] > 0 and result["bare_seconds_median"] > 0
    assert result["overhead"] == pytest.approx(result["seconds"][0] / result["bare_seconds_median"] - 1)
    assert result["tokens_per_second"] == pytest.approx(256 / result["seconds"][0])


def test_targets_report_met_missed_and_not_measured():
    from lsgzoo.bench.targets import LSG_GPU, target_lines

    rows = [dict(name=LSG_GPU, length=16384, mode="train", vs_bart_sdpa=3.1, vs_bart_sdpa_memory=1.2),
            dict(name=LSG_GPU, length=16384, mode="fwd", fraction_of_gemm=0.31)]
    result = dict(device="cuda", dtype="bf16", rows=rows, failures={"bart-sdpa|65536|train": "CUDA out of memory"})
    lines = {line.split(": ")[0]: line.rsplit("→ ", 1)[1] for line in target_lines(result)}
    assert lines == {
        f"target {LSG_GPU} train at 16384 ≥ 2.5× faster than BART-sdpa": "met",
        f"target {LSG_GPU} f+b memory at 16384 ≤ BART-sdpa's": "MISSED",
        f"target {LSG_GPU} train at 65536 ≥ 8.0× faster than BART-sdpa (or BART fails)": "met",
        f"target {LSG_GPU} fwd at 16384 ≥ 50 % of the GEMM rate": "MISSED",
    }
    assert all(line.endswith("not measured") for line in target_lines(dict(result, rows=[], failures={})))
    assert target_lines(dict(result, device="cpu", dtype="bf16")) == []  # no CPU bf16 targets


def test_gpu_matrix_runs_auto_at_65536_and_warms_up_at_the_timed_shape():
    from lsgzoo.bench.targets import LSG_GPU
    from lsgzoo.bench.worker import warmup_length

    cases = {case.name: case for case in mx.matrix("gpu")}
    assert LSG_GPU in cases and 65536 in mx.LENGTHS["gpu"]
    assert cases[LSG_GPU].skip_reason("train", 65536) is None
    assert cases["bigbird-pegasus"].skip_reason("train", 65536) and cases["lsg-norm-128/128-f2-fused"].skip_reason(
        "fwd", 65536)
    import torch

    flex_case, fused_case = mx.lsg("norm", "flex").as_json(), mx.lsg("norm", "fused").as_json()
    assert warmup_length(16384, flex_case, torch.device("cpu")) == 16384
    assert warmup_length(16384, fused_case, torch.device("cpu")) == 512
    assert warmup_length(16384, fused_case, torch.device("cuda")) == 16384
