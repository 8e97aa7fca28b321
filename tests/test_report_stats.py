"""Seed statistics of `lsgzoo report`, checked against values computed by hand.

Reference numbers (worked out without scipy; the arithmetic is in the comments):
- A = [0.5, 0.6, 0.7]: mean 0.6, sample std 0.1.
- Paired by seed, three differences of one sign: the exact sign-flip permutation test sees 2³ = 8 sign patterns,
  2 of them (all +, all −) as extreme as the data: p = 2/8 = 0.25.
- Welch (the unpaired fallback) against a group of 3 with the same std 0.1: se = √(0.01/3 + 0.01/3) = 0.0816497,
  Welch–Satterthwaite
  df = (2·0.01/3)² / (2·(0.01/3)²/2) = 4. For 4 df the t CDF has a closed form,
  F(t) = 1/2 + (3/8)·(t/√(1 + t²/4))·(1 − t²/(12·(1 + t²/4))), and p = 2·(1 − F(|t|)):
    difference 0.2: t = 0.2/0.0816497 = √6 = 2.449490; 1 + t²/4 = 2.5; t/√2.5 = 1.549193;
        1 − 6/30 = 0.8; F = 0.5 + 0.375·1.549193·0.8 = 0.964758; p = 0.070484.
    difference 0.4: t = √24 = 4.898979; 1 + t²/4 = 7; t/√7 = 1.851640; 1 − 24/84 = 0.714286;
        F = 0.5 + 0.375·1.851640·0.714286 = 0.995975; p = 0.008050.
"""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lsgzoo import cli
from lsgzoo.report import collect_runs, export_best, make_report, summarize
from lsgzoo.report.inference import welch
from lsgzoo.report.plots import line_keys

MONITOR = "val/answer_accuracy"
P_DIFF_02 = 0.070484
P_DIFF_04 = 0.008050
P_THREE_PAIRS_ONE_SIGN = 0.25


def write_summary_run(run_dir: Path, data: str, sparsity_type: str, seed: int, score, status="completed",
                      tokens_per_s=1000.0, block_size=8):
    """A run dir holding .hydra/overrides.yaml and summary.json, as a finished (or failed) `lsgzoo.train` run."""
    overrides = [f"data={data}", f"attention.sparsity_type={sparsity_type}", f"attention.block_size={block_size}",
                 f"seed={seed}"]
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    summary = {"status": status, "error": None if status == "completed" else "RuntimeError: out of memory",
               "task": "seq2seq", "data": data, "monitor": MONITOR, "monitor_mode": "max", "best_score": score,
               "metrics": {MONITOR: score, "val/loss": 0.1},
               "attention": {"sparsity_type": sparsity_type, "block_size": block_size,
                             "sparse_block_size": block_size, "sparsity_factor": 4, "num_global_tokens": 1},
               "overrides": overrides, "seed": seed, "num_parameters": 1000, "train_tokens_per_s": tokens_per_s,
               "peak_memory_mb": 500.0, "train_time_s": 10.0, "global_step": 20}
    (run_dir / "summary.json").write_text(json.dumps(summary))


SYNTHETIC = {  # sparsity_type → [(score, status, tokens/s)], one entry per seed
    "none": [(0.1, "completed", 2000.0), (0.2, "completed", 2000.0), (0.3, "completed", 2000.0)],
    "norm": [(0.3, "completed", 1000.0), (0.4, "completed", 1000.0), (0.5, "completed", 1000.0),
             (0.99, "failed", 5000.0)],  # a failed run's score and cost must not count
    "pooling": [(0.5, "completed", 1000.0), (0.6, "completed", 1100.0), (0.7, "completed", 1200.0)],
    "lsh": [(0.9, "completed", 900.0)],
    "stride": [(None, "failed", None), (None, "failed", None)],
}
ACLSUM = {  # zero-variance groups: equal to the baseline, and different from it
    "none": [(0.2, "completed", 50.0), (0.2, "completed", 50.0)],
    "pooling": [(0.2, "completed", 40.0), (0.2, "completed", 40.0)],
    "norm": [(0.25, "completed", 40.0), (0.25, "completed", 40.0)],
}


def write_sweep(root: Path, tasks: dict) -> Path:
    """One numbered run dir per (task, selector, seed), like a Hydra multirun."""
    job = 0
    for data, selectors in tasks.items():
        for sparsity_type, runs in selectors.items():
            for seed, (score, status, tokens_per_s) in enumerate(runs):
                write_summary_run(root / str(job), data, sparsity_type, seed, score, status, tokens_per_s)
                job += 1
    return root


@pytest.fixture
def one_task(tmp_path):
    return write_sweep(tmp_path / "multirun", {"synthetic": SYNTHETIC})


@pytest.fixture
def two_tasks(tmp_path):
    return write_sweep(tmp_path / "multirun", {"synthetic": SYNTHETIC, "aclsum": ACLSUM})


def by_selector(report, task="synthetic") -> dict:
    return {g.configuration["sparsity_type"]: g for g in report.grouped.groups if g.task == task}


def test_summary_statistics_match_hand_values():
    summary = summarize([0.5, 0.6, 0.7])
    assert summary.n == 3 and summary.mean == pytest.approx(0.6)
    assert summary.std == pytest.approx(0.1)  # ddof=1; ddof=0 would give 0.081650
    assert 0.5 <= summary.low < 0.6 < summary.high <= 0.7  # the bootstrap interval stays within [min, max]
    single = summarize([0.29])
    assert (single.n, single.mean, single.std, single.low, single.high, single.ci) == (1, 0.29, None, None, None,
                                                                                     None)
    assert summarize([]).n == 0 and summarize([]).mean is None


def test_welch_test_matches_hand_values():
    a = [0.5, 0.6, 0.7]
    close = welch(a, [0.3, 0.4, 0.5])
    assert close.delta == pytest.approx(0.2) and close.test == "Welch t"
    assert close.statistic == pytest.approx(math.sqrt(6)) and close.p_value == pytest.approx(P_DIFF_02, abs=1e-6)
    far = welch(a, [0.1, 0.2, 0.3])
    assert far.p_value == pytest.approx(P_DIFF_04, abs=1e-6)
    assert not far.significant  # significance is judged on the adjusted p, set per table


def test_welch_test_says_why_there_is_no_p_value():
    assert welch([0.9], [0.1, 0.2]).note == "n=1, no test" and welch([0.9], [0.1, 0.2]).p_value is None
    assert welch([1.0, 1.0], [1.0, 1.0, 1.0]).note == "identical"
    no_variance = welch([1.0, 1.0], [0.25, 0.25])
    assert no_variance.note == "no variance" and no_variance.p_value is None and not no_variance.significant
    one_constant = welch([1.0, 1.0, 1.0], [0.3, 0.5])  # defined: rests on the second group's variance
    from scipy import stats
    with pytest.warns(RuntimeWarning):  # scipy's "nearly identical data" warning, which `welch` silences
        expected = stats.ttest_ind([1.0, 1.0, 1.0], [0.3, 0.5], equal_var=False).pvalue
    assert one_constant.p_value == pytest.approx(expected)


def bootstrap(values) -> tuple[float, float]:
    """The report's interval, from scipy directly: percentile bootstrap of the mean, 9,999 resamples, seed 0."""
    import numpy as np
    from scipy import stats

    result = stats.bootstrap((values,), np.mean, n_resamples=9999, method="percentile",
                             rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def test_groups_pool_seeds_and_leave_failed_runs_out(one_task, tmp_path):
    report = make_report(one_task, tmp_path / "report", baseline="sparsity_type=none")
    assert report.grouped.keys == ["sparsity_type"]  # seed and data are not configuration
    groups = by_selector(report)
    assert [g.configuration["sparsity_type"] for g in report.grouped.groups] == ["lsh", "pooling", "norm", "none",
                                                                                "stride"]  # best mean first
    norm = groups["norm"]
    assert (norm.metric.n, norm.n_failed) == (3, 1) and norm.metric.mean == pytest.approx(0.4)
    assert norm.metric.ci == pytest.approx(bootstrap([0.3, 0.4, 0.5]))
    # seeds 0-2 on both sides pair; the failed seed 3 of norm has no score and no partner
    assert norm.comparison.test == "paired permutation" and norm.comparison.n_pairs == 3
    assert norm.comparison.p_value == pytest.approx(P_THREE_PAIRS_ONE_SIGN) and not norm.comparison.significant
    assert groups["pooling"].comparison.p_value == pytest.approx(P_THREE_PAIRS_ONE_SIGN)
    # Holm over the 2 tested comparisons: 2 · 0.25 = 0.5 for the smaller, max(0.5, 0.25) for the other
    assert norm.comparison.p_adjusted == groups["pooling"].comparison.p_adjusted == pytest.approx(0.5)
    assert report.grouped.families == {"score": "Holm over 2 comparisons"}
    assert groups["pooling"].costs["tokens/s"].mean == pytest.approx(1100.0)
    assert groups["pooling"].costs["tokens/s"].ci == pytest.approx(bootstrap([1000.0, 1100.0, 1200.0]))
    assert groups["lsh"].metric.n == 1 and groups["lsh"].comparison.note == "n=1, no test"
    assert groups["stride"].metric.n == 0 and groups["stride"].n_failed == 2
    assert groups["none"].comparison.note == "baseline"


def test_groups_markdown_and_csv_state_the_numbers_and_the_method(one_task, tmp_path):
    report = make_report(one_task, tmp_path / "report", baseline="sparsity_type=none")
    markdown = (tmp_path / "report" / "groups.md").read_text()
    assert "bootstrap percentile interval" in markdown and "Holm over 2 comparisons" in markdown
    assert "paired test" in markdown and "Welch's t-test" in markdown
    header = ("| sparsity_type | n | failed | val/answer_accuracy [95% CI] | std | Δ | test | p | p adj | "
              "seeds for 80% power | tokens/s | peak MB |")
    assert header in markdown
    low, high = bootstrap([0.5, 0.6, 0.7])
    fast_low, fast_high = bootstrap([1000.0, 1100.0, 1200.0])
    assert (f"| pooling | 3 | 0 | 0.60 [{low:.2f}, {high:.2f}] | 0.100 | +0.40 | paired permutation (3 pairs) | "
            f"0.25 | 0.5 | 6 | 1100 [{fast_low:.0f}, {fast_high:.0f}] | 500 [500, 500] |") in markdown
    assert "| lsh | 1 | 0 | 0.90 (n=1, no CI) |  | +0.70 |  |  | n=1, no test |  | 900 | 500 |" in markdown
    assert "| stride | 0 | 2 | no scored run |" in markdown and "nan" not in markdown
    assert report.groups_markdown == markdown and report.matrix_markdown is None
    with open(tmp_path / "report" / "groups.csv") as handle:
        rows = {row["sparsity_type"]: row for row in csv.DictReader(handle)}
    assert (float(rows["pooling"]["interval_low"]), float(rows["pooling"]["interval_high"])) == pytest.approx(
        (low, high))
    assert float(rows["pooling"]["p"]) == pytest.approx(0.25) and float(rows["pooling"]["p_adjusted"]) == 0.5
    assert rows["pooling"]["test"] == "paired permutation" and rows["pooling"]["n_pairs"] == "3"
    assert rows["pooling"]["significant"] == "False" and rows["pooling"]["seeds_for_80_power"] == "6"
    assert rows["lsh"]["interval_low"] == "" and rows["lsh"]["note"] == "n=1, no test"
    assert rows["norm"]["failed"] == "1" and rows["norm"]["runs"] == "3 4 5 6"
    assert not (tmp_path / "report" / "matrix.md").exists()  # one task: no matrix
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["baseline"] == "sparsity_type=none" and len(saved["groups"]) == 5
    pooling = next(group for group in saved["groups"] if group["configuration"]["sparsity_type"] == "pooling")
    assert pooling["comparison"]["p_adjusted"] == 0.5 and pooling["interval_low"] == pytest.approx(low)
    assert saved["adjustment"] == "holm" and saved["families"] == {"score": "Holm over 2 comparisons"}


def test_without_baseline_there_is_no_test_column(one_task, tmp_path):
    report = make_report(one_task, tmp_path / "report")
    assert "p adj" not in report.groups_markdown and "Welch" not in report.groups_markdown
    assert all(group.comparison is None for group in report.grouped.groups)


def test_two_tasks_give_a_matrix_with_interval_cells(two_tasks, tmp_path):
    report = make_report(two_tasks, tmp_path / "report", baseline="sparsity_type=none")
    assert report.grouped.tasks == ["aclsum", "synthetic"]
    aclsum = by_selector(report, "aclsum")
    # constant groups pair by seed: equal differences 0 give p = 1; equal differences 0.05 (2 pairs) p = 2/4
    assert aclsum["pooling"].comparison.p_value == 1.0 and aclsum["norm"].comparison.p_value == pytest.approx(0.5)
    matrix = (tmp_path / "report" / "matrix.md").read_text()
    assert "| sparsity_type | aclsum | synthetic |" in matrix
    low, high = bootstrap([0.5, 0.6, 0.7])
    assert f"| pooling | 0.20 [0.20, 0.20] | 0.60 [{low:.2f}, {high:.2f}] |" in matrix  # all equal: [v, v]
    assert "| lsh | — | 0.90 (n=1) |" in matrix and "| stride | — | — |" in matrix
    assert " * " not in matrix and "Holm over 4 comparisons" in matrix
    with open(tmp_path / "report" / "matrix.csv") as handle:
        rows = {row["sparsity_type"]: row for row in csv.DictReader(handle)}
    assert float(rows["pooling"]["synthetic interval_high"]) == pytest.approx(high)
    assert float(rows["pooling"]["synthetic p"]) == pytest.approx(0.25)
    assert rows["pooling"]["synthetic test"] == "paired permutation"
    assert rows["lsh"]["aclsum mean"] == "" and rows["norm"]["synthetic failed"] == "1"
    assert (tmp_path / "report" / "matrix.png").read_bytes().startswith(b"\x89PNG")
    markdown = report.groups_markdown
    assert "| aclsum | norm | 2 | 0 | 0.25 [0.25, 0.25] | 0.000 | +0.050 | paired permutation (2 pairs) | 0.5 |" \
        in markdown
    assert "| aclsum | pooling | 2 | 0 | 0.20 [0.20, 0.20] | 0.000 | +0.000 | paired permutation (2 pairs) | 1 |" \
        in markdown


def test_baseline_errors_name_the_flag_and_the_choices(one_task, tmp_path):
    with pytest.raises(ValueError, match=r"--baseline sparsity=none: 'sparsity' is not a setting.*sparsity_type"):
        make_report(one_task, tmp_path / "r", baseline="sparsity=none")
    with pytest.raises(ValueError, match=r"no group has sparsity_type=nope.*values: lsh, none, norm, pooling, stride"):
        make_report(one_task, tmp_path / "r", baseline="sparsity_type=nope")
    with pytest.raises(ValueError, match=r"--baseline expects KEY=VALUE"):
        make_report(one_task, tmp_path / "r", baseline="sparsity_type")
    with pytest.raises(ValueError, match=r"cannot be a seed"):
        make_report(one_task, tmp_path / "r", baseline="seed=0")
    assert not (tmp_path / "r").exists()  # nothing written before the check


def test_cli_prints_the_groups_and_rejects_a_bad_baseline(one_task, tmp_path, capsys):
    code = cli.main(["report", str(one_task), "--out", str(tmp_path / "r"), "--baseline", "sparsity_type=none"])
    printed = capsys.readouterr().out
    assert code == 0 and "| pooling | 3 | 0 | 0.60 [" in printed and "| rank | run |" not in printed
    assert "Failed runs:" in printed and "RuntimeError: out of memory" in printed
    result = subprocess.run([sys.executable, "-m", "lsgzoo", "report", str(one_task), "--out", str(tmp_path / "r2"),
                             "--baseline", "block_size=8"], capture_output=True, text=True)
    assert result.returncode == 2 and "--baseline block_size=8" in result.stderr and "sparsity_type" in result.stderr


def test_plot_lines_split_by_other_settings_not_by_tied_ones(tmp_path):
    for job, (kind, block_size, seed, score) in enumerate([("norm", 8, 0, 0.5), ("norm", 8, 1, 0.7),
                                                           ("norm", 16, 0, 0.6), ("none", 8, 0, 0.2)]):
        write_summary_run(tmp_path / "runs" / str(job), "synthetic", kind, seed, score, block_size=block_size)
    records = collect_runs(tmp_path / "runs")
    assert line_keys(records, "block_size") == []  # sparse_block_size follows block_size: no extra lines
    report = make_report(tmp_path / "runs", tmp_path / "report", baseline="sparsity_type=none")
    assert (tmp_path / "report" / "metric_vs_block_size.png").read_bytes().startswith(b"\x89PNG")
    groups = {(g.configuration["sparsity_type"], g.configuration["block_size"]): g for g in report.grouped.groups}
    assert groups["norm", 8].metric.n == 2 and groups["norm", 8].metric.mean == pytest.approx(0.6)
    assert groups["norm", 8].comparison.note == "n=1, no test"  # against none at block 8 (one run)
    assert groups["norm", 16].comparison.note == "no baseline at these settings"  # no `none` run at block 16


def test_a_killed_run_joins_its_group_through_its_hydra_config(tmp_path):
    for seed, score in enumerate([0.5, 0.7]):
        write_summary_run(tmp_path / "runs" / str(seed), "synthetic", "norm", seed, score)
    killed = tmp_path / "runs" / "2" / ".hydra"
    killed.mkdir(parents=True)
    (killed / "overrides.yaml").write_text("- attention.sparsity_type=norm\n- attention.block_size=8\n- seed=2\n")
    (killed / "config.yaml").write_text("seed: 2\ndata:\n  name: synthetic\nattention:\n  sparsity_type: norm\n"
                                        "  block_size: 8\n  sparse_block_size: 8\n  sparsity_factor: 4\n"
                                        "  num_global_tokens: 1\n")
    report = make_report(tmp_path / "runs", tmp_path / "report")
    (group,) = report.grouped.groups  # same task (data.name) and settings: one group of three runs
    assert (group.task, group.metric.n, group.n_failed) == ("synthetic", 2, 1)
    assert group.metric.mean == pytest.approx(0.6)
    # two values: the resampled means are 0.5, 0.6 or 0.7, so the 95 % percentile interval is [0.5, 0.7]
    assert group.metric.ci == pytest.approx((0.5, 0.7))


def test_no_scored_run_gives_a_group_table_without_numbers(tmp_path):
    for seed in range(2):
        write_summary_run(tmp_path / "runs" / str(seed), "synthetic", "norm", seed, None, status="failed")
    report = make_report(tmp_path / "runs", tmp_path / "report", metric=MONITOR, mode="max")
    assert report.best is None
    assert "| all runs | 0 | 2 | no scored run |" in report.groups_markdown and "nan" not in report.groups_markdown
    assert report.printed().count("RuntimeError: out of memory") == 2


def write_monitored_run(run_dir: Path, data: str, monitor: str, sparsity_type: str, seed: int, score: float,
                        mode: str = "max"):
    """A completed run of task `data` monitoring `monitor` (as the suite's seq2seq and classification tasks do)."""
    write_summary_run(run_dir, data, sparsity_type, seed, score)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(monitor=monitor, monitor_mode=mode, metrics={monitor: score, "val/loss": 0.1})
    (run_dir / "summary.json").write_text(json.dumps(summary))


MIXED = {  # task → (monitor, {sparsity_type: [score per seed]})
    "linked_pairs": ("val/answer_accuracy", {"none": [0.1, 0.2], "pooling": [0.5, 0.7]}),
    "majority": ("val/accuracy", {"none": [0.8, 0.9], "pooling": [0.6, 0.65]}),
}


def write_mixed(root: Path, tasks=MIXED, modes=None) -> Path:
    job = 0
    for data, (monitor, selectors) in tasks.items():
        for sparsity_type, scores in selectors.items():
            for seed, score in enumerate(scores):
                write_monitored_run(root / str(job), data, monitor, sparsity_type, seed, score,
                                    (modes or {}).get(data, "max"))
                job += 1
    return root


def test_tasks_monitoring_different_metrics_are_scored_each_by_its_own(tmp_path):
    out = tmp_path / "report"
    report = make_report(write_mixed(tmp_path / "multirun"), out, baseline="sparsity_type=none")
    metrics = {"linked_pairs": "val/answer_accuracy", "majority": "val/accuracy"}
    assert report.grouped.task_metrics == metrics and report.table.task_metrics == metrics
    lp, maj = by_selector(report, "linked_pairs"), by_selector(report, "majority")
    assert lp["pooling"].metric.mean == pytest.approx(0.6) and lp["none"].metric.mean == pytest.approx(0.15)
    assert maj["none"].metric.mean == pytest.approx(0.85) and maj["pooling"].metric.mean == pytest.approx(0.625)
    # paired by seed within each task: (0.5, 0.7) vs (0.1, 0.2); (0.6, 0.65) vs (0.8, 0.9)
    import numpy as np
    from scipy import stats
    for group, values, base in ((lp["pooling"], [0.5, 0.7], [0.1, 0.2]), (maj["pooling"], [0.6, 0.65], [0.8, 0.9])):
        expected = stats.permutation_test((values, base), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                                          permutation_type="samples", vectorized=True,
                                          rng=np.random.default_rng(0)).pvalue
        assert group.comparison.p_value == pytest.approx(expected) == 0.5  # 2 of the 2² sign patterns
    assert lp["none"].comparison.note == maj["none"].comparison.note == "baseline"

    matrix = (out / "matrix.md").read_text()
    assert "metric per task: linked_pairs → val/answer_accuracy, majority → val/accuracy" in matrix
    assert "| sparsity_type | linked_pairs | majority |" in matrix
    rows = [line for line in matrix.splitlines() if line.startswith(("| none |", "| pooling |"))]
    assert rows == ["| pooling | 0.60 [0.50, 0.70] | 0.62 [0.60, 0.65] |",
                    "| none | 0.15 [0.10, 0.20] | 0.85 [0.80, 0.90] |"]
    with open(out / "matrix.csv") as handle:
        cells = {row["sparsity_type"]: row for row in csv.DictReader(handle)}
    assert cells["pooling"]["majority metric"] == "val/accuracy"
    assert float(cells["pooling"]["linked_pairs mean"]) == pytest.approx(0.6)
    assert (out / "matrix.png").stat().st_size > 1000

    with open(out / "groups.csv") as handle:
        groups = list(csv.DictReader(handle))
    assert {(row["task"], row["metric"]) for row in groups} == set(metrics.items())
    assert "| linked_pairs | val/answer_accuracy | pooling | 2 |" in report.groups_markdown
    assert "metric per task: linked_pairs → val/answer_accuracy" in report.groups_markdown

    # the sweep is ranked within each task, with each row's metric named
    ranks = [(row["data"], row["rank"], row["metric"], row["run"]) for row in report.table.rows]
    assert ranks == [("linked_pairs", 1, "val/answer_accuracy", "3"), ("linked_pairs", 2, "val/answer_accuracy", "2"),
                     ("linked_pairs", 3, "val/answer_accuracy", "1"), ("linked_pairs", 4, "val/answer_accuracy", "0"),
                     ("majority", 1, "val/accuracy", "5"), ("majority", 2, "val/accuracy", "4"),
                     ("majority", 3, "val/accuracy", "7"), ("majority", 4, "val/accuracy", "6")]
    assert "Ranked within each task by its own monitored metric (linked_pairs → val/answer_accuracy" in report.markdown
    assert report.best is None and {task: run.name for task, run in report.best_by_task.items()} == {
        "linked_pairs": "3", "majority": "5"}
    assert "  majority: by val/accuracy: 5 = 0.9" in report.best_line()
    summary = json.loads((out / "report.json").read_text())
    assert summary["metric_per_task"] == metrics and summary["best_per_task"]["majority"]["metric"] == "val/accuracy"
    assert {"vs_block_size", "cost"} <= set(report.files)
    with pytest.raises(ValueError, match="scored by different metrics"):
        export_best(report, tmp_path / "hub")


def test_tasks_monitoring_different_metrics_must_agree_within_a_task_and_on_the_mode(tmp_path):
    inconsistent = write_mixed(tmp_path / "a")
    write_monitored_run(inconsistent / "99", "majority", "val/f1", "none", 5, 0.5)
    with pytest.raises(ValueError, match=r"same task monitor different metrics \(majority: val/accuracy, val/f1\)"):
        make_report(inconsistent, tmp_path / "ra")
    opposite = write_mixed(tmp_path / "b", modes={"majority": "min"})
    with pytest.raises(ValueError, match=r"disagree on monitor_mode \(max: linked_pairs; min: majority\)"):
        make_report(opposite, tmp_path / "rb")
    # --metric keeps today's behaviour: the runs that do not report it are scored as missing
    report = make_report(write_mixed(tmp_path / "c"), tmp_path / "rc", metric="val/accuracy", mode="max")
    assert report.grouped.task_metrics == {"linked_pairs": "val/accuracy", "majority": "val/accuracy"}
    assert report.best.name == "5" and by_selector(report, "linked_pairs")["none"].metric.n == 0
