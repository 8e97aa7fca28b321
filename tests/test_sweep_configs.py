"""The sweep configs under conf/experiment and conf/hydra compose, and their grids are valid LSG settings.

conf/train.yaml belongs to the training code; these tests compose against a small stand-in
primary config (written here, with the same attention keys) that adds this repo's conf/ to the
search path, and against the real conf/train.yaml once it exists. The joblib launcher really runs
a two-job multirun of a stand-in task; the SLURM launcher runs up to the sbatch script it would submit.
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hydra")
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from lsgzoo.attention import LSGAttentionConfig  # noqa: E402
from lsgzoo.attention.keys import LSG_KEYS  # noqa: E402
from lsgzoo.report import make_report  # noqa: E402
from lsgzoo.training.config import register_schemas  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"
PRIMARY = f"""
defaults:
  - _self_
  - experiment: null
seed: 0
attention:
  sparsity_type: norm
  block_size: 128
  sparse_block_size: 128
  sparsity_factor: 2
  num_global_tokens: 1
  lsh_num_pre_rounds: 1
  mask_first_token: false
  pass_global_tokens_to_decoder: true
  pool_with_global: true
  lsg_backend: eager
trainer:
  max_steps: 2
hydra:
  searchpath:
    - file://{CONF}
"""
TASK = '''
import json, os, hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg):
    """Stand-in for lsgzoo.train: a score from the attention keys, a summary.json, the score returned."""
    attention = OmegaConf.to_container(cfg.attention, resolve=True)
    score = attention["block_size"] / 100 + attention["sparsity_factor"] / 10
    summary = {"status": "completed", "monitor": "val/answer_accuracy", "monitor_mode": "max",
               "best_score": score, "metrics": {"val/answer_accuracy": score}, "attention": attention,
               "overrides": list(HydraConfig.get().overrides.task), "pid": os.getpid()}
    with open(os.path.join(HydraConfig.get().runtime.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle)
    return score

main()
'''


@pytest.fixture
def primary(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text(PRIMARY)
    return tmp_path / "conf"


def composed(config_dir: Path, overrides: list[str]):
    register_schemas()
    with initialize_config_dir(version_base=None, config_dir=str(config_dir)):
        return compose("train", overrides=overrides, return_hydra_config=True)


def grid(params) -> list[list[str]]:
    """The basic sweeper's cross product of `hydra.sweeper.params`, as override lists."""
    parsed = OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in params.items()])
    axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] for o in parsed]
    return [list(combo) for combo in itertools.product(*axes)]


def attention_config(attention) -> LSGAttentionConfig:
    return LSGAttentionConfig(**{key: attention[key] for key in LSG_KEYS if key in attention})


@pytest.mark.parametrize("experiment,runs,fixed", [
    ("sweep_selectors", 14, {"block_size": 8, "sparse_block_size": 8}),
    ("sweep_block_size", 9, {"sparsity_factor": 4}),
])
def test_experiment_grids_are_valid_lsg_settings(primary, experiment, runs, fixed):
    cfg = composed(primary, [f"experiment={experiment}"])
    combos = grid(cfg.hydra.sweeper.params)
    assert len(combos) == runs
    seen = set()
    for combo in combos:
        attention = composed(primary, [f"experiment={experiment}", *combo]).attention
        config = attention_config(OmegaConf.to_container(attention, resolve=True))  # raises on a bad combination
        assert all(getattr(config, key) == value for key, value in fixed.items())
        if experiment == "sweep_block_size":
            assert config.sparse_block_size == config.block_size  # the interpolation follows the swept key
        seen.add((config.sparsity_type, config.block_size, config.sparsity_factor))
    assert len(seen) == runs


def test_every_optuna_choice_is_a_valid_lsg_setting():
    """Read as the plugin would (no plugin needed): the file's `params` through hydra-core's override parser."""
    sweeper = OmegaConf.load(CONF / "hydra" / "sweeper" / "optuna_attention.yaml")
    assert list(sweeper.defaults) == ["optuna", "_self_"] and sweeper.direction == "maximize"
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in sweeper.params.items()])
    keys = [o.get_key_element().removeprefix("attention.") for o in parsed]
    assert set(keys) == {"sparsity_type", "block_size", "sparse_block_size", "sparsity_factor", "num_global_tokens"}
    assert all(o.is_choice_sweep() for o in parsed)  # the plugin maps choice(...) to a categorical distribution
    choices = [o.value().list for o in parsed]
    assert [len(values) for values in choices] == [7, 3, 3, 3, 3]
    for combo in itertools.product(*choices):
        attention_config({"lsh_num_pre_rounds": 1, "mask_first_token": False, **dict(zip(keys, combo))})


def run_task(tmp_path, primary, *args):
    (tmp_path / "task.py").write_text(TASK)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(tmp_path / "task.py"), "-m", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_local_parallel_launcher_runs_a_multirun_the_report_reads(tmp_path, primary):
    sweep_dir = tmp_path / "multirun"
    result = run_task(tmp_path, primary, "hydra/launcher=local_parallel", "attention.sparsity_factor=2,4",
                      "attention.sparsity_type=norm,pooling", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    pids = {json.loads(path.read_text())["pid"] for path in sweep_dir.glob("*/summary.json")}
    assert len(pids) == 2  # two worker processes shared the four jobs
    report = make_report(sweep_dir)
    assert len(report.table.rows) == 4 and report.best.setting("sparsity_factor") == 4


def test_slurm_launcher_composes_into_an_sbatch_script(tmp_path, primary, monkeypatch):
    submitit = pytest.importorskip("submitit")
    from hydra.utils import instantiate

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")  # submitit only checks that srun exists
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    cfg = composed(primary, ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.job.name=train",
                             f"hydra.sweep.dir={tmp_path / 'multirun'}"])
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    scripts = []

    class Submitted(Exception):
        pass

    def map_array(executor, *args):
        scripts.append(executor._executor._make_submission_file_text("python -m lsgzoo.train", "uid"))
        raise Submitted

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    with pytest.raises(Submitted):
        launcher.launch([["attention.sparsity_type=norm"], ["attention.sparsity_type=pooling"]], 0)
    script, = scripts
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --time=240", "#SBATCH --mem=32GB", "#SBATCH --job-name=lsgzoo-train"):
        assert line in script, script
    assert str(tmp_path / "multirun" / ".submitit") in script


@pytest.mark.skipif(not (CONF / "train.yaml").exists(), reason="conf/train.yaml comes with the training code")
@pytest.mark.parametrize("experiment", ["sweep_selectors", "sweep_block_size"])
def test_experiments_compose_with_the_real_train_config(experiment):
    cfg = composed(CONF, [f"experiment={experiment}", "hydra/launcher=local_parallel"])
    assert cfg.hydra.launcher.n_jobs == 2
    for combo in grid(cfg.hydra.sweeper.params):
        attention = composed(CONF, [f"experiment={experiment}", *combo]).attention
        attention_config(OmegaConf.to_container(attention, resolve=True))


STUDIES = {  # experiment: (runs, the swept axes besides the seed)
    "suite": (135, {"suite_task", "attention_mode"}),
    "headline": (120, {"suite_task", "attention_mode", "attention.block_size", "attention.sparsity_factor"}),
}


def without_seed(combos: list[list[str]]) -> list[list[str]]:
    """The distinct grid points once the seed axis is dropped (the attention does not depend on it)."""
    unique = {tuple(item for item in combo if not item.startswith("seed=")) for combo in combos}
    return [list(combo) for combo in sorted(unique)]


@pytest.mark.skipif(not (CONF / "train.yaml").exists(), reason="conf/train.yaml comes with the training code")
@pytest.mark.parametrize("experiment", sorted(STUDIES))
def test_study_grids_are_valid_lsg_settings_with_three_seeds(experiment):
    """Every point of the suite and headline grids composes, validates (as a run would, before training) and
    builds an LSGAttentionConfig; full attention covers the whole input; no configuration runs twice."""
    from lsgzoo.training.config import validate_config

    runs, axes = STUDIES[experiment]
    cfg = composed(CONF, [f"experiment={experiment}"])
    assert cfg.hydra.launcher.n_jobs == 2 and cfg.num_threads == 1
    assert set(cfg.hydra.sweeper.params) == axes | {"seed"} and str(cfg.hydra.sweeper.params.seed) == "0,1,2"
    combos = grid(cfg.hydra.sweeper.params)
    assert len(combos) == runs
    seen = set()
    for combo in without_seed(combos):
        job = composed(CONF, [f"experiment={experiment}", *combo])
        validate_config(job)
        config = attention_config(OmegaConf.to_container(job.attention, resolve=True))
        full = "attention_mode=full" in combo
        assert (config.block_size >= job.data.max_source_length) == full
        seen.add((job.data.name, config.sparsity_type, config.block_size, config.sparse_block_size,
                  config.sparsity_factor, full))
    assert len(seen) == runs // 3


def test_suite_sweeps_every_selector_plus_full_and_headline_has_lsh_and_stride_at_factor_8():
    from lsgzoo import available_selectors

    suite = composed(CONF, ["experiment=suite"]).hydra.sweeper.params
    assert set(str(suite.attention_mode).split(",")) == {*available_selectors(), "full"}
    headline = composed(CONF, ["experiment=headline"])
    params = headline.hydra.sweeper.params
    heads = headline.model.encoder_attention_heads
    assert {"lsh", "stride"} <= set(str(params.attention_mode).split(","))
    assert max(int(f) for f in str(params["attention.sparsity_factor"]).split(",")) > heads
