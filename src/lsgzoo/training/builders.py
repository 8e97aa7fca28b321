"""Build the tokenizer and the LSG model a run config asks for (a tiny LSG-BART, or a checkpoint of any family)."""

from pathlib import Path

from lsgzoo.training.config import attention_settings
from lsgzoo.training.rundir import TOKENIZER_DIR


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


def build_model(cfg, tokenizer, num_labels: int | None = None):
    """A random-init tiny LSG-BART, or a checkpoint folder of any family (a plain one is converted on load).

    The run's attention keys override the checkpoint's; weights never depend on them except
    num_global_tokens (checked against the checkpoint's global table size, 512 rows). The class is the
    head of the checkpoint's family (`models.families`) whose task names include `data.task`.
    """
    from lsgzoo.models import LSG_BART_CLASSES, LSGBartConfig, is_lsg_checkpoint, load_model
    from lsgzoo.models.loading import checkpoint_family

    attention = attention_settings(cfg)
    task = cfg.data.task
    extra = {"num_labels": num_labels} if task == "classification" else {}
    if cfg.model.name_or_path is None:
        architecture = LSGBartConfig.lsg_family().head_for_task(task).lsg_class
        m = cfg.model
        config = LSGBartConfig(
            vocab_size=len(tokenizer), d_model=m.d_model, encoder_layers=m.encoder_layers,
            decoder_layers=m.decoder_layers, encoder_attention_heads=m.encoder_attention_heads,
            decoder_attention_heads=m.decoder_attention_heads, encoder_ffn_dim=m.encoder_ffn_dim,
            decoder_ffn_dim=m.decoder_ffn_dim, dropout=m.dropout, attention_dropout=m.attention_dropout, init_std=m.init_std,
            max_position_embeddings=m.max_position_embeddings, pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=tokenizer.eos_token_id,
            **attention, **extra)
        return LSG_BART_CLASSES[architecture](config)
    path = str(cfg.model.name_or_path)
    architecture = checkpoint_family(path).head_for_task(task).lsg_class
    overrides = dict(attention, dropout=cfg.model.dropout, attention_dropout=cfg.model.attention_dropout, **extra)
    if is_lsg_checkpoint(path):
        model = load_model(path, task, **overrides)
    else:
        from lsgzoo.models.conversion import convert_to_lsg

        model, _, _ = convert_to_lsg(path, max_length=cfg.data.max_source_length, architecture=architecture,
                                     **overrides)
    return model.train()  # from_pretrained returns eval mode: dropout would stay off while fine-tuning
