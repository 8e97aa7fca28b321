"""The sweep table: one row per run, best first, failed runs marked and listed last.

`sweep_table` builds the rows once (raw values); `to_markdown` and `write_csv`
only format them, so the markdown, the CSV and the model card always agree. The
markdown shows what varies between runs, the metric and the cost; settings the
same in every run are stated once above it. The CSV keeps every column.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

from lsgzoo.attention.keys import LSG_PATTERN_KEYS
from lsgzoo.report.collect import PER_TASK_METRIC, TASK_KEY, RunRecord, task_name
from lsgzoo.report.ranking import TIE_BREAK, metric_listing, rank_runs, task_metrics, ties

CORE_ATTENTION_KEYS = LSG_PATTERN_KEYS  # the keys that shape the attention pattern, always shown first
COST_COLUMNS = (("tokens/s", "train_tokens_per_s"), ("train s", "train_time_s"), ("peak MB", "peak_memory_mb"),
                ("params", "num_parameters"), ("steps", "global_step"))
FAILED_MARK = "FAILED"
SEED_KEY = "seed"


@dataclass
class SweepTable:
    """columns: header names shown in markdown; rows: one dict per run (header → raw value), best first.

    metric/mode: what the rows are ranked by (None when no run completed);
    failures: (run name, error) for every failed run, in table order;
    csv_columns: every column (all settings, metrics and costs), for the CSV;
    constants: {header: value} of the settings and costs that are the same in every run;
    ties: (score, runs) for every score several runs share, their order in `rows` set by TIE_BREAK;
    task_metrics: {task: its metric} when each task is scored by its own monitored metric (PER_TASK_METRIC):
        rows are then ranked within their task, with a `metric` column naming each row's metric.
    """

    columns: list[str]
    rows: list[dict]
    metric: str | None
    mode: str | None
    failures: list[tuple[str, str]]
    csv_columns: list[str] | None = None
    constants: dict | None = None
    ties: list | None = None
    task_metrics: dict | None = None


def varies(values) -> bool:
    """True when `values` hold two or more distinct known (not None) values."""
    return len({repr(value) for value in values if value is not None}) > 1


def setting_columns(records: list[RunRecord]) -> list[str]:
    """The core attention keys, then any other attention key, override key, seed or data name that varies."""
    attention_keys = sorted({key for r in records for key in r.attention} - set(CORE_ATTENTION_KEYS))
    override_keys = sorted({key for r in records for key in r.params
                            if not key.startswith(("attention.", "hydra."))})
    candidates = dict.fromkeys([*attention_keys, *override_keys, SEED_KEY, TASK_KEY])
    varying = [key for key in candidates if varies(r.setting(key) for r in records)]
    return [*CORE_ATTENTION_KEYS, *varying]


def varying_setting_columns(records: list[RunRecord]) -> list[str]:
    """The settings that differ between runs (the core attention keys only when they vary), in column order."""
    return [key for key in setting_columns(records) if varies(r.setting(key) for r in records)]


def sweep_table(records: list[RunRecord], metric: str | None, mode: str | None) -> SweepTable:
    """Rank `records` by `metric` (`mode` "max"/"min") and lay them out as table rows."""
    ranked = rank_runs(records, metric, mode)
    settings = setting_columns(records)
    other_metrics = sorted({name for r in records for name in r.metrics} - {metric})
    per_task = task_metrics(records, metric) if metric == PER_TASK_METRIC else None
    metric_columns = [*(["metric"] if per_task else []), *([metric] if metric else [])]
    csv_columns = ["rank", "run", "status", *settings, *metric_columns, *other_metrics,
                   *(header for header, _ in COST_COLUMNS)]
    rows, failures, rank, ranked_task = [], [], 0, None
    for record in ranked:
        score = record.value(metric) if metric else None
        if per_task and score is not None and task_name(record) != ranked_task:
            rank, ranked_task = 0, task_name(record)  # ranks start again in each task
        rank += score is not None
        row = {"rank": rank if score is not None else None, "run": record.name,
               "status": FAILED_MARK if record.failed else record.status}
        row.update({key: record.setting(key) for key in settings})
        if per_task:
            row["metric"] = per_task[task_name(record)]
        if metric:
            row[metric] = score
        row.update({name: None if record.failed else record.metrics.get(name) for name in other_metrics})
        row.update({header: getattr(record, field) for header, field in COST_COLUMNS})
        rows.append(row)
        if record.failed:
            failures.append((record.name, record.error or "unknown error"))
    shown = set(varying_setting_columns(records)) | {header for header, _ in COST_COLUMNS
                                                      if varies(row[header] for row in rows)}
    columns = [c for c in csv_columns if c in ("rank", "run", "status", *metric_columns) or c in shown]
    constants = {c: _the_known_value(rows, c) for c in [*settings, *(h for h, _ in COST_COLUMNS)]
                 if c not in shown and _the_known_value(rows, c) is not None}
    return SweepTable(columns=columns, rows=rows, metric=metric, mode=mode, failures=failures,
                      csv_columns=csv_columns, constants=constants, ties=ties(ranked, metric), task_metrics=per_task)


def _the_known_value(rows: list[dict], column: str):
    """The first known value of `column` in `rows` (None when every row lacks it)."""
    return next((row[column] for row in rows if row[column] is not None), None)


def format_value(value) -> str:
    """Cell text: blanks for None, 4 significant digits for small floats, whole numbers for large ones."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    return str(value).replace("|", "\\|")


def to_markdown(table: SweepTable) -> str:
    """GitHub markdown: a header line naming the ranking, the table, then the failed runs with their errors."""
    if table.task_metrics:
        lines = [f"Ranked within each task by its own monitored metric ({metric_listing(table.task_metrics)}; "
                 f"{'higher' if table.mode == 'max' else 'lower'} is better), equal scores by {TIE_BREAK}; "
                 "failed runs last.", ""]
        lines += [ties_line(table), ""] if table.ties else []
    elif table.metric:
        lines = [f"Ranked by `{table.metric}` ({'higher' if table.mode == 'max' else 'lower'} is better), "
                 f"equal scores by {TIE_BREAK}; failed runs last.", ""]
        lines += [ties_line(table), ""] if table.ties else []
    else:
        lines = ["No run completed, so nothing is ranked.", ""]
    if table.constants:
        same = ", ".join(f"{key}={format_value(value)}" for key, value in table.constants.items())
        lines += [f"Same in every run: {same}. Every setting, metric and cost is in sweep.csv.", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.rows:
        cells = [format_value(row[column]) for column in table.columns]
        if row["status"] == FAILED_MARK:
            cells[table.columns.index("status")] = f"**{FAILED_MARK}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.failures:
        lines += ["", failures_markdown(table)]
    return "\n".join(lines) + "\n"


def ties_line(table: SweepTable) -> str:
    """"Tied at 1: `2`, `3`, `1`; ..." for the table's ties, runs in their ranked order ("" when none)."""
    groups = [f"Tied at {format_value(score)}: " + ", ".join(f"`{run.name}`" for run in runs)
              for score, runs in table.ties or []]
    return "; ".join(groups) + "." if groups else ""


def failures_markdown(table: SweepTable) -> str:
    """The "Failed runs:" list, one `- 'name': error` line per failed run ("" when none failed)."""
    if not table.failures:
        return ""
    return "\n".join(["Failed runs:", "", *(f"- `{name}`: {error}" for name, error in table.failures)])


def write_csv(table: SweepTable, path) -> Path:
    """Raw values (no rounding) of every column, one row per run in table order, plus an `error` column."""
    path = Path(path)
    errors = dict(table.failures)
    columns = table.csv_columns or table.columns
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, "error"])
        for row in table.rows:
            writer.writerow([*("" if row[c] is None else row[c] for c in columns),
                             errors.get(row["run"], "") if row["status"] == FAILED_MARK else ""])
    return path
