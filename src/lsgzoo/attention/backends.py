"""Attention backends: how LSG attention is computed, and which one `auto` picks.

A product function takes queries (..., q, dh), keys/values (..., K, dh) and an
additive mask broadcastable to (..., q, K), and returns (..., q, dh); the assembled
path (`LSGAttention.block_attention`) feeds it every block's [global | sparse | local] keys.
A backend may also own a whole-layer kernel (`layer`) that replaces the assembled path
where `available` says it can run; elsewhere it falls back (`fallback`, then its product).

Backends (config key `lsg_backend`, see `attention.keys`):
* `eager`: the readable reference: explicit scores divided by √dh after the
  product (as the original), softmax in at least float32, dropout, ·v.
* `sdpa`: PyTorch's fused `scaled_dot_product_attention` on the assembled blocks
  (no probabilities stored; the assembled keys are kept for backward).
* `fused`: on CPU (no attention dropout) `attention.fused`: one padded K/V buffer
  read through strided views, chunks of query blocks, a custom autograd function
  that stores what full attention stores and recomputes the selector. Elsewhere
  `sdpa` under checkpointing, re-assembling the per-block keys in backward.
* `flex`: `attention.flex`: one FlexAttention call over [tokens | sparse | global]
  keys with a cached `BlockMask` (compiled kernel). Needs torch ≥ 2.5, no attention
  dropout, and — FlexAttention has no CPU backward — no gradient on CPU; else `fused`.
* `auto` (the default): per device, the backend measured fastest (`AUTO_BACKENDS`).
"""

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from lsgzoo.attention.flex import flex_available, flex_lsg_attention
from lsgzoo.attention.fused import fused_block_attention_available, fused_lsg_attention
from lsgzoo.attention.keys import AUTO_BACKEND


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
    """product: the per-block attention product of the assembled path; recompute: that path re-assembles
    the block keys in backward instead of storing them; layer(cfg, q, k, v, key_mask, selector): a
    whole-layer kernel used where available(query, dropout) holds; fallback: the backend used instead
    when it does not (None: this backend's own assembled path); trainable_selectors: the layer kernel
    differentiates a selector's own parameters (else such selectors take the assembled path)."""

    name: str
    product: Callable
    recompute: bool = False
    layer: Callable | None = None
    available: Callable | None = None
    fallback: str | None = None
    trainable_selectors: bool = True


BACKENDS = {
    backend.name: backend
    for backend in (
        AttentionBackend("eager", eager_attention),
        AttentionBackend("sdpa", sdpa_attention),
        AttentionBackend("fused", sdpa_attention, recompute=True, layer=fused_lsg_attention,
                         available=fused_block_attention_available, trainable_selectors=False),
        AttentionBackend("flex", sdpa_attention, recompute=True, layer=flex_lsg_attention, available=flex_available,
                         fallback="fused"),
    )
}
AUTO = AUTO_BACKEND
# device type → backend `auto` runs there; chosen by the benchmark (docs/performance.md, "Choosing `auto`").
AUTO_BACKENDS = {"cpu": "fused", "cuda": "flex"}
AUTO_OTHERWISE = "fused"
BACKEND_CHOICES = (AUTO, *BACKENDS)
DEFAULT_BACKEND = AUTO


def resolve_backend(name: str, query, dropout: float) -> AttentionBackend:
    """The backend that runs `name` for these inputs: `auto` → `AUTO_BACKENDS` for the device, then
    `fallback` while a whole-layer kernel is unavailable (a fallback of an explicit choice warns)."""
    backend = BACKENDS[AUTO_BACKENDS.get(query.device.type, AUTO_OTHERWISE) if name == AUTO else name]
    while backend.fallback is not None and not backend.available(query, dropout):
        if name != AUTO:
            warnings.warn(f"lsg_backend={name!r} cannot run here ({query.device.type}, dropout={dropout}, "
                          f"gradient={query.requires_grad and torch.is_grad_enabled()}); using "
                          f"{backend.fallback!r}", stacklevel=4)
        backend = BACKENDS[backend.fallback]
    return backend
