"""Every config in conf/ composes; bad overrides fail before training with the key named."""

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from lsgzoo.training.config import CONFIG_DIR, ConfigError, compose_config

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {  # options with mandatory (???) values get a local stand-in; an encoder-only model a classification task
    "model/pretrained": [f"model.name_or_path={ROOT / 'tests' / 'fixtures' / 'original' / 'convert_src_1024'}"],
    "model/tiny_encoder": ["data=majority"],
    "data/hf": ["data.source.name=local/dataset"],
    "data/files": ["data.source.train={tmp}/train.jsonl", "data.source.validation={tmp}/val.jsonl"],
}
GROUPS = ("model", "attention", "data", "trainer", "logger", "optim", "experiment")


def options():
    for group in GROUPS:
        for path in sorted((CONFIG_DIR / group).glob("*.yaml")):
            yield f"{group}/{path.stem}"


@pytest.mark.parametrize("option", list(options()))
def test_every_config_option_composes_and_validates(option, tmp_path):
    group, name = option.split("/")
    extra = [o.format(tmp=tmp_path) for o in REQUIRED.get(option, [])]
    cfg = compose_config([f"{group}={name}", *extra])
    assert cfg.attention.block_size >= 1 and cfg.data.monitor.startswith("val/")


def test_default_config_values():
    cfg = compose_config()
    assert (cfg.data.name, cfg.attention.sparsity_type, cfg.trainer.accelerator) == ("synthetic", "pooling", "cpu")
    assert cfg.logger.wandb and cfg.logger.offline
    ddp = compose_config(["trainer=ddp"]).trainer
    assert (ddp.strategy, ddp.devices) == ("ddp", 2)
    fsdp = compose_config(["trainer=fsdp"]).trainer
    assert (fsdp.strategy, fsdp.accelerator) == ("fsdp", "gpu")


@pytest.mark.parametrize("override,error,message", [
    ("attention.blok_size=8", ConfigCompositionException, "blok_size"),
    ("attention.block_size=abc", ConfigCompositionException, "attention.block_size"),
    ("attention.block_size=0", ConfigError, "block_size"),
    ("attention.sparsity_type=nrom", ConfigError, "pooling"),
    ("data.max_source_length=500", ConfigError, "data.max_source_length"),
    ("optim.lr=-1", ConfigError, "optim.lr"),
    ("data.batch_size=0", ConfigError, "data.batch_size"),
    ("num_threads=0", ConfigError, "num_threads"),
    ("attention.lsg_backend=flash", ConfigError, "lsg_backend"),
    ("data.metrics=[answer_accuracy,bleu]", ConfigError, r"data.metrics: 'bleu' is unknown.*rouge"),
    ("data.monitor=val/rougeLsum", ConfigError, r"data.monitor: 'val/rougeLsum' is not logged.*val/answer_accuracy"),
    ("data.task=classification", ConfigError, r"data.monitor: 'val/answer_accuracy' is not logged.*val/accuracy"),
    ("+data.generation.num_beam=2", ConfigError, r"data.generation: 'num_beam' is not a generation setting.*num_beams"),
])
def test_bad_overrides_fail_early_naming_the_key(override, error, message):
    with pytest.raises((error, ConfigKeyError, ValidationError), match=message):
        compose_config([override])


def test_cli_bad_override_exits_before_training(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "attention.sparsity_type=nrom",
                             f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "attention" in result.stderr and "nrom" in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_train_help_lists_the_groups_without_loading_lightning():
    script = ("import sys, runpy; sys.argv = ['lsgzoo.train', '--help']\n"
              "try:\n    runpy.run_module('lsgzoo.train', run_name='__main__')\nexcept SystemExit:\n    pass\n"
              "print('LIGHTNING_LOADED' if 'lightning' in sys.modules else 'LIGHTNING_NOT_LOADED')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    for group in ("attention: full, lsg", "data: aclsum, aclsum_needle, files, hf, linked_pairs, listops, majority, mqar, "
                  "synthetic", "trainer: cpu, ddp, fsdp, gpu"):
        assert group in result.stdout, result.stdout
    assert "LIGHTNING_NOT_LOADED" in result.stdout


def test_metric_and_generation_checks_accept_what_the_tasks_log():
    compose_config(["data.metrics=[rouge]", "data.monitor=val/rougeLsum", "+data.generation.length_penalty=1.5"])
    compose_config(["data.task=classification", "data.metrics=[]", "data.monitor=val/macro_f1"])
