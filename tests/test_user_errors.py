"""Bad inputs a new user makes: each is one line naming the key (and file and line) and the fix, exit status 2,
a failed summary.json, and nothing built or trained (issue 23). The table of docs/user-errors.md is checked
against these messages in `test_the_user_errors_table_matches_the_code`."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lsgzoo.data.checks import DataError
from lsgzoo.training.config import ConfigError, compose_config
from lsgzoo.training.rundir import read_summary
from test_training import env_for_subprocess

ROOT = Path(__file__).resolve().parents[1]
GOOD = [{"article": f"word{i} alpha beta gamma", "abstract": f"word{i}"} for i in range(4)]
FILES = ["data=files", "model=tiny", "data.max_source_length=64", "data.max_target_length=16",
         "attention.block_size=16", "attention.sparse_block_size=16", "data.batch_size=2", "data.eval_batch_size=2",
         "data.metrics=[]", "data.monitor=val/loss", "data.monitor_mode=min", "trainer.max_steps=1",
         "logger=csv", "test_after_training=false", "data.generation.max_new_tokens=4"]


def write_jsonl(path: Path, records, raw: str | None = None) -> Path:
    path.write_text(raw if raw is not None else "".join(json.dumps(record) + "\n" for record in records))
    return path


def files_overrides(tmp_path, train_records=GOOD, train_raw: str | None = None, extra=()) -> list[str]:
    train = write_jsonl(tmp_path / "train.jsonl", train_records, train_raw)
    validation = write_jsonl(tmp_path / "val.jsonl", GOOD)
    return [*FILES, f"data.source.train={train}", f"data.source.validation={validation}", *extra]


def failed_run(tmp_path, overrides, error=(ConfigError, DataError)) -> tuple[str, dict]:
    """Run in process; the raised user error's text and the run's summary. No model may have been built."""
    from lsgzoo.training.run import run_training

    run_dir = tmp_path / "run"
    with pytest.raises(error) as raised:
        run_training(compose_config(overrides), run_dir, overrides)
    assert not (run_dir / "model").exists() and not (run_dir / "tokenizer").exists()
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["error"].endswith(str(raised.value))
    return str(raised.value), summary


@pytest.mark.parametrize("train_records, train_raw, message", [
    ([], "", r"^data.source.train: train.jsonl holds no examples"),
    (None, "\n\n", r"^data.source.train: train.jsonl holds no examples"),
    (None, json.dumps(GOOD[0]) + "\n" + json.dumps(GOOD[1]) + "\n{\"article\": \"a\", \n",
     r"^data.source.train: line 3 of train.jsonl is not JSON: Expecting property name"),
    (None, json.dumps(GOOD[0]) + "\n[1, 2]\n", r"^data.source.train: line 2 of train.jsonl is a JSON list, not an object"),
    ([{"article": 5, "abstract": "x"}] * 3, None,
     r"^data.source.text_column: column 'article' of train.jsonl \(train\) holds int64 values, not text"),
    ([GOOD[0], {"article": None, "abstract": "x"}, GOOD[1]], None,
     r"^data.source.text_column: column 'article' of train.jsonl \(train\) has 1 empty \(null\) values, the first "
     r"in example 2"),
    ([{"article": "a b", "summary": "x"}] * 3, None,
     r"^data.source.target_column: column 'abstract' is not in train.jsonl \(train\); its columns are"),
    (GOOD[:1], None, r"^data.batch_size: the train split has 1 examples, fewer than one batch of 2"),
])
def test_data_file_errors_are_one_line_naming_the_key_and_file(tmp_path, train_records, train_raw, message):
    text, summary = failed_run(tmp_path, files_overrides(tmp_path, train_records or [], train_raw))
    assert "\n" not in text and re.search(message, text), text


def test_a_missing_file_and_a_missing_path_key_are_user_errors(tmp_path):
    overrides = files_overrides(tmp_path)
    missing = [o if not o.startswith("data.source.train=") else f"data.source.train={tmp_path}/nope.jsonl"
               for o in overrides]
    text, _ = failed_run(tmp_path, missing)
    assert text.startswith("data.source.train=") and "does not exist" in text
    with pytest.raises(ConfigError, match=r"^data.source.train: has no value; set it"):
        compose_config([o for o in overrides if not o.startswith("data.source.train=")])


def test_a_key_the_source_does_not_take_is_a_data_error_not_hydras_wrapper(tmp_path):
    text, _ = failed_run(tmp_path, [*files_overrides(tmp_path), "+data.source.colour=red"])
    assert text.startswith("data.source: ") and "colour" in text


def test_a_target_longer_than_the_decoder_allows_is_refused():
    with pytest.raises(ConfigError, match=r"^data.max_target_length: 600 is longer than the decoder allows \(512 "):
        compose_config(["model=tiny", "data.max_target_length=600"])


def test_aclsum_options_are_checked_before_loading(tmp_path):
    for overrides, message in ((["data.source.target=conclusion"], r"^data.source.target='conclusion' is unknown; choose one of abstract"),
                               ([f"data.source.data_dir={tmp_path}/none"], r"^data.source.data_dir=.* is not a folder"),
                               (["data.source.max_documents=0"], r"^data.source.max_documents=0 must be")):
        text, _ = failed_run(tmp_path, ["data=aclsum", "model=tiny", "data.max_source_length=4096", *overrides])
        assert re.search(message, text), text


def test_hf_unknown_dataset_split_and_column(tmp_path, monkeypatch):
    import datasets

    from lsgzoo.data.sources import HFSource

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"^data.source.name: the dataset 'nobody/no-such-dataset' .* cannot be loaded"):
        HFSource(name="nobody/no-such-dataset").load()
    local = tmp_path / "local"
    local.mkdir()
    write_jsonl(local / "train.jsonl", GOOD)
    with pytest.raises(DataError, match=r"^data.source: the dataset has no 'validation' split \(found \['train'\]\)"):
        HFSource(name=str(local)).load()
    write_jsonl(local / "validation.jsonl", GOOD)
    write_jsonl(local / "test.jsonl", GOOD)
    with pytest.raises(DataError, match=r"^data.source.text_column: column 'body' is not in split 'train'"):
        HFSource(name=str(local), text_column="body").load()


def test_out_of_range_global_tokens_are_refused_in_training_not_clamped():
    """Issue 23: num_global_tokens=-1 trained with 1 global token while the run recorded -1."""
    with pytest.raises(ConfigError, match=r"^attention: num_global_tokens=-1 is out of range: it must be an integer "
                                          r"in \[1, 512\]"):
        compose_config(["attention.num_global_tokens=-1"])
    with pytest.raises(ConfigError, match=r"^attention: mask_first_token=True needs pool_with_global=True"):
        compose_config(["attention.mask_first_token=true", "attention.pool_with_global=false"])


@pytest.mark.parametrize("case", ["data", "attention"])
def test_user_errors_exit_2_with_one_line_and_a_failed_summary(tmp_path, case):
    """Data errors went through Hydra's wrapper (exit 1, `Error in call to target`); config errors exit 2."""
    if case == "data":
        overrides, expected = files_overrides(tmp_path, [], ""), "data.source.train: train.jsonl holds no examples"
    else:
        overrides, expected = ["attention.num_global_tokens=-1"], "attention: num_global_tokens=-1 is out of range"
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", *overrides, f"hydra.run.dir={run_dir}"],
                            capture_output=True, text=True, timeout=300, env=env_for_subprocess(), cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("lsgzoo.train: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"lsgzoo.train: error: {expected}"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Error in call to target" not in result.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and expected in summary["error"]
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()


def cli_error(capsys, argv) -> str:
    """`lsgzoo ARGV`'s one error line; it must exit with status 2."""
    from lsgzoo.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_convert_of_a_missing_local_folder_says_so_before_trying_the_hub(tmp_path, capsys):
    """Issue 23: `lsgzoo convert /nonexistent/model out` ended in huggingface_hub's repo-id OSError."""
    assert cli_error(capsys, ["convert", "/nonexistent/model", str(tmp_path / "out")]) == (
        "lsgzoo convert: error: /nonexistent/model: no such folder (give a local checkpoint folder or a hub name "
        "such as facebook/bart-base)")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    assert cli_error(capsys, ["convert", str(tmp_path / "empty"), str(tmp_path / "out")]).endswith(
        "empty is not a checkpoint folder: it has no config.json")
    assert cli_error(capsys, ["convert", str(tmp_path / "file"), str(tmp_path / "out")]).endswith(
        "file is a file, not a checkpoint folder (a folder holding config.json)")
    assert not (tmp_path / "out").exists()


def test_export_and_report_name_a_missing_or_wrong_path(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "best.ckpt").write_bytes(b"")
    assert cli_error(capsys, ["export", str(tmp_path / "missing"), str(tmp_path / "out")]).endswith(
        "missing: no such folder; give a checkpoint folder or training run dir")
    assert cli_error(capsys, ["export", str(tmp_path / "empty"), str(tmp_path / "out")]).endswith(
        "empty is not a checkpoint folder or training run dir: it has no config.json")
    assert cli_error(capsys, ["export", str(tmp_path / "run" / "checkpoints" / "best.ckpt"), str(tmp_path / "out")]
                     ).endswith(f"best.ckpt is a Lightning checkpoint file; give the run dir that holds it "
                                f"({tmp_path / 'run'})")
    assert cli_error(capsys, ["report", str(tmp_path / "missing")]).startswith(
        f"lsgzoo report: error: MULTIRUN_DIR {tmp_path / 'missing'} is not a folder")


def test_checkpoint_loads_at_test_time_are_weights_only(tmp_path, recwarn, caplog):
    """Issue 23: every checkpoint write logged Lightning's "`weights_only` was not set", and the test-time load
    of the best checkpoint was not the verified weights-only one."""
    import torch

    from lsgzoo.training.run import run_training

    loads = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    overrides = files_overrides(tmp_path, extra=["test_after_training=true", "trainer.max_steps=2",
                                                 "trainer.val_check_interval=2", "checkpoint.every_n_train_steps=1"])
    torch.load = recording_load
    try:
        run_training(compose_config(overrides), tmp_path / "run", overrides)
    finally:
        torch.load = real_load
    summary = read_summary(tmp_path / "run")
    assert summary["status"] == "completed" and "test/loss" in summary["metrics"]
    assert loads and all(value is True for value in loads), loads
    assert not [w for w in recwarn if "weights_only" in str(w.message)]
    assert "weights_only" not in caplog.text


def table_rows() -> dict[str, tuple[str, int]]:
    """docs/user-errors.md's table: {id: (message start, exit status)}."""
    rows = {}
    for line in (ROOT / "docs" / "user-errors.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("id", "") and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = (cells[2].strip("`"), int(cells[3]))
    return rows


def test_the_user_errors_table_matches_the_code(tmp_path, capsys):
    from test_conversion_export import SOURCE

    def config_error(overrides):
        with pytest.raises(ConfigError) as raised:
            compose_config(overrides)
        return str(raised.value)

    def data_error(name, **kwargs):
        return failed_run(tmp_path / name, files_overrides((tmp_path / name).mkdir() or tmp_path / name, **kwargs))[0]

    base = files_overrides(tmp_path)
    produce = {
        "global-tokens": lambda: config_error(["attention.num_global_tokens=-1"]),
        "mask-first": lambda: config_error(["attention.mask_first_token=true", "attention.pool_with_global=false"]),
        "block-size": lambda: config_error(["attention.block_size=0"]),
        "missing-key": lambda: config_error([o for o in base if not o.startswith("data.source.train=")]),
        "missing-file": lambda: failed_run(tmp_path / "m", [o if not o.startswith("data.source.train=")
                                                            else "data.source.train=nope.jsonl" for o in base])[0],
        "empty-file": lambda: data_error("e", train_raw=""),
        "bad-line": lambda: data_error("b", train_raw=json.dumps(GOOD[0]) + "\n" + json.dumps(GOOD[1]) + "\n{\n"),
        "not-text": lambda: data_error("t", train_records=[{"article": 5, "abstract": "x"}] * 3),
        "missing-column": lambda: data_error("c", train_records=[{"article": "a b", "summary": "x"}] * 3),
        "small-split": lambda: data_error("s", train_records=GOOD[:1]),
        "long-target": lambda: config_error(["model=tiny", "data.max_target_length=600"]),
        "unknown-key": lambda: failed_run(tmp_path / "k", [*base, "+data.source.colour=red"])[0],
        "aclsum-target": lambda: failed_run(tmp_path / "a", ["data=aclsum", "data.max_source_length=4096",
                                                             "data.source.target=conclusion"])[0],
        "convert-missing": lambda: cli_error(capsys, ["convert", "/nonexistent/model", str(tmp_path / "out")]),
        "export-missing": lambda: cli_error(capsys, ["export", "missing", str(tmp_path / "out")]),
        "convert-range": lambda: cli_error(capsys, ["convert", str(SOURCE), str(tmp_path / "out"),
                                                    "--num-global-tokens", "-1"]),
    }
    rows = table_rows()
    assert set(rows) == set(produce)
    for row, (expected, status) in rows.items():
        message = produce[row]().split(": error: ", 1)[-1]
        assert status == 2
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        assert re.match(pattern, message), (row, message)
