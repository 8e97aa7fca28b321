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
