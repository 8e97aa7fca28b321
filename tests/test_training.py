"""Training end to end on tiny configs: learning, run-dir contents, W&B read-back, resume, DDP, export."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lsgzoo.training.config import compose_config
from lsgzoo.training.rundir import load_run_model, read_summary
from test_conversion_export import REPO_SRC, WITHOUT_LSGZOO
from wandb_offline import read_offline_run

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.source.length=254", "data.source.num_pairs=1", "data.source.num_decoys=1", "data.source.min_distance=24",
    "data.source.max_distance=40",
    "data.max_source_length=256", "data.source.num_train=64", "data.source.num_validation=8",
    "data.source.num_test=8", "data.batch_size=8", "data.eval_batch_size=8", "attention.block_size=16",
    "attention.sparse_block_size=16", "optim.warmup_steps=0", "trainer.log_every_n_steps=1",
    "trainer.val_check_interval=8", "checkpoint.every_n_train_steps=2",
]


def train_in_process(run_dir: Path, overrides: list[str]) -> float:
    from lsgzoo.training.run import run_training

    return run_training(compose_config(TINY + overrides), run_dir, TINY + overrides)


def train_command(run_dir: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "lsgzoo.train", *TINY, *overrides, f"hydra.run.dir={run_dir}"]


def env_for_subprocess() -> dict:
    return {**os.environ, "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1"}


def metrics_rows(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((run_dir / "metrics").glob("version_*/metrics.csv")):
        with open(path) as handle:
            rows.extend(csv.DictReader(handle))
    return rows


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    score = train_in_process(run_dir, ["trainer.max_steps=24", "optim.lr=3e-3"])
    return run_dir, score


def test_training_reduces_loss_and_writes_the_run_dir(trained_run):
    run_dir, score = trained_run
    losses = [float(r["train/loss"]) for r in metrics_rows(run_dir) if r.get("train/loss")]
    assert len(losses) >= 20
    assert sum(losses[-4:]) / 4 < 0.6 * sum(losses[:4]) / 4, losses
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 24
    assert summary["best_score"] == pytest.approx(score)
    assert summary["attention"]["sparsity_type"] == "pooling" and summary["attention"]["block_size"] == 16
    assert summary["num_parameters"] > 0 and summary["train_tokens_per_s"] > 0 and summary["peak_memory_mb"] > 0
    assert {"val/loss", "val/answer_accuracy", "test/answer_accuracy"} <= set(summary["metrics"])
    assert summary["length_statistics"]["train"]["source_tokens"]["max"] == 256
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "tokenizer/tokenizer.json", "model/config.json",
                 "metrics/version_0/hparams.yaml"):
        assert (run_dir / name).exists(), name


def test_summary_throughput_counts_every_real_token_and_its_flops(trained_run):
    """Lightning's ThroughputMonitor counts 24 batches of 8 documents of 256 tokens; no MFU without a device peak."""
    summary = read_summary(run_dir := trained_run[0])
    assert summary["train_batches"] == 24
    assert summary["train_tokens_per_s"] * summary["train_time_s"] == pytest.approx(24 * 8 * 256)
    assert summary["train_mfu"] is None  # Lightning knows no CPU peak
    assert summary["attention_kernels_compiled"] == 0 and summary["attention_fallbacks"] == []  # auto: fused on CPU
    logged = [float(r["train/device/items_per_sec"]) for r in metrics_rows(run_dir) if r.get("train/device/items_per_sec")]
    assert logged and all(value > 0 for value in logged)


def test_encoder_flops_of_a_batch_are_the_bench_formula():
    from lsgzoo.models import LSGBartConfig
    from lsgzoo.training.run import encoder_flops_fn

    config = LSGBartConfig(d_model=64, encoder_layers=2, encoder_ffn_dim=128, encoder_attention_heads=4)
    attention = {"block_size": 16, "sparse_block_size": 16, "sparsity_factor": 4, "sparsity_type": "pooling"}
    flops = encoder_flops_fn(config, attention)({"input_ids": torch.zeros(3, 256, dtype=torch.long)})
    tokens, pairs = 257, 1 * 257 + 256 * (1 + 32 + 48)  # 1 global; tp · (global + 2·sbs sparse + 3·bs local)
    assert flops == 3 * 2 * (2 * tokens * (4 * 64 ** 2 + 2 * 64 * 128) + 4 * pairs * 64)


def test_offline_wandb_run_holds_metrics_and_attention_config(trained_run):
    run_dir, _ = trained_run
    run = read_offline_run(run_dir)
    assert run["config"]["attention"]["sparsity_type"] == "pooling"
    assert run["config"]["attention"]["sparsity_factor"] == 4
    assert run["config"]["config"]["data"]["name"] == "synthetic"
    assert "selector:pooling" in run["run"]["tags"]
    logged = set().union(*(row.keys() for row in run["history"]))
    assert {"train/loss", "val/loss", "val/answer_accuracy", "test/answer_accuracy"} <= logged
    assert run["summary"]["best_score"] == pytest.approx(read_summary(run_dir)["best_score"])


def test_best_checkpoint_reloads_without_lightning_and_exports(trained_run, tmp_path):
    run_dir, _ = trained_run
    model, tokenizer = load_run_model(run_dir)
    out = tmp_path / "hub"
    result = subprocess.run([sys.executable, "-m", "lsgzoo", "export", str(run_dir), str(out)], capture_output=True,
                            text=True, env=env_for_subprocess())
    assert result.returncode == 0, result.stderr[-2000:]
    card = (out / "README.md").read_text()
    assert "Training run" in card and "val/answer_accuracy" in card
    text = "w1 k1 w2 " * 80
    inputs = tokenizer(text, return_tensors="pt")
    script = (
        WITHOUT_LSGZOO.format(src=REPO_SRC) + "import torch\n"
        "from transformers import AutoModelForSeq2SeqLM\n"
        f"m = AutoModelForSeq2SeqLM.from_pretrained({str(out)!r}, trust_remote_code=True).eval()\n"
        f"ids = torch.tensor([{inputs['input_ids'][0].tolist()}])\n"
        "print(m.generate(ids, max_new_tokens=4, num_beams=1)[0].tolist())\n"
    )
    env = {k: v for k, v in env_for_subprocess().items() if k != "PYTHONPATH"}
    remote = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, env=env,
                            cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr[-2000:]
    local = model.generate(inputs["input_ids"], max_new_tokens=4, num_beams=1)[0].tolist()
    assert json.loads(remote.stdout.strip().splitlines()[-1]) == local


def test_resume_after_kill_continues_from_the_saved_step(tmp_path):
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(train_command(run_dir, ["trainer.max_steps=400", "logger=csv"]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env_for_subprocess())
    deadline = time.time() + 240
    saved_step = 0
    try:
        while time.time() < deadline and process.poll() is None:
            if last.exists():
                time.sleep(0.5)  # let the atomic save finish
                try:
                    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
                except Exception:
                    saved_step = 0
                if saved_step >= 4:
                    break
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert saved_step >= 4, process.stderr.read().decode()[-2000:]
    killed = read_summary(run_dir)
    assert killed["status"] == "running" and killed["process"]["pid"] == process.pid, "a killed run stays 'running'"
    saved_step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]

    train_in_process(run_dir, ["trainer.max_steps=" + str(saved_step + 4), "logger=csv", "resume=true",
                               "test_after_training=false"])
    summary = read_summary(run_dir)
    assert summary["status"] == "completed"
    assert summary["global_step"] == saved_step + 4
    assert summary["train_batches"] == 4, "the resumed run trains only the missing steps"
    versions = sorted(p.name for p in (run_dir / "metrics").iterdir())
    assert versions == ["version_0", "version_1"], "the killed run's metrics are kept beside the resumed run's"


def test_resume_reuses_the_runs_config_and_continues_its_wandb_run(tmp_path):
    """Resumed with only resume=true (as from the shell): the run stays norm; an experiment change is refused."""
    from lsgzoo.training.config import ConfigError

    run_dir = tmp_path / "run"
    train_in_process(run_dir, ["attention.sparsity_type=norm", "trainer.max_steps=2", "test_after_training=false"])
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", f"hydra.run.dir={run_dir}", "resume=true",
                             "trainer.max_steps=4"], capture_output=True, text=True, env=env_for_subprocess())
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 4
    assert summary["attention"]["sparsity_type"] == "norm" and summary["train_batches"] == 2
    assert "attention.sparsity_type=norm" in summary["overrides"]
    assert "sparsity_type: norm" in (run_dir / ".hydra" / "config.yaml").read_text()
    runs = [read_offline_run(path) for path in sorted((run_dir / "wandb").glob("offline-run-*"))]
    assert len(runs) == 2 and runs[0]["run"]["run_id"] == runs[1]["run"]["run_id"]
    assert runs[1]["config"]["attention"]["sparsity_type"] == "norm"

    with pytest.raises(ConfigError, match="attention.sparsity_type: 'norm' → 'pooling'"):
        train_in_process(run_dir, ["resume=true", "attention.sparsity_type=pooling", "trainer.max_steps=6"])
    assert read_summary(run_dir)["global_step"] == 4, "a refused resume leaves the run as it was"


def test_resume_without_a_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=true"):
        train_in_process(tmp_path, ["resume=true", "logger=csv"])
    assert read_summary(tmp_path)["status"] == "failed"


def test_ddp_with_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "ddp"
    result = subprocess.run(train_command(run_dir, ["trainer=ddp", "trainer.max_steps=3", "logger=csv",
                                                    "trainer.val_check_interval=3", "test_after_training=false"]),
                            capture_output=True, text=True, env=env_for_subprocess(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 3 and summary["world_size"] == 2
    # The 8 validation documents, 4 per rank: the logged values are those of a one-process evaluation of the
    # same (step 3, best) checkpoint over all 8, not one rank's half (after 3 steps every answer is still wrong,
    # so val/loss is what tells one rank's half from the whole).
    from test_eval import evaluate

    evaluate(tmp_path / "one_process", [f"ckpt={run_dir}", "split=validation", "logger=csv"])
    single = read_summary(tmp_path / "one_process")
    scores = [json.loads(line)["correct"] for line in (tmp_path / "one_process" / "examples.jsonl").open()]
    assert len(scores) == 8 and single["source_checkpoint"].endswith("best.ckpt")
    assert summary["metrics"]["val/answer_accuracy"] == pytest.approx(sum(scores) / 8, abs=1e-12)
    assert summary["metrics"]["val/answer_accuracy"] == pytest.approx(single["metrics"]["val/answer_accuracy"])
    assert summary["metrics"]["val/loss"] == pytest.approx(single["metrics"]["val/loss"], rel=1e-5)


def test_classification_task_on_local_files(tmp_path):
    rows = [{"text": ("good " if i % 2 else "bad ") * 40 + "end", "label": i % 2} for i in range(24)]
    for split, part in (("train", rows[:16]), ("validation", rows[16:20]), ("test", rows[20:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    overrides = ["data=files", "data.task=classification", "data.tokenizer_kind=word",
                 f"data.source.train={tmp_path / 'train.jsonl'}", f"data.source.validation={tmp_path / 'validation.jsonl'}",
                 f"data.source.test={tmp_path / 'test.jsonl'}", "data.source.text_column=text",
                 "data.source.target_column=null", "data.source.label_column=label", "data.metrics=[]",
                 "data.monitor=val/accuracy", "data.max_source_length=64", "data.batch_size=8", "data.eval_batch_size=8",
                 "attention.block_size=16", "attention.sparse_block_size=16", "trainer.max_steps=20",
                 "trainer.val_check_interval=2", "trainer.log_every_n_steps=1", "logger=csv", "optim.warmup_steps=0"]
    from lsgzoo.training.run import run_training

    run_dir = tmp_path / "run"
    run_training(compose_config(overrides), run_dir, overrides)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["task"] == "classification"
    assert summary["metrics"]["test/accuracy"] == 1.0 and summary["metrics"]["test/macro_f1"] == 1.0


def test_aclsum_smoke_on_real_long_papers(tmp_path):
    pytest.importorskip("aclsum")
    overrides = ["data=aclsum", "data.source.max_documents=3", "data.max_source_length=4096", "data.batch_size=1",
                 "data.eval_batch_size=1", "data.generation.max_new_tokens=4", "model.tokenizer.vocab_size=1000",
                 "attention.block_size=64", "attention.sparse_block_size=64", "trainer.max_steps=2",
                 "trainer.val_check_interval=2", "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1",
                 "test_after_training=false", "logger=csv"]
    from lsgzoo.training.run import run_training

    run_dir = tmp_path / "aclsum"
    run_training(compose_config(overrides), run_dir, overrides)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 2
    source = summary["length_statistics"]["train"]["source_tokens"]
    assert source["min"] >= 4096 or source["p50"] >= 4096, source
    assert {"val/rouge1", "val/rouge2", "val/rougeL", "val/rougeLsum"} <= set(summary["metrics"])
    assert summary["train_tokens_per_s"] > 0


PLAIN_SEQ2SEQ = {  # a plain (not yet LSG) checkpoint folder of each encoder-decoder family, with its tokenizer
    "plain_bart": ROOT / "tests" / "fixtures" / "original" / "convert_src_1024",
    "plain_mbart": ROOT / "tests" / "fixtures" / "original_families" / "mbart" / "convert_src_mbart",
    "plain_pegasus": ROOT / "tests" / "fixtures" / "original_families" / "pegasus" / "convert_src_pegasus",
}


@pytest.mark.parametrize("source", ["exported_run", *PLAIN_SEQ2SEQ])
def test_training_from_a_checkpoint_folder(trained_run, tmp_path, source):
    """model=pretrained: an LSG-BART folder (this run's own export) or a plain BART / mBART / Pegasus folder,
    converted on load, trains through the same seq2seq path."""
    if source == "exported_run":
        from lsgzoo.hub.export import export_model

        folder = export_model(trained_run[0], tmp_path / "exported")
    else:
        folder = PLAIN_SEQ2SEQ[source]
    overrides = TINY + ["model=pretrained", f"model.name_or_path={folder}", "trainer.max_steps=4", "logger=csv",
                        "trainer.val_check_interval=4", "test_after_training=false", "data.tokenizer_kind=bpe"]
    from lsgzoo.training.run import run_training

    run_dir = tmp_path / "run"
    run_training(compose_config(overrides), run_dir, overrides)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 4
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["sparsity_type"] == "pooling" and config["block_size"] == 16
    assert config["max_position_embeddings"] >= 256
    assert not (run_dir / "tokenizer").exists(), "a checkpoint's own tokenizer is used, not a new one"


def test_checkpoint_models_are_built_in_train_mode(tmp_path):
    from lsgzoo.training.builders import build_model

    folder = ROOT / "tests" / "fixtures" / "original" / "convert_src_1024"
    cfg = compose_config(TINY + ["model=pretrained", f"model.name_or_path={folder}", "model.dropout=0.1"])
    model = build_model(cfg, tokenizer=None)
    assert model.training and all(module.training for module in model.modules())
    assert model.config.dropout == 0.1


QUICK = ["trainer.max_steps=2", "trainer.val_check_interval=2", "num_threads=1"]


def test_a_config_error_leaves_a_failed_summary(tmp_path):
    cfg = compose_config(TINY + ["logger=csv"])
    cfg.attention.sparsity_factor = 3  # invalid with block 16, as a sweep grid point can be
    from lsgzoo.training.config import ConfigError
    from lsgzoo.training.run import run_training

    with pytest.raises(ConfigError, match="sparsity_factor"):
        run_training(cfg, tmp_path)
    summary = read_summary(tmp_path)
    assert summary["status"] == "failed" and "sparsity_factor" in summary["error"]
    assert "Traceback" in summary["traceback"]
    assert not (tmp_path / "checkpoints").exists()


def test_a_rank_other_than_zero_writes_no_summary_on_failure(tmp_path, monkeypatch):
    import lightning.fabric.utilities.rank_zero  # noqa: F401  Lightning reads the rank once, at import: not ours

    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(FileNotFoundError, match="resume=true"):
        train_in_process(tmp_path, ["resume=true", "logger=csv"])
    assert read_summary(tmp_path) is None


def test_summary_is_written_through_a_private_synced_temp_file(tmp_path, monkeypatch):
    from lsgzoo.training import rundir

    synced, replaced = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(rundir.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.setattr(rundir.os, "replace", lambda a, b: replaced.append(Path(a).name) or real_replace(a, b))
    rundir.write_summary(tmp_path, {"status": "completed"})
    assert synced and str(os.getpid()) in replaced[0]
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_sequential_jobs_get_their_own_wandb_run_and_peak_memory(tmp_path, monkeypatch):
    """Job 1 fails mid-training: its W&B run is closed with exit code 1. Job 2, after a 600 MB spike in the
    process, logs to a run of its own and reports its own peak, not the process's."""
    import resource

    from lsgzoo.training.module import Seq2SeqModule

    def broken_step(self, batch, batch_idx):
        raise RuntimeError("injected training failure")

    with monkeypatch.context() as patch:
        patch.setattr(Seq2SeqModule, "training_step", broken_step)
        with pytest.raises(RuntimeError, match="injected"):
            train_in_process(tmp_path / "job0", QUICK)
    first = read_offline_run(tmp_path / "job0")
    assert first["run"]["exit_code"] == 1
    assert read_summary(tmp_path / "job0")["status"] == "failed"

    spike = torch.ones(600 * 2**20 // 4)  # touched: resident
    del spike
    process_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    train_in_process(tmp_path / "job1", QUICK)
    second = read_offline_run(tmp_path / "job1")
    assert second["run"]["run_id"] != first["run"]["run_id"] and second["run"]["exit_code"] == 0
    summary = read_summary(tmp_path / "job1")
    assert summary["status"] == "completed"
    assert 0 < summary["peak_memory_mb"] < process_peak_mb - 300, (summary["peak_memory_mb"], process_peak_mb)


def test_a_run_dir_given_relative_and_through_a_symlink_completes(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    train_in_process(Path("link") / "run", QUICK + ["logger=csv"])
    summary = read_summary(tmp_path / "real" / "run")
    assert summary["status"] == "completed", summary.get("error")
    assert summary["best_checkpoint"] == "checkpoints/best.ckpt"
    assert load_run_model(tmp_path / "link" / "run")[0] is not None


def test_cli_user_error_is_one_line_exit_2_and_recorded_in_the_run_dir(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "attention.sparsity_type=nrom",
                             f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=300,
                            env=env_for_subprocess())
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "nrom" in result.stderr
    assert "summary.json" in result.stderr  # where the traceback went
    summary = read_summary(tmp_path)
    assert summary["status"] == "failed" and "nrom" in summary["error"] and "Traceback" in summary["traceback"]


def test_multirun_config_error_is_reported_and_the_other_jobs_still_run(tmp_path):
    sweep = tmp_path / "sweep"
    overrides = [o for o in TINY if not o.startswith("attention.")]
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "-m", *overrides, "attention.block_size=8",
                             "attention.sparse_block_size=8", "attention.sparsity_factor=3,4", "trainer.max_steps=2",
                             "test_after_training=false", "logger=csv", f"hydra.sweep.dir={sweep}"],
                            capture_output=True, text=True, timeout=600, env=env_for_subprocess())
    assert result.returncode != 0 and "sparsity_factor" in result.stderr, result.stderr[-2000:]
    assert read_summary(sweep / "0")["status"] == "failed"
    assert read_summary(sweep / "1")["status"] == "completed"  # the bad job did not stop the sweep
    report = subprocess.run([sys.executable, "-m", "lsgzoo", "report", str(sweep), "--out", str(tmp_path / "r"),
                             "--metric", "train/loss", "--mode", "min"],
                            capture_output=True, text=True, env=env_for_subprocess())
    assert "sparsity_factor" in report.stdout and "no summary.json" not in report.stdout, report.stdout + report.stderr
