"""Attention-product backends: softmax(q·kᵀ/√dh + mask)·v for batched query blocks.

Every backend takes queries (..., bs, dh), keys/values (..., K, dh) and an additive
mask broadcastable to (..., bs, K), and returns (..., bs, dh). `eager` is the
readable reference (scores divided by √dh after the product, as the original);
`sdpa` calls PyTorch's fused kernel. Select with the config key `backend`.
"""

import math

import torch
import torch.nn.functional as F


def eager_attention(query, key, value, mask, dropout: float = 0.0, training: bool = False):
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1]) + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(value.dtype)
    probs = F.dropout(probs, p=dropout, training=training)
    return torch.matmul(probs, value)


def sdpa_attention(query, key, value, mask, dropout: float = 0.0, training: bool = False):
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask.to(query.dtype), dropout_p=dropout if training else 0.0
    )


BACKENDS = {"eager": eager_attention, "sdpa": sdpa_attention}
