"""`lsgzoo report`: a sweep folder → table (markdown + CSV), PNG plots, the best run, and its export.

Files written to the report folder (default MULTIRUN_DIR/report):
  sweep.md, sweep.csv          the ranked per-run table (failed runs marked and last)
  groups.md, groups.csv        runs that differ only in seed, grouped: n, mean [95 % bootstrap interval], std,
                               failed runs, --solved-at counts, the adjusted comparison with --baseline, cost means
                               (lsgzoo.report.stats, lsgzoo.report.inference)
  matrix.md, matrix.csv, matrix.png  with several tasks: configuration × task, mean [interval] per cell, the
                               runs as dots; the across-task ranking (Friedman, Nemenyi) and cd_diagram.png
  compare.md, compare.csv      with --compare / --all-pairs: those tables (lsgzoo.report.compare)
  metric_vs_block_size.png     metric vs block_size, mean and interval over seeds, one line per selector
  metric_vs_sparsity_factor.png  metric vs sparsity_factor, mean and interval over seeds, one line per selector
  quality_vs_cost.png          metric vs throughput / training time / peak memory, one point per run
  report.json                  metric, mode, best run, ties, the checkpoint note, the groups, the comparison
                               tables, the across-task ranking and the list of files
When the runs' tasks monitor different metrics (and no --metric is given), each run is scored by its own task's
monitored metric (`ranking.PER_TASK_METRIC`): every table names the metric of each task, the sweep is ranked
within each task, the plots draw one panel per task, and there is a best run per task (`best_by_task`) and none
overall (`best` is None; --export-best asks for --metric or one task's runs).
A plot is skipped when no run has data for it. Runs with equal scores are ordered by
`ranking.TIE_BREAK` and listed as tied. Checkpoints are kept during training by the monitored metric
only, so when the ranking metric is another one, `checkpoint_note` says which checkpoint is exported.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from lsgzoo.report.aggregate import TaskRanking, rank_across_tasks, ranking_markdown
from lsgzoo.report.collect import DEFAULT_CHECKPOINT, RunRecord, collect_runs
from lsgzoo.report.compare import PairRow, PairTable, all_pairs, compare_values
from lsgzoo.report.groups import (groups_markdown, matrix_markdown, pair_table_markdown, write_groups_csv,
                                  write_matrix_csv, write_pair_csv)
from lsgzoo.report.inference import Comparison
from lsgzoo.report.plots import plot_critical_difference, plot_matrix, plot_metric_vs, plot_quality_vs_cost
from lsgzoo.report.ranking import PER_TASK_METRIC, TIE_BREAK, best_by_task, best_run, metric_listing, resolve_metric
from lsgzoo.report.stats import GroupedRuns, RunGroup, Summary, apply_baseline, group_runs
from lsgzoo.report.table import SweepTable, failures_markdown, sweep_table, to_markdown, write_csv

SWEPT_AXES = ("block_size", "sparsity_factor")


@dataclass
class Report:
    """What one `make_report` call found and wrote; `files` maps a short name to the path written.

    markdown: the per-run table (sweep.md); groups_markdown: the seed groups (groups.md);
    matrix_markdown: the task × configuration matrix (matrix.md), None with a single task;
    pair_tables: the --compare / --all-pairs tables; compare_markdown: their text (compare.md), "" without;
    ranking: the configurations ranked across tasks (`aggregate.rank_across_tasks`), None with one task;
    best_by_task: {task: best run or None} when each task is scored by its own metric (then `best` is None).
    """

    root: Path
    out: Path
    records: list[RunRecord]
    table: SweepTable
    markdown: str
    best: RunRecord | None
    grouped: GroupedRuns | None = None
    groups_markdown: str = ""
    matrix_markdown: str | None = None
    pair_tables: list[PairTable] = field(default_factory=list)
    compare_markdown: str = ""
    ranking: TaskRanking | None = None
    files: dict = field(default_factory=dict)
    best_by_task: dict | None = None

    @property
    def scored(self) -> bool:
        """True when some run has a score: a best run overall, or per task."""
        return self.best is not None or any((self.best_by_task or {}).values())

    @property
    def metric(self) -> str | None:
        return self.table.metric

    @property
    def mode(self) -> str | None:
        return self.table.mode

    @property
    def checkpoint_note(self) -> str | None:
        """Why the best run's exported checkpoint was not chosen by the ranking metric (None when it was)."""
        best = self.best
        if best is None or self.metric == best.monitor:
            return None
        source = ("the test of that checkpoint" if self.metric.startswith("test/")
                  else "the run's last validation, not that checkpoint")
        return (f"{best.name}'s exported checkpoint is its best by {best.monitor}, the metric its training "
                f"monitored: checkpoints are kept for the monitored metric only, so none was chosen by "
                f"{self.metric} (its value here comes from {source})")

    def tied_with_best(self, best: RunRecord | None = None) -> list[RunRecord]:
        """The other runs whose score equals the best run's (`best`, default the best run overall)."""
        best = self.best if best is None else best
        for _, runs in self.table.ties or []:
            if best in runs:
                return [run for run in runs if run is not best]
        return []

    def printed(self) -> str:
        """What `lsgzoo report` prints: the seed groups, the matrix when there is one, the comparison tables,
        the failed runs."""
        parts = [self.groups_markdown, self.matrix_markdown, self.compare_markdown, failures_markdown(self.table)]
        return "\n".join(part for part in parts if part)

    def best_line(self) -> str:
        """One sentence naming the best run, its score and its attention settings (one line per task when each
        task is scored by its own metric)."""
        if not self.scored:
            return "no run completed with a score: nothing to pick (see the failed runs above)"
        if self.best_by_task is None:
            return f"best run by {self.metric} ({self.mode}): {self._run_text(self.best)}"
        lines = [f"best run per task, each by its task's monitored metric ({self.mode}):"]
        for task, best in self.best_by_task.items():
            lines.append(f"  {task}: " + ("no run with a score" if best is None else
                                          f"by {best.monitor}: {self._run_text(best)}"))
        return "\n".join(lines)

    def _run_text(self, best: RunRecord) -> str:
        """"name = score (settings) at run_dir[; tied with ...]"."""
        settings = ", ".join(f"{key}={best.setting(key)}" for key in SWEPT_AXES + ("sparsity_type",))
        line = f"{best.name} = {best.value(self.metric):.4g} ({settings}) at {best.run_dir}"
        tied = self.tied_with_best(best)
        if tied:
            line += f"; tied with {', '.join(run.name for run in tied)}, picked by {TIE_BREAK}"
        return line


def make_report(root, out=None, metric: str | None = None, mode: str | None = None, baseline: str | None = None,
                solved_at: float | None = None, adjust: str = "holm", compare: list[str] = (),
                all_pairs_of: list[str] = ()) -> Report:
    """Collect the runs below `root`, rank and group them, and write tables, plots and report.json to `out`.

    baseline: "KEY=VALUE" naming the group every other group is compared with (within a task); solved_at: the
    score that counts as solving the task (solve counts, Fisher's test against the baseline); adjust: the
    multiple-comparison adjustment ("holm", "bh", "none"); compare: "KEY=A,B" tables; all_pairs_of: keys whose
    values are compared pairwise. Bad flags raise a ValueError naming the flag before anything is written.
    """
    root = Path(root)
    records = collect_runs(root)
    metric, mode = resolve_metric(records, metric, mode)
    table = sweep_table(records, metric, mode)
    grouped = group_runs(records, metric, mode, adjust=adjust, solved_at=solved_at)
    if baseline is not None:
        apply_baseline(grouped, baseline)
    pair_tables = [compare_values(grouped, text) for text in compare]
    pair_tables += [all_pairs(grouped, key) for key in all_pairs_of]
    out = Path(out) if out is not None else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(table)
    (out / "sweep.md").write_text(markdown)
    files = {"markdown": out / "sweep.md", "csv": write_csv(table, out / "sweep.csv")}
    ranking = rank_across_tasks(grouped)
    files.update(write_grouped(grouped, out, ranking))
    compare_text = "\n".join(pair_table_markdown(pair, grouped) for pair in pair_tables)
    if pair_tables:
        (out / "compare.md").write_text(compare_text)
        files.update(compare=out / "compare.md", compare_csv=write_pair_csv(pair_tables, grouped, out / "compare.csv"))
    if metric is not None:
        for key in SWEPT_AXES:
            files[f"vs_{key}"] = plot_metric_vs(records, key, metric, out / f"metric_vs_{key}.png")
        files["cost"] = plot_quality_vs_cost(records, metric, out / "quality_vs_cost.png")
    files = {name: path for name, path in files.items() if path is not None}
    per_task = metric == PER_TASK_METRIC
    report = Report(root=root, out=out, records=records, table=table, markdown=markdown,
                    best=None if per_task else best_run(records, metric, mode), grouped=grouped,
                    groups_markdown=files["groups"].read_text(),
                    matrix_markdown=files["matrix"].read_text() if "matrix" in files else None,
                    pair_tables=pair_tables, compare_markdown=compare_text, ranking=ranking, files=files,
                    best_by_task=best_by_task(records, metric, mode) if per_task else None)
    (out / "report.json").write_text(json.dumps(report_summary(report), indent=2, default=str))
    files["json"] = out / "report.json"
    return report


def write_grouped(grouped: GroupedRuns, out: Path, ranking: TaskRanking | None = None) -> dict:
    """groups.md and groups.csv; with several tasks also matrix.md (with `ranking`), matrix.csv, matrix.png (when
    drawable) and, with a ranking, cd_diagram.png."""
    (out / "groups.md").write_text(groups_markdown(grouped))
    files = {"groups": out / "groups.md", "groups_csv": write_groups_csv(grouped, out / "groups.csv")}
    if grouped.multitask:
        (out / "matrix.md").write_text(matrix_markdown(grouped, ranking_markdown(ranking) if ranking else ""))
        files.update(matrix=out / "matrix.md", matrix_csv=write_matrix_csv(grouped, out / "matrix.csv"),
                     matrix_png=plot_matrix(grouped, out / "matrix.png"))
        if ranking is not None:
            files["cd_diagram"] = plot_critical_difference(ranking, out / "cd_diagram.png")
    return files


def report_summary(report: Report) -> dict:
    """report.json: the ranking, the best run (or null), the seed groups and the files written."""
    best = report.best
    grouped = report.grouped
    summary = {
        "root": str(report.root), "metric": report.metric, "mode": report.mode,
        "runs": len(report.records), "failed": [name for name, _ in report.table.failures],
        "best": best_summary(report, best),
        "tie_break": TIE_BREAK,
        "ties": [{"score": score, "runs": [run.name for run in runs]} for score, runs in report.table.ties or []],
        "checkpoint_note": report.checkpoint_note,
        "baseline": None if grouped is None or grouped.baseline is None else "=".join(map(str, grouped.baseline)),
        "adjustment": None if grouped is None else grouped.adjust,
        "solved_at": None if grouped is None else grouped.solved_at,
        "families": {} if grouped is None else grouped.families,
        "groups": [] if grouped is None else [group_summary(group) for group in grouped.groups],
        "comparisons": [pair_table_summary(pair) for pair in report.pair_tables],
        "ranking_across_tasks": None if report.ranking is None else vars(report.ranking),
        "files": {name: path.name for name, path in report.files.items()},
    }
    if report.best_by_task is not None:
        summary["metric_per_task"] = report.table.task_metrics
        summary["best_per_task"] = {task: best_summary(report, run) for task, run in report.best_by_task.items()}
    return summary


def best_summary(report: Report, best: RunRecord | None) -> dict | None:
    """A best run in report.json (null when there is none)."""
    if best is None:
        return None
    found = {"run": best.name, "run_dir": str(best.run_dir), "score": best.value(report.metric),
             "attention": best.attention, "overrides": best.overrides, "seed": best.seed,
             "checkpoint": best.best_checkpoint}
    return found if report.best_by_task is None else {"metric": best.monitor, **found}


def group_summary(group: RunGroup) -> dict:
    """One group in report.json: task, configuration, n, failed runs, mean, std, interval, solve count and the
    comparisons."""
    return {"task": group.task, "configuration": group.configuration, **summary_fields(group.metric),
            "failed": group.n_failed, **solved_fields(group.solved), "runs": [run.name for run in group.runs],
            "comparison": comparison_summary(group.comparison),
            "solve_comparison": comparison_summary(group.solve_comparison)}


def summary_fields(summary: Summary, suffix: str = "") -> dict:
    return {f"n{suffix}": summary.n, f"mean{suffix}": summary.mean, f"std{suffix}": summary.std,
            f"interval_low{suffix}": summary.low, f"interval_high{suffix}": summary.high}


def solved_fields(solved, suffix: str = "") -> dict:
    if solved is None:
        return {}
    return {f"solved{suffix}": solved.solved, f"solved_n{suffix}": solved.n, f"solved_low{suffix}": solved.low,
            f"solved_high{suffix}": solved.high}


def comparison_summary(comparison: Comparison | None) -> dict | None:
    """A comparison in report.json (null when there is none)."""
    if comparison is None:
        return None
    return {"delta": comparison.delta, "test": comparison.test or None, "n_pairs": comparison.n_pairs,
            "statistic": comparison.statistic, "p": comparison.p_value, "p_adjusted": comparison.p_adjusted,
            "significant": comparison.significant, "seeds_for_80_power": comparison.seeds_for_80_power,
            "note": comparison.note}


def pair_table_summary(table: PairTable) -> dict:
    """A --compare / --all-pairs table in report.json."""
    return {"key": table.key, "title": table.title, "families": table.families, "skipped": table.skipped,
            "rows": [pair_row_summary(row) for row in table.rows]}


def pair_row_summary(row: PairRow) -> dict:
    return {"task": row.task, "settings": row.settings, "pooled": row.pooled, "A": row.a_value, "B": row.b_value,
            **summary_fields(row.a, "_A"), **summary_fields(row.b, "_B"), **solved_fields(row.solved_a, "_A"),
            **solved_fields(row.solved_b, "_B"), "comparison": comparison_summary(row.comparison),
            "solve_comparison": comparison_summary(row.solve_comparison)}


def export_best(report: Report, out, overwrite: bool = False, exporter=None) -> Path:
    """Export the best run's checkpoint to a Hub folder, with the sweep table in its model card.

    exporter: `export_model`-compatible callable (default `lsgzoo.hub.export_model`),
    called as exporter(run_dir, out, overwrite=..., card_sections=...).
    Raises ValueError when no run completed or the best run has no checkpoint file
    (e.g. a folder of committed summaries).
    """
    best = report.best
    if best is None and report.scored:
        raise ValueError("--export-best: the runs' tasks are scored by different metrics "
                         f"({metric_listing(report.table.task_metrics or {})}), so there is no best run overall; "
                         "pass --metric, or report on one task's runs")
    if best is None:
        raise ValueError("--export-best: no completed run has a score on "
                         f"{report.metric or 'the metric'}; nothing to export")
    if best.checkpoint_path() is None:
        wanted = best.run_dir / (best.best_checkpoint or DEFAULT_CHECKPOINT)
        raise ValueError(f"--export-best: the best run {best.name!r} has no checkpoint ({wanted} is missing); "
                         "this folder holds summaries only, so run the report on the original multirun folder")
    if exporter is None:
        from lsgzoo.hub import export_model as exporter
    sections = {
        "Seed groups": report.groups_markdown,
        "Sweep": report.markdown,
        "Best run of the sweep": {"run": best.name, "metric": report.metric, "mode": report.mode,
                                  "score": best.value(report.metric), "overrides": best.overrides,
                                  "seed": best.seed, "tied_with": [run.name for run in report.tied_with_best()],
                                  "checkpoint": report.checkpoint_note or
                                  f"{best.best_checkpoint or DEFAULT_CHECKPOINT}, the best by {report.metric}"},
    }
    return exporter(best.run_dir, Path(out), overwrite=overwrite, card_sections=sections)
