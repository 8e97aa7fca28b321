"""The performance targets, checked against a benchmark result: met, MISSED or not measured.

Each target reads one cell (case, length, mode) of a run on its device and dtype and compares one
of the row's same-run ratios with a bound. `python -m lsgzoo.bench` prints them under its table
and stores them in the JSON, so a regression shows up as a MISSED line, not as a slow unit test.
"""

from dataclasses import dataclass

LSG_CPU = "lsg-norm-128/128-f2-fused"  # `auto` on CPU; the CPU matrices name the backend they run
LSG_GPU = "lsg-norm-128/128-f2-auto"  # `flex` on CUDA


@dataclass(frozen=True)
class Target:
    """`field` of row (case, length, mode) must be ≥ `bound` (≤ when not `higher`); `or_failed`: also met when
    that cell failed (e.g. BART out of memory)."""

    text: str
    device: str
    dtype: str
    case: str
    length: int
    mode: str
    field: str
    bound: float
    higher: bool = True
    or_failed: str | None = None

    def check(self, result: dict) -> tuple[str, str]:
        """(value, status) with status "met", "MISSED" or "not measured"."""
        row = next((r for r in result["rows"] if (r["name"], r["length"], r["mode"]) ==
                    (self.case, self.length, self.mode)), None)
        if self.or_failed and f"{self.or_failed}|{self.length}|{self.mode}" in result.get("failures", {}):
            return f"{self.or_failed} failed", "met"
        if row is None or row.get(self.field) is None:
            return "-", "not measured"
        value = row[self.field]
        met = value >= self.bound if self.higher else value <= self.bound
        return f"{value:.2f}", "met" if met else "MISSED"


def _speed(device, dtype, case, length, mode, bound, field="vs_original", label="the original", **kw):
    """A speed-up target: `field` is the same-run ratio (other's time / this case's time)."""
    return Target(f"{case} {mode} at {length} ≥ {bound}× faster than {label}", device, dtype, case, length, mode,
                  field, bound, **kw)


TARGETS = (
    *(_speed("cpu", "fp32", LSG_CPU, length, mode, 1.5) for length in (4096, 16384) for mode in ("fwd", "train")),
    Target(f"{LSG_CPU} f+b memory at 4096 ≤ BART-sdpa's", "cpu", "fp32", LSG_CPU, 4096, "train",
           "vs_bart_sdpa_memory", 1.0, higher=False),
    Target(f"{LSG_CPU} fwd at 4096 ≥ 70 % of the GEMM rate", "cpu", "fp32", LSG_CPU, 4096, "fwd",
           "fraction_of_gemm", 0.7),
    _speed("cuda", "bf16", LSG_GPU, 16384, "train", 2.5, "vs_bart_sdpa", "BART-sdpa"),
    Target(f"{LSG_GPU} f+b memory at 16384 ≤ BART-sdpa's", "cuda", "bf16", LSG_GPU, 16384, "train",
           "vs_bart_sdpa_memory", 1.0, higher=False),
    _speed("cuda", "bf16", LSG_GPU, 65536, "train", 8.0, "vs_bart_sdpa", "BART-sdpa (or BART fails)",
           or_failed="bart-sdpa"),
    Target(f"{LSG_GPU} fwd at 16384 ≥ 50 % of the GEMM rate", "cuda", "bf16", LSG_GPU, 16384, "fwd",
           "fraction_of_gemm", 0.5),
)


def target_lines(result: dict) -> list[str]:
    """One line per target of this run's device and dtype: `target <text>: <value> → <status>`."""
    return [f"target {t.text}: {value} → {status}"
            for t in TARGETS if (t.device, t.dtype) == (result["device"], result["dtype"])
            for value, status in [t.check(result)]]
