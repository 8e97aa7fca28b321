"""Build the tokenizer and the LSG model a run config asks for: a random-init model of a family (`model.family`),
or a checkpoint folder of any family. Family differences come from its row of `models.families.FAMILIES`."""

from pathlib import Path

from lsgzoo.training.config import ConfigError, attention_settings, validate_model_family
from lsgzoo.training.rundir import TOKENIZER_DIR


def build_source(cfg):
    """The run's data source (`cfg.data.source`, built by Hydra) and its loaded, checked splits.

    A source that refuses its settings or its data raises `DataError`; Hydra's wrapper around errors in
    a `_target_`'s constructor is taken off, so it reaches the user as the one-line error it is. Raises
    before any tokenizer or model is built.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from lsgzoo.data.checks import DataError, check_splits

    try:
        source = instantiate(cfg.data.source)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        if isinstance(cause, (ValueError, TypeError)):  # a task's settings, or a key the source does not take
            raise DataError(f"data.source: {cause}") from None
        raise
    raw = source.load()
    check_splits(raw, cfg.data.batch_size)
    return source, raw


def build_tokenizer(cfg, datasets, run_dir: Path, extra_texts=()):
    """The checkpoint's tokenizer, the run's saved one (resume), or one trained on the train split.

    extra_texts: more training text for a new tokenizer (a source's `tokenizer_corpus()`, which
    guarantees every word of a synthetic task a vocabulary entry even in a small train split).
    """
    from transformers import AutoTokenizer

    saved = run_dir / TOKENIZER_DIR
    if cfg.model.name_or_path is not None:
        return AutoTokenizer.from_pretrained(str(cfg.model.name_or_path))
    if saved.is_dir():
        return AutoTokenizer.from_pretrained(str(saved))
    from lsgzoo.data.tokenization import train_tokenizer

    train = datasets["train"]
    texts = list(train["source"]) + (list(train["target"]) if "target" in train.column_names else [])
    texts += list(extra_texts)
    tokenizer = train_tokenizer(texts, cfg.model.tokenizer.kind, cfg.model.tokenizer.vocab_size)
    tokenizer.save_pretrained(str(saved))
    return tokenizer


# Keys of the `model` group that are not config fields of the family: where the model comes from, its tokenizer,
# and the family-neutral settings each family names in its row (`Family.config_keys`).
MODEL_GROUP_KEYS = ("name_or_path", "family", "tokenizer", "dropout", "attention_dropout")


def config_fields(config_class) -> frozenset:
    import dataclasses

    return frozenset(field.name for field in dataclasses.fields(config_class))


def training_overrides(cfg, family, config_class) -> dict:
    """model.dropout / model.attention_dropout under the family's config names (checked to be config fields:
    transformers configs accept unknown keys silently)."""
    overrides = family.training_overrides(dropout=cfg.model.dropout, attention_dropout=cfg.model.attention_dropout)
    unknown = sorted(set(overrides) - config_fields(config_class))
    if unknown:
        raise ConfigError(f"model.dropout: the {family.display_name} row of FAMILIES maps it to {unknown}, which "
                          f"{config_class.__name__} does not have; fix that row's config_keys")
    return overrides


def scratch_config(cfg, family, config_class, tokenizer, **settings):
    """A random-init model's config: the `model` group's family-native keys (every key but MODEL_GROUP_KEYS),
    the vocabulary and special-token ids of the tokenizer, and `settings`."""
    native = {key: cfg.model[key] for key in cfg.model if key not in MODEL_GROUP_KEYS}
    unknown = sorted(set(native) - config_fields(config_class))
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: not a setting of {config_class.__name__} (model.family={family.name}); "
                          f"besides {', '.join(MODEL_GROUP_KEYS)} the model group holds that config's own fields")
    return config_class(**native, vocab_size=len(tokenizer), **family.token_id_settings(tokenizer), **settings)


def build_model(cfg, tokenizer, num_labels: int | None = None):
    """A random-init model of `model.family` (tiny.yaml: LSG-BART; tiny_encoder.yaml: LSG-BERT), or a checkpoint
    folder of any family (a plain one is converted on load).

    The class is the head of the family (`models.families`) whose task names include `data.task`
    (classification: the family's ForSequenceClassification). The run's attention keys override the
    checkpoint's; weights never depend on them except num_global_tokens (checked against the checkpoint's
    global table size, 512 rows). model.dropout / model.attention_dropout reach the config under the
    family's own names (`Family.config_keys`), never BART's by assumption.
    """
    from lsgzoo.models import is_lsg_checkpoint, load_model
    from lsgzoo.models.loading import lsg_classes, lsg_config_class

    attention = attention_settings(cfg)
    task = cfg.data.task
    extra = {"num_labels": num_labels} if task == "classification" else {}
    family = validate_model_family(cfg)
    architecture = family.head_for_task(task).lsg_class
    config_class = lsg_config_class(family)
    overrides = dict(attention, **training_overrides(cfg, family, config_class), **extra)
    if cfg.model.name_or_path is None:
        model = lsg_classes(family)[architecture](scratch_config(cfg, family, config_class, tokenizer, **overrides))
    else:
        path = str(cfg.model.name_or_path)
        if is_lsg_checkpoint(path):
            model = load_model(path, task, **overrides)
        else:
            from lsgzoo.models.conversion import convert_to_lsg

            model, _, _ = convert_to_lsg(path, max_length=cfg.data.max_source_length, architecture=architecture,
                                         **overrides)
    # the run dir's model/config.json names the class trained (read back by load_run_model and export): a new
    # config has no architectures, a checkpoint's names the head it was saved with, not data.task's
    model.config.architectures = [type(model).__name__]
    return model.train()  # from_pretrained returns eval mode: dropout would stay off while fine-tuning


def build_data_and_module(cfg, source, raw, tokenizer, model, num_labels: int | None = None):
    """The set-up `TextDataModule` over the loaded splits `raw`, and the Lightning module of `cfg.data.task`.

    Shared by training and `lsgzoo.eval`: batches are padded to a multiple of `cfg.attention.block_size`, and the
    module takes the run's optimiser settings (and, for seq2seq, its generation settings and text metrics).
    """
    from omegaconf import OmegaConf

    from lsgzoo.data.datamodule import TextDataModule
    from lsgzoo.training.module import ClassificationModule, Seq2SeqModule

    data = TextDataModule(source, tokenizer, task=cfg.data.task, batch_size=cfg.data.batch_size,
                          eval_batch_size=cfg.data.eval_batch_size, max_source_length=cfg.data.max_source_length,
                          max_target_length=cfg.data.max_target_length,
                          pad_to_multiple_of=cfg.attention.block_size, num_workers=cfg.data.num_workers, datasets=raw,
                          seed=cfg.seed)
    data.setup()
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    if cfg.data.task == "seq2seq":
        module = Seq2SeqModule(model, tokenizer, optim, OmegaConf.to_container(cfg.data.generation, resolve=True),
                               list(cfg.data.metrics))
    else:
        module = ClassificationModule(model, tokenizer, optim, num_labels)
    return data, module
