"""`LSGConfigMixin`: what every family's LSG config adds to its transformers config (spec §1).

A family's config class is `@strict class LSG<Name>Config(LSGConfigMixin, <Name>Config, LSGKeys)` with
nothing of its own, made by `define_lsg_config` (the one declaration, for every family): the mixin brings the two fields `base_model_prefix` ("lsg") and `auto_map`, and reads the host
fields LSG attention needs (the encoder head count and the attention dropout) under the names its row of
`models.families` gives (`Family.config_keys`). The LSG fields come from `attention.keys.LSGKeys`
(names, types and defaults in one place), so config.json reads and writes them under the
original's names; `model_type` stays the base family's, `base_model_prefix` is "lsg" (it marks a
checkpoint as LSG) and `auto_map` always points at the family's exported code (`models.families`).

Validation runs once per construction (so also on `from_pretrained`): the config builds its
`LSGAttentionConfig`, whose construction raises `ValueError` for values out of their key's range,
unknown selectors and combinations that would crash at forward time. Only values read from a
checkpoint's config.json get what the original corrected (`num_global_tokens` clamped to [1, 512],
`pool_with_global=True` under `mask_first_token`; `attention.config.original_corrections`), with a
warning naming the file's value and the one used, so the original's checkpoints load as they did; the
config then holds the value that runs, which is what it saves. The model hands that one object to every encoder layer. Assigning an LSG key
(or the dropout or head count) later drops it, and the next model built from the config validates again.
"""

import warnings
from dataclasses import dataclass

from huggingface_hub.dataclasses import strict

from lsgzoo.attention.config import LSGAttentionConfig, original_corrections
from lsgzoo.attention.keys import LSG_KEYS, LSGKeys, lsg_key_values
from lsgzoo.models.families import family_of_class

LSG_ATTENTION_ATTRIBUTE = "_lsg_attention"


@dataclass(init=False, repr=False, eq=False, kw_only=True)
class LSGConfigMixin:
    """The LSG fields and behaviour of a family config (see the module docstring for how a family uses it)."""

    base_model_prefix: str = "lsg"
    auto_map: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.base_model_prefix = "lsg"
        self.auto_map = self.lsg_family().auto_map()
        self.build_lsg_attention()
        misspelled = getattr(self, "lsg_num_pre_rounds", None)
        if misspelled is not None and misspelled != self.lsh_num_pre_rounds:
            warnings.warn(
                f"config key 'lsg_num_pre_rounds'={misspelled} is not used (the LSH key is "
                f"'lsh_num_pre_rounds', here {self.lsh_num_pre_rounds})",
                stacklevel=2,
            )

    @classmethod
    def lsg_family(cls):
        """This config's row of `models.families.FAMILIES`."""
        return family_of_class(cls.__name__)

    @classmethod
    def lsg_heads_key(cls) -> str:
        """The host field of the encoder head count (the row's "num_heads")."""
        return cls.lsg_family().config_key("num_heads")

    @classmethod
    def lsg_dropout_key(cls) -> str:
        """The host field of the attention dropout (the row's "attention_dropout")."""
        return cls.lsg_family().config_key("attention_dropout")

    @classmethod
    def lsg_host_keys(cls) -> frozenset:
        """Host fields LSG attention reads, with their `attribute_map` aliases: assigning one drops the settings."""
        keys = {cls.lsg_heads_key(), cls.lsg_dropout_key()}
        return frozenset(keys | {alias for alias, key in getattr(cls, "attribute_map", {}).items() if key in keys})

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """transformers' `from_dict`, with LSG-key overrides merged into the file's values before the one
        validation (transformers would assign them after construction)."""
        overrides = {key: kwargs.pop(key) for key in LSG_KEYS if key in kwargs}
        corrected = dict(config_dict)
        for key, (value, used) in original_corrections(config_dict).items():
            warnings.warn(f"the checkpoint's config has {key}={value!r}, which is out of range; it runs with "
                          f"{key}={used!r}, as the original LSG implementation corrected it, and this config "
                          "records that value", stacklevel=2)
            corrected[key] = used
        return super().from_dict({**corrected, **overrides}, **kwargs)

    def __setattr__(self, key, value):
        super().__setattr__(key, value)
        if key in LSG_KEYS or key in self.lsg_host_keys():
            self.__dict__.pop(LSG_ATTENTION_ATTRIBUTE, None)

    def build_lsg_attention(self) -> LSGAttentionConfig:
        """Validate the LSG keys (once) into an `LSGAttentionConfig` and keep it."""
        settings = LSGAttentionConfig(**self.lsg_settings(),
                                      attention_dropout=float(getattr(self, self.lsg_dropout_key()) or 0.0),
                                      num_heads=getattr(self, self.lsg_heads_key()))
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


def define_class(namespace: dict, name: str, bases: tuple, doc: str, **attributes) -> type:
    """Make class `name` with `type()` in a module (`namespace`: its `globals()`) as a class statement there
    would: its module and qualified name are the module's, so pickling, `save_pretrained` and `auto_map` remote
    code find it in the package and in the exported file alike. How the families' builders define classes."""
    body = {"__module__": namespace["__name__"], "__qualname__": name, "__doc__": doc, **attributes}
    namespace[name] = type(name, bases, body)
    return namespace[name]


def define_lsg_config(namespace: dict, stem: str, host_config_class) -> type:
    """Define in a family's module (`namespace`: its `globals()`) its config class
    `@strict LSG<stem>Config(LSGConfigMixin, host_config_class, LSGKeys)` (`define_class`) and return it;
    family-specific notes belong in the module's docstring."""
    name = f"LSG{stem}Config"
    display = family_of_class(name).display_name
    namespace[name] = strict(define_class(
        namespace, name, (LSGConfigMixin, host_config_class, LSGKeys),
        f"{display}'s configuration plus the LSG keys (`attention.keys.LSGKeys`; validation, "
        "`base_model_prefix` \"lsg\" and `auto_map`: `models.lsg_config.LSGConfigMixin`)."))
    return namespace[name]
