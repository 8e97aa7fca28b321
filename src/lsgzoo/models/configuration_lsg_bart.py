"""`LSGBartConfig`: BART's configuration plus the LSG keys (spec §1).

Everything LSG is `models.lsg_config.LSGConfigMixin` (shared by the families): the LSG fields of
`attention.keys.LSGKeys`, one validation per construction, `base_model_prefix` "lsg" and the
`auto_map` of the BART row of `models.families`. `model_type` stays "bart", so this config cannot
be registered with `AutoConfig` (the slot belongs to plain BART): load LSG checkpoints by class, or
with `lsgzoo.models.load_model`, which picks the LSG class.
"""

from huggingface_hub.dataclasses import strict
from transformers import BartConfig

from lsgzoo.attention.keys import LSG_KEYS, LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin


@strict
class LSGBartConfig(LSGConfigMixin, BartConfig, LSGKeys):
    r"""BART configuration with LSG (Local + Sparse + Global) encoder self-attention.

    The LSG keys and their meaning: `lsgzoo.attention.keys.LSGKeys`.
    base_model_prefix: always "lsg" in files (marks the checkpoint as LSG; model classes use prefix "model").
    auto_map: always the remote-code classes of `modeling_lsg_bart` (files exported with their code).
    lsg_attention: the validated `LSGAttentionConfig` of these settings (one object, shared by the layers).
    """


LSG_BART_AUTO_MAP = LSGBartConfig.lsg_family().auto_map()
LSG_BART_CONFIG_KEYS = LSG_KEYS  # the LSG keys LSGBartConfig adds to BART (all serialised), from `LSGKeys`
