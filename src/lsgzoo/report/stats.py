"""Seed statistics: runs that differ only in `seed` form a group, and each group gets n, mean, std and a 95 % CI.

The task of a run is its data config name (the `data` setting); a group's configuration is every other setting
that varies between the runs (`table.varying_setting_columns`), except the seed. With a baseline, every group is
compared with the baseline group of the same task at the same other settings; settings without effect on a
configuration (`MOOT_SETTINGS`: the sparse keys of `none`, the block and sparse keys of full attention) are left
out of that match when no group matches on every setting, so `full` meets `none` of its task.

Conventions (docs/decisions.md):
- n counts the runs with a score on the metric; runs without one (failed, killed) are counted in `n_failed` and
  left out of every statistic.
- std is the sample standard deviation (n − 1 in the denominator); the CI is mean ± t(0.975, n − 1) · std / √n
  (Student's t). A group with n = 1 has a mean only: no std, no CI, no test.
- The comparison is Welch's t-test (two-sided, unequal variances: `scipy.stats.ttest_ind(equal_var=False)`),
  significant when p < 0.05, with no correction for multiple comparisons. When both groups have zero variance
  the test is undefined: the note says "identical" (equal means) or "no variance" (different means).
"""

import math
import warnings
from dataclasses import dataclass, field

from lsgzoo.report.collect import FULL_ATTENTION, PER_TASK_METRIC, SELECTOR_KEY, TASK_KEY, RunRecord, task_name
from lsgzoo.report.ranking import task_metrics
from lsgzoo.report.table import CORE_ATTENTION_KEYS, SEED_KEY, varying_setting_columns

CONFIDENCE = 0.95
ALPHA = 0.05
COST_FIELDS = (("tokens/s", "train_tokens_per_s"), ("peak MB", "peak_memory_mb"))
# Eval runs' (lsgzoo.eval) evaluation throughput: a cost column only in reports that hold such runs.
EVAL_COST_FIELD = ("eval tokens/s", "eval_tokens_per_s")
ALL_COST_FIELDS = (COST_FIELDS[0], EVAL_COST_FIELD, *COST_FIELDS[1:])
BASELINE = "baseline"
ONE_RUN = "n=1, no test"
NO_SCORE = "no scored run"
IDENTICAL = "identical"
NO_VARIANCE = "no variance"
NO_BASELINE = "no baseline at these settings"
SEVERAL_BASELINES = "several baseline groups match"
SPARSE_KEYS = ("sparse_block_size", "sparsity_factor")
MOOT_SETTINGS = {"none": SPARSE_KEYS, FULL_ATTENTION: ("block_size", *SPARSE_KEYS)}


def _scipy_stats():
    """`scipy.stats`, or an ImportError saying how to install it."""
    try:
        from scipy import stats
    except ImportError as error:
        raise ImportError("lsgzoo report's statistics need scipy: pip install -e '.[train]' "
                          "(or pip install 'scipy>=1.11')") from error
    return stats


@dataclass(frozen=True)
class Summary:
    """Statistics of one group's values: n, mean, sample std and the CI's half-width.

    mean is None when n = 0; std and halfwidth are None when n < 2.
    """

    n: int
    mean: float | None = None
    std: float | None = None
    halfwidth: float | None = None

    @property
    def ci(self) -> tuple[float, float] | None:
        """(low, high) of the confidence interval, None when there is none."""
        return None if self.halfwidth is None else (self.mean - self.halfwidth, self.mean + self.halfwidth)


def summarize(values, confidence: float = CONFIDENCE) -> Summary:
    """n, mean, sample std (ddof=1) and the Student-t CI half-width t(1 - (1 - confidence)/2, n - 1)·std/√n."""
    values = [float(value) for value in values]
    n = len(values)
    if n == 0:
        return Summary(n=0)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(n=1, mean=mean)
    std = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    quantile = float(_scipy_stats().t.ppf(0.5 + confidence / 2, n - 1))
    return Summary(n=n, mean=mean, std=std, halfwidth=quantile * std / math.sqrt(n))


@dataclass(frozen=True)
class Comparison:
    """A group against its baseline group.

    delta: difference of means (group − baseline); statistic, df, p_value: Welch's t, its Welch–Satterthwaite
    degrees of freedom and the two-sided p-value, all None when no test was made; note: why not (e.g. "n=1, no
    test", "identical", "baseline"), "" when tested.
    """

    delta: float | None = None
    statistic: float | None = None
    df: float | None = None
    p_value: float | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        """True when a test was made and p < ALPHA."""
        return self.p_value is not None and self.p_value < ALPHA


def welch_test(values, baseline_values) -> Comparison:
    """Welch's two-sided t-test of `values` against `baseline_values`; a note instead where it is undefined.

    One constant group is fine (the test then rests on the other group's variance): scipy's "nearly identical
    data" warning is silenced for it.
    """
    values, baseline_values = [float(v) for v in values], [float(v) for v in baseline_values]
    if not values or not baseline_values:
        return Comparison(note=NO_SCORE)
    delta = math.fsum(values) / len(values) - math.fsum(baseline_values) / len(baseline_values)
    if min(len(values), len(baseline_values)) < 2:
        return Comparison(delta=delta, note=ONE_RUN)
    if len(set(values)) == 1 and len(set(baseline_values)) == 1:
        return Comparison(delta=delta, note=IDENTICAL if delta == 0 else NO_VARIANCE)
    stats = _scipy_stats()
    with warnings.catch_warnings():
        if len(set(values)) == 1 or len(set(baseline_values)) == 1:
            warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(values, baseline_values, equal_var=False)
    return Comparison(delta=delta, statistic=float(result.statistic), df=float(result.df),
                      p_value=float(result.pvalue))


@dataclass
class RunGroup:
    """Runs of one task and configuration (they differ only in seed).

    configuration: {setting: value} for every configuration key; metric: statistics of the scored runs;
    costs: {cost header: Summary} over the completed runs; n_failed: runs without a score;
    comparison: against the baseline group (None without --baseline).
    """

    task: str
    configuration: dict
    runs: list[RunRecord]
    metric: Summary
    costs: dict
    n_failed: int
    comparison: Comparison | None = None

    def label(self) -> str:
        """The configuration as "key=value, key=value" ("all runs" when nothing but seed and task varies)."""
        return ", ".join(f"{key}={value}" for key, value in self.configuration.items()) or "all runs"


@dataclass
class GroupedRuns:
    """Every group of a sweep, ordered by task then best mean first (groups without a score last).

    keys: the configuration keys; tasks: task names, sorted; baseline: (key, value) after `apply_baseline`;
    task_metrics: {task: the metric its groups are scored by} (`ranking.task_metrics`).
    """

    metric: str | None
    mode: str | None
    keys: list[str]
    tasks: list[str]
    groups: list[RunGroup]
    baseline: tuple[str, object] | None = None
    task_metrics: dict = field(default_factory=dict)

    @property
    def multitask(self) -> bool:
        return len(self.tasks) > 1

    @property
    def per_task(self) -> bool:
        """True when each task is scored by its own monitored metric (PER_TASK_METRIC)."""
        return self.metric == PER_TASK_METRIC

    @property
    def cost_fields(self) -> tuple:
        """The (header, RunRecord field) cost columns: COST_FIELDS, and EVAL_COST_FIELD where a group has it."""
        return tuple(field for field in ALL_COST_FIELDS
                     if field in COST_FIELDS or any(group.costs[field[0]].n for group in self.groups))

    def metric_of(self, task: str) -> str | None:
        """The metric `task`'s groups are scored by."""
        return self.task_metrics.get(task, None if self.per_task else self.metric)


def configuration_keys(records: list[RunRecord]) -> list[str]:
    """The settings that vary between runs, except the seed and the task: what tells one group from another.

    An override that only renames what earlier columns already say (a config group choice such as
    `suite_task=mqar` or `attention_mode=full`, fixed by the task and the attention keys) is left out: it would
    repeat a column and keep `full` from meeting its baseline. The attention keys themselves always stay.
    """
    kept = []
    for key in varying_setting_columns(records):
        if key in (SEED_KEY, TASK_KEY):
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


def group_runs(records: list[RunRecord], metric: str | None, mode: str | None) -> GroupedRuns:
    """Group `records` by task and configuration and compute each group's statistics (no comparison yet)."""
    keys = configuration_keys(records)
    buckets: dict[tuple, list[RunRecord]] = {}
    for record in records:
        buckets.setdefault(_group_key(task_name(record), record, keys), []).append(record)
    groups = [make_group(runs, keys, metric) for runs in buckets.values()]
    groups.sort(key=lambda group: (group.task, *_score_order(group.metric.mean, mode)))
    return GroupedRuns(metric=metric, mode=mode, keys=keys, tasks=sorted({g.task for g in groups}), groups=groups,
                       task_metrics=task_metrics(records, metric))


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


def parse_baseline(text: str) -> tuple[str, str]:
    """Split --baseline's text: "sparsity_type=none" → ("sparsity_type", "none"); ValueError if malformed."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"--baseline expects KEY=VALUE (e.g. sparsity_type=none), got {text!r}")
    return key.strip(), value.strip()


def apply_baseline(grouped: GroupedRuns, text: str) -> None:
    """Compare every group with the baseline group `KEY=VALUE` of its task at its other settings (Welch's t).

    Sets each group's `comparison` and `grouped.baseline`. Raises ValueError naming --baseline when KEY is not
    a configuration key (listing the keys) or no group has KEY=VALUE (listing the values KEY takes).
    """
    key, wanted = parse_baseline(text)
    if key in (SEED_KEY, TASK_KEY):
        raise ValueError(f"--baseline {text}: groups pool the seeds and comparisons stay within a task, so the "
                         f"baseline cannot be a {key}; choose one of: {_listing(grouped.keys)}")
    if key not in grouped.keys:
        raise ValueError(f"--baseline {text}: {key!r} is not a setting that varies between these runs; "
                         f"choose one of: {_listing(grouped.keys)}")
    values = list({repr(group.configuration[key]): group.configuration[key] for group in grouped.groups}.values())
    matching = [value for value in values if _matches(value, wanted)]
    if not matching:
        raise ValueError(f"--baseline {text}: no group has {key}={wanted}; {key} takes the values: "
                         f"{_listing(sorted(map(str, values)))}")
    grouped.baseline = (key, matching[0])
    baselines = [group for group in grouped.groups if _matches(group.configuration[key], wanted)]
    for group in grouped.groups:
        if _matches(group.configuration[key], wanted):
            group.comparison = Comparison(note=BASELINE)
            continue
        references = baseline_for(group, baselines, key)
        if len(references) == 1:
            group.comparison = compare(group, references[0], grouped.metric)
        else:
            group.comparison = Comparison(note=SEVERAL_BASELINES if references else NO_BASELINE)


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


def compare(group: RunGroup, reference: RunGroup, metric: str) -> Comparison:
    """Welch's t-test of `group`'s scores against `reference`'s."""
    return welch_test(scores_of(group.runs, metric), scores_of(reference.runs, metric))


def scores_of(runs: list[RunRecord], metric: str | None) -> list[float]:
    """The runs' scores on `metric`, runs without one left out ([] when there is no metric)."""
    if metric is None:
        return []
    return [score for score in (run.value(metric) for run in runs) if score is not None]


def _matches(value, wanted: str) -> bool:
    """True when a setting's value is what --baseline names: the same text, or the same YAML scalar."""
    import yaml

    if str(value) == wanted or (value is None and wanted.lower() in ("none", "null")):
        return True
    try:
        return value == yaml.safe_load(wanted)
    except yaml.YAMLError:
        return False


def _listing(values) -> str:
    return ", ".join(str(value) for value in values) or "(none: the runs differ only in seed or task)"
