"""lsgzoo: long-context encoder-decoder Transformers with LSG (Local + Sparse + Global) attention.

Names load on first use, so `import lsgzoo` (and `lsgzoo --help`) does not import torch.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "LSGAttention": "lsgzoo.attention",
    "LSGAttentionConfig": "lsgzoo.attention",
    "LSGSelfAttention": "lsgzoo.attention",
    "lsg_attention": "lsgzoo.attention",
    "SparseSelector": "lsgzoo.selectors",
    "SparseTokens": "lsgzoo.selectors",
    "available_selectors": "lsgzoo.selectors",
    "register_selector": "lsgzoo.selectors",
    "LSGBartConfig": "lsgzoo.models",
    "LSGBartForCausalLM": "lsgzoo.models",
    "LSGBartForConditionalGeneration": "lsgzoo.models",
    "LSGBartForQuestionAnswering": "lsgzoo.models",
    "LSGBartForSequenceClassification": "lsgzoo.models",
    "LSGBartModel": "lsgzoo.models",
    "assert_lsg_model": "lsgzoo.models",
    "is_lsg_checkpoint": "lsgzoo.models",
    "load_model": "lsgzoo.models",
    "convert_bart_to_lsg": "lsgzoo.models.conversion",
    "convert_to_lsg": "lsgzoo.models.conversion",
    "export_model": "lsgzoo.hub",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name.startswith("LSG"):  # any family's config or model class, found through the family table
        models = importlib.import_module("lsgzoo.models")
        if models.family_of_class(name) is not None:
            return getattr(models, name)
    raise AttributeError(f"module 'lsgzoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
