"""Orchestration: every measurement in a fresh subprocess, cases interleaved across repeats.

Order: for each repeat, for each length, every case (rotated by the repeat index so
no case always runs first), fwd then train, each in its own process. Medians over
repeats; ratios are taken between rows of the same run.

The original LSG implementation needs transformers ≤ 4.44, so it runs in a separate
virtual environment (default `../venv-orig` next to the repository, or `--orig-python`):

    python3.11 -m venv venv-orig
    venv-orig/bin/pip install torch==2.13.0 transformers==4.44.2 lsg-converter==0.1.9

The worker is started there with this repository's `src` on PYTHONPATH (it imports no
lsgzoo model code in that environment); BART-sdpa is measured in both environments
(row `bart-sdpa@orig-env`) as the bridge between them. Without that venv the
original's rows are skipped, and the output says so.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lsgzoo.bench import matrix as mx
from lsgzoo.bench.flops import mode_flops
from lsgzoo.bench.worker import RESULT_PREFIX

SRC = Path(__file__).resolve().parents[2]


def default_orig_python() -> Path:
    return SRC.parent.parent / "venv-orig" / "bin" / "python"


def run_worker(job: dict, python: str, timeout: float) -> dict:
    """Run one job in a fresh process; errors, timeouts and kills become `error` entries."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["TRANSFORMERS_VERBOSITY"] = "error"
    env["PYTHONWARNINGS"] = "ignore"
    try:
        done = subprocess.run([python, "-m", "lsgzoo.bench.worker", json.dumps(job)], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {timeout:.0f} s")
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    if done.returncode < 0 or done.returncode == 137:
        return dict(error=f"killed (signal {-done.returncode if done.returncode < 0 else 9}; out of memory?)")
    return dict(error=f"exit {done.returncode}: {done.stderr.strip()[-400:]}")


def machine_description(device: str) -> dict:
    info = dict(platform=platform.platform(), python=platform.python_version(), cpu_count=os.cpu_count(),
                processor=platform.processor())
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                                 if line.startswith("model name"))
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gb"] = round(int(meminfo[1]) / 2**20, 1)
    except (OSError, StopIteration, IndexError, ValueError):
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    if device == "cuda":
        import torch

        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def cell_key(case_name: str, length: int, mode: str) -> str:
    return f"{case_name}|{length}|{mode}"


def run_benchmark(args) -> dict:
    """Run the matrix described by `args` (see `lsgzoo.bench.__main__`) and return the result dict."""
    matrix_name = args.matrix
    orig_python = Path(args.orig_python) if args.orig_python else default_orig_python()
    have_orig = orig_python.exists() and args.device == "cpu" and matrix_name != "smoke"
    cases = mx.matrix(matrix_name, with_original=have_orig)
    if args.only:
        cases = [case for case in cases if any(word in case.name for word in args.only)]
    cases = [case for case in cases if not any(word in case.name for word in args.exclude)]
    lengths = args.lengths or mx.LENGTHS[matrix_name]
    repeats = args.repeats
    common = dict(threads=args.threads, device=args.device, dtype=args.dtype, iterations=args.iterations,
                  dims=mx.dims(matrix_name, args.tiny))
    notes = []
    if not have_orig and matrix_name != "smoke" and args.device == "cpu":
        notes.append(f"original LSG not measured: no interpreter at {orig_python} (see lsgzoo/bench/run.py)")

    samples: dict[str, list] = {}
    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    started = time.time()
    budget = Budget(started, args.budget, args.timeout)

    def record(case, length, mode, result):
        key = cell_key(case.name, length, mode)
        if "error" in result:
            failures[key] = result["error"]
            print(f"  {key}: FAILED {result['error'][:200]}", flush=True)
        elif "skipped" in result:
            skipped[key] = result["skipped"]
        else:
            samples.setdefault(key, []).append(result)
            if result["seconds"]:
                print(f"  {key}: {result['seconds'][0]:.3f} s  peak {fmt_bytes(result.get('peak_bytes'))}", flush=True)
            else:
                rates = result.get("gemm_flops_per_second", {})
                print(f"  {key}: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items()), flush=True)

    gemm_case = mx.Case("gemm", "gemm")
    for repeat in range(repeats):
        print(f"repeat {repeat + 1}/{repeats} ({time.time() - started:.0f} s elapsed)", flush=True)
        gemm = run_worker(dict(common, case=gemm_case.as_json(), length=max(lengths), mode="fwd"), sys.executable,
                          budget.timeout())
        record(gemm_case, 0, "gemm", gemm)
        shift = repeat % max(len(cases), 1)
        order = cases[shift:] + cases[:shift]
        for length in lengths:
            for case in order:
                for mode in mx.MODES:
                    key = cell_key(case.name, length, mode)
                    reason = case.skip_reason(mode, length) or _skip_after_failure(failures, case.name, length, mode)
                    if mode == "train" and any(word in case.name for word in args.fwd_only):
                        reason = "skipped: forward only in this run (--fwd-only, time budget)"
                    reason = reason or budget.spent()
                    if reason:
                        skipped[key] = reason
                        continue
                    python = str(orig_python) if case.env == "orig" else sys.executable
                    job = dict(common, case=case.as_json(), length=length, mode=mode)
                    record(case, length, mode, run_worker(job, python, budget.timeout()))
    for case in [] if args.no_extras else mx.extra_cases(matrix_name, with_lightning=not args.no_lightning):
        length = case.params.get("length", 0)
        if reason := budget.spent():
            skipped[cell_key(case.name, length, "fwd")] = reason
            continue
        job = dict(common, case=case.as_json(), length=length, mode="fwd")
        record(case, length, "fwd", run_worker(job, sys.executable, budget.timeout()))

    return summarise(args, cases, lengths, samples, failures, skipped, notes, time.time() - started)


class Budget:
    """The run's wall-clock budget (`--budget` seconds, None: unlimited): no cell starts once fewer than
    MIN_CELL_S seconds are left, and a started cell's timeout never runs past the budget, so the whole run,
    compile time included, ends within it and its JSON is written."""

    MIN_CELL_S = 10.0

    def __init__(self, started: float, seconds: float | None, cell_timeout: float):
        self.deadline = None if seconds is None else started + seconds
        self.seconds, self.cell_timeout = seconds, cell_timeout

    def left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.time()

    def spent(self) -> str | None:
        """Why no further cell starts (None: there is time for one)."""
        if self.left() < self.MIN_CELL_S:
            return f"skipped: over the run's time budget (--budget {self.seconds:.0f} s)"
        return None

    def timeout(self) -> float:
        return min(self.cell_timeout, self.left())


def _skip_after_failure(failures: dict, name: str, length: int, mode: str) -> str | None:
    """A cell is skipped once the same case and mode failed (memory, time) at a shorter length."""
    for key, error in failures.items():
        other, other_length, other_mode = key.split("|")
        if other == name and other_mode == mode and int(other_length) < length:
            return f"skipped: failed at {other_length} tokens ({error[:80]})"
    return None


def fmt_bytes(value) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MB"


def summarise(args, cases, lengths, samples, failures, skipped, notes, elapsed) -> dict:
    """Medians, FLOP rates and same-run ratios per cell."""
    gemm_runs = samples.get(cell_key("gemm", 0, "gemm"), [])
    gemm_rates = {}
    for run in gemm_runs:
        for shape, rate in run["gemm_flops_per_second"].items():
            gemm_rates.setdefault(shape, []).append(rate)
    gemm = {shape: statistics.median(rates) for shape, rates in gemm_rates.items()}
    gemm_best = max(gemm.values()) if gemm else None

    rows = []
    for key, runs in samples.items():
        name, length, mode = key.split("|")
        if name == "gemm":
            continue
        case = next((c for c in cases if c.name == name), None)
        seconds = [statistics.median(run["seconds"]) for run in runs]
        peaks = [run["peak_bytes"] for run in runs if run.get("peak_bytes") is not None]
        row = dict(name=name, kind=case.kind if case else name.split("-")[0], length=int(length), mode=mode,
                   seconds_median=statistics.median(seconds), seconds=seconds,
                   peak_bytes_median=statistics.median(peaks) if peaks else None, repeats=len(runs),
                   env_versions=dict(torch=runs[0].get("torch"), transformers=runs[0].get("transformers")),
                   threads=runs[0].get("threads"))
        row.update({k: runs[0][k] for k in ("bare_seconds_median", "overhead", "tokens_per_second") if k in runs[0]})
        flops = mode_flops(case.as_json(), int(length), mode, mx.dims(args.matrix, args.tiny)) if case else None
        if flops:
            row["flops"] = flops
            row["flops_per_second"] = flops / row["seconds_median"]
            if gemm_best:
                row["fraction_of_gemm"] = row["flops_per_second"] / gemm_best
        rows.append(row)
    add_ratios(rows)
    versions = {}
    try:
        import torch
        import transformers

        versions = dict(torch=torch.__version__, transformers=transformers.__version__)
    except ImportError:
        pass
    return dict(
        matrix=args.matrix, dims=mx.dims(args.matrix, args.tiny), device=args.device, dtype=args.dtype,
        repeats=args.repeats,
        iterations=args.iterations, lengths=list(lengths), budget_seconds=args.budget,
        threads=args.threads or (rows[0]["threads"] if rows else None), versions=versions,
        machine=machine_description(args.device), elapsed_seconds=round(elapsed, 1), gemm_flops_per_second=gemm,
        gemm_best=gemm_best, rows=sorted(rows, key=lambda r: (r["length"], r["name"], r["mode"])),
        failures=failures, skipped=skipped, notes=notes,
    )


def add_ratios(rows: list) -> None:
    """Each row's speed-up over BART-sdpa and over the original LSG (norm 128/128 f2), same length and mode.

    The original runs in another environment; `vs_original` compares raw times, and the bridge
    row (BART-sdpa measured in both environments) shows how much the environments differ.
    """
    index = {(r["name"], r["length"], r["mode"]): r for r in rows}
    for row in rows:
        for label, reference in (("vs_bart_sdpa", "bart-sdpa"), ("vs_original", "original-norm-128/128-f2")):
            other = index.get((reference, row["length"], row["mode"]))
            if other:
                row[label] = other["seconds_median"] / row["seconds_median"]
                if row.get("peak_bytes_median") and other.get("peak_bytes_median"):
                    row[label + "_memory"] = row["peak_bytes_median"] / other["peak_bytes_median"]
