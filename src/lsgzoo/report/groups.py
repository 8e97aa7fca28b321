"""The grouped tables of a report, formatted from `lsgzoo.report.stats` (which computes every number).

groups.md / groups.csv: one row per group of runs that differ only in seed (mean ± CI, std, n, failed runs,
the comparison with the baseline, cost means). matrix.md / matrix.csv, when the runs span several tasks: one
row per configuration, one column per task.
"""

import csv
from pathlib import Path

from lsgzoo.report.ranking import metric_listing
from lsgzoo.report.stats import ALPHA, CONFIDENCE, GroupedRuns, RunGroup, Summary
from lsgzoo.report.table import format_value

SIGNIFICANT_MARK = "*"
NO_RUN = "—"


def summary_text(summary: Summary, say_no_ci: bool = True) -> str:
    """Cell text: "0.6 ± 0.2484", "0.29 (n=1, no CI)" (plain "0.29" when not `say_no_ci`) or "no scored run"."""
    if summary.n == 0:
        return "no scored run"
    if summary.halfwidth is None:
        return format_value(summary.mean) + (" (n=1, no CI)" if say_no_ci else "")
    return f"{format_value(summary.mean)} ± {format_value(summary.halfwidth)}"


def p_value_text(group: RunGroup) -> str:
    """The p-value (3 significant digits, SIGNIFICANT_MARK when p < ALPHA), else why there is none."""
    comparison = group.comparison
    if comparison is None:
        return ""
    if comparison.p_value is None:
        return comparison.note
    return f"{comparison.p_value:.3g}" + (f" {SIGNIFICANT_MARK}" if comparison.significant else "")


def delta_text(group: RunGroup) -> str:
    """Difference of means with its sign ("+0.2"), "" when there is none."""
    delta = None if group.comparison is None else group.comparison.delta
    return "" if delta is None else f"{delta:+.4g}"


def method_lines(grouped: GroupedRuns) -> list[str]:
    """Bullet lines that say what the numbers are: grouping, CI, n=1, failed runs and the test."""
    better = {"max": " (higher is better)", "min": " (lower is better)"}.get(grouped.mode, "")
    metric = f"`{grouped.metric}`{better}" if grouped.metric else "The metric (unknown: no run has a score)"
    if grouped.per_task:
        metric = f"Each task's own monitored metric{better}, column `metric` ({per_task_line(grouped)})"
    tasks = ", ".join(f"`{task}`" for task in grouped.tasks)
    lines = [f"- Runs that differ only in `seed` form a group; task{'s' if grouped.multitask else ''}: {tasks}.",
             f"- {metric}: mean ± half-width of the {CONFIDENCE:.0%} confidence interval "
             "(Student's t, n − 1 degrees of freedom) over the group's scored runs; std is the sample standard "
             "deviation. A group with one scored run has no CI (\"n=1, no CI\").",
             "- `failed` counts the runs without a score (failed or killed), left out of the statistics."]
    if grouped.baseline is not None:
        key, value = grouped.baseline
        lines.append(f"- Baseline `{key}={value}`: each group is compared with the baseline group of its task at the "
                     f"same other settings by Welch's t-test (two-sided, unequal variances); {SIGNIFICANT_MARK} marks "
                     f"p < {ALPHA}, not corrected for multiple comparisons; Δ is the difference of means. No test "
                     "when a group has one scored run (\"n=1, no test\") or both groups have zero variance "
                     "(\"identical\" for equal means, else \"no variance\").")
    return lines


def per_task_line(grouped: GroupedRuns) -> str:
    """"metric per task: linked_pairs → val/answer_accuracy, majority → val/accuracy"."""
    return "metric per task: " + metric_listing({task: grouped.metric_of(task) for task in grouped.tasks})


def _configuration_columns(grouped: GroupedRuns) -> list[str]:
    return grouped.keys or ["group"]


def _configuration_cells(grouped: GroupedRuns, group: RunGroup) -> list[str]:
    if not grouped.keys:
        return [group.label()]
    return [format_value(group.configuration[key]) for key in grouped.keys]


def groups_markdown(grouped: GroupedRuns) -> str:
    """groups.md: the method sentences, then one row per group (task column only when there are several)."""
    columns = [*(["task"] if grouped.multitask else []), *(["metric"] if grouped.per_task else []),
               *_configuration_columns(grouped), "n", "failed",
               "mean" if grouped.per_task else grouped.metric or "metric", "std", *(["Δ", "p (Welch)"] if grouped.baseline else []),
               *(header for header, _ in grouped.cost_fields)]
    lines = [*method_lines(grouped), "", "| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_group_cells(grouped, group)) + " |" for group in grouped.groups]
    return "\n".join(lines) + "\n"


def _group_cells(grouped: GroupedRuns, group: RunGroup) -> list[str]:
    """One groups.md row: [task], configuration, n, failed, mean ± CI, std, [Δ, p], cost means ± CI."""
    task = [group.task] if grouped.multitask else []
    task += [format_value(grouped.metric_of(group.task))] if grouped.per_task else []
    comparison = [delta_text(group), p_value_text(group)] if grouped.baseline else []
    costs = [summary_text(group.costs[header], say_no_ci=False) if group.costs[header].n else ""
             for header, _ in grouped.cost_fields]
    return [*task, *_configuration_cells(grouped, group), str(group.metric.n), str(group.n_failed),
            summary_text(group.metric), format_value(group.metric.std), *comparison, *costs]


def write_groups_csv(grouped: GroupedRuns, path) -> Path:
    """groups.csv: raw numbers, one row per group (blank where a value is undefined, e.g. the CI at n = 1)."""
    path = Path(path)
    cost_columns = [f"{header} {part}" for header, _ in grouped.cost_fields
                    for part in ("mean", "ci95_halfwidth")]
    columns = ["task", *grouped.keys, "metric", "n", "failed", "mean", "std", "ci95_low", "ci95_high",
               "ci95_halfwidth", "delta", "p_value", "welch_t", "welch_df", "significant", "note", *cost_columns,
               "runs"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for group in grouped.groups:
            writer.writerow(_blank_none(_groups_csv_row(grouped, group)))
    return path


def _groups_csv_row(grouped: GroupedRuns, group: RunGroup) -> list:
    metric, tested = group.metric, group.comparison
    ci = metric.ci or (None, None)
    costs = [value for header, _ in grouped.cost_fields
             for value in (group.costs[header].mean, group.costs[header].halfwidth)]
    return [group.task, *(group.configuration[key] for key in grouped.keys), grouped.metric_of(group.task), metric.n, group.n_failed,
            metric.mean, metric.std, *ci, metric.halfwidth,
            *((tested.delta, tested.p_value, tested.statistic, tested.df, tested.significant, tested.note)
              if tested else (None,) * 6),
            *costs, " ".join(run.name for run in group.runs)]


def _blank_none(values: list) -> list:
    return ["" if value is None else value for value in values]


def matrix_rows(grouped: GroupedRuns) -> list[tuple[tuple, dict]]:
    """(configuration values, {task: group}) per configuration, in the order the groups first show it."""
    rows: dict[tuple, dict] = {}
    for group in grouped.groups:
        rows.setdefault(tuple(map(repr, group.configuration.values())), {})[group.task] = group
    return [(tuple(next(iter(cells.values())).configuration.values()), cells) for cells in rows.values()]


def matrix_cell_text(group: RunGroup | None) -> str:
    """Cell text: "mean ± half-width" (SIGNIFICANT_MARK when p < ALPHA), "mean (n=1)", or NO_RUN."""
    if group is None or group.metric.n == 0:
        return NO_RUN
    text = summary_text(group.metric, say_no_ci=False) + (" (n=1)" if group.metric.n == 1 else "")
    return text + (f" {SIGNIFICANT_MARK}" if group.comparison is not None and group.comparison.significant else "")


def matrix_markdown(grouped: GroupedRuns) -> str:
    """matrix.md: configurations (rows) × tasks (columns), each cell mean ± CI half-width over seeds."""
    scored_by = "Each task's own monitored metric (named below)," if grouped.per_task else f"`{grouped.metric}`"
    header = [f"{scored_by} per task (columns) and configuration (rows): mean ± half-width of the "
              f"{CONFIDENCE:.0%} confidence interval over seeds (Student's t); \"(n=1)\": one scored run, no CI; "
              f"{NO_RUN}: no scored run."]
    if grouped.baseline is not None:
        key, value = grouped.baseline
        header.append(f"{SIGNIFICANT_MARK}: p < {ALPHA} against `{key}={value}` of the same task (Welch's t-test).")
    columns = [*_configuration_columns(grouped), *grouped.tasks]
    lines = [" ".join(header), "", *([per_task_line(grouped) + ".", ""] if grouped.per_task else []), "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for values, cells in matrix_rows(grouped):
        names = [format_value(value) for value in values] or ["all runs"]
        lines.append("| " + " | ".join([*names, *(matrix_cell_text(cells.get(task)) for task in grouped.tasks)])
                     + " |")
    return "\n".join(lines) + "\n"


def write_matrix_csv(grouped: GroupedRuns, path) -> Path:
    """matrix.csv: one row per configuration; per task its mean, CI half-width, std, n, failed runs and p-value
    (led by the task's metric name when each task is scored by its own monitored metric)."""
    path = Path(path)
    parts = (*(["metric"] if grouped.per_task else []), "mean", "ci95_halfwidth", "std", "n", "failed", "p_value")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*grouped.keys, *(f"{task} {part}" for task in grouped.tasks for part in parts)])
        for values, cells in matrix_rows(grouped):
            row = list(values)
            for task in grouped.tasks:
                row += [grouped.metric_of(task)] if grouped.per_task else []
                row += _matrix_csv_cells(cells.get(task))
            writer.writerow(_blank_none(row))
    return path


def _matrix_csv_cells(group: RunGroup | None) -> list:
    if group is None:
        return [None] * 6
    p_value = None if group.comparison is None else group.comparison.p_value
    return [group.metric.mean, group.metric.halfwidth, group.metric.std, group.metric.n, group.n_failed, p_value]
