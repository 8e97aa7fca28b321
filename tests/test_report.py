"""`lsgzoo report` on fabricated run dirs: collection, ranking, table, plots, best run, export hand-off.

The real end-to-end path (a tiny 4-run multirun, then report + --export-best and a load
with trust_remote_code) needs `lsgzoo.train`; it lives with the training tests. Here the
exporter is injected, and only the arguments it receives are checked.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lsgzoo import cli
from lsgzoo.report import collect_runs, export_best, make_report, resolve_metric

MONITOR = "val/answer_accuracy"


def summary(sparsity_type, block_size, sparsity_factor, score, status="completed", **extra):
    attention = {"sparsity_type": sparsity_type, "block_size": block_size, "sparse_block_size": block_size,
                 "sparsity_factor": sparsity_factor, "num_global_tokens": 1, "lsh_num_pre_rounds": 1,
                 "mask_first_token": False, "lsg_backend": "eager"}
    overrides = [f"attention.sparsity_type={sparsity_type}", f"attention.block_size={block_size}",
                 f"attention.sparsity_factor={sparsity_factor}"]
    return {"status": status, "error": None if status == "completed" else "RuntimeError: boom",
            "task": "seq2seq", "data": "synthetic", "monitor": MONITOR, "monitor_mode": "max",
            "best_score": score, "metrics": {"val/loss": 1 - (score or 0), MONITOR: score, "train/loss": 0.5},
            "attention": attention, "overrides": overrides, "seed": 0, "num_parameters": 123456,
            "train_tokens_per_s": 1000.0 * block_size / sparsity_factor, "peak_memory_mb": 100.0 + block_size,
            "train_time_s": 60.0 * sparsity_factor, "global_step": 50, "best_checkpoint": "checkpoints/best.ckpt",
            **extra}


def write_run(run_dir: Path, data: dict | None, overrides=None, checkpoint=True, config=None):
    """A run dir as `lsgzoo.train` leaves it: .hydra files, summary.json (unless killed), a checkpoint."""
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = overrides if overrides is not None else data["overrides"]
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    if config is not None:
        (run_dir / ".hydra" / "config.yaml").write_text(config)
    if data is not None:
        (run_dir / "summary.json").write_text(json.dumps(data))
    if checkpoint:
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "best.ckpt").write_bytes(b"not a real checkpoint")
    return run_dir


@pytest.fixture
def sweep(tmp_path):
    """multirun/<date>/<time>/ with 5 completed runs, 1 that failed with a summary, 1 killed without one."""
    root = tmp_path / "multirun" / "2025-01-01" / "12-00-00"
    settings = [("norm", 32, 2, 0.80), ("norm", 32, 4, 0.70), ("pooling", 32, 2, 0.90), ("pooling", 64, 2, 0.95),
                ("none", 32, 2, 0.50)]
    for job, (kind, bs, sf, score) in enumerate(settings):
        write_run(root / str(job), summary(kind, bs, sf, score))
    write_run(root / "5", summary("lsh", 32, 2, None, status="failed"))
    write_run(root / "10", None, overrides=["attention.sparsity_type=stride", "attention.sparsity_factor=4"],
              checkpoint=False, config="seed: 3\nattention:\n  sparsity_type: stride\n  block_size: 32\n"
                                       "  sparse_block_size: ${attention.block_size}\n  sparsity_factor: 4\n")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_collect_reads_completed_failed_and_killed_runs(sweep):
    records = collect_runs(sweep.parent.parent)  # any folder above the run dirs works
    assert [r.name for r in records] == ["0", "1", "2", "3", "4", "5", "10"]  # named below their common folder
    killed = records[-1]
    assert killed.failed and "no summary.json" in killed.error
    assert killed.params == {"attention.sparsity_type": "stride", "attention.sparsity_factor": 4}
    assert killed.attention["sparse_block_size"] == 32 and killed.seed == 3  # interpolation resolved
    assert records[5].failed and records[5].error == "RuntimeError: boom"
    assert records[3].value(MONITOR) == 0.95 and records[3].setting("block_size") == 64


def test_report_ranks_marks_failures_and_writes_files(sweep, tmp_path):
    report = make_report(sweep, tmp_path / "report")
    assert (report.metric, report.mode) == (MONITOR, "max")
    rows = report.table.rows
    assert [row["run"] for row in rows] == ["3", "2", "0", "1", "4", "5", "10"]
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5, None, None]
    assert [row["status"] for row in rows[-2:]] == ["FAILED", "FAILED"]
    assert report.best.name == "3"
    markdown = (tmp_path / "report" / "sweep.md").read_text()
    assert markdown.count("**FAILED**") == 2 and "- `5`: RuntimeError: boom" in markdown
    # only what varies (seed: the killed run's config says 3), the metric and the cost; constants stated once
    assert "| 1 | 3 | completed | pooling | 64 | 64 | 2 | 0 | 0.95 | 32000 | 120 | 164 |" in markdown
    assert "Same in every run: num_global_tokens=1, params=123456, steps=50." in markdown
    assert "| num_global_tokens |" not in markdown and "| train/loss |" not in markdown
    with open(tmp_path / "report" / "sweep.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 7 and table[0][MONITOR] == "0.95" and table[-1]["error"].startswith("no summary.json")
    assert table[0]["num_global_tokens"] == "1" and table[0]["train/loss"] == "0.5"  # the CSV keeps every column
    for name in ("metric_vs_block_size.png", "metric_vs_sparsity_factor.png", "quality_vs_cost.png"):
        assert (tmp_path / "report" / name).read_bytes().startswith(b"\x89PNG")
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["best"]["run"] == "3" and saved["failed"] == ["5", "10"] and saved["runs"] == 7


def test_other_metric_needs_a_mode_and_ranks_by_final_value(sweep, tmp_path):
    with pytest.raises(ValueError, match="--mode"):
        make_report(sweep, tmp_path / "r", metric="val/loss")
    report = make_report(sweep, tmp_path / "r", metric="val/loss", mode="min")
    assert report.best.name == "3" and report.table.rows[-1]["val/loss"] is None
    with pytest.raises(ValueError, match="no completed run reports it.*val/loss"):
        make_report(sweep, tmp_path / "r", metric="val/rougeLsum")


def test_runs_disagreeing_on_their_monitor_need_metric(tmp_path):
    write_run(tmp_path / "0", summary("norm", 32, 2, 0.5))
    write_run(tmp_path / "1", summary("norm", 32, 4, 0.4, monitor="val/rougeLsum"))
    with pytest.raises(ValueError, match="different metrics.*--metric"):
        resolve_metric(collect_runs(tmp_path))


def test_single_run_dir_gives_one_row(sweep, tmp_path):
    report = make_report(sweep / "2", tmp_path / "one")
    assert len(report.table.rows) == 1 and report.table.rows[0]["run"] == "2" and report.best.name == "2"


def test_empty_or_non_sweep_folder_fails_clearly(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match="holds no runs.*summary.json"):
        collect_runs(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        collect_runs(tmp_path / "missing")


def test_all_runs_failed_still_writes_the_table(tmp_path):
    write_run(tmp_path / "0", summary("norm", 32, 2, None, status="failed"))
    write_run(tmp_path / "1", None, overrides=["attention.sparsity_type=lsh"], checkpoint=False)
    report = make_report(tmp_path, tmp_path / "report")
    assert report.best is None and len(report.table.rows) == 2
    assert "quality_vs_cost.png" not in [p.name for p in report.files.values()]
    with pytest.raises(ValueError, match="nothing to export"):
        export_best(report, tmp_path / "hub", exporter=lambda *a, **k: None)


def test_committed_summaries_report_but_refuse_export(tmp_path):
    for job, (kind, score) in enumerate([("norm", 0.6), ("pooling", 0.7)]):
        write_run(tmp_path / "results" / str(job), summary(kind, 32, 2, score), checkpoint=False)
    report = make_report(tmp_path / "results", tmp_path / "report")
    assert report.best.name == "1" and "metric_vs_sparsity_factor" in "".join(p.name for p in report.files.values())
    with pytest.raises(ValueError, match="no checkpoint.*summaries only"):
        export_best(report, tmp_path / "hub", exporter=lambda *a, **k: None)


def test_export_best_hands_the_best_run_and_table_to_the_exporter(sweep, tmp_path):
    calls = []

    def exporter(source, out, overwrite, card_sections):
        calls.append((source, out, overwrite, card_sections))
        return out

    data = json.loads((sweep / "3" / "summary.json").read_text())
    del data["best_checkpoint"]  # falls back to checkpoints/best.ckpt
    (sweep / "3" / "summary.json").write_text(json.dumps(data))
    report = make_report(sweep, tmp_path / "report")
    assert export_best(report, tmp_path / "hub", overwrite=True, exporter=exporter) == tmp_path / "hub"
    (source, out, overwrite, sections), = calls
    scores = {path.parent: json.loads(path.read_text())["best_score"] for path in sweep.glob("*/summary.json")}
    best = max((run for run, score in scores.items() if score is not None), key=scores.get)  # monitor_mode max
    assert source == best and overwrite is True
    assert sections["Sweep"] == report.markdown
    assert sections["Best run of the sweep"]["score"] == scores[best]


def test_cli_report_prints_the_best_run_and_exports_it(sweep, tmp_path, monkeypatch, capsys):
    exported = []
    monkeypatch.setattr("lsgzoo.report.export_best",
                        lambda report, out, overwrite=False: exported.append((report.best.name, out)) or out)
    code = cli.main(["report", str(sweep), "--out", str(tmp_path / "r"), "--export-best", str(tmp_path / "hub")])
    printed = capsys.readouterr().out
    assert code == 0 and f"best run by {MONITOR} (max): 3 = 0.95" in printed
    assert "block_size=64" in printed and exported == [("3", tmp_path / "hub")]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lsgzoo", *args], capture_output=True, text=True)


def test_cli_report_errors_exit_2_naming_the_problem(sweep, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("report", str(empty))
    assert result.returncode == 2 and "MULTIRUN_DIR" in result.stderr and "holds no runs" in result.stderr
    result = run_cli("report", str(sweep), "--out", str(tmp_path / "r"), "--metric", "val/nope")
    assert result.returncode == 2 and "--metric 'val/nope'" in result.stderr
    (tmp_path / "taken").mkdir()
    result = run_cli("report", str(sweep), "--export-best", str(tmp_path / "taken"))
    assert result.returncode == 2 and "--overwrite" in result.stderr
    assert run_cli("report", "--help").returncode == 0


def test_ties_are_broken_by_throughput_then_time_then_name_and_surfaced(tmp_path):
    """Three runs at 1.0 in folder order 0, 1, 2: the one with the highest tokens/s wins and the tie is said."""
    runs = [(0.5, 9000.0), (1.0, 1000.0), (1.0, 3000.0), (1.0, 2000.0)]
    for job, (score, speed) in enumerate(runs):
        write_run(tmp_path / "sweep" / str(job), summary("norm", 32, 2, score, train_tokens_per_s=speed))
    report = make_report(tmp_path / "sweep", tmp_path / "report")
    assert [row["run"] for row in report.table.rows] == ["2", "3", "1", "0"]
    assert report.best.name == "2"
    assert [(score, [r.name for r in tied]) for score, tied in report.table.ties] == [(1.0, ["2", "3", "1"])]
    assert "higher tokens/s, then lower train s, then run name" in report.markdown
    assert "Tied at 1: `2`, `3`, `1`" in report.markdown
    assert "tied with 3, 1" in report.best_line()
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["ties"] == [{"score": 1.0, "runs": ["2", "3", "1"]}] and "tokens/s" in saved["tie_break"]


def test_ranking_by_another_metric_says_which_checkpoint_is_exported(sweep, tmp_path):
    assert make_report(sweep, tmp_path / "default").checkpoint_note is None
    report = make_report(sweep, tmp_path / "r", metric="val/loss", mode="min")
    note = report.checkpoint_note
    assert "val/loss" in note and f"best by {MONITOR}" in note and "last validation" in note
    cards = []
    export_best(report, tmp_path / "hub", exporter=lambda *args, **kwargs: cards.append(kwargs["card_sections"]))
    assert cards[0]["Best run of the sweep"]["checkpoint"] == note
    assert json.loads((tmp_path / "r" / "report.json").read_text())["checkpoint_note"] == note
