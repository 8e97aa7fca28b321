"""Find the runs of a sweep and read each one into a `RunRecord`.

A run dir is a folder holding `summary.json` (written by `lsgzoo.train` when a
run ends, status "completed" or "failed") or `.hydra/` (every Hydra run has
it). A run killed before writing its summary is recorded as failed, with its
settings read from `.hydra/overrides.yaml` and `.hydra/config.yaml`. Discovery
walks the tree below the given folder and does not descend into run dirs, so a
Hydra multirun root (`multirun/`, `multirun/<date>/` or `.../<time>/`), a single
run dir, or a folder of committed summaries (run dirs without checkpoints) all work.
"""

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from lsgzoo.training.rundir import CHECKPOINT_DIR, SUMMARY_FILE, SummaryError
from lsgzoo.training.rundir import read_summary as read_summary_file

HYDRA_DIR = ".hydra"
DEFAULT_CHECKPOINT = f"{CHECKPOINT_DIR}/best.ckpt"
COMPLETED = "completed"
FAILED = "failed"
NOT_FINISHED = "no summary.json: the run was killed or is still running"
TASK_KEY = "data"
SELECTOR_KEY = "sparsity_type"
FULL_ATTENTION = "full"
UNKNOWN_TASK = "(no data name)"
PER_TASK_METRIC = "monitored metric"  # the metric name that scores each run by its own monitor (ranking.resolve_metric)


@dataclass
class RunRecord:
    """One run of a sweep, as the report sees it.

    name: path relative to the runs' common folder ("3", or "12-00-00/3" when the runs span folders;
        a single run dir is named by its folder name).
    status: "completed" or "failed" (anything but "completed" counts as failed).
    attention: attention keys of the run (summary's `attention`, else the Hydra config's).
    params: every override of the run as {key: parsed value} ("attention.block_size": 32).
    metrics: final metric values {name: float}; `best_score` is the monitored metric's best.
    data: name of the run's data config (summary's `data`, else the Hydra config's `data.name`): its task.
    longest_input: the longest encoder input in tokens (summary's length statistics, capped at the Hydra
        config's `data.max_source_length`), None when unknown.
    max_source_length: the Hydra config's `data.max_source_length` (the inputs' cap), None when unknown.
    source_checkpoint: the checkpoint an eval run evaluated (summary's `source_checkpoint`), None for training.
    """

    run_dir: Path
    name: str
    status: str
    error: str | None = None
    attention: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    overrides: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    monitor: str | None = None
    monitor_mode: str | None = None
    best_score: float | None = None
    seed: int | None = None
    data: str | None = None
    num_parameters: int | None = None
    train_tokens_per_s: float | None = None
    eval_tokens_per_s: float | None = None
    train_mfu: float | None = None
    peak_memory_mb: float | None = None
    train_time_s: float | None = None
    global_step: int | None = None
    best_checkpoint: str | None = None
    longest_input: int | None = None
    max_source_length: int | None = None
    source_checkpoint: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != COMPLETED

    def value(self, metric: str) -> float | None:
        """The run's score on `metric`: `best_score` for its monitored metric, else the final value.
        PER_TASK_METRIC stands for the run's own monitored metric.

        Returns None when the run failed or has no finite value for `metric`.
        """
        if metric == PER_TASK_METRIC:
            metric = self.monitor
        if self.failed or metric is None:
            return None
        raw = self.best_score if metric == self.monitor and self.best_score is not None else self.metrics.get(metric)
        if raw is None:
            return None
        value = float(raw)
        return value if math.isfinite(value) else None

    def setting(self, key: str):
        """Value of a setting: an attention key ("block_size"), a dotted override key ("trainer.max_steps"),
        "seed" (the recorded seed that ran, else the override), or "data" (the data config name; the `data=` override
        when no name was recorded).
        "sparsity_type" is FULL_ATTENTION for a run that computed exact full attention (`is_full_attention`)."""
        if key == SELECTOR_KEY and is_full_attention(self):
            return FULL_ATTENTION
        if key == TASK_KEY:
            return self.data if self.data is not None else self.params.get(TASK_KEY)
        if key == "seed" and self.seed is not None:  # the seed that ran (`seed=null` in lsgzoo.eval: the source's)
            return self.seed
        if key in self.attention:
            return self.attention[key]
        if key in self.params:
            return self.params[key]
        if f"attention.{key}" in self.params:
            return self.params[f"attention.{key}"]
        return self.seed if key == "seed" else None

    def checkpoint_path(self) -> Path | None:
        """The best checkpoint (`best_checkpoint`, relative to the run dir, else checkpoints/best.ckpt) if it exists."""
        path = self.run_dir / (self.best_checkpoint or DEFAULT_CHECKPOINT)
        return path if path.is_file() else None


def task_name(record: RunRecord) -> str:
    """The run's task: its data config name (UNKNOWN_TASK when the run recorded none)."""
    value = record.setting(TASK_KEY)
    return UNKNOWN_TASK if value is None else str(value)


def is_full_attention(record: RunRecord) -> bool:
    """True when the run's LSG attention was exact full attention: LSG attends densely whenever the padded input
    fits in two blocks, so every input of at most 2 · block_size tokens (what `attention=full` sets up with a
    block as long as the input) sees every token. A run that failed before its length statistics were written is
    judged by its inputs' cap (`max_source_length`, an upper bound of the longest input). The one place the report
    tells `full` from a sparse run."""
    block = record.attention.get("block_size")
    longest = record.longest_input if record.longest_input is not None else record.max_source_length
    if longest is None or isinstance(block, bool) or not isinstance(block, int) or block < 1:
        return False
    padded = -(-longest // block) * block
    return padded <= 2 * block


def is_run_dir(path: Path) -> bool:
    return (path / SUMMARY_FILE).is_file() or (path / HYDRA_DIR).is_dir()


def find_run_dirs(root: Path) -> list[Path]:
    """Run dirs at or below `root`, in natural order (job 2 before job 10)."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found = []
    for current, subdirs, _ in os.walk(root):
        here = Path(current)
        if here != root and is_run_dir(here):
            found.append(here)
            subdirs.clear()
        else:
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    return sorted(found, key=lambda p: natural_key(p.relative_to(root)))


def natural_key(relative: Path) -> list:
    """Sort key comparing digit-only path parts as numbers ("2" before "10")."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in relative.parts]


def collect_runs(root) -> list[RunRecord]:
    """Read every run below `root`; raises a ValueError when there is none.

    Unreadable or incomplete summaries become failed records (with the reason in
    `error`) so one broken run never hides the others.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"MULTIRUN_DIR {root} is not a folder; pass a Hydra multirun folder "
                                f"(e.g. multirun/2025-01-01/12-00-00) or a run dir")
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise ValueError(f"MULTIRUN_DIR {root} holds no runs: expected run dirs containing {SUMMARY_FILE} or "
                         f"{HYDRA_DIR}/ (what `python -m lsgzoo.train -m ...` writes under multirun/)")
    names_root = run_dirs[0].parent if len(run_dirs) == 1 else Path(os.path.commonpath(run_dirs))
    return [read_run(path, names_root) for path in run_dirs]


def read_run(run_dir: Path, names_root: Path) -> RunRecord:
    """One run dir → RunRecord (failed when its summary is missing, unreadable or says so)."""
    overrides = read_overrides(run_dir)
    record = RunRecord(run_dir=run_dir, name=run_dir.relative_to(names_root).as_posix(), status=FAILED,
                       overrides=overrides, params=parse_overrides(overrides))
    record.error = read_summary(record)
    hydra_config = read_hydra_config(run_dir)
    if not record.attention:
        record.attention = dict(hydra_config.get("attention") or {})
        record.seed = record.seed if record.seed is not None else hydra_config.get("seed")
        record.data = record.data if record.data is not None else hydra_config.get("data.name")
    limit = hydra_config.get("data.max_source_length")
    if _is_number(limit):
        record.max_source_length = int(limit)
        if record.longest_input is not None:
            record.longest_input = min(record.longest_input, int(limit))
    return record


def read_summary(record: RunRecord) -> str | None:
    """Fill `record` from its summary.json; returns the reason the run failed, None if it completed."""
    if not (record.run_dir / SUMMARY_FILE).is_file():
        return NOT_FINISHED
    try:
        summary = read_summary_file(record.run_dir)
    except (OSError, SummaryError) as error:
        return f"unreadable {SUMMARY_FILE}: {error}"
    if "status" not in summary:
        return f"{SUMMARY_FILE} has no 'status' field"
    wrong = [f"{key!r} is a {type(summary[key]).__name__}, not {kind.__name__}" for key, kind in SUMMARY_FIELD_TYPES.items()
             if summary.get(key) is not None and not isinstance(summary[key], kind)]
    if wrong:
        return f"damaged {SUMMARY_FILE}: {'; '.join(wrong)}"
    apply_summary(record, summary)
    return record.error


# The summary fields the report reads whose type it relies on (a damaged file holding another type is unreadable).
SUMMARY_FIELD_TYPES = {"status": str, "error": str, "attention": dict, "overrides": list, "metrics": dict,
                       "length_statistics": dict}


def apply_summary(record: RunRecord, summary: dict) -> None:
    """Copy a summary.json's fields onto `record` (summary values win over the Hydra files)."""
    record.status = str(summary["status"])
    record.error = summary.get("error")
    record.attention.update(summary.get("attention") or {})
    if summary.get("overrides") is not None:
        record.overrides = list(summary["overrides"])
        record.params = parse_overrides(record.overrides)
    record.metrics = {key: value for key, value in (summary.get("metrics") or {}).items() if _is_number(value)}
    for key in ("monitor", "monitor_mode", "best_score", "seed", "data", "num_parameters", "train_tokens_per_s",
                "eval_tokens_per_s", "train_mfu", "peak_memory_mb", "train_time_s", "global_step", "best_checkpoint",
                "source_checkpoint"):
        if summary.get(key) is not None:
            setattr(record, key, summary[key])
    record.longest_input = longest_source(summary.get("length_statistics"))
    if record.failed and not record.error:
        record.error = f"status {record.status!r}"


def longest_source(statistics) -> int | None:
    """The longest source in tokens over every split of a summary's `length_statistics` (None when absent)."""
    if not isinstance(statistics, dict):
        return None
    splits = [split.get("source_tokens") or {} for split in statistics.values() if isinstance(split, dict)]
    longest = [tokens.get("max") for tokens in splits if isinstance(tokens, dict)]
    longest = [value for value in longest if _is_number(value)]
    return int(max(longest)) if longest else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides from `.hydra/overrides.yaml` ([] when absent or unreadable)."""
    import yaml

    path = run_dir / HYDRA_DIR / "overrides.yaml"
    try:
        loaded = yaml.safe_load(path.read_text()) if path.is_file() else []
    except yaml.YAMLError:
        return []
    return [str(item) for item in loaded] if isinstance(loaded, list) else []


def read_hydra_config(run_dir: Path) -> dict:
    """`attention`, `seed`, `data.name` and `data.max_source_length` of the run's composed config
    (`.hydra/config.yaml`), interpolations resolved.

    Returns {} when the file is absent or unreadable; a value whose interpolation
    cannot be resolved outside the run (e.g. `${hydra:...}`) is left out.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = run_dir / HYDRA_DIR / "config.yaml"
    try:
        config = OmegaConf.load(path) if path.is_file() else None
    except (OmegaConfBaseException, ValueError, OSError):
        return {}
    if not OmegaConf.is_dict(config):
        return {}
    found = {}
    for key in ("attention", "seed", "data.name", "data.max_source_length"):
        try:
            node = OmegaConf.select(config, key, throw_on_missing=False)
            found[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except OmegaConfBaseException:
            continue
    return found


def parse_overrides(overrides: list[str]) -> dict:
    """["attention.block_size=32", "+seed=1"] → {"attention.block_size": 32, "seed": 1}.

    Values are parsed as YAML scalars (ints, floats, booleans, null); `+`, `++`
    prefixes are dropped; deletions (`~key`) and non key=value items (non-strings of a damaged summary) are
    skipped.
    """
    import yaml

    params = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item or item.startswith("~"):
            continue
        key, text = item.split("=", 1)
        key = key.lstrip("+")
        try:
            params[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            params[key] = text
    return params
