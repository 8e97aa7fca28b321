"""LSG attention: keys and configuration, block layout, backends, the attention modules and pattern introspection.

Names load on first use, so `lsgzoo.attention.keys` (the Hydra schema) is importable without torch.
"""

import importlib

_EXPORTS = {
    "LSGAttention": "lsgzoo.attention.lsg",
    "LSGAttentionConfig": "lsgzoo.attention.config",
    "LSGKeys": "lsgzoo.attention.keys",
    "LSGSelfAttention": "lsgzoo.attention.lsg",
    "additive_key_mask": "lsgzoo.attention.lsg",
    "lsg_attention": "lsgzoo.attention.lsg",
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
