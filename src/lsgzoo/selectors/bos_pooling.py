"""`bos_pooling`: attention pooling of each chunk of sf tokens, queried by real token 0.

a = softmax(q₀·kⱼᵀ/√dh + maskⱼ) over the chunk; sparse key = Σ aⱼ kⱼ (same for values).
As in the original, the resulting tokens are never masked (the chunk-mean mask
overflows to -inf, then everything ≠ finfo.min is set visible).
"""

import math

import torch

from lsgzoo.selectors.base import SparseSelector, SparseTokens, chunk_sources
from lsgzoo.selectors.registry import register_selector


def bos_pool(queries, keys, values, mask, chunk: int, first=None) -> SparseTokens:
    """(n, h, tp, dh) ×3, (n, 1, 1, tp) → pooled tokens (n, h, tp / chunk, dh), mask zeros.

    first: optional long (n,), the position whose query pools each row (default: real position 0).
    """
    n, h, tp, dh = keys.shape
    if first is None:
        first_query = queries[:, :, :1]  # (n, h, 1, dh): real position 0, masked or not
    else:
        first_query = queries.gather(2, first.view(n, 1, 1, 1).expand(n, h, 1, dh))  # (n, h, 1, dh)
    scores = torch.matmul(first_query, keys.transpose(-1, -2)) / math.sqrt(dh) + mask  # (n, h, 1, tp)
    weights = torch.softmax(scores.reshape(n, h, tp // chunk, 1, chunk), dim=-1)
    pooled_keys = torch.matmul(weights, keys.reshape(n, h, -1, chunk, dh)).squeeze(-2)
    pooled_values = torch.matmul(weights, values.reshape(n, h, -1, chunk, dh)).squeeze(-2)
    return SparseTokens(pooled_keys, pooled_values, mask.new_zeros(n, 1, 1, tp // chunk))


@register_selector("bos_pooling")
class BosPoolingSelector(SparseSelector):
    no_causal_form = ("its sparse tokens are never masked (the original's rule), so a chunk of padding would be a "
                      "visible key; use sparsity_type='bos_pooling_masked', its causal form")

    def select(self, queries, keys, values, mask) -> SparseTokens:
        return bos_pool(queries, keys, values, mask, self.sparsity_factor)

    def sources(self, length, num_heads, keys=None, mask=None):
        return chunk_sources(length, self.sparsity_factor)
