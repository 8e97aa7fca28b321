"""`LSGBartConfig`: BART's configuration plus the LSG keys (spec §1), made by `models.lsg_config.define_lsg_config`.

Everything LSG is `models.lsg_config.LSGConfigMixin` (shared by the families): the LSG fields of
`attention.keys.LSGKeys`, one validation per construction, `base_model_prefix` "lsg" in files (it marks
the checkpoint as LSG; model classes use prefix "model"), the `auto_map` of the BART row of
`models.families` (the remote-code classes of `modeling_lsg_bart`, exported with the files) and
`lsg_attention`, the validated `LSGAttentionConfig` of these settings (one object, shared by the layers).
`model_type` stays "bart", so this config cannot be registered with `AutoConfig` (the slot belongs to
plain BART): load LSG checkpoints by class, or with `lsgzoo.models.load_model`, which picks the LSG class.
"""

from transformers import BartConfig

from lsgzoo.attention.keys import LSG_KEYS
from lsgzoo.models.lsg_config import define_lsg_config

LSGBartConfig = define_lsg_config(globals(), "Bart", BartConfig)
LSG_BART_AUTO_MAP = LSGBartConfig.lsg_family().auto_map()
LSG_BART_CONFIG_KEYS = LSG_KEYS  # the LSG keys LSGBartConfig adds to BART (all serialised), from `LSGKeys`
