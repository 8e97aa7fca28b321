"""The grouped tables of a report, formatted from `lsgzoo.report.stats` (which computes every number).

groups.md / groups.csv: one row per group of runs that differ only in seed (mean [95 % interval], std, n, failed
runs, solve count with --solved-at, the comparison with the baseline, cost means). matrix.md / matrix.csv, when
the runs span several tasks: one row per configuration, one column per task. compare.md / compare.csv: the
--compare and --all-pairs tables. Numbers are printed with 2–3 significant digits (`estimate_text`); the CSVs
keep them raw.
"""

import csv
import math
from pathlib import Path

from lsgzoo.report.compare import POOLED, PairRow, PairTable
from lsgzoo.report.inference import ADJUSTMENTS, ALPHA, POWER, Comparison
from lsgzoo.report.ranking import metric_listing
from lsgzoo.report.stats import CONFIDENCE, GroupedRuns, RunGroup, SolveCount, Summary
from lsgzoo.report.table import format_value

SIGNIFICANT_MARK = "*"
NO_RUN = "—"
INTERVAL_TEXT = (f"mean [{CONFIDENCE:.0%} bootstrap percentile interval of the mean, which stays within the "
                 "runs' range]")


def number_text(value: float, reference: float | None = None) -> str:
    """`value` with the decimals that give `reference` (default `value`) 2–3 significant digits: 0.87, 0.050,
    5.5, 40858."""
    magnitude = abs(value if reference is None else reference)
    decimals = 2 if magnitude == 0 else max(0, 2 - math.ceil(math.log10(magnitude)))
    return f"{value:.{decimals}f}"


def estimate_text(summary: Summary, say_no_ci: bool = True) -> str:
    """Cell text: "0.87 [0.60, 1.00]", "0.29 (n=1, no CI)" (plain "0.29" when not `say_no_ci`) or
    "no scored run"."""
    if summary.n == 0:
        return "no scored run"
    mean = number_text(summary.mean)
    if summary.low is None:
        return mean + (" (n=1, no CI)" if say_no_ci else "")
    return f"{mean} [{number_text(summary.low, summary.mean)}, {number_text(summary.high, summary.mean)}]"


def solved_text(solved: SolveCount | None) -> str:
    """"5/6 [0.36, 1.00]" (k/n with its exact interval), "0/0" without scored runs, "" without --solved-at."""
    if solved is None:
        return ""
    if solved.n == 0:
        return "0/0"
    return f"{solved.solved}/{solved.n} [{solved.low:.2f}, {solved.high:.2f}]"


def p_text(p: float | None) -> str:
    return "" if p is None else f"{p:.2g}"


def adjusted_text(comparison: Comparison | None) -> str:
    """The adjusted p with SIGNIFICANT_MARK when below ALPHA; else the note saying why there is no test."""
    if comparison is None:
        return ""
    if comparison.p_value is None:
        return comparison.note
    return p_text(comparison.p_adjusted) + (f" {SIGNIFICANT_MARK}" if comparison.significant else "")


def power_text(comparison: Comparison | None) -> str:
    """Seeds per group for 80 % power: a number for a non-significant test, "—" where undefined, "" otherwise."""
    if comparison is None or comparison.p_adjusted is None or comparison.significant:
        return ""
    return NO_RUN if comparison.seeds_for_80_power is None else str(comparison.seeds_for_80_power)


def delta_text(comparison: Comparison | None) -> str:
    """Difference of means with its sign ("+0.20"), "" when there is none."""
    if comparison is None or comparison.delta is None:
        return ""
    return ("+" if comparison.delta >= 0 else "") + number_text(comparison.delta, max(abs(comparison.delta), 0.1))


def comparison_cells(comparison: Comparison | None) -> list[str]:
    """Δ, test (with its pairs), p, p adjusted [*], seeds for 80 % power."""
    if comparison is None:
        return [""] * 5
    test = comparison.test + (f" ({comparison.n_pairs} pairs)" if comparison.n_pairs else "")
    return [delta_text(comparison), test, p_text(comparison.p_value), adjusted_text(comparison),
            power_text(comparison)]


COMPARISON_COLUMNS = ["Δ", "test", "p", "p adj", f"seeds for {POWER:.0%} power"]
SOLVE_COLUMNS = ["p solved (Fisher)", "p solved adj"]


def comparison_method_lines(families: dict, adjust: str) -> list[str]:
    """What the comparison columns mean: which tests, the family and adjustment, the marks, seed planning."""
    family = "; ".join(f"{name}: {text}" for name, text in families.items())
    return [f"- Test per comparison (column `test`): when every run has a partner with the same seed (same seed = "
            "same data splits, training order and initialisation) a paired test — McNemar's exact test over "
            "documents when both runs evaluated one checkpoint and wrote examples.jsonl, else the exact sign-flip "
            "permutation test of the mean paired difference; otherwise Welch's t-test (two-sided, unequal "
            "variances). No test when a side has one scored run (\"n=1, no test\") or both are constant and "
            "unpaired (\"identical\"/\"no variance\").",
            f"- p-values adjusted for multiple comparisons ({ADJUSTMENTS[adjust]}), the family being every "
            f"comparison in the table ({family}); {SIGNIFICANT_MARK} marks adjusted p < {ALPHA}.",
            f"- `seeds for {POWER:.0%} power`: for a comparison that is not significant, seeds per group a "
            f"two-sided two-sample t-test at α = {ALPHA} (before adjustment) needs to detect the observed Δ with "
            f"{POWER:.0%} power (effect size Δ / pooled std; {NO_RUN} when the std or Δ is 0), and at least the "
            "runs with which the test that ran can reach p < α at all (6 pairs for the paired permutation test)."]


def method_lines(grouped: GroupedRuns) -> list[str]:
    """Bullet lines that say what the numbers are: grouping, intervals, n=1, failed runs, solve counts, tests."""
    better = {"max": " (higher is better)", "min": " (lower is better)"}.get(grouped.mode, "")
    metric = f"`{grouped.metric}`{better}" if grouped.metric else "The metric (unknown: no run has a score)"
    if grouped.per_task:
        metric = f"Each task's own monitored metric{better}, column `metric` ({per_task_line(grouped)})"
    tasks = ", ".join(f"`{task}`" for task in grouped.tasks)
    lines = [f"- Runs that differ only in `seed` form a group; task{'s' if grouped.multitask else ''}: {tasks}.",
             f"- {metric}: {INTERVAL_TEXT} over the group's scored runs; std is the sample standard deviation. "
             "A group with one scored run has no interval (\"n=1, no CI\"); equal values give [v, v].",
             "- `failed` counts the runs without a score (failed or killed), left out of the statistics."]
    if grouped.solved_at is not None:
        lines.append(f"- `solved`: runs scoring {'at most' if grouped.mode == 'min' else 'at least'} "
                     f"{grouped.solved_at:g}, k/n with the exact (Clopper–Pearson) {CONFIDENCE:.0%} interval of "
                     "the solve rate" + ("; compared with the baseline's by Fisher's exact test." if grouped.baseline
                                         else "."))
    if grouped.baseline is not None:
        key, value = grouped.baseline
        lines.append(f"- Baseline `{key}={value}`: each group is compared with the baseline group of its task at the "
                     "same other settings; Δ is the difference of means (group − baseline).")
        lines += comparison_method_lines(grouped.families, grouped.adjust)
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
    solving = grouped.solved_at is not None
    score = "mean" if grouped.per_task else grouped.metric or "metric"
    columns = [*(["task"] if grouped.multitask else []), *(["metric"] if grouped.per_task else []),
               *_configuration_columns(grouped), "n", "failed", f"{score} [{CONFIDENCE:.0%} CI]", "std",
               *(["solved"] if solving else []), *(COMPARISON_COLUMNS if grouped.baseline else []),
               *(SOLVE_COLUMNS if grouped.baseline and solving else []), *(header for header, _ in grouped.cost_fields)]
    lines = [*method_lines(grouped), "", "| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_group_cells(grouped, group)) + " |" for group in grouped.groups]
    return "\n".join(lines) + "\n"


def _group_cells(grouped: GroupedRuns, group: RunGroup) -> list[str]:
    """One groups.md row: [task], configuration, n, failed, mean [CI], std, [solved], [comparison], costs."""
    solving = grouped.solved_at is not None
    task = [group.task] if grouped.multitask else []
    task += [format_value(grouped.metric_of(group.task))] if grouped.per_task else []
    comparison = comparison_cells(group.comparison) if grouped.baseline else []
    if grouped.baseline and solving:
        comparison += [p_text(getattr(group.solve_comparison, "p_value", None)),
                       adjusted_text(group.solve_comparison)]
    costs = [estimate_text(group.costs[header], say_no_ci=False) if group.costs[header].n else ""
             for header, _ in grouped.cost_fields]
    std = "" if group.metric.std is None else number_text(group.metric.std, max(group.metric.std, 0.1))
    return [*task, *_configuration_cells(grouped, group), str(group.metric.n), str(group.n_failed),
            estimate_text(group.metric), std, *([solved_text(group.solved)] if solving else []), *comparison,
            *costs]


COMPARISON_CSV = ["delta", "test", "n_pairs", "statistic", "p", "p_adjusted", "significant",
                  "seeds_for_80_power", "note"]
SOLVED_CSV = ["solved", "solved_n", "solved_low", "solved_high"]


def comparison_values(comparison: Comparison | None) -> list:
    """COMPARISON_CSV's raw values (all None without a comparison)."""
    if comparison is None:
        return [None] * len(COMPARISON_CSV)
    return [comparison.delta, comparison.test or None, comparison.n_pairs, comparison.statistic,
            comparison.p_value, comparison.p_adjusted, comparison.significant, comparison.seeds_for_80_power,
            comparison.note]


def solved_values(solved: SolveCount | None) -> list:
    return [None] * len(SOLVED_CSV) if solved is None else [solved.solved, solved.n, solved.low, solved.high]


def write_groups_csv(grouped: GroupedRuns, path) -> Path:
    """groups.csv: raw numbers, one row per group (blank where a value is undefined, e.g. the interval at n = 1)."""
    path = Path(path)
    cost_columns = [f"{header} {part}" for header, _ in grouped.cost_fields for part in ("mean", "interval_low",
                                                                                  "interval_high")]
    columns = ["task", *grouped.keys, "metric", "n", "failed", "mean", "std", "interval_low", "interval_high",
               *SOLVED_CSV, *COMPARISON_CSV, *(f"solve_{name}" for name in COMPARISON_CSV), *cost_columns, "runs"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for group in grouped.groups:
            writer.writerow(_blank_none(_groups_csv_row(grouped, group)))
    return path


def _groups_csv_row(grouped: GroupedRuns, group: RunGroup) -> list:
    metric = group.metric
    costs = [value for header, _ in grouped.cost_fields
             for value in (group.costs[header].mean, group.costs[header].low, group.costs[header].high)]
    return [group.task, *(group.configuration[key] for key in grouped.keys), grouped.metric_of(group.task),
            metric.n, group.n_failed, metric.mean, metric.std, metric.low, metric.high, *solved_values(group.solved),
            *comparison_values(group.comparison), *comparison_values(group.solve_comparison), *costs,
            " ".join(run.name for run in group.runs)]


def _blank_none(values: list) -> list:
    return ["" if value is None else value for value in values]


def matrix_rows(grouped: GroupedRuns) -> list[tuple[tuple, dict]]:
    """(configuration values, {task: group}) per configuration, in the order the groups first show it."""
    rows: dict[tuple, dict] = {}
    for group in grouped.groups:
        rows.setdefault(tuple(map(repr, group.configuration.values())), {})[group.task] = group
    return [(tuple(next(iter(cells.values())).configuration.values()), cells) for cells in rows.values()]


def matrix_cell_text(group: RunGroup | None) -> str:
    """Cell text: "mean [low, high]" (SIGNIFICANT_MARK when the adjusted p < ALPHA), "mean (n=1)", or NO_RUN;
    the solve count after it with --solved-at."""
    if group is None or group.metric.n == 0:
        return NO_RUN
    text = estimate_text(group.metric, say_no_ci=False) + (" (n=1)" if group.metric.n == 1 else "")
    text += f" {SIGNIFICANT_MARK}" if group.comparison is not None and group.comparison.significant else ""
    return text + (f", {group.solved.solved}/{group.solved.n} solved" if group.solved is not None else "")


def matrix_markdown(grouped: GroupedRuns, ranking_text: str = "") -> str:
    """matrix.md: configurations (rows) × tasks (columns), each cell mean [interval] over seeds; the across-task
    ranking (`aggregate.ranking_markdown`) after it when given."""
    scored_by = "Each task's own monitored metric (named below)," if grouped.per_task else f"`{grouped.metric}`"
    header = [f"{scored_by} per task (columns) and configuration (rows): {INTERVAL_TEXT} over seeds; "
              f"\"(n=1)\": one scored run, no interval; {NO_RUN}: no scored run."]
    if grouped.solved_at is not None:
        header.append(f"\"k/n solved\": runs at or beyond {grouped.solved_at:g}.")
    if grouped.baseline is not None:
        key, value = grouped.baseline
        header.append(f"{SIGNIFICANT_MARK}: adjusted p < {ALPHA} against `{key}={value}` of the same task "
                      f"({grouped.families.get('score', '')}; tests as in groups.md).")
    columns = [*_configuration_columns(grouped), *grouped.tasks]
    lines = [" ".join(header), "", *([per_task_line(grouped) + ".", ""] if grouped.per_task else []),
             "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for values, cells in matrix_rows(grouped):
        names = [format_value(value) for value in values] or ["all runs"]
        lines.append("| " + " | ".join([*names, *(matrix_cell_text(cells.get(task)) for task in grouped.tasks)])
                     + " |")
    return "\n".join(lines) + "\n" + (f"\n{ranking_text}" if ranking_text else "")


MATRIX_CSV = ("mean", "interval_low", "interval_high", "std", "n", "failed", "solved", "p", "p_adjusted", "test")


def write_matrix_csv(grouped: GroupedRuns, path) -> Path:
    """matrix.csv: one row per configuration; per task the MATRIX_CSV values (led by the task's metric name when
    each task is scored by its own monitored metric)."""
    path = Path(path)
    parts = (*(["metric"] if grouped.per_task else []), *MATRIX_CSV)
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
        return [None] * len(MATRIX_CSV)
    tested = group.comparison or Comparison()
    solved = None if group.solved is None else f"{group.solved.solved}/{group.solved.n}"
    return [group.metric.mean, group.metric.low, group.metric.high, group.metric.std, group.metric.n,
            group.n_failed, solved, tested.p_value, tested.p_adjusted, tested.test or None]


def pair_table_markdown(table: PairTable, grouped: GroupedRuns) -> str:
    """A --compare / --all-pairs table: its title and method, then one row per comparison (pooled rows last in
    their task)."""
    solving = grouped.solved_at is not None
    others = [key for key in grouped.keys if key != table.key]
    columns = [*(["task"] if grouped.multitask else []), *others, f"{table.key} A", "A", f"{table.key} B", "B",
               *(["solved A", "solved B"] if solving else []), *COMPARISON_COLUMNS,
               *(SOLVE_COLUMNS if solving else [])]
    lines = [f"### {table.title}", "",
             f"- A and B: {INTERVAL_TEXT} over the runs of each side; Δ = mean A − mean B. A `{POOLED}` row "
             "pools every A run against every B run of its task (paired when the seeds pair within each setting).",
             *comparison_method_lines(table.families, grouped.adjust)]
    if table.skipped:
        lines.append(f"- Left out, as `{table.key}` has no effect on them: {'; '.join(table.skipped)}.")
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in table.rows:
        settings = [POOLED if row.pooled else format_value(row.settings.get(key)) for key in others]
        cells = [*([row.task] if grouped.multitask else []), *settings, format_value(row.a_value),
                 estimate_text(row.a), format_value(row.b_value), estimate_text(row.b),
                 *([solved_text(row.solved_a), solved_text(row.solved_b)] if solving else []),
                 *comparison_cells(row.comparison),
                 *([p_text(row.solve_comparison.p_value), adjusted_text(row.solve_comparison)] if solving else [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"



def write_pair_csv(tables: list[PairTable], grouped: GroupedRuns, path) -> Path:
    """compare.csv: every row of `tables` with raw numbers (the table's title in the first column)."""
    path = Path(path)
    others = list(grouped.keys)
    columns = ["table", "task", *others, "pooled", "A", "B", "n_A", "mean_A", "interval_low_A", "interval_high_A",
               "n_B", "mean_B", "interval_low_B", "interval_high_B", *(f"{name}_A" for name in SOLVED_CSV),
               *(f"{name}_B" for name in SOLVED_CSV), *COMPARISON_CSV, *(f"solve_{name}" for name in COMPARISON_CSV)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for table in tables:
            for row in table.rows:
                writer.writerow(_blank_none(_pair_csv_row(table, row, others)))
    return path


def _pair_csv_row(table: PairTable, row: PairRow, others: list[str]) -> list:
    settings = [None if key == table.key else row.settings.get(key) for key in others]
    return [table.title, row.task, *settings, row.pooled, row.a_value, row.b_value,
            row.a.n, row.a.mean, row.a.low, row.a.high, row.b.n, row.b.mean, row.b.low, row.b.high,
            *solved_values(row.solved_a), *solved_values(row.solved_b), *comparison_values(row.comparison),
            *comparison_values(row.solve_comparison)]
