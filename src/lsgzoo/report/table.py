"""The sweep table: one row per run, best first, failed runs marked and listed last.

`sweep_table` builds the rows once (raw values); `to_markdown` and `write_csv`
only format them, so the markdown, the CSV and the model card always agree.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

from lsgzoo.report.collect import RunRecord
from lsgzoo.report.ranking import rank_runs

CORE_ATTENTION_KEYS = ("sparsity_type", "block_size", "sparse_block_size", "sparsity_factor", "num_global_tokens")
COST_COLUMNS = (("tokens/s", "train_tokens_per_s"), ("train s", "train_time_s"), ("peak MB", "peak_memory_mb"),
                ("params", "num_parameters"), ("steps", "global_step"))
FAILED_MARK = "FAILED"


@dataclass
class SweepTable:
    """columns: header names; rows: one dict per run (header → raw value), best first.

    metric/mode: what the rows are ranked by (None when no run completed);
    failures: (run name, error) for every failed run, in table order.
    """

    columns: list[str]
    rows: list[dict]
    metric: str | None
    mode: str | None
    failures: list[tuple[str, str]]


def setting_columns(records: list[RunRecord]) -> list[str]:
    """Attention keys always shown, then any other attention or override key with two or more known values."""
    varying = []
    attention_keys = sorted({key for r in records for key in r.attention} - set(CORE_ATTENTION_KEYS))
    override_keys = sorted({key for r in records for key in r.params
                            if not key.startswith(("attention.", "hydra."))})
    for key in [*attention_keys, *override_keys]:
        if len({repr(r.setting(key)) for r in records if r.setting(key) is not None}) > 1:
            varying.append(key)
    return [*CORE_ATTENTION_KEYS, *varying]


def sweep_table(records: list[RunRecord], metric: str | None, mode: str | None) -> SweepTable:
    """Rank `records` by `metric` (`mode` "max"/"min") and lay them out as table rows."""
    ranked = rank_runs(records, metric, mode)
    settings = setting_columns(records)
    other_metrics = sorted({name for r in records for name in r.metrics} - {metric})
    columns = ["rank", "run", "status", *settings, *([metric] if metric else []), *other_metrics,
               *(header for header, _ in COST_COLUMNS)]
    rows, failures, rank = [], [], 0
    for record in ranked:
        score = record.value(metric) if metric else None
        rank += score is not None
        row = {"rank": rank if score is not None else None, "run": record.name,
               "status": FAILED_MARK if record.failed else record.status}
        row.update({key: record.setting(key) for key in settings})
        if metric:
            row[metric] = score
        row.update({name: None if record.failed else record.metrics.get(name) for name in other_metrics})
        row.update({header: getattr(record, field) for header, field in COST_COLUMNS})
        rows.append(row)
        if record.failed:
            failures.append((record.name, record.error or "unknown error"))
    return SweepTable(columns=columns, rows=rows, metric=metric, mode=mode, failures=failures)


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
    if table.metric:
        lines = [f"Ranked by `{table.metric}` ({'higher' if table.mode == 'max' else 'lower'} is better); "
                 f"failed runs last.", ""]
    else:
        lines = ["No run completed, so nothing is ranked.", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.rows:
        cells = [format_value(row[column]) for column in table.columns]
        if row["status"] == FAILED_MARK:
            cells[table.columns.index("status")] = f"**{FAILED_MARK}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.failures:
        lines += ["", "Failed runs:", ""]
        lines += [f"- `{name}`: {error}" for name, error in table.failures]
    return "\n".join(lines) + "\n"


def write_csv(table: SweepTable, path) -> Path:
    """Raw values (no rounding), one row per run in table order, plus an `error` column."""
    path = Path(path)
    errors = dict(table.failures)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*table.columns, "error"])
        for row in table.rows:
            writer.writerow([*("" if row[c] is None else row[c] for c in table.columns),
                             errors.get(row["run"], "") if row["status"] == FAILED_MARK else ""])
    return path
