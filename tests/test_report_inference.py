"""The report's inference on fabricated summaries: intervals, solve counts, paired/unpaired tests, McNemar over
documents, the family-wise adjustment, --compare / --all-pairs, seed planning and the across-task ranking, each
checked against scipy/statsmodels called directly or against values worked out by hand."""

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from lsgzoo import cli
from lsgzoo.report import make_report, solve_count, summarize
from lsgzoo.report.inference import (Comparison, Observation, adjust_family, compare_observations, family_text,
                                     seeds_for_power)
from test_report_stats import write_summary_run  # tests/ is on sys.path (conftest.py)


def side(scores, seeds=None, **fields):
    """Observations keyed by seed (0, 1, ... unless `seeds`; None: no replicate key)."""
    seeds = range(len(scores)) if seeds is None else seeds
    return [Observation(key=None if seed is None else (seed,), score=score, **fields)
            for seed, score in zip(seeds, scores)]


def mean_difference(x, y, axis):
    return x.mean(axis=axis) - y.mean(axis=axis)


def write_runs(root, cells: dict, data="synthetic", block_size=8):
    """cells: {sparsity_type: [score per seed, None = failed]} → one run dir per (selector, seed)."""
    job = 0
    for sparsity_type, scores in cells.items():
        for seed, score in enumerate(scores):
            write_summary_run(root / f"{data}-{job}", data, sparsity_type, seed, score,
                              status="completed" if score is not None else "failed", block_size=block_size)
            job += 1
    return root


def test_intervals_stay_in_range_and_degenerate_cases_are_explicit():
    bimodal = [0.2, 0.95, 1.0]  # a Student-t interval would run past 1: 0.717 ± 1.12
    summary = summarize(bimodal)
    expected = stats.bootstrap((bimodal,), np.mean, n_resamples=9999, method="percentile",
                               rng=np.random.default_rng(0)).confidence_interval
    assert summary.ci == pytest.approx((expected.low, expected.high))
    assert 0.2 <= summary.low <= summary.mean <= summary.high <= 1.0
    assert summarize(bimodal).ci == summary.ci  # fixed seed: reproducible
    assert summarize([0.7, 0.7, 0.7]).ci == (0.7, 0.7)  # all equal: [v, v]
    assert summarize([0.4]).ci is None and summarize([]).mean is None


def test_solve_counts_use_clopper_pearson():
    count = solve_count([0.95, 0.2, 0.9, 0.89], 0.9, "max")  # 0.9 counts (score ≥ T), 0.89 does not
    exact = stats.binomtest(2, 4).proportion_ci(method="exact")
    assert (count.solved, count.n) == (2, 4) and (count.low, count.high) == pytest.approx((exact.low, exact.high))
    assert solve_count([0.1, 0.5], 0.2, "min").solved == 1  # lower is better: score ≤ T solves
    none_solved = solve_count([0.1, 0.2, 0.3], 0.9, "max")
    assert (none_solved.solved, none_solved.low) == (0, 0.0)
    assert 1 - none_solved.high == pytest.approx(0.025 ** (1 / 3))  # 0/n: upper bound 1 − (α/2)^(1/n)
    assert solve_count([], 0.9, "max").n == 0


def test_runs_pair_only_when_every_seed_has_a_partner():
    a, b = [0.9, 0.8, 1.0, 0.7], [0.5, 0.6, 0.4, 0.8]
    paired = compare_observations(side(a), side(b))
    expected = stats.permutation_test((a, b), mean_difference, permutation_type="samples", vectorized=True,
                                      rng=np.random.default_rng(0))
    assert paired.test == "paired permutation" and paired.n_pairs == 4
    assert paired.p_value == pytest.approx(expected.pvalue) == pytest.approx(4 / 16)  # 16 sign patterns
    shifted = compare_observations(side(a, seeds=[0, 1, 2, 5]), side(b))  # seed 5 has no partner
    assert shifted.test == "Welch t" and shifted.n_pairs is None
    assert shifted.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    unkeyed = compare_observations(side(a, seeds=[None] * 4), side(b, seeds=[None] * 4))
    assert unkeyed.test == "Welch t"
    ties = compare_observations(side([0.5, 0.5, 0.5]), side([0.5, 0.5, 0.5]))  # every difference 0
    assert (ties.test, ties.p_value, ties.delta) == ("paired permutation", 1.0, 0.0)
    one = compare_observations(side([0.9]), side([0.1]))  # a single pair: no test
    assert one.p_value is None and one.note == "n=1, no test"


def test_mcnemar_runs_over_documents_of_one_checkpoint(tmp_path):
    """Two evals of checkpoint c per seed, with per-document 0/1 results: McNemar on the summed discordances."""
    rows = {"a": [], "b": []}
    for seed, (mine, theirs) in enumerate([([1, 1, 0, 1, 1], [1, 0, 0, 0, 1]), ([1, 1, 1, 0], [0, 1, 0, 0])]):
        for name, results in (("a", mine), ("b", theirs)):
            run_dir = tmp_path / f"{name}{seed}"
            run_dir.mkdir()
            (run_dir / "examples.jsonl").write_text("".join(json.dumps({"index": i, "correct": c}) + "\n"
                                                            for i, c in enumerate(results)))
            rows[name].append(Observation(key=(seed,), score=sum(results) / len(results), run_dir=run_dir,
                                          checkpoint=f"run{seed}/best.ckpt"))
    found = compare_observations(rows["a"], rows["b"])
    # concordant both-correct 2 + 1, a-only 2 + 2, b-only 0, both wrong 1 + 1 → [[3, 4], [0, 2]]
    expected = mcnemar([[3, 4], [0, 2]], exact=True)
    assert found.test == "McNemar exact" and found.n_pairs == 9
    assert found.p_value == pytest.approx(expected.pvalue) == pytest.approx(2 * 0.5 ** 4)
    other_checkpoint = [Observation(o.key, o.score, o.run_dir, "elsewhere.ckpt") for o in rows["b"]]
    assert compare_observations(rows["a"], other_checkpoint).test == "paired permutation"  # McNemar skipped
    (rows["b"][0].run_dir / "examples.jsonl").unlink()
    assert compare_observations(rows["a"], rows["b"]).test == "paired permutation"  # a missing file skips it


def test_holm_and_bh_match_statsmodels_and_leave_untested_rows_alone():
    raw = [0.01, 0.04, 0.03, 0.2]
    comparisons = [compare_observations(side([0.9]), side([0.1]))] + [Comparison(p_value=p, test="Welch t")
                                                                       for p in raw]
    holm = adjust_family(comparisons, "holm")
    assert holm[0].p_adjusted is None and holm[0].note == "n=1, no test"
    assert [c.p_adjusted for c in holm[1:]] == pytest.approx(multipletests(raw, method="holm")[1])
    assert [c.p_adjusted for c in holm[1:]] == pytest.approx([0.04, 0.09, 0.09, 0.2])  # 4·0.01, 3·0.03, ...
    bh = adjust_family(comparisons, "bh")
    assert [c.p_adjusted for c in bh[1:]] == pytest.approx(multipletests(raw, method="fdr_bh")[1])
    assert [c.p_adjusted for c in adjust_family(comparisons, "none")[1:]] == raw
    assert holm[1].significant and not holm[2].significant  # marks follow the adjusted p
    assert family_text(holm, "holm") == "Holm over 4 comparisons"
    with pytest.raises(ValueError, match="--adjust must be one of holm, bh, none"):
        adjust_family(comparisons, "bonferroni")


def test_seeds_for_power_match_statsmodels():
    a, b = [0.5, 0.7, 0.9], [0.4, 0.5, 0.6]  # Δ 0.2, pooled std √((0.08 + 0.02)/4) = 0.158114
    effect = 0.2 / math.sqrt(0.025)
    expected = math.ceil(TTestIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8))
    assert seeds_for_power(a, b) == expected
    assert seeds_for_power([0.3, 0.3], [0.3, 0.3]) is None  # std 0
    assert seeds_for_power([0.2, 0.4], [0.4, 0.2]) is None  # Δ 0
    assert seeds_for_power([0.9], [0.1, 0.2]) is None  # n = 1
    assert seeds_for_power([1.0, 1.01], [0.0, 0.01], minimum=6) == 6  # a huge effect: the test's own floor


BIMODAL = {"none": [0.2, 0.25, 0.3, 0.2, 0.95, 0.2], "pooling": [1.0, 0.97, 0.2, 1.0, 1.0, 0.99],
           "norm": [0.9, None, 0.3, 0.95, 0.25, 0.2], "lsh": [0.5]}


def test_baseline_table_adjusts_over_its_family_and_counts_solves(tmp_path):
    root = write_runs(tmp_path / "runs", BIMODAL)
    report = make_report(root, tmp_path / "report", baseline="sparsity_type=none", solved_at=0.9)
    groups = {g.configuration["sparsity_type"]: g for g in report.grouped.groups}
    pooling, norm = groups["pooling"].comparison, groups["norm"].comparison
    assert pooling.test == "paired permutation" and pooling.n_pairs == 6
    assert norm.test == "Welch t"  # norm's seed 1 failed: seed 1 of none has no partner, so no pairing
    assert norm.p_value == pytest.approx(stats.ttest_ind([0.9, 0.3, 0.95, 0.25, 0.2],
                                                         BIMODAL["none"], equal_var=False).pvalue)
    assert groups["lsh"].comparison.note == "n=1, no test"
    expected = multipletests([pooling.p_value, norm.p_value], method="holm")[1]
    assert [pooling.p_adjusted, norm.p_adjusted] == pytest.approx(list(expected))
    assert report.grouped.families["score"] == "Holm over 2 comparisons"
    solved = {name: (g.solved.solved, g.solved.n) for name, g in groups.items()}
    assert solved == {"none": (1, 6), "pooling": (5, 6), "norm": (2, 5), "lsh": (0, 1)}
    fisher = stats.fisher_exact([[5, 1], [1, 5]]).pvalue
    assert groups["pooling"].solve_comparison.p_value == pytest.approx(fisher)
    assert groups["lsh"].solve_comparison.p_value == pytest.approx(stats.fisher_exact([[0, 1], [1, 5]]).pvalue)
    assert report.grouped.families["solve rate"] == "Holm over 3 comparisons"
    printed = report.printed()
    assert "| pooling | 6 | 0 |" in printed and "5/6 [" in printed and "Holm over 2 comparisons" in printed
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    row = next(g for g in saved["groups"] if g["configuration"]["sparsity_type"] == "pooling")
    assert (row["solved"], row["solved_n"]) == (5, 6) and row["comparison"]["test"] == "paired permutation"
    assert set(row["comparison"]) >= {"p", "p_adjusted", "n_pairs", "seeds_for_80_power", "test"}
    for group in saved["groups"]:  # every interval inside [0, 1]
        assert group["interval_low"] is None or 0.0 <= group["interval_low"] <= group["interval_high"] <= 1.0


def test_compare_gives_a_row_per_setting_and_a_pooled_row(tmp_path):
    root = tmp_path / "runs"
    factor2 = {8: [0.9, 0.8, 0.95], 16: [0.7, 0.9, 0.6]}
    factor8 = {8: [0.3, 0.4, 0.2], 16: [0.5, 0.6, 0.65]}
    job = 0
    for factor, cells in ((2, factor2), (8, factor8)):
        for block, scores in cells.items():
            for seed, score in enumerate(scores):
                write_summary_run(root / str(job), "synthetic", "pooling", seed, score, block_size=block)
                summary = json.loads((root / str(job) / "summary.json").read_text())
                summary["attention"]["sparsity_factor"] = factor
                summary["overrides"].append(f"attention.sparsity_factor={factor}")
                (root / str(job) / "summary.json").write_text(json.dumps(summary))
                job += 1
    report = make_report(root, tmp_path / "report", compare=["sparsity_factor=2,8"], solved_at=0.9)
    (table,) = report.pair_tables
    rows = {(row.settings.get("block_size"), row.pooled): row for row in table.rows}
    assert set(rows) == {(8, False), (16, False), (None, True)}
    pooled = rows[None, True]
    a = factor2[8] + factor2[16]
    b = factor8[8] + factor8[16]
    expected = stats.permutation_test((a, b), mean_difference, permutation_type="samples", vectorized=True,
                                      rng=np.random.default_rng(0))
    assert pooled.comparison.test == "paired permutation" and pooled.comparison.n_pairs == 6
    assert pooled.comparison.p_value == pytest.approx(expected.pvalue)
    assert pooled.comparison.delta == pytest.approx(np.mean(a) - np.mean(b))
    assert (pooled.solved_a.solved, pooled.solved_a.n, pooled.solved_b.solved) == (3, 6, 0)
    raw = [row.comparison.p_value for row in table.rows]
    assert [row.comparison.p_adjusted for row in table.rows] == pytest.approx(multipletests(raw, method="holm")[1])
    assert table.families["score"] == "Holm over 3 comparisons"
    text = (tmp_path / "report" / "compare.md").read_text()
    assert "### sparsity_factor=2 against sparsity_factor=8" in text and "| pooled |" in text
    assert (tmp_path / "report" / "compare.csv").read_text().count("\n") == 4  # header + 3 rows
    with pytest.raises(ValueError, match=r"--compare expects KEY=A,B"):
        make_report(root, tmp_path / "r2", compare=["sparsity_factor=2"])
    with pytest.raises(ValueError, match=r"--compare sparsity_factor=2,4: no group has sparsity_factor=4"):
        make_report(root, tmp_path / "r2", compare=["sparsity_factor=2,4"])


def test_all_pairs_compares_every_selector_pair_in_one_family(tmp_path):
    root = write_runs(tmp_path / "runs", {"none": [0.1, 0.2, 0.3], "norm": [0.4, 0.5, 0.6],
                                          "pooling": [0.7, 0.8, 0.9]})
    report = make_report(root, tmp_path / "report", all_pairs_of=["sparsity_type"], adjust="bh")
    (table,) = report.pair_tables
    assert {(row.a_value, row.b_value) for row in table.rows} == {("pooling", "norm"), ("pooling", "none"),
                                                                  ("norm", "none")}
    assert all(row.comparison.p_value == pytest.approx(0.25) for row in table.rows)  # 3 pairs, one sign
    assert all(row.comparison.p_adjusted == pytest.approx(0.25) for row in table.rows)  # BH of equal p
    assert all(row.comparison.seeds_for_80_power == 6 for row in table.rows)
    assert table.families["score"] == "Benjamini–Hochberg over 3 comparisons"


def test_two_tasks_get_a_friedman_ranking_and_a_cd_diagram(tmp_path):
    root = tmp_path / "runs"
    write_runs(root, {"none": [0.1, 0.2], "norm": [0.5, 0.6], "pooling": [0.8, 0.9]}, data="task_a")
    write_runs(root, {"none": [0.3, 0.3], "norm": [0.2, 0.25], "pooling": [0.7, 0.75]}, data="task_b")
    report = make_report(root, tmp_path / "report", baseline="sparsity_type=none")
    ranking = report.ranking
    # ranks per task (1 = best): task_a pooling 1, norm 2, none 3; task_b pooling 1, none 2, norm 3
    assert ranking.labels[0] == "sparsity_type=pooling" and ranking.mean_ranks == [1.0, 2.5, 2.5]
    expected = stats.friedmanchisquare([-0.15, -0.3], [-0.55, -0.225], [-0.85, -0.725])
    assert ranking.statistic == pytest.approx(expected.statistic) and ranking.p_value == pytest.approx(
        expected.pvalue)
    cd = stats.studentized_range.ppf(0.95, 3, np.inf) / math.sqrt(2) * math.sqrt(3 * 4 / (6 * 2))
    assert ranking.critical_difference == pytest.approx(cd)
    assert (tmp_path / "report" / "cd_diagram.png").read_bytes().startswith(b"\x89PNG")
    assert "Friedman χ²" in report.matrix_markdown and "Nemenyi critical difference" in report.matrix_markdown
    assert (tmp_path / "report" / "matrix.png").read_bytes().startswith(b"\x89PNG")


def test_cli_flags_reach_the_report_and_bad_ones_exit_2(tmp_path, capsys):
    root = write_runs(tmp_path / "runs", BIMODAL)
    code = cli.main(["report", str(root), "--out", str(tmp_path / "r"), "--baseline", "sparsity_type=none",
                     "--solved-at", "0.9", "--adjust", "bh", "--all-pairs", "sparsity_type"])
    printed = capsys.readouterr().out
    assert code == 0 and "Benjamini–Hochberg over" in printed and "every pair of sparsity_type values" in printed
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(root), "--out", str(tmp_path / "r2"), "--compare", "seed=0,1"])
    assert exit_info.value.code == 2 and "cannot be a seed" in capsys.readouterr().err


def test_mfu_is_a_cost_column_only_where_runs_record_it(tmp_path):
    """train_mfu (None on CPU, where Lightning knows no peak) shows as the MFU column, with its interval over the
    group's runs, only in a report whose runs recorded it."""
    root = write_runs(tmp_path / "cpu", {"none": [0.1, 0.2], "norm": [0.3, 0.4]})
    assert "| MFU |" not in make_report(root, tmp_path / "cpu-report").printed()
    mfus = {"none": [0.30, 0.34], "norm": [0.20, 0.22]}
    root = write_runs(tmp_path / "gpu", {"none": [0.1, 0.2], "norm": [0.3, 0.4]})
    for run_dir in sorted(root.iterdir()):
        summary = json.loads((run_dir / "summary.json").read_text())
        summary["train_mfu"] = mfus[summary["attention"]["sparsity_type"]][summary["seed"]]
        (run_dir / "summary.json").write_text(json.dumps(summary))
    report = make_report(root, tmp_path / "gpu-report")
    groups = {g.configuration["sparsity_type"]: g for g in report.grouped.groups}
    assert groups["none"].costs["MFU"].mean == pytest.approx(0.32)
    assert groups["norm"].costs["MFU"].n == 2
    assert "MFU" in report.printed()


def test_eval_runs_with_seed_null_pair_by_the_seed_that_ran(tmp_path):
    """`lsgzoo.eval ... seed=null` runs the source run's seed: the override says null, the summary says which
    seed ran. The report pairs by the recorded seed, so such runs pair (and by document, via examples.jsonl)."""
    root = write_runs(tmp_path / "runs", {"none": [0.2, 0.4, 0.6], "norm": [0.4, 0.6, 0.8]})
    for run_dir in sorted(root.iterdir()):
        summary = json.loads((run_dir / "summary.json").read_text())
        summary["overrides"] = [o if not o.startswith("seed=") else "seed=null" for o in summary["overrides"]]
        summary["source_checkpoint"] = f"train/{summary['seed']}/best.ckpt"
        (run_dir / "summary.json").write_text(json.dumps(summary))
        (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in summary["overrides"]))
        correct = round(summary["best_score"] * 5)
        (run_dir / "examples.jsonl").write_text("".join(json.dumps({"index": i, "correct": int(i < correct)}) + "\n"
                                                        for i in range(5)))
    report = make_report(root, tmp_path / "report", baseline="sparsity_type=none")
    norm = next(g for g in report.grouped.groups if g.configuration["sparsity_type"] == "norm").comparison
    assert norm.test == "McNemar exact" and norm.n_pairs == 15
    assert norm.p_value == pytest.approx(mcnemar([[9, 3], [0, 3]], exact=True).pvalue)
