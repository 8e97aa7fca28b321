"""Sweep reports: collect Hydra run dirs, rank them, group seeds with statistics, write tables and plots,
export the best run.

Importing this package needs no torch; only `export_best` loads the model code.
"""

from lsgzoo.report.collect import RunRecord, collect_runs, find_run_dirs
from lsgzoo.report.plots import plot_matrix, plot_metric_vs, plot_quality_vs_cost
from lsgzoo.report.ranking import best_run, rank_runs, resolve_metric
from lsgzoo.report.report import Report, export_best, make_report
from lsgzoo.report.inference import Comparison, adjust_family, compare_observations
from lsgzoo.report.stats import GroupedRuns, RunGroup, Summary, apply_baseline, group_runs, solve_count, summarize
from lsgzoo.report.table import SweepTable, sweep_table, to_markdown, write_csv

__all__ = ["Comparison", "GroupedRuns", "Report", "RunGroup", "RunRecord", "Summary", "SweepTable", "adjust_family",
           "apply_baseline", "best_run", "collect_runs", "compare_observations", "export_best", "find_run_dirs",
           "group_runs", "make_report", "plot_matrix", "plot_metric_vs", "plot_quality_vs_cost", "rank_runs",
           "resolve_metric", "solve_count", "summarize", "sweep_table", "to_markdown", "write_csv"]
