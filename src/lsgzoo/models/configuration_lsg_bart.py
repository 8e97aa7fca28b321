"""`LSGBartConfig`: BART's configuration plus the LSG keys (spec §1).

The LSG fields are inherited from `attention.keys.LSGKeys` (the single source of their names,
types and defaults), so config.json reads and writes them under the original's names. The file
format is the original LSG-BART one: `model_type` stays "bart", the instance attribute
`base_model_prefix` is "lsg" (it marks a checkpoint as LSG), and `auto_map` always points at the
classes of module `modeling_lsg_bart` (from the head table, `models.heads`). Because `model_type`
is "bart", this config cannot be registered with `AutoConfig` (the slot belongs to plain BART):
load LSG checkpoints by class, or with `lsgzoo.models.load_model`, which picks the LSG class.

Validation runs once per construction (so also on `from_pretrained`): the config builds its
`LSGAttentionConfig`, whose construction raises `ValueError` for unknown selectors and combinations
that would crash at forward time, and corrects what the original corrected (`num_global_tokens`
clamped to [1, 512], `pool_with_global=True` under `mask_first_token`) with a warning; the corrected
values are written back. The model hands that one object to every encoder layer. Assigning an LSG key
(or the dropout or head count) later drops it, and the next model built from the config validates again.
"""

import warnings

from huggingface_hub.dataclasses import strict
from transformers import BartConfig

from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.keys import LSG_KEYS, LSGKeys, lsg_key_values
from lsgzoo.models.heads import LSG_BART_HEADS, remote_code_auto_map

LSG_BART_AUTO_MAP = remote_code_auto_map("LSGBartConfig", LSG_BART_HEADS)
LSG_BART_CONFIG_KEYS = LSG_KEYS  # the LSG keys LSGBartConfig adds to BART (all serialised), from `LSGKeys`
# BART fields LSG attention reads (through `attribute_map` aliases too); assigning one drops the built settings.
LSG_HOST_KEYS = frozenset({"attention_dropout", "encoder_attention_heads", "num_attention_heads"})
LSG_ATTENTION_ATTRIBUTE = "_lsg_attention"


@strict
class LSGBartConfig(BartConfig, LSGKeys):
    r"""BART configuration with LSG (Local + Sparse + Global) encoder self-attention.

    The LSG keys and their meaning: `lsgzoo.attention.keys.LSGKeys`.
    base_model_prefix: always "lsg" in files (marks the checkpoint as LSG; model classes use prefix "model").
    auto_map: always the remote-code classes of `modeling_lsg_bart` (files exported with their code).
    lsg_attention: the validated `LSGAttentionConfig` of these settings (one object, shared by the layers).
    """

    base_model_prefix: str = "lsg"
    auto_map: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.base_model_prefix = "lsg"
        self.auto_map = dict(LSG_BART_AUTO_MAP)
        self.build_lsg_attention()
        misspelled = getattr(self, "lsg_num_pre_rounds", None)
        if misspelled is not None and misspelled != self.lsh_num_pre_rounds:
            warnings.warn(
                f"config key 'lsg_num_pre_rounds'={misspelled} is not used (the LSH key is "
                f"'lsh_num_pre_rounds', here {self.lsh_num_pre_rounds})",
                stacklevel=2,
            )

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """transformers' `from_dict`, with LSG-key overrides merged into the file's values before the one
        validation (transformers would assign them after construction)."""
        overrides = {key: kwargs.pop(key) for key in LSG_KEYS if key in kwargs}
        return super().from_dict({**config_dict, **overrides}, **kwargs)

    def __setattr__(self, key, value):
        super().__setattr__(key, value)
        if key in LSG_KEYS or key in LSG_HOST_KEYS:
            self.__dict__.pop(LSG_ATTENTION_ATTRIBUTE, None)

    def build_lsg_attention(self) -> LSGAttentionConfig:
        """Validate the LSG keys (once) into an `LSGAttentionConfig`, write its corrections back, keep it."""
        settings = LSGAttentionConfig(**self.lsg_settings(), attention_dropout=float(self.attention_dropout or 0.0),
                                      num_heads=self.encoder_attention_heads)
        for key, value in lsg_key_values(settings).items():
            if getattr(self, key) != value:
                setattr(self, key, value)
        self.__dict__[LSG_ATTENTION_ATTRIBUTE] = settings
        return settings

    @property
    def lsg_attention(self) -> LSGAttentionConfig:
        """The validated attention settings; rebuilt (validated again) only after an LSG key was assigned."""
        return self.__dict__.get(LSG_ATTENTION_ATTRIBUTE) or self.build_lsg_attention()

    def lsg_settings(self) -> dict:
        """The LSG keys and their values."""
        return lsg_key_values(self)

    def to_dict(self) -> dict:
        """transformers' serialisation, without the built attention settings (they derive from the keys)."""
        output = super().to_dict()
        output.pop(LSG_ATTENTION_ATTRIBUTE, None)
        return output
