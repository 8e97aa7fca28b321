"""Exact resume, the config side: the run's own config and W&B run (the Lightning side is
`lsgzoo.training.resume_callbacks`).

`run_config.yaml` in the run dir holds the resolved config, the overrides that made it and the W&B
run id; it is written at the first start and is the source of truth on `resume=true` (Hydra rewrites
`.hydra/` at every start, so it cannot be). A resume command's overrides may change only
`BUDGET_KEYS`; any other change is refused, naming each key with its old and new value.
"""

import os
import secrets
import sys
from pathlib import Path

from lsgzoo.training.config import CONFIG_DIR, ConfigError, register_schemas

RUN_RECORD = "run_config.yaml"
# Keys a resume may change: how long the run goes on and how it is watched, never what it trains.
BUDGET_KEYS = ("resume", "trainer.max_steps", "trainer.max_epochs", "num_threads", "test_after_training",
               "trainer.enable_progress_bar", "checkpoint.every_n_train_steps")
ABSENT = "<absent>"


def read_run_record(run_dir) -> dict | None:
    """{config, overrides, wandb_run_id} from the run dir's run_config.yaml, or None."""
    from omegaconf import OmegaConf

    path = Path(run_dir) / RUN_RECORD
    return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else None


def write_run_record(run_dir, config: dict, overrides: list[str], wandb_run_id: str) -> None:
    """Write run_config.yaml atomically."""
    from omegaconf import OmegaConf

    path = Path(run_dir) / RUN_RECORD
    staged = path.with_name(path.name + ".partial")
    OmegaConf.save(OmegaConf.create({"config": config, "overrides": list(overrides), "wandb_run_id": wandb_run_id}),
                   staged)
    os.replace(staged, path)


def wandb_run_id(run_dir) -> str | None:
    """The W&B run id this run dir logs to (the same one on every resume)."""
    record = read_run_record(run_dir)
    return record.get("wandb_run_id") if record else None


def settle_run_config(cfg, run_dir, overrides: list[str] | None):
    """(config, overrides) the run trains with.

    First start (resume=false): `cfg` and `overrides` as given, recorded in run_config.yaml with a new
    W&B run id. Resume: the recorded config, with the budget keys as the recorded overrides plus the new
    ones set them; a ConfigError if the new overrides change any other key.
    """
    from omegaconf import OmegaConf

    run_dir, overrides = Path(run_dir), list(overrides or [])
    record = read_run_record(run_dir)
    if not cfg.resume:
        if _first_process():
            write_run_record(run_dir, OmegaConf.to_container(cfg, resolve=True), overrides, secrets.token_hex(4))
        return cfg, overrides
    if record is None:
        print(f"lsgzoo: {run_dir / RUN_RECORD} is missing (a run started before lsgzoo recorded its config); "
              "resuming with the config composed now, which cannot be checked against the run's",
              file=sys.stderr, flush=True)
        return cfg, overrides
    merged = merge_overrides(record["overrides"], overrides)
    requested = flatten_config(_resolved(compose_train(merged)))
    recorded = flatten_config(_resolved(compose_train(record["overrides"])))
    refused = experiment_changes(config_differences(recorded, requested))
    if refused:
        raise ConfigError(_refusal(run_dir, refused))
    settled = OmegaConf.create(record["config"])
    for key in BUDGET_KEYS:
        OmegaConf.update(settled, key, requested.get(key), force_add=True)
    if _first_process():
        write_run_record(run_dir, OmegaConf.to_container(settled), merged, record["wandb_run_id"])
        _rewrite_hydra_files(run_dir, settled, merged)
    return settled, merged


def config_changes(old_overrides: list[str], new_overrides: list[str]) -> dict:
    """{key: (old, new)} for every resolved config value that the two override lists compose differently."""
    return config_differences(flatten_config(_resolved(compose_train(list(old_overrides)))),
                              flatten_config(_resolved(compose_train(list(new_overrides)))))


def experiment_changes(changes: dict) -> dict:
    """The entries of `changes` ({key: (old, new)}) that change the experiment: any key but `BUDGET_KEYS`."""
    return {key: change for key, change in changes.items() if key not in BUDGET_KEYS}


def describe_changes(changes: dict) -> str:
    """`changes` ({key: (old, new)}) as "key: old → new; ..."."""
    return "; ".join(f"{key}: {old!r} → {new!r}" for key, (old, new) in changes.items())


def _first_process() -> bool:
    """False in the extra processes of a distributed run (Lightning re-launches the command once per rank)."""
    return all(int(os.environ.get(name, 0)) == 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def merge_overrides(old: list[str], new: list[str]) -> list[str]:
    """`old` then `new`, a new override replacing an old one of the same key."""
    merged: dict[str, str] = {}
    for override in [*old, *new]:
        key = override.split("=", 1)[0].lstrip("+~")
        merged.pop(key, None)
        merged[key] = override
    return list(merged.values())


def compose_train(overrides: list[str], return_hydra_config: bool = False):
    """conf/train.yaml with `overrides`, inside a running Hydra app or standalone (not validated)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_schemas()
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="train", overrides=overrides, return_hydra_config=return_hydra_config)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=return_hydra_config)


def _resolved(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def flatten_config(tree: dict, prefix: str = "") -> dict:
    """{"a.b": leaf}; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_differences(old: dict, new: dict) -> dict:
    """{key: (old, new)} for every key whose value differs or exists on one side only."""
    return {key: (old.get(key, ABSENT), new.get(key, ABSENT)) for key in sorted(set(old) | set(new))
            if old.get(key, ABSENT) != new.get(key, ABSENT)}


def _refusal(run_dir: Path, refused: dict) -> str:
    return (f"resume=true would change the experiment in {run_dir}: {describe_changes(refused)}. A resume continues "
            f"the run with its saved config ({RUN_RECORD}); drop these overrides (only {', '.join(BUDGET_KEYS)} may change), "
            "or start a new run in a new run dir to train a different configuration")


def _rewrite_hydra_files(run_dir: Path, cfg, overrides: list[str]) -> None:
    """Hydra wrote this start's composition into .hydra/; make it say what the run really uses."""
    from omegaconf import OmegaConf

    hydra_dir = run_dir / ".hydra"
    if not hydra_dir.is_dir():
        return
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), hydra_dir / "overrides.yaml")
