"""LSG attention: configuration, block layout, backends, the attention modules and pattern introspection."""

from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.lsg import LSGAttention, LSGSelfAttention, additive_key_mask, lsg_attention

__all__ = ["LSGAttention", "LSGAttentionConfig", "LSGSelfAttention", "additive_key_mask", "lsg_attention"]
