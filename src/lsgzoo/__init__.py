"""lsgzoo: long-context encoder-decoder Transformers with LSG (Local + Sparse + Global) attention."""

from lsgzoo.attention import LSGAttention, LSGAttentionConfig, LSGSelfAttention, lsg_attention
from lsgzoo.selectors import SparseSelector, SparseTokens, available_selectors, register_selector

__version__ = "0.1.0"

# LSG-BART models load transformers' BART on first use: `import lsgzoo` stays cheap.
_LAZY_MODEL_NAMES = (
    "LSGBartConfig",
    "LSGBartForCausalLM",
    "LSGBartForConditionalGeneration",
    "LSGBartForQuestionAnswering",
    "LSGBartForSequenceClassification",
    "LSGBartModel",
    "assert_lsg_model",
    "is_lsg_checkpoint",
    "load_model",
)


def __getattr__(name):
    if name in _LAZY_MODEL_NAMES:
        import lsgzoo.models

        return getattr(lsgzoo.models, name)
    raise AttributeError(f"module 'lsgzoo' has no attribute {name!r}")


__all__ = [
    *_LAZY_MODEL_NAMES,
    "LSGAttention",
    "LSGAttentionConfig",
    "LSGSelfAttention",
    "SparseSelector",
    "SparseTokens",
    "available_selectors",
    "lsg_attention",
    "register_selector",
]
