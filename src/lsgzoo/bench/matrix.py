"""What the benchmark measures: cases (implementation + settings) × lengths × modes.

A `Case` is plain data (JSON-able) so a fresh worker process can rebuild the model.
Kinds: "lsg" (lsgzoo's encoder), "original" (the original LSG-BART, run in the
separate venv), "bart" (transformers BART encoder, sdpa), "led", "bigbird"
(BigBird-Pegasus block-sparse), "generate" (greedy generation latency),
"lightning" (training-step hook). Every model is at BART-base encoder dimensions
(tiny ones for --smoke) with random init, batch 1.
"""

from dataclasses import asdict, dataclass, field

BART_BASE = dict(d_model=768, heads=12, ffn=3072, layers=6, vocab=50265)
TINY = dict(d_model=64, heads=4, ffn=128, layers=2, vocab=1000)  # --smoke: checks the machinery in seconds


def dims(matrix_name: str, tiny: bool = False) -> dict:
    """Model dims of a run: tiny for the smoke matrix or when asked (checking another matrix' machinery)."""
    return TINY if tiny or matrix_name == "smoke" else BART_BASE
LENGTHS = {"smoke": (256, 512), "short": (1024, 4096), "full": (1024, 4096, 8192, 16384),
           "gpu": (4096, 16384, 65536), "cpu-flex": (4096, 16384)}
MODES = ("fwd", "train")
MAIN_SELECTORS = ("none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling", "bos_pooling_masked")
BACKENDS = ("fused", "sdpa", "eager")  # the CPU matrices; `flex` runs only compiled, i.e. in the gpu matrix


@dataclass(frozen=True)
class Case:
    """One implementation to measure. `params` holds the kind's settings; `env` the Python to run it in."""

    name: str
    kind: str
    params: dict = field(default_factory=dict)
    env: str = "main"
    skip: dict = field(default_factory=dict)  # {"mode@length" or "mode@>=length": reason}

    def as_json(self) -> dict:
        return asdict(self)

    def skip_reason(self, mode: str, length: int) -> str | None:
        """Why this cell is not run (None: run it)."""
        for key, reason in self.skip.items():
            cell_mode, _, bound = key.partition("@")
            if cell_mode not in (mode, "*"):
                continue
            if bound.startswith(">=") and length >= int(bound[2:]) or bound == str(length):
                return reason
        return None


def lsg(selector="norm", backend="fused", block=128, sparse=128, factor=2, **skip) -> Case:
    name = f"lsg-{selector}-{block}/{sparse}-f{factor}-{backend}"
    params = dict(sparsity_type=selector, lsg_backend=backend, block_size=block, sparse_block_size=sparse,
                  sparsity_factor=factor)
    return Case(name, "lsg", params, skip=skip.get("skip", {}))


def original(selector="norm", block=128, sparse=128, factor=2) -> Case:
    params = dict(sparsity_type=selector, block_size=block, sparse_block_size=sparse, sparsity_factor=factor)
    return Case(f"original-{selector}-{block}/{sparse}-f{factor}", "original", params, env="orig")


BART = Case("bart-sdpa", "bart")
BART_ORIG = Case("bart-sdpa@orig-env", "bart", env="orig")  # the bridge row between the two environments
LED256 = Case("led-256", "led", dict(window=256))
LED512 = Case("led-512", "led", dict(window=512))
BIGBIRD = Case("bigbird-pegasus", "bigbird", dict(block_size=64, random_blocks=3))


def matrix(name: str, with_original: bool = True) -> list[Case]:
    """The cases of a named matrix (the names are the keys of `LENGTHS`)."""
    orig = [original(), BART_ORIG] if with_original else []
    if name == "smoke":
        return [lsg("norm", "fused", 32, 32), BART]
    if name == "gpu":  # benchmarks/gpu.sh: `auto` is `flex` on CUDA; `fused` is the assembled-SDPA + recompute path
        no_65k = {"*@>=65536": "skipped: out of the GPU budget (BigBird took 117 GB at 16384 in fp32)"}
        bigbird = Case(BIGBIRD.name, BIGBIRD.kind, BIGBIRD.params, skip=no_65k)
        return [lsg("norm", "auto"), lsg("none", "auto"), lsg("norm", "fused", skip={"*@>=65536": "auto is the row"}),
                BART, LED512, bigbird]
    if name == "cpu-flex":  # does compiled FlexAttention help CPU inference? (FlexAttention has no CPU backward)
        fwd_only = {"train@>=1": "flex has no CPU backward (training falls back to fused)"}
        return [lsg(selector, backend, skip=fwd_only if backend == "flex" else {})
                for selector in ("norm", "none") for backend in ("fused", "flex")] + [BART]
    if name == "short":
        return [lsg("norm", "fused"), lsg("none", "fused"), BART, *orig]  # ≤ 20 min here; LED, BigBird, eager: --full
    if name == "full":
        slow = {"train@>=8192": "skipped in --full: over the run's time budget (forward only at ≥ 8192)"}
        long_only_fwd = {"*@>=8192": "skipped in --full: selector sweep runs at ≤ 4096"}
        cases = [lsg("norm", backend) for backend in BACKENDS]
        cases += [lsg("norm", "fused", 32, 32), lsg("norm", "eager", 32, 32), lsg("none", "fused"),
                  lsg("norm", "fused", factor=4)]
        cases += [BART, LED256, LED512, Case(BIGBIRD.name, BIGBIRD.kind, BIGBIRD.params, skip=slow), *orig]
        for selector in MAIN_SELECTORS:
            for factor in (2, 4):
                for backend in BACKENDS:
                    case = lsg(selector, backend, factor=factor, skip=long_only_fwd)
                    if case.name not in {c.name for c in cases}:
                        cases.append(case)
        return cases
    raise ValueError(f"unknown matrix {name!r}; choose one of {', '.join(LENGTHS)}")


def extra_cases(name: str, with_lightning: bool = True) -> list[Case]:
    """Cases measured once at their own length: generate() latency and the Lightning training-step hook."""
    if name == "smoke":
        return [Case("generate-lsg", "generate", dict(model="lsg", length=256, new_tokens=4))]
    cases = [Case("generate-lsg", "generate", dict(model="lsg", length=4096, new_tokens=64)),
             Case("generate-bart-sdpa", "generate", dict(model="bart", length=4096, new_tokens=64))]
    if with_lightning:
        cases.append(Case("lightning-train-step", "lightning", dict(length=16384 if name == "gpu" else 4096)))
    return cases
