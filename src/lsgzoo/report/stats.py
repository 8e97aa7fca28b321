"""Seed statistics: runs that differ only in their replicate key (`inference.REPLICATE_KEYS`: the seed, and the
evaluated checkpoint of eval runs) form a group; each group gets n, mean, std and a 95 % interval, and with
--solved-at its solve count k/n.

The task of a run is its data config name (the `data` setting); a group's configuration is every other setting
that varies between the runs (`table.varying_setting_columns`), except the replicate keys. With a baseline, every
group is compared with the baseline group of the same task at the same other settings; settings without effect on
a configuration (`MOOT_SETTINGS`: the sparse keys of `none`, the block and sparse keys of full attention) are left
out of that match when no group matches on every setting, so `full` meets `none` of its task.

Conventions (docs/decisions.md):
- n counts the runs with a score on the metric; runs without one (failed, killed) are counted in `n_failed` and
  left out of every statistic.
- std is the sample standard deviation (n − 1 in the denominator). The interval is the bootstrap percentile
  interval of the mean (`scipy.stats.bootstrap`, 9,999 resamples from a fixed seed): it lies within [min, max]
  of the values by construction, so it never leaves the metric's range. n = 1: no std, no interval, no test;
  all values equal: the degenerate interval [v, v].
- Solve counts (`solve_count`): k of n runs scored at least T (at most T for a metric where lower is better),
  with the exact Clopper–Pearson interval (`scipy.stats.binomtest(...).proportion_ci(method="exact")`).
- Comparisons, their adjustment over the table (Holm by default) and seed planning: `lsgzoo.report.inference`.
"""

import math
from dataclasses import dataclass, field

from lsgzoo.report.collect import FULL_ATTENTION, PER_TASK_METRIC, SELECTOR_KEY, TASK_KEY, RunRecord, task_name
from lsgzoo.report.inference import (RANDOM_SEED, REPLICATE_KEYS, Comparison, Observation, adjust_family,
                                     check_adjustment, compare_observations, family_text, fisher_solved, with_power)
from lsgzoo.report.ranking import task_metrics
from lsgzoo.report.table import CORE_ATTENTION_KEYS, varying_setting_columns

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
COST_FIELDS = (("tokens/s", "train_tokens_per_s"), ("peak MB", "peak_memory_mb"))
# Cost columns only in reports whose runs record them: eval runs' (lsgzoo.eval) evaluation throughput, and the
# model-FLOPs utilisation of training (None where Lightning knows no device peak, e.g. on CPU).
OPTIONAL_COST_FIELDS = (("eval tokens/s", "eval_tokens_per_s"), ("MFU", "train_mfu"))
ALL_COST_FIELDS = (COST_FIELDS[0], *OPTIONAL_COST_FIELDS, *COST_FIELDS[1:])
BASELINE = "baseline"
NO_BASELINE = "no baseline at these settings"
SEVERAL_BASELINES = "several baseline groups match"
SPARSE_KEYS = ("sparse_block_size", "sparsity_factor")
MOOT_SETTINGS = {"none": SPARSE_KEYS, FULL_ATTENTION: ("block_size", *SPARSE_KEYS)}


@dataclass(frozen=True)
class Summary:
    """Statistics of one group's values: n, mean, sample std and the interval (low, high) of the mean.

    mean is None when n = 0; std, low and high are None when n < 2; min ≤ low ≤ mean ≤ high ≤ max.
    """

    n: int
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def ci(self) -> tuple[float, float] | None:
        """(low, high) of the interval, None when there is none."""
        return None if self.low is None else (self.low, self.high)


def summarize(values, confidence: float = CONFIDENCE) -> Summary:
    """n, mean, sample std (ddof=1) and the bootstrap percentile interval of the mean, clipped to [min, max]
    (float noise aside, percentiles of resampled means already lie there)."""
    import numpy as np
    from scipy import stats

    values = [float(value) for value in values]
    n = len(values)
    if n == 0:
        return Summary(n=0)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(n=1, mean=mean)
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    if std == 0:
        return Summary(n=n, mean=mean, std=0.0, low=values[0], high=values[0])
    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="percentile", rng=np.random.default_rng(RANDOM_SEED))
    low, high = (float(np.clip(bound, min(values), max(values))) for bound in result.confidence_interval)
    return Summary(n=n, mean=mean, std=std, low=low, high=high)


@dataclass(frozen=True)
class SolveCount:
    """k of n scored runs solved the task (score at or beyond the threshold), with the exact interval of k/n."""

    solved: int
    n: int
    low: float | None = None
    high: float | None = None


def solve_count(values, threshold: float, mode: str | None, confidence: float = CONFIDENCE) -> SolveCount:
    """k/n of `values` at least `threshold` (at most, when `mode` is "min"), with the Clopper–Pearson interval
    (none at n = 0)."""
    from scipy import stats

    values = list(values)
    solved = sum(value <= threshold if mode == "min" else value >= threshold for value in values)
    if not values:
        return SolveCount(0, 0)
    interval = stats.binomtest(solved, len(values)).proportion_ci(confidence_level=confidence, method="exact")
    return SolveCount(solved, len(values), float(interval.low), float(interval.high))


@dataclass
class RunGroup:
    """Runs of one task and configuration (they differ only in their replicate key).

    configuration: {setting: value} for every configuration key; metric: statistics of the scored runs;
    costs: {cost header: Summary} over the completed runs; n_failed: runs without a score;
    comparison: against the baseline group (None without --baseline); solved: k/n with --solved-at (else None);
    solve_comparison: the solve rate against the baseline's (Fisher), with --solved-at and --baseline.
    """

    task: str
    configuration: dict
    runs: list[RunRecord]
    metric: Summary
    costs: dict
    n_failed: int
    comparison: Comparison | None = None
    solved: SolveCount | None = None
    solve_comparison: Comparison | None = None

    def label(self) -> str:
        """The configuration as "key=value, key=value" ("all runs" when nothing but seed and task varies)."""
        return ", ".join(f"{key}={value}" for key, value in self.configuration.items()) or "all runs"


@dataclass
class GroupedRuns:
    """Every group of a sweep, ordered by task then best mean first (groups without a score last).

    keys: the configuration keys; tasks: task names, sorted; baseline: (key, value) after `apply_baseline`;
    task_metrics: {task: the metric its groups are scored by} (`ranking.task_metrics`); adjust: the
    multiple-comparison adjustment (`inference.ADJUSTMENTS`); solved_at: the --solved-at threshold (or None);
    families: {what was compared: "Holm over 32 comparisons"} for the groups table.
    """

    metric: str | None
    mode: str | None
    keys: list[str]
    tasks: list[str]
    groups: list[RunGroup]
    baseline: tuple[str, object] | None = None
    task_metrics: dict = field(default_factory=dict)
    adjust: str = "holm"
    solved_at: float | None = None
    families: dict = field(default_factory=dict)

    @property
    def multitask(self) -> bool:
        return len(self.tasks) > 1

    @property
    def per_task(self) -> bool:
        """True when each task is scored by its own monitored metric (PER_TASK_METRIC)."""
        return self.metric == PER_TASK_METRIC

    @property
    def cost_fields(self) -> tuple:
        """The (header, RunRecord field) cost columns: COST_FIELDS, and each OPTIONAL_COST_FIELDS one a group has."""
        return tuple(field for field in ALL_COST_FIELDS
                     if field in COST_FIELDS or any(group.costs[field[0]].n for group in self.groups))

    def metric_of(self, task: str) -> str | None:
        """The metric `task`'s groups are scored by."""
        return self.task_metrics.get(task, None if self.per_task else self.metric)


def configuration_keys(records: list[RunRecord]) -> list[str]:
    """The settings that vary between runs, except the replicate keys and the task: what tells groups apart.

    An override that only renames what earlier columns already say (a config group choice such as
    `suite_task=mqar` or `attention_mode=full`, fixed by the task and the attention keys) is left out: it would
    repeat a column and keep `full` from meeting its baseline. The attention keys themselves always stay.
    """
    kept = []
    for key in varying_setting_columns(records):
        if key in (*REPLICATE_KEYS, TASK_KEY):
            continue
        if key in CORE_ATTENTION_KEYS or not determined_by(records, key, [TASK_KEY, *kept]):
            kept.append(key)
    return kept


def determined_by(records: list[RunRecord], key: str, others: list[str]) -> bool:
    """True when runs equal on every setting in `others` always have the same `key`."""
    seen = {}
    for record in records:
        known = tuple(repr(record.setting(other)) for other in others)
        if seen.setdefault(known, repr(record.setting(key))) != repr(record.setting(key)):
            return False
    return True


def group_runs(records: list[RunRecord], metric: str | None, mode: str | None, adjust: str = "holm",
               solved_at: float | None = None) -> GroupedRuns:
    """Group `records` by task and configuration and compute each group's statistics (no comparison yet);
    with `solved_at`, each group's solve count."""
    check_adjustment(adjust)
    keys = configuration_keys(records)
    buckets: dict[tuple, list[RunRecord]] = {}
    for record in records:
        buckets.setdefault(_group_key(task_name(record), record, keys), []).append(record)
    groups = [make_group(runs, keys, metric) for runs in buckets.values()]
    groups.sort(key=lambda group: (group.task, *_score_order(group.metric.mean, mode)))
    if solved_at is not None:
        for group in groups:
            group.solved = solve_count(scores_of(group.runs, metric), solved_at, mode)
    return GroupedRuns(metric=metric, mode=mode, keys=keys, tasks=sorted({g.task for g in groups}), groups=groups,
                       task_metrics=task_metrics(records, metric), adjust=adjust, solved_at=solved_at)


def _group_key(task: str, record: RunRecord, keys: list[str]) -> tuple:
    return task, *(repr(record.setting(key)) for key in keys)


def _score_order(mean: float | None, mode: str | None) -> tuple:
    """Sort key: scored groups first, best first for `mode`; unscored ones keep their order."""
    if mean is None or mode is None:
        return (1, 0.0)
    return (0, -mean if mode == "max" else mean)


def make_group(runs: list[RunRecord], keys: list[str], metric: str | None) -> RunGroup:
    """One group's statistics: the metric over its scored runs, each cost over its completed runs."""
    scores = scores_of(runs, metric)
    costs = {header: summarize(getattr(run, name) for run in runs
                               if not run.failed and _is_number(getattr(run, name)))
             for header, name in ALL_COST_FIELDS}
    return RunGroup(task=task_name(runs[0]), configuration={key: runs[0].setting(key) for key in keys}, runs=runs,
                    metric=summarize(scores), costs=costs, n_failed=len(runs) - len(scores))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_setting(text: str, flag: str, example: str) -> tuple[str, str]:
    """Split a flag's "KEY=VALUE" text: "sparsity_type=none" → ("sparsity_type", "none"); ValueError naming
    `flag` if malformed."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"{flag} expects KEY=VALUE (e.g. {example}), got {text!r}")
    return key.strip(), value.strip()


def parse_baseline(text: str) -> tuple[str, str]:
    """Split --baseline's text: "sparsity_type=none" → ("sparsity_type", "none"); ValueError if malformed."""
    return parse_setting(text, "--baseline", "sparsity_type=none")


def check_key(grouped: GroupedRuns, key: str, flag: str) -> None:
    """ValueError naming `flag` unless `key` is a configuration key (listing them; replicate keys and the task
    are never one: groups pool the replicates and comparisons stay within a task)."""
    if key in (*REPLICATE_KEYS, TASK_KEY):
        raise ValueError(f"{flag}: groups pool the seeds and comparisons stay within a task, so the compared "
                         f"setting cannot be a {key}; choose one of: {_listing(grouped.keys)}")
    if key not in grouped.keys:
        raise ValueError(f"{flag}: {key!r} is not a setting that varies between these runs; "
                         f"choose one of: {_listing(grouped.keys)}")


def setting_value(grouped: GroupedRuns, key: str, wanted: str, flag: str):
    """The value of `key` some group has that `wanted` names (ValueError naming `flag` and the values if none)."""
    values = list({repr(group.configuration[key]): group.configuration[key] for group in grouped.groups}.values())
    matching = [value for value in values if _matches(value, wanted)]
    if not matching:
        raise ValueError(f"{flag}: no group has {key}={wanted}; {key} takes the values: "
                         f"{_listing(sorted(map(str, values)))}")
    return matching[0]


def apply_baseline(grouped: GroupedRuns, text: str) -> None:
    """Compare every group with the baseline group `KEY=VALUE` of its task at its other settings.

    Sets each group's `comparison` (and `solve_comparison` with solve counts), adjusted over the table's family,
    `grouped.baseline` and `grouped.families`. Raises ValueError naming --baseline when KEY is not a configuration
    key (listing the keys) or no group has KEY=VALUE (listing the values KEY takes).
    """
    key, wanted = parse_baseline(text)
    check_key(grouped, key, f"--baseline {text}")
    grouped.baseline = (key, setting_value(grouped, key, wanted, f"--baseline {text}"))
    baselines = [group for group in grouped.groups if _matches(group.configuration[key], wanted)]
    references = {}
    for group in grouped.groups:
        if _matches(group.configuration[key], wanted):
            group.comparison = Comparison(note=BASELINE)
            group.solve_comparison = Comparison(note=BASELINE) if group.solved else None
            continue
        found = baseline_for(group, baselines, key)
        if len(found) == 1:
            references[id(group)] = found[0]
            group.comparison = compare(group, found[0], grouped.metric)
            if group.solved is not None:
                group.solve_comparison = fisher_solved(group.solved.solved, group.solved.n,
                                                       found[0].solved.solved, found[0].solved.n)
        else:
            group.comparison = Comparison(note=SEVERAL_BASELINES if found else NO_BASELINE)
    _adjust_groups(grouped, references)


def _adjust_groups(grouped: GroupedRuns, references: dict) -> None:
    """Adjust the groups' comparisons (and solve comparisons) as one family each; seeds for power where not
    significant; the families stated in `grouped.families`."""
    groups = grouped.groups
    adjusted = adjust_family([group.comparison for group in groups], grouped.adjust)
    for group, comparison in zip(groups, adjusted):
        reference = references.get(id(group))
        group.comparison = comparison if reference is None else with_power(
            comparison, scores_of(group.runs, grouped.metric), scores_of(reference.runs, grouped.metric))
    grouped.families = {"score": family_text(adjusted, grouped.adjust)}
    if grouped.solved_at is not None:
        solves = adjust_family([group.solve_comparison or Comparison() for group in groups], grouped.adjust)
        for group, comparison in zip(groups, solves):
            group.solve_comparison = comparison if group.solve_comparison is not None else None
        grouped.families["solve rate"] = family_text(solves, grouped.adjust)


def moot_settings(configuration: dict) -> tuple[str, ...]:
    """The configuration keys that have no effect on this configuration (by its selector, MOOT_SETTINGS)."""
    return MOOT_SETTINGS.get(str(configuration.get(SELECTOR_KEY)), ())


def baseline_for(group: RunGroup, baselines: list[RunGroup], key: str) -> list[RunGroup]:
    """The baseline groups of `group`'s task at its other settings: the one equal on every setting but `key` if
    there is one, else those equal on every setting that matters to both (moot ones left out)."""
    same_task = [baseline for baseline in baselines if baseline.task == group.task]
    others = [other for other in group.configuration if other != key]
    exact = [b for b in same_task if all(_same(group, b, other) for other in others)]
    if exact:
        return exact
    return [b for b in same_task
            if all(_same(group, b, other) for other in others
                   if other not in moot_settings(group.configuration) + moot_settings(b.configuration))]


def _same(group: RunGroup, other: RunGroup, key: str) -> bool:
    return repr(group.configuration[key]) == repr(other.configuration[key])


def observations(runs: list[RunRecord], metric: str | None, prefix: tuple = ()) -> list[Observation]:
    """The scored runs as `Observation`s, keyed by `prefix` + their REPLICATE_KEYS values (None when the run
    has no seed)."""
    found = []
    for run in runs:
        score = None if metric is None else run.value(metric)
        if score is None:
            continue
        replicate = tuple(run.setting(key) for key in REPLICATE_KEYS)
        key = None if replicate[0] is None else (*prefix, *map(repr, replicate))
        found.append(Observation(key=key, score=score, run_dir=run.run_dir, checkpoint=run.source_checkpoint))
    return found


def compare(group: RunGroup, reference: RunGroup, metric: str) -> Comparison:
    """`group`'s scores against `reference`'s (`inference.compare_observations`: paired where the runs pair)."""
    return compare_observations(observations(group.runs, metric), observations(reference.runs, metric))


def scores_of(runs: list[RunRecord], metric: str | None) -> list[float]:
    """The runs' scores on `metric`, runs without one left out ([] when there is no metric)."""
    if metric is None:
        return []
    return [score for score in (run.value(metric) for run in runs) if score is not None]


def _matches(value, wanted: str) -> bool:
    """True when a setting's value is what a flag names: the same text, or the same YAML scalar."""
    import yaml

    if str(value) == wanted or (value is None and wanted.lower() in ("none", "null")):
        return True
    try:
        return value == yaml.safe_load(wanted)
    except yaml.YAMLError:
        return False


def _listing(values) -> str:
    return ", ".join(str(value) for value in values) or "(none: the runs differ only in seed or task)"
