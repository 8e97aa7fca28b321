"""`python -m lsgzoo.eval` on a tiny trained run: zero-shot reproduction of the run's own score, a 4-job eval sweep
read by `lsgzoo report`, 2x length with tiled positions, a fine-tune, and the errors raised before any work."""

import json
import math
import shutil
import subprocess
import sys

import pytest
import torch

from lsgzoo.training.config import CONFIG_DIR, ConfigError, register_schemas
from lsgzoo.training.evaluate import EXAMPLES_FILE, build_eval_model, evaluation_config, run_evaluation
from lsgzoo.training.rundir import checkpoint_model_state, load_run_model, read_summary
from test_training import env_for_subprocess, train_in_process

TRAINED_LENGTH = 256  # TINY's data.max_source_length; model=tiny's positions follow it


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("source")
    train_in_process(run_dir, ["trainer.max_steps=16", "optim.lr=3e-3", "logger=csv", "test_after_training=false"])
    return run_dir


def eval_config(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides)


def evaluate(run_dir, overrides: list[str]) -> float:
    return run_evaluation(eval_config(overrides), run_dir, overrides)


def examples(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / EXAMPLES_FILE).read_text().splitlines()]


def test_zero_shot_with_the_runs_attention_reproduces_its_validation_score(source_run, tmp_path):
    trained = read_summary(source_run)
    score = evaluate(tmp_path, [f"ckpt={source_run}"])
    summary = read_summary(tmp_path)
    assert score == trained["best_score"] and summary["best_score"] == trained["best_score"]
    assert summary["status"] == "completed" and summary["kind"] == "eval" and summary["monitor"] == trained["monitor"]
    assert summary["attention"] == trained["attention"] and summary["seed"] == trained["seed"]
    assert summary["source_run"] == str(source_run) and summary["source_score"] == trained["best_score"]
    assert summary["source_checkpoint"] == str(source_run / trained["best_checkpoint"])
    assert summary["finetune_steps"] == 0 and summary["max_source_length"] == TRAINED_LENGTH
    assert summary["eval_tokens_per_s"] > 0 and summary["peak_memory_mb"] > 0
    rows = examples(tmp_path)
    assert [row["index"] for row in rows] == list(range(8))  # TINY: 8 validation documents
    assert {row["correct"] for row in rows} <= {0.0, 1.0}  # one payload word per answer: right or wrong
    assert sum(row["correct"] for row in rows) / len(rows) == pytest.approx(score, abs=1e-12)


def test_an_attention_group_replaces_the_runs_attention_keys_and_follows_a_new_length(source_run):
    cfg = evaluation_config(eval_config([f"ckpt={source_run}"]), source_run,
                            [f"ckpt={source_run}", "attention_mode=full", "data.max_source_length=512"])
    assert (cfg.attention.sparsity_type, cfg.attention.block_size, cfg.attention.sparse_block_size) == ("none", 512, 0)
    assert cfg.data.source.length == 510 and cfg.model.max_position_embeddings == 512
    assert cfg.data.source.seed == read_summary(source_run)["seed"]


def test_a_group_choice_of_the_runs_experiment_is_overridden_in_place():
    from lsgzoo.training.evaluate import override_changes

    changes = override_changes(["experiment=suite", "attention_mode=norm"], ["attention_mode=full"])
    assert changes["attention.sparsity_type"] == ("norm", "none") and changes["attention.block_size"] == (8, 256)


def test_twice_the_length_tiles_the_positions_and_runs(source_run, tmp_path):
    overrides = [f"ckpt={source_run}", f"data.max_source_length={2 * TRAINED_LENGTH}"]
    cfg = evaluation_config(eval_config(overrides), source_run, overrides)
    model = build_eval_model(cfg, source_run, source_run / "checkpoints" / "best.ckpt", None)
    trained = checkpoint_model_state(source_run / "checkpoints" / "best.ckpt")["model.encoder.embed_positions.weight"]
    tiled = model.state_dict()["model.encoder.embed_positions.weight"]
    assert trained.shape[0] == TRAINED_LENGTH + 2 and tiled.shape[0] == 2 * TRAINED_LENGTH + 2  # BART: 2 offset rows
    assert torch.equal(tiled[: TRAINED_LENGTH + 2], trained) and torch.equal(tiled[TRAINED_LENGTH + 2:], trained[2:])

    score = evaluate(tmp_path, overrides)
    summary = read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["max_source_length"] == 2 * TRAINED_LENGTH
    assert summary["length_statistics"]["validation"]["source_tokens"]["max"] == 2 * TRAINED_LENGTH
    assert 0.0 <= score <= 1.0 and len(examples(tmp_path)) == 8


def test_finetune_changes_the_weights_and_records_its_steps(source_run, tmp_path):
    evaluate(tmp_path, [f"ckpt={source_run}", "finetune.steps=2", "seed=3"])
    summary = read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["finetune_steps"] == 2 and summary["global_step"] == 2
    assert summary["seed"] == 3
    tuned, _ = load_run_model(tmp_path, "last")
    source = checkpoint_model_state(source_run / "checkpoints" / "best.ckpt")
    change = math.sqrt(sum(float((p.detach() - source[name]).pow(2).sum()) for name, p in tuned.named_parameters()))
    assert change > 0 and summary["finetune_weight_change_l2"] == pytest.approx(change, rel=1e-5)
    assert len(examples(tmp_path)) == 8  # the same validation documents, whatever the fine-tune's seed


def test_bad_inputs_fail_before_any_work(source_run, tmp_path):
    no_checkpoint = tmp_path / "no_checkpoint"
    no_checkpoint.mkdir()
    for name in ("model", "tokenizer", "run_config.yaml"):
        copy = shutil.copytree if (source_run / name).is_dir() else shutil.copy
        copy(source_run / name, no_checkpoint / name)
    cases = {
        "has no checkpoint": [f"ckpt={no_checkpoint}"],
        "are unknown to the tokenizer": [f"ckpt={source_run}", "data=mqar"],
        "beyond the checkpoint's 256 positions": [f"ckpt={source_run}", "data.max_source_length=512",
                                                  "extend_positions=false"],
        "the model is the checkpoint's": [f"ckpt={source_run}", "model.d_model=32"],
        "not an evaluation split": [f"ckpt={source_run}", "split=train"],
    }
    for index, (message, overrides) in enumerate(cases.items()):
        run_dir = tmp_path / str(index)
        with pytest.raises(ConfigError, match=message):
            evaluate(run_dir, overrides)
        summary = read_summary(run_dir)
        assert summary["status"] == "failed" and message in summary["error"]
        assert not (run_dir / EXAMPLES_FILE).exists() and not (run_dir / "model").exists()

    for overrides, message in (([f"ckpt={no_checkpoint}"], "has no checkpoint"),
                               ([f"ckpt={source_run}", "attention.sparsity_facter=2"],
                                "did you mean attention.sparsity_factor")):
        result = subprocess.run([sys.executable, "-m", "lsgzoo.eval", *overrides, f"hydra.run.dir={tmp_path / 'cli'}"],
                                capture_output=True, text=True, env=env_for_subprocess(), timeout=120)
        assert result.returncode == 2, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("lsgzoo.eval: error: ") and message in last


def test_eval_sweep_runs_and_the_report_reads_its_records(source_run, tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "lsgzoo.eval", "-m", f"ckpt={source_run}", "attention.sparsity_type=norm,pooling",
               "attention.sparsity_factor=2,8", f"hydra.sweep.dir={sweep}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env_for_subprocess(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [read_summary(sweep / str(job)) for job in range(4)]
    assert {(s["attention"]["sparsity_type"], s["attention"]["sparsity_factor"]) for s in summaries} == {
        ("norm", 2), ("norm", 8), ("pooling", 2), ("pooling", 8)}
    assert all(s["status"] == "completed" and s["kind"] == "eval" for s in summaries)
    from omegaconf import OmegaConf

    saved = OmegaConf.load(sweep / "0" / ".hydra" / "config.yaml")  # rewritten: the run's data, not eval's defaults
    assert saved.data.max_source_length == TRAINED_LENGTH and saved.attention.block_size == 16

    from lsgzoo.report.collect import collect_runs
    from lsgzoo.report.stats import group_runs

    records = collect_runs(sweep)
    assert len(records) == 4 and not any(record.failed for record in records)
    assert all(record.eval_tokens_per_s > 0 for record in records)
    grouped = group_runs(records, "val/answer_accuracy", "max")
    assert grouped.keys == ["sparsity_type", "sparsity_factor"] and len(grouped.groups) == 4
    report = subprocess.run([sys.executable, "-m", "lsgzoo", "report", str(sweep)], capture_output=True, text=True,
                            env=env_for_subprocess(), timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    table = (sweep / "report" / "groups.md").read_text()
    assert "eval tokens/s" in table and table.count("| norm |") == 2 and table.count("| pooling |") == 2
