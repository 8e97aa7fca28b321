"""The report labels exact full attention `full` (from the run's settings) and tests it against `none`."""

import json
from pathlib import Path

import pytest

from lsgzoo.report import collect_runs, make_report
from lsgzoo.report.collect import FULL_ATTENTION, is_full_attention

MONITOR = "val/answer_accuracy"


def write_run(run_dir: Path, task: str, sparsity_type: str, block_size: int, seed: int, score: float,
              longest: int = 256, max_source_length: int | None = None, sparsity_factor: int = 4) -> None:
    """A finished run dir: summary.json with length statistics (and .hydra/config.yaml when a limit is given)."""
    sparse_block = 0 if block_size >= longest else block_size
    attention = {"sparsity_type": sparsity_type, "block_size": block_size, "sparse_block_size": sparse_block,
                 "sparsity_factor": 1 if sparse_block == 0 else sparsity_factor, "num_global_tokens": 1}
    statistics = {split: {"source_tokens": {"count": 10, "max": longest, "truncated_fraction": 0.0}}
                  for split in ("train", "validation", "test")}
    summary = {"status": "completed", "data": task, "monitor": MONITOR, "monitor_mode": "max", "best_score": score,
               "metrics": {MONITOR: score}, "attention": attention, "seed": seed, "overrides": [f"seed={seed}"],
               "length_statistics": statistics}
    (run_dir / ".hydra").mkdir(parents=True)
    if max_source_length is not None:
        (run_dir / ".hydra" / "config.yaml").write_text(f"data:\n  name: {task}\n  max_source_length: "
                                                         f"{max_source_length}\n")
    (run_dir / "summary.json").write_text(json.dumps(summary))


def test_full_attention_is_told_from_the_block_and_the_longest_input(tmp_path):
    write_run(tmp_path / "0", "mqar", "none", 256, 0, 0.9)  # attention=full: block = input length
    write_run(tmp_path / "1", "mqar", "none", 128, 0, 0.9)  # 2 blocks cover 256 tokens: still full
    write_run(tmp_path / "2", "mqar", "none", 8, 0, 0.1)  # local: the floor
    write_run(tmp_path / "3", "mqar", "pooling", 8, 0, 0.5, longest=16)  # a 16-token input fits in 2 blocks
    write_run(tmp_path / "4", "mqar", "none", 128, 0, 0.1, longest=1000, max_source_length=512)  # truncated to 512
    write_run(tmp_path / "5", "mqar", "none", 128, 0, 0.1, longest=1000, max_source_length=256)  # truncated to 256
    records = {record.name: record for record in collect_runs(tmp_path)}
    assert [is_full_attention(records[name]) for name in "012345"] == [True, True, False, True, False, True]
    assert records["0"].setting("sparsity_type") == FULL_ATTENTION and records["0"].attention["sparsity_type"] == "none"
    assert records["2"].setting("sparsity_type") == "none" and records["4"].longest_input == 512


def test_suite_matrix_has_a_full_row_tested_against_none(tmp_path):
    scores = {"none": (0.10, 0.12, 0.14), "pooling": (0.50, 0.52, 0.55), FULL_ATTENTION: (0.90, 0.91, 0.93)}
    job = 0
    for task in ("linked_pairs", "mqar"):
        for name, values in scores.items():
            for seed, score in enumerate(values):
                block = 256 if name == FULL_ATTENTION else 8
                write_run(tmp_path / "sweep" / str(job), task, "none" if name == FULL_ATTENTION else name, block, seed,
                          score, max_source_length=256)
                job += 1
    report = make_report(tmp_path / "sweep", tmp_path / "out", baseline="sparsity_type=none")
    groups = {(g.task, g.configuration["sparsity_type"]): g for g in report.grouped.groups}
    assert len(groups) == 6 and all(group.metric.n == 3 for group in groups.values())
    full = groups["mqar", FULL_ATTENTION]
    assert full.configuration["block_size"] == 256  # matched with none at block 8
    # same seeds pair: every one of the 3 differences is positive, 2 of the 2³ sign patterns are that extreme
    assert full.comparison.test == "paired permutation" and full.comparison.n_pairs == 3
    assert full.comparison.p_value == pytest.approx(0.25) and not full.comparison.significant
    assert groups["mqar", "pooling"].comparison.p_value == pytest.approx(0.25)
    assert full.comparison.seeds_for_80_power == 6  # a huge effect: the permutation test's floor of 6 pairs
    low, high = full.metric.ci
    assert 0.90 <= low < 0.9133 < high <= 0.93
    matrix = report.matrix_markdown
    assert f"| full | 256 | 0 | 1 | 0.91 [{low:.2f}, {high:.2f}] | 0.91 [{low:.2f}, {high:.2f}] |" in matrix
    assert " * |" not in matrix  # nothing survives Holm over 4 comparisons with 3 seeds
    assert "| none | 8 | 8 | 4 | 0.12 [" in matrix


def test_a_sparse_group_without_a_none_at_its_factor_is_matched_on_the_settings_none_uses(tmp_path):
    for seed, score in enumerate((0.1, 0.2)):
        write_run(tmp_path / "sweep" / f"none{seed}", "mqar", "none", 16, seed, score, sparsity_factor=4)
        for factor in (2, 8):
            write_run(tmp_path / "sweep" / f"lsh{factor}-{seed}", "mqar", "lsh", 16, seed, 0.5 + seed / 10,
                      sparsity_factor=factor)
        write_run(tmp_path / "sweep" / f"lsh32-{seed}", "mqar", "lsh", 32, seed, 0.6, sparsity_factor=2)
    report = make_report(tmp_path / "sweep", tmp_path / "out", baseline="sparsity_type=none")
    notes = {(g.configuration["block_size"], g.configuration["sparsity_factor"]): g.comparison
             for g in report.grouped.groups if g.configuration["sparsity_type"] == "lsh"}
    assert notes[16, 2].delta == notes[16, 8].delta == 0.4  # none's factor has no effect: compared anyway
    assert notes[32, 2].note == "no baseline at these settings"  # its block does: no none at block 32


def test_metric_plots_draw_a_panel_per_task_with_full_attention_as_the_reference(tmp_path):
    """Two tasks scored by one metric: a panel each; `full` is the band's scores, never a point at block 256."""
    from lsgzoo.report.plots import metric_panels

    job = 0
    for task, offset in (("linked_pairs", 0.0), ("mqar", 0.5)):
        for seed in range(2):
            for name, block, score in (("none", 8, 0.1), ("pooling", 8, 0.3), ("pooling", 16, 0.4),
                                       ("none", 256, 0.2)):
                write_run(tmp_path / "sweep" / str(job), task, name, block, seed, score + offset + seed / 100,
                          max_source_length=256)
                job += 1
    keys, panels = metric_panels(collect_runs(tmp_path / "sweep"), "block_size", MONITOR)
    assert keys == []  # sparse_block_size follows block_size; full's block 256 / factor 1 add no line
    assert [(panel.task, panel.label) for panel in panels] == [("linked_pairs", MONITOR), ("mqar", MONITOR)]
    mqar = panels[1]
    assert mqar.lines == {"none": {8: [0.6, 0.61]}, "pooling": {8: [0.8, 0.81], 16: [0.9, 0.91]}}
    assert mqar.reference == [0.7, 0.71] and mqar.selectors == {"none": "none", "pooling": "pooling"}
    assert make_report(tmp_path / "sweep", tmp_path / "out").files["vs_block_size"].read_bytes().startswith(b"\x89PNG")


def test_a_full_attention_run_killed_before_its_length_statistics_is_still_full(tmp_path):
    """A killed `attention=full` run has no length statistics: its inputs' cap (max_source_length) decides."""
    write_run(tmp_path / "0", "listops", "none", 256, 0, 0.3, max_source_length=256)
    write_run(tmp_path / "1", "listops", "none", 256, 1, 0.3, max_source_length=256)
    summary = json.loads((tmp_path / "1" / "summary.json").read_text())
    del summary["length_statistics"], summary["best_score"], summary["metrics"]
    (tmp_path / "1" / "summary.json").write_text(json.dumps({**summary, "status": "failed", "error": "SIGTERM"}))
    write_run(tmp_path / "2", "listops", "none", 128, 0, 0.3, longest=1000)  # no cap known, stats say 1000
    records = {record.name: record for record in collect_runs(tmp_path)}
    assert records["1"].failed and records["1"].longest_input is None and records["1"].max_source_length == 256
    assert [records[name].setting("sparsity_type") for name in "012"] == [FULL_ATTENTION, FULL_ATTENTION, "none"]
    groups = make_report(tmp_path, tmp_path / "out").grouped.groups
    assert [(g.configuration["sparsity_type"], g.metric.n, g.n_failed) for g in groups] == [(FULL_ATTENTION, 1, 1),
                                                                                         ("none", 1, 0)]
