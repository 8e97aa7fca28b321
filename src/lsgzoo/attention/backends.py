"""Attention backends: how softmax(q·kᵀ/√dh + mask)·v is computed for the query blocks.

A product function takes queries (..., q, dh), keys/values (..., K, dh) and an
additive mask broadcastable to (..., q, K), and returns (..., q, dh).

Backends (config key `backend`, `lsg_backend` in `LSGBartConfig`):
* `eager`: the readable reference: explicit scores divided by √dh after the
  product (as the original), softmax in at least float32, dropout, ·v.
* `sdpa`: PyTorch's fused `scaled_dot_product_attention` on the assembled blocks
  (no probabilities stored; the assembled keys are kept for backward).
* `fused`: on CPU (no attention dropout) `attention.fused`: one padded K/V buffer
  read through strided views, chunks of query blocks, a custom autograd function
  that stores what full attention stores and recomputes the selector. Elsewhere
  `sdpa` under checkpointing, re-assembling the per-block keys in backward. The
  fastest on CPU; the default.
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def eager_attention(query, key, value, mask, dropout: float = 0.0, training: bool = False):
    """Reference product: (..., q, dh), (..., K, dh) ×2, mask (..., 1|q, K) → (..., q, dh)."""
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1]) + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32)).to(value.dtype)
    probs = F.dropout(probs, p=dropout, training=training)
    return torch.matmul(probs, value)


def sdpa_attention(query, key, value, mask, dropout: float = 0.0, training: bool = False):
    """Fused product; inputs with more than 4 dims are flattened to 4-D (the fused CPU kernel's layout).

    (..., q, dh), (..., K, dh) ×2, mask broadcastable to (..., 1|q, K) → (..., q, dh).
    """
    lead = query.shape[:-2]
    mask = mask.to(query.dtype).expand(*lead, mask.shape[-2], key.shape[-2])
    if query.dim() > 4:
        query, key, value = (x.reshape(-1, *x.shape[-3:]) for x in (query, key, value))  # (B, H, q|K, dh)
        mask = mask.reshape(-1, *mask.shape[-3:])
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout if training else 0.0)
    return out.reshape(*lead, *out.shape[-2:])


@dataclass(frozen=True)
class AttentionBackend:
    """product: the attention product; recompute: backward re-assembles the block keys instead of
    storing them."""

    name: str
    product: Callable
    recompute: bool = False


BACKENDS = {
    backend.name: backend
    for backend in (
        AttentionBackend("eager", eager_attention),
        AttentionBackend("sdpa", sdpa_attention),
        AttentionBackend("fused", sdpa_attention, recompute=True),
    )
}
DEFAULT_BACKEND = "fused"
