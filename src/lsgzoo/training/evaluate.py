"""One evaluation run (`python -m lsgzoo.eval`): a trained run's model on its task under other attention
settings or lengths, zero-shot or after a short fine-tune → summary.json + examples.jsonl.

The config evaluated is the source run's own (its run_config.yaml), changed by the eval's train-config
overrides (every override but the eval keys `EVAL_KEYS` and hydra's): an override changes what it changes
between the train config composed from the run's recorded overrides and the one composed with the eval's
added, so a group choice (`attention_mode=full`) and interpolations (full attention's block follows
`data.max_source_length`) act as they would have in the run. `model.*` overrides are refused (the weights are
the checkpoint's). A new `data.max_source_length` brings a document length of `max_source_length − 2` words
(the suite's tasks) along, and positions the checkpoint lacks are tiled as `lsgzoo convert` tiles them
(`models.conversion.new_positions`). The data keeps the run's own seeds (`data.source.seed` is resolved in
the record), so every evaluation of a checkpoint scores the same documents; the eval's `seed` only seeds the
fine-tune (its batch order).

Refused before any work, with a `ConfigError`: a ckpt that is no run dir or has no checkpoint, a model
override, a length beyond the positions with extend_positions=false, a bad split or step count, and a task
whose text the checkpoint's tokenizer does not know (unknown tokens) or whose labels differ.

The run dir gets summary.json (train's fields, `lsgzoo.training.rundir`, plus kind "eval", split,
source_run, source_checkpoint, source_score, finetune_steps, max_source_length, eval_tokens_per_s,
eval_time_s, examples_metric, finetune_weight_change_l2), examples.jsonl ({"index": i, "correct": the
document's value of `examples_metric`} per document, in split order), .hydra/config.yaml rewritten to the
config evaluated, model/config.json, and after a fine-tune the fine-tuned weights as checkpoints/last.ckpt
(`rundir.load_run_model(run_dir, "last")` reads them back).
"""

import json
import math
import time
from pathlib import Path

from lsgzoo.training.config import CONFIG_DIR, ConfigError, attention_settings, validate_config
from lsgzoo.training.rundir import CHECKPOINT_DIR, MODEL_CONFIG_DIR, TOKENIZER_DIR, read_summary, run_checkpoint

EVAL_KEYS = ("ckpt", "split", "seed", "extend_positions", "finetune")
SPLIT_PREFIXES = {"validation": "val", "test": "test"}
WEIGHT_GROUPS = ("model",)
DOCUMENT_MARGIN = 2  # <s> and </s> around a synthetic document's words (conf/suite_task: length 254 at 256 tokens)
EXAMPLES_FILE = "examples.jsonl"
KIND = "eval"


def run_evaluation(cfg, run_dir, overrides: list[str] | None = None) -> float:
    """Evaluate as the eval config `cfg` says (conf/eval.yaml), writing under `run_dir`; returns the score.

    Any exception, a ConfigError included, leaves summary.json with status "failed", the error and its
    traceback, and is re-raised.
    """
    from lsgzoo.training.checkpoints import check_run_dir_writable
    from lsgzoo.training.run import ended_summary, initial_summary
    from lsgzoo.training.rundir import write_summary

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_dir_writable(run_dir)
    overrides = list(overrides or [])
    summary = {**initial_summary(cfg, overrides), "kind": KIND}
    try:
        source_dir, checkpoint = source_of(cfg.ckpt)
        summary.update(source_run=str(source_dir), source_checkpoint=str(checkpoint),
                       source_score=(read_summary(source_dir) or {}).get("best_score"))
        evaluated = evaluation_config(cfg, source_dir, overrides)
        summary.update(initial_summary(evaluated, overrides), kind=KIND, split=evaluated.split,
                       finetune_steps=evaluated.finetune.steps, max_source_length=evaluated.data.max_source_length)
        _rewrite_hydra_config(run_dir, evaluated)
        return _evaluate(evaluated, run_dir, source_dir, checkpoint, summary)
    except BaseException as error:
        write_summary(run_dir, ended_summary(summary, error))
        raise


def source_of(ckpt) -> tuple[Path, Path]:
    """(source run dir, checkpoint) of `ckpt=`: a run dir (its best checkpoint, else its last) or a .ckpt in
    a run dir's checkpoints/."""
    if ckpt is None or str(ckpt) in ("", "???"):
        raise ConfigError("ckpt: required; pass ckpt=<a training run dir> or ckpt=<run dir>/checkpoints/<name>.ckpt")
    path = Path(str(ckpt)).expanduser()
    if path.is_file():
        run_dir, checkpoint = path.parent.parent, path
    elif path.is_dir():
        run_dir, checkpoint = path, None
    else:
        raise ConfigError(f"ckpt: {path} does not exist; pass a training run dir or a .ckpt file in its "
                          f"{CHECKPOINT_DIR}/")
    if not (run_dir / MODEL_CONFIG_DIR / "config.json").is_file():
        raise ConfigError(f"ckpt: {run_dir} is not a training run dir (no {MODEL_CONFIG_DIR}/config.json); pass "
                          "the hydra run dir `python -m lsgzoo.train` wrote")
    if checkpoint is None:
        for which in ("best", "last"):
            try:
                checkpoint = run_checkpoint(run_dir, which)
                break
            except FileNotFoundError:
                continue
        else:
            raise ConfigError(f"ckpt: {run_dir} has no checkpoint ({CHECKPOINT_DIR}/best.ckpt or last.ckpt): the run "
                              "ended before its first validation or checkpoint step; train it further (resume=true) "
                              "or pass a run that saved one")
    return run_dir, checkpoint


def evaluation_config(cfg, source_dir: Path, overrides: list[str]):
    """The config evaluated: the source run's recorded config with the eval's train overrides applied (module
    docstring), its data seeds kept, `seed` the eval's (else the run's), plus the eval keys; validated."""
    from omegaconf import OmegaConf, open_dict

    from lsgzoo.training.resume import RUN_RECORD, read_run_record

    record = read_run_record(source_dir)
    if record is None:
        raise ConfigError(f"ckpt: {source_dir} has no {RUN_RECORD} (the run's own config); runs trained before lsgzoo "
                          "recorded it cannot be evaluated: retrain it")
    train_overrides = [item for item in overrides if _is_train_override(item)]
    for item in train_overrides:
        key = _key(item)
        if key.split(".")[0].split("/")[0] in WEIGHT_GROUPS:
            raise ConfigError(f"{key}: the model is the checkpoint's, so the eval cannot change it; drop "
                              f"{item!r} (attention.*, data.* and attention_mode= are what an eval changes)")
    evaluated = OmegaConf.create(record["config"])
    changes = override_changes(record["overrides"], train_overrides)
    for key, (_, new) in changes.items():
        _set(evaluated, key, new)
    trained_length = record["config"]["data"]["max_source_length"]
    length = evaluated.data.max_source_length
    source = evaluated.data.get("source") or {}
    if (length != trained_length and "data.source.length" not in changes
            and source.get("length") == trained_length - DOCUMENT_MARGIN):
        evaluated.data.source.length = length - DOCUMENT_MARGIN
    if cfg.extend_positions and (evaluated.model.get("max_position_embeddings") or length) < length:
        evaluated.model.max_position_embeddings = length  # what the model built with tiled positions has
    with open_dict(evaluated):
        for key in EVAL_KEYS:
            evaluated[key] = OmegaConf.to_container(cfg[key]) if OmegaConf.is_config(cfg[key]) else cfg[key]
        evaluated.seed = record["config"]["seed"] if cfg.seed is None else cfg.seed
        evaluated.ckpt = str(cfg.ckpt)
        evaluated.resume = False
    validate_config(evaluated)
    check_eval_keys(evaluated)
    check_reach(evaluated, source_dir)
    return evaluated


def override_changes(recorded: list[str], added: list[str]) -> dict:
    """{key: (old, new)} that `added` makes to the train config composed from `recorded`.

    A group override wins over the run's own overrides of the keys its option sets (`attention_mode=full`
    replaces a recorded `attention.block_size=16`, which on one command line would win over it); one of a
    group the run's defaults lack becomes an append (`+attention_mode=full`).
    """
    from lsgzoo.training.resume import config_differences, merge_overrides

    base, choices = _composed(recorded)
    added = [f"+{item}" if _is_group_override(item) and _key(item) not in choices else item for item in added]
    replaced = set().union(*(_keys_set_by(item) for item in added if _is_group_override(item)))
    kept = [item for item in recorded if _key(item) not in replaced]
    return config_differences(base, _composed(merge_overrides(kept, added))[0])


def _composed(overrides: list[str]) -> tuple[dict, set]:
    """(the flat resolved train config composed with `overrides`, its config group choices)."""
    from omegaconf import OmegaConf, open_dict

    from lsgzoo.training.resume import compose_train, flatten_config

    composed = compose_train(overrides, return_hydra_config=True)
    choices = set(composed.hydra.runtime.choices)
    with open_dict(composed):
        del composed["hydra"]
    return flatten_config(OmegaConf.to_container(composed, resolve=True)), choices


def _keys_set_by(group_override: str) -> set:
    """The keys whose value the group option changes in the default train config."""
    from lsgzoo.training.resume import config_differences

    defaults, choices = _composed([])
    option = group_override.lstrip("+")
    option = option if _key(option) in choices else f"+{option}"
    return set(config_differences(defaults, _composed([option])[0]))


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _is_train_override(override: str) -> bool:
    key = _key(override)
    return key.split(".")[0] not in EVAL_KEYS and not key.startswith(("hydra.", "hydra/")) and key != "hydra"


def _is_group_override(override: str) -> bool:
    key = _key(override)
    return "." not in key and (CONFIG_DIR / key).is_dir()


def _set(cfg, key: str, value) -> None:
    from omegaconf import OmegaConf

    from lsgzoo.training.resume import ABSENT

    if value == ABSENT:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if node is not None and leaf in node:
            del node[leaf]
        return
    OmegaConf.update(cfg, key, value, force_add=True)


def check_eval_keys(cfg) -> None:
    """split, finetune.steps and extend_positions hold values the eval can use."""
    if cfg.split not in SPLIT_PREFIXES:
        raise ConfigError(f"split: {cfg.split!r} is not an evaluation split; use {' or '.join(SPLIT_PREFIXES)}")
    steps = cfg.finetune.steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"finetune.steps: got {steps!r}; use 0 (zero-shot) or a positive number of training steps")
    if not isinstance(cfg.extend_positions, bool):
        raise ConfigError(f"extend_positions: got {cfg.extend_positions!r}; use true or false")


def check_reach(cfg, source_dir: Path) -> None:
    """A ConfigError when data.max_source_length needs positions the checkpoint lacks and extending is off."""
    from lsgzoo.models.loading import read_config_dict

    config = read_config_dict(source_dir / MODEL_CONFIG_DIR)
    reach = _position_reach(config)
    if cfg.data.max_source_length > reach and not cfg.extend_positions:
        raise ConfigError(f"data.max_source_length: {cfg.data.max_source_length} tokens are beyond the checkpoint's "
                          f"{reach} positions; evaluate at ≤ {reach} tokens or set extend_positions=true (tiles the "
                          "learned positions as `lsgzoo convert` does)")


def _position_reach(config: dict) -> int:
    """Input tokens the checkpoint's position tables cover (max_position_embeddings less the family's offset)."""
    from lsgzoo.models.families import family_of_config

    return config["max_position_embeddings"] - family_of_config(config).config_position_offset


def _rewrite_hydra_config(run_dir: Path, cfg) -> None:
    """Hydra saved the eval's composition (train defaults); make .hydra/config.yaml say what is evaluated."""
    from omegaconf import OmegaConf

    hydra_dir = run_dir / ".hydra"
    if hydra_dir.is_dir():
        OmegaConf.save(cfg, hydra_dir / "config.yaml")


def load_tokenizer(cfg, source_dir: Path):
    """The source run's tokenizer: its saved tokenizer/, else its pretrained model's."""
    from transformers import AutoTokenizer

    saved = source_dir / TOKENIZER_DIR
    if saved.is_dir():
        return AutoTokenizer.from_pretrained(str(saved))
    if cfg.model.get("name_or_path") is not None:
        return AutoTokenizer.from_pretrained(str(cfg.model.name_or_path))
    raise ConfigError(f"ckpt: {source_dir} has no {TOKENIZER_DIR}/ and its model has no name_or_path: the "
                      "checkpoint's tokenizer is unknown")


def check_vocabulary(tokenizer, source, datasets, splits: list[str], data_name: str, source_dir: Path) -> None:
    """A ConfigError when the checkpoint's tokenizer maps any text of the task (its vocabulary, where the
    source lists one, and the `splits` used) to the unknown token."""
    unknown_id = tokenizer.unk_token_id
    if unknown_id is None:
        return
    texts = list(source.tokenizer_corpus()) if hasattr(source, "tokenizer_corpus") else []
    for split in splits:
        columns = [name for name in ("source", "target") if name in datasets[split].column_names]
        texts += [text for name in columns for text in datasets[split][name]]
    encoded = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=False)
    unknown = {}
    for text, ids, offsets in zip(texts, encoded["input_ids"], encoded["offset_mapping"], strict=True):
        for token, (start, end) in zip(ids, offsets, strict=True):
            if token == unknown_id:
                unknown[text[start:end]] = unknown.get(text[start:end], 0) + 1
    if unknown:
        shown = ", ".join(repr(word) for word in sorted(unknown)[:5])
        raise ConfigError(f"data: {sum(unknown.values())} tokens of {data_name} ({len(unknown)} distinct: {shown}"
                          f"{', ...' if len(unknown) > 5 else ''}) are unknown to the tokenizer of {source_dir}; the "
                          "task's vocabulary is not the checkpoint's: evaluate on the task it was trained on or one "
                          "with the same words")


def build_eval_model(cfg, source_dir: Path, checkpoint: Path, num_labels: int | None):
    """The checkpoint's model with the config's attention keys, its learned positions tiled up to
    data.max_source_length when the checkpoint has fewer (`models.conversion.new_positions`), in train mode."""
    from lsgzoo.models.conversion import base_prefix, new_positions
    from lsgzoo.models.families import family_of_config
    from lsgzoo.models.loading import lsg_class_for, read_config_dict
    from lsgzoo.training.rundir import checkpoint_model_state

    folder = source_dir / MODEL_CONFIG_DIR
    saved = read_config_dict(folder)
    family = family_of_config(saved)
    if num_labels is not None and saved.get("num_labels", num_labels) != num_labels:
        raise ConfigError(f"data: the task has {num_labels} classes but the checkpoint of {source_dir} predicts "
                          f"{saved['num_labels']}; evaluate on a task with the same labels")
    length = cfg.data.max_source_length
    extend = length > _position_reach(saved)
    settings = attention_settings(cfg)
    if extend:
        settings["max_position_embeddings"] = length + family.config_position_offset
    model_class = lsg_class_for(folder)
    model = model_class(model_class.config_class.from_pretrained(str(folder), **settings))
    state = checkpoint_model_state(checkpoint)
    if extend:
        prefix, fresh = base_prefix(model), model.state_dict()
        for key in family.position_keys:
            state[prefix + key] = new_positions(family, state[prefix + key], fresh[prefix + key], length)
    model.load_state_dict(state, strict=True)
    model.config.architectures = [type(model).__name__]
    return model.train()


def example_scores(rows: list[tuple], task: str, output: str) -> list[float]:
    """Each document's value of `output`: 1/0 for a right/wrong class (classification), else the text metric's
    numerator / weight for that document (answer_accuracy: the fraction of its slots right)."""
    from lsgzoo.training.metrics import METRICS

    if task == "classification":
        return [float(prediction == reference) for prediction, reference in rows]
    metric = next(metric for metric in METRICS.values() if output in metric.outputs)
    scores = []
    for prediction, reference in rows:
        numerator, weight = metric.score(prediction, reference)[output]
        scores.append(numerator / weight if weight else math.nan)
    return scores


def examples_output(cfg) -> str:
    """The metric examples.jsonl scores each document by: the monitored one where it is a per-document mean,
    else accuracy (classification) or the first text metric."""
    from lsgzoo.training.metrics import metric_outputs

    name = str(cfg.data.monitor).split("/", 1)[1]
    per_document = ["accuracy"] if cfg.data.task == "classification" else metric_outputs(list(cfg.data.metrics))
    return name if name in per_document else per_document[0]


def write_examples(run_dir: Path, scores: list[float]) -> Path:
    path = run_dir / EXAMPLES_FILE
    staged = path.with_name(path.name + ".partial")
    staged.write_text("".join(json.dumps({"index": i, "correct": score}) + "\n" for i, score in enumerate(scores)))
    staged.replace(path)
    return path


def _evaluate(cfg, run_dir: Path, source_dir: Path, checkpoint: Path, summary: dict) -> float:
    import lightning as L
    from omegaconf import OmegaConf

    from lsgzoo.training.builders import build_data_and_module, build_source
    from lsgzoo.training.callbacks import EvaluationRecorder, PeakMemory
    from lsgzoo.training.run import label_count
    from lsgzoo.training.rundir import write_summary

    started = time.perf_counter()
    peak_memory = PeakMemory()
    peak_memory.reset()
    if cfg.num_threads:
        import torch

        torch.set_num_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True)
    source, raw = build_source(cfg)
    steps = cfg.finetune.steps
    tokenizer = load_tokenizer(cfg, source_dir)
    check_vocabulary(tokenizer, source, raw, ["train", cfg.split] if steps else [cfg.split], cfg.data.name,
                     source_dir)
    num_labels = label_count(raw["train"]) if cfg.data.task == "classification" else None
    model = build_eval_model(cfg, source_dir, checkpoint, num_labels)
    model.config.save_pretrained(str(run_dir / MODEL_CONFIG_DIR))
    data, module = build_data_and_module(cfg, source, raw, tokenizer, model, num_labels)
    trainer_settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    if steps:
        summary.update(finetune(cfg, run_dir, module, data, trainer_settings))

    recorder = EvaluationRecorder()
    evaluator = L.Trainer(accelerator=trainer_settings["accelerator"], devices=1,
                          precision=trainer_settings["precision"], logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, callbacks=[recorder],
                          default_root_dir=str(run_dir))
    run = evaluator.validate if cfg.split == "validation" else evaluator.test
    results = run(module, datamodule=data, verbose=False)
    metrics = {key: float(value) for key, value in (results[0] if results else {}).items()}
    prefix = SPLIT_PREFIXES[cfg.split]
    monitor = f"{prefix}/{str(cfg.data.monitor).split('/', 1)[1]}"
    output = examples_output(cfg)
    write_examples(run_dir, example_scores(recorder.rows, cfg.data.task, output))
    score = metrics.get(monitor, math.nan)
    summary.update(status="completed", monitor=monitor, best_score=score, metrics=metrics,
                   examples_metric=f"{prefix}/{output}", eval_tokens_per_s=recorder.tokens_per_s,
                   eval_time_s=recorder.time_s, wall_time_s=time.perf_counter() - started,
                   peak_memory_mb=peak_memory.peak_mb(module.device),
                   peak_memory_scope="job" if peak_memory.per_job else "process",
                   num_parameters=sum(p.numel() for p in model.parameters()), length_statistics=data.statistics)
    write_summary(run_dir, summary)
    return score


def finetune(cfg, run_dir: Path, module, data, trainer_settings: dict) -> dict:
    """Train `cfg.finetune.steps` steps with the run's optimiser settings (a fresh AdamW and schedule over those
    steps) and save the weights as checkpoints/last.ckpt; returns the fine-tune's summary fields."""
    import lightning as L
    import torch

    from lsgzoo.training.callbacks import BatchFlops, throughput_monitor, training_throughput
    from lsgzoo.training.run import encoder_flops_fn

    before = {name: parameter.detach().clone() for name, parameter in module.model.named_parameters()}
    throughput = throughput_monitor()
    flops = BatchFlops(encoder_flops_fn(module.model.config, attention_settings(cfg)))
    settings = {**trainer_settings, "max_steps": cfg.finetune.steps, "max_epochs": -1, "limit_val_batches": 0,
                "val_check_interval": 1.0, "check_val_every_n_epoch": 1, "enable_progress_bar": False,
                "num_sanity_val_steps": 0}
    trainer = L.Trainer(**settings, logger=False, enable_checkpointing=False, enable_model_summary=False,
                        callbacks=[flops, throughput], default_root_dir=str(run_dir))
    trainer.fit(module, datamodule=data)
    with torch.no_grad():
        change = math.sqrt(sum(float((parameter - before[name]).pow(2).sum())
                               for name, parameter in module.model.named_parameters()))
    trainer.save_checkpoint(str(run_dir / CHECKPOINT_DIR / "last.ckpt"))
    return {"finetune_weight_change_l2": change, **training_throughput(throughput, flops.train_flops),
            "global_step": trainer.global_step}
