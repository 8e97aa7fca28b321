"""`lsgzoo report`: a sweep folder → table (markdown + CSV), PNG plots, the best run, and its export.

Files written to the report folder (default MULTIRUN_DIR/report):
  sweep.md, sweep.csv          the ranked table (failed runs marked and last)
  metric_vs_block_size.png     metric vs block_size, one line per selector
  metric_vs_sparsity_factor.png  metric vs sparsity_factor, one line per selector
  quality_vs_cost.png          metric vs throughput / training time / peak memory, one point per run
  report.json                  metric, mode, best run and the list of files
A plot is skipped when no run has data for it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from lsgzoo.report.collect import DEFAULT_CHECKPOINT, RunRecord, collect_runs
from lsgzoo.report.plots import plot_metric_vs, plot_quality_vs_cost
from lsgzoo.report.ranking import best_run, resolve_metric
from lsgzoo.report.table import SweepTable, sweep_table, to_markdown, write_csv

SWEPT_AXES = ("block_size", "sparsity_factor")


@dataclass
class Report:
    """What one `make_report` call found and wrote; `files` maps a short name to the path written."""

    root: Path
    out: Path
    records: list[RunRecord]
    table: SweepTable
    markdown: str
    best: RunRecord | None
    files: dict = field(default_factory=dict)

    @property
    def metric(self) -> str | None:
        return self.table.metric

    @property
    def mode(self) -> str | None:
        return self.table.mode

    def best_line(self) -> str:
        """One sentence naming the best run, its score and its attention settings."""
        if self.best is None:
            return "no run completed with a score: nothing to pick (see the failed runs above)"
        settings = ", ".join(f"{key}={self.best.setting(key)}" for key in SWEPT_AXES + ("sparsity_type",))
        return (f"best run by {self.metric} ({self.mode}): {self.best.name} = "
                f"{self.best.value(self.metric):.4g} ({settings}) at {self.best.run_dir}")


def make_report(root, out=None, metric: str | None = None, mode: str | None = None) -> Report:
    """Collect the runs below `root`, rank them and write the table, plots and report.json to `out`."""
    root = Path(root)
    records = collect_runs(root)
    metric, mode = resolve_metric(records, metric, mode)
    table = sweep_table(records, metric, mode)
    out = Path(out) if out is not None else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(table)
    (out / "sweep.md").write_text(markdown)
    files = {"markdown": out / "sweep.md", "csv": write_csv(table, out / "sweep.csv")}
    if metric is not None:
        for key in SWEPT_AXES:
            files[f"vs_{key}"] = plot_metric_vs(records, key, metric, out / f"metric_vs_{key}.png")
        files["cost"] = plot_quality_vs_cost(records, metric, out / "quality_vs_cost.png")
    files = {name: path for name, path in files.items() if path is not None}
    report = Report(root=root, out=out, records=records, table=table, markdown=markdown,
                    best=best_run(records, metric, mode), files=files)
    (out / "report.json").write_text(json.dumps(report_summary(report), indent=2, default=str))
    files["json"] = out / "report.json"
    return report


def report_summary(report: Report) -> dict:
    """report.json: the ranking, the best run (or null) and the files written."""
    best = report.best
    return {
        "root": str(report.root), "metric": report.metric, "mode": report.mode,
        "runs": len(report.records), "failed": [name for name, _ in report.table.failures],
        "best": None if best is None else {
            "run": best.name, "run_dir": str(best.run_dir), "score": best.value(report.metric),
            "attention": best.attention, "overrides": best.overrides, "seed": best.seed,
            "checkpoint": best.best_checkpoint},
        "files": {name: path.name for name, path in report.files.items()},
    }


def export_best(report: Report, out, overwrite: bool = False, exporter=None) -> Path:
    """Export the best run's checkpoint to a Hub folder, with the sweep table in its model card.

    exporter: `export_model`-compatible callable (default `lsgzoo.hub.export_model`),
    called as exporter(run_dir, out, overwrite=..., card_sections=...).
    Raises ValueError when no run completed or the best run has no checkpoint file
    (e.g. a folder of committed summaries).
    """
    best = report.best
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
        "Sweep": report.markdown,
        "Best run of the sweep": {"run": best.name, "metric": report.metric, "mode": report.mode,
                                  "score": best.value(report.metric), "overrides": best.overrides,
                                  "seed": best.seed},
    }
    return exporter(best.run_dir, Path(out), overwrite=overwrite, card_sections=sections)
