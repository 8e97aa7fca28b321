"""Hydra config: the typed attention schema, composition, and validation before training.

`register_schemas()` stores the structured schema that `conf/attention/*.yaml` extend: the LSG key
dataclass itself (`lsgzoo.attention.keys.LSGKeys`: names, types, model defaults), whose values the
yaml files override. A wrong type (`attention.block_size=abc`) fails at composition naming the key;
a wrong key fails through Hydra's struct mode. `validate_config(cfg)` checks values (ranges, registered
selector, data/model consistency, metric names, the monitor against what the task logs, generation
keys) and raises `ConfigError` naming the key and the fix, before any data is loaded or model built.
"""

import difflib
from pathlib import Path

from lsgzoo.attention.keys import LSG_KEYS, LSGKeys

CONFIG_DIR = Path(__file__).resolve().parents[3] / "conf"


class ConfigError(ValueError):
    """A bad config value; the message names the key and how to fix it."""


def register_schemas() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="attention", name="lsg_schema", node=LSGKeys)


def compose_config(overrides: list[str] | None = None, config_name: str = "train"):
    """Compose conf/<config_name>.yaml with overrides (for tests and notebooks), validated."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides or []), return_hydra_config=False)
    validate_config(cfg)
    return cfg


def attention_settings(cfg) -> dict:
    """The LSG keys of a composed config as a plain dict."""
    return {key: cfg.attention[key] for key in LSG_KEYS}


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


def missing_keys(cfg) -> set[str]:
    """The run config's keys that have no value ("???"), by full dotted key; Hydra's own node (present when
    composed with `return_hydra_config`, and holding job keys only a launch fills in) is not the run's."""
    from omegaconf import OmegaConf

    missing = set()
    for key in cfg:
        if key == "hydra":
            continue
        if OmegaConf.is_missing(cfg, key):
            missing.add(str(key))
        elif OmegaConf.is_config(cfg[key]):
            missing |= OmegaConf.missing_keys(cfg[key])
    return missing


def validate_config(cfg) -> None:
    """Value checks that must pass before any data is loaded or model built."""
    from lsgzoo.attention.config import LSGAttentionConfig

    from omegaconf import OmegaConf

    missing = missing_keys(cfg)
    _check(not missing, min(missing, default=""), "has no value; set it on the command line, e.g. "
           f"{min(missing, default='')}=...")
    settings = attention_settings(cfg)
    sparsity = settings["sparsity_type"]
    _check(cfg.data.task in ("seq2seq", "classification"), "data.task", "use seq2seq or classification")
    family = validate_model_family(cfg)
    try:  # the one validation of the attention settings (the model config validates its own copy)
        heads = cfg.model.get(family.config_key("num_heads")) if cfg.model.name_or_path is None else None
        LSGAttentionConfig(**settings, num_heads=heads, attention_dropout=cfg.model.get("attention_dropout") or 0.0)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"attention: {error}") from None
    _check(sparsity in ("none",) or settings["sparsity_factor"] >= 1, "attention.sparsity_factor",
           "must be ≥ 1 for a sparse selector (or use attention.sparsity_type=none)")
    data = cfg.data
    for key in ("batch_size", "eval_batch_size", "max_source_length", "max_target_length"):
        _check(isinstance(data[key], int) and data[key] >= 1, f"data.{key}", f"got {data[key]!r}; use an integer ≥ 1")
    workers = data.get("num_workers", 0)
    _check(_is_integer(workers) and workers >= 0, "data.num_workers",
           f"got {workers!r}; use 0 (load in the main process) or more worker processes")
    block = settings["block_size"]
    _check(data.max_source_length % block == 0, "data.max_source_length",
           f"{data.max_source_length} is not a multiple of attention.block_size={block}; batches are padded to "
           f"block multiples, so use {data.max_source_length + block - data.max_source_length % block}")
    _check(data.monitor_mode in ("min", "max"), "data.monitor_mode", "use min or max")
    _check(str(data.monitor).startswith("val/"), "data.monitor", "name a validation metric such as val/loss")
    validate_metrics(data)
    if data.task == "seq2seq":
        validate_generation(data.generation)
        validate_target_length(cfg)
    if cfg.model.name_or_path is None:
        _check(cfg.model.max_position_embeddings >= data.max_source_length, "model.max_position_embeddings",
               f"{cfg.model.max_position_embeddings} < data.max_source_length={data.max_source_length}; raise it")
        _check(cfg.model.tokenizer.kind in ("word", "bpe"), "model.tokenizer.kind", "use word or bpe")
    optim = cfg.optim
    _check(_is_number(optim.lr) and optim.lr > 0, "optim.lr", f"got {optim.lr!r}; use a positive learning rate")
    _check(_is_integer(optim.warmup_steps) and optim.warmup_steps >= 0, "optim.warmup_steps",
           f"got {optim.warmup_steps!r}; use an integer ≥ 0")
    validate_trainer(cfg.trainer)
    _check(cfg.num_threads is None or (_is_integer(cfg.num_threads) and cfg.num_threads >= 1), "num_threads",
           f"got {cfg.num_threads!r}; use null (torch's default) or a positive integer")
    every = cfg.checkpoint.every_n_train_steps
    _check(_is_integer(every) and every >= 1, "checkpoint.every_n_train_steps", f"got {every!r}; use an integer ≥ 1")


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_trainer(trainer) -> None:
    """The Lightning settings a run cannot start with: trainer.max_steps / max_epochs integers (-1: no limit), one
    of them positive; validation every `val_check_interval` steps (an integer ≥ 1, or a fraction of an epoch in
    (0, 1] when `check_val_every_n_epoch` is set); `accumulate_grad_batches` ≥ 1; a precision `lightning.Trainer`
    accepts (its own annotation lists them)."""
    for key in ("max_steps", "max_epochs"):
        _check(_is_integer(trainer[key]), f"trainer.{key}", f"got {trainer[key]!r}; use an integer (-1: no limit)")
    _check(trainer.max_steps > 0 or trainer.max_epochs > 0, "trainer.max_steps",
           "set trainer.max_steps (or trainer.max_epochs) to a positive number")
    interval, per_epoch = trainer.get("val_check_interval"), trainer.get("check_val_every_n_epoch")
    fraction = per_epoch is not None and isinstance(interval, float) and 0.0 < interval <= 1.0
    _check(interval is None or fraction or (_is_integer(interval) and interval >= 1), "trainer.val_check_interval",
           f"got {interval!r}; use a number of training steps ≥ 1 (a fraction of an epoch in (0, 1] needs "
           "trainer.check_val_every_n_epoch)")
    accumulate = trainer.get("accumulate_grad_batches", 1)
    _check(_is_integer(accumulate) and accumulate >= 1, "trainer.accumulate_grad_batches",
           f"got {accumulate!r}; use an integer ≥ 1")
    precisions = lightning_precisions()
    _check(trainer.get("precision") in precisions, "trainer.precision",
           f"got {trainer.get('precision')!r}; use one of {', '.join(dict.fromkeys(map(str, precisions)))}")


def lightning_precisions() -> list:
    """The `precision` values `lightning.Trainer` accepts, read from its signature's type annotation."""
    import typing

    import lightning

    def literals(annotation) -> list:
        if typing.get_origin(annotation) is typing.Literal:
            return list(typing.get_args(annotation))
        return [value for arg in typing.get_args(annotation) for value in literals(arg)]

    return literals(typing.get_type_hints(lightning.Trainer.__init__)["precision"])


def validate_model_family(cfg):
    """The family row the run builds (`models.families`), checked: a known `model.family` (from scratch) or a
    checkpoint folder whose config.json has a family, and a head of that family for `data.task`."""
    from lsgzoo.models.families import FAMILIES, family_named, family_of_config, supported_model_types

    path = cfg.model.name_or_path
    if path is None:
        name = cfg.model.get("family") or FAMILIES[0].name
        try:
            family = family_named(name)
        except ValueError:
            raise ConfigError(f"model.family: {name!r} is unknown; choose one of "
                              f"{', '.join(f.name for f in FAMILIES)}") from None
        source = f"model.family={family.name}"
    else:
        folder = Path(str(path))
        _check(folder.is_dir(), "model.name_or_path", f"{str(path)!r} is not a local checkpoint folder (hub "
               "downloads are not available here; convert or download it first)")
        _check((folder / "config.json").is_file(), "model.name_or_path", f"{str(path)!r} has no config.json")
        import json

        config = json.loads((folder / "config.json").read_text())
        try:
            family = family_of_config(config)
        except ValueError:
            raise ConfigError(f"model.name_or_path: {str(path)!r} is a {config.get('model_type')!r} checkpoint, which "
                              f"has no LSG family in lsgzoo; supported model types: "
                              f"{', '.join(supported_model_types())}") from None
        source = f"{str(path)!r} ({family.display_name})"
    try:
        family.head_for_task(cfg.data.task)
    except ValueError:
        tasks = sorted({task for head in family.heads for task in head.tasks} & {"seq2seq", "classification"})
        raise ConfigError(f"data.task: {source} has no {cfg.data.task} head; with this model use data.task="
                          f"{' or '.join(tasks) or '(none of seq2seq, classification)'}") from None
    return family


def decoder_positions(cfg) -> int | None:
    """How many target positions the run's decoder has (`max_position_embeddings` of the model it builds or
    loads), None when the config does not say."""
    if cfg.model.name_or_path is None:
        return cfg.model.get("max_position_embeddings")
    import json

    return json.loads((Path(str(cfg.model.name_or_path)) / "config.json").read_text()).get("max_position_embeddings")


def validate_target_length(cfg) -> None:
    """Targets (data.max_target_length) and generated text (data.generation.max_new_tokens) fit the decoder."""
    positions = decoder_positions(cfg)
    if positions is None:
        return
    data = cfg.data
    _check(data.max_target_length <= positions, "data.max_target_length",
           f"{data.max_target_length} is longer than the decoder allows ({positions} positions); use at most "
           f"{positions}")
    new_tokens = (data.generation or {}).get("max_new_tokens")
    _check(new_tokens is None or new_tokens < positions, "data.generation.max_new_tokens",
           f"{new_tokens} does not fit the decoder's {positions} positions (with the start token); use at most "
           f"{positions - 1}")


def validate_metrics(data) -> None:
    """data.metrics are registered names and data.monitor is a metric the task will log."""
    from lsgzoo.training.metrics import METRICS, validation_metrics

    from omegaconf import ListConfig

    _check(data.metrics is None or isinstance(data.metrics, (ListConfig, list)), "data.metrics",
           f"got {data.metrics!r}; use a list of metric names such as [rouge] (or [] for the loss only)")
    names = list(data.metrics or [])
    for name in names:
        _check(name in METRICS, "data.metrics", f"{name!r} is unknown; choose from {', '.join(METRICS)}")
    logged = validation_metrics(data.task, names)
    _check(data.monitor in logged, "data.monitor",
           f"{data.monitor!r} is not logged by a {data.task} run with data.metrics={names}; "
           f"choose one of {', '.join(logged)}")


def validate_generation(generation) -> None:
    """Every data.generation key is a `transformers.GenerationConfig` setting (what `generate` accepts), and the
    token and beam counts are positive integers."""
    from transformers import GenerationConfig

    known = sorted(key for key in GenerationConfig().to_dict() if not key.startswith("_"))
    for key in generation or {}:
        close = difflib.get_close_matches(str(key), known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see transformers.GenerationConfig"
        _check(key in known, "data.generation", f"{key!r} is not a generation setting; {hint}")
    for key in ("max_new_tokens", "num_beams"):
        value = (generation or {}).get(key)
        _check(value is None or (_is_integer(value) and value >= 1), f"data.generation.{key}",
               f"got {value!r}; use an integer ≥ 1")
