"""`pooling`: masked mean of each chunk of sf consecutive tokens (L = tp / sf).

A chunk whose sf tokens are all masked gives a zero key/value and is masked.
"""

import torch

from lsgzoo.selectors.base import SparseSelector, SparseTokens, chunk_sources, visible
from lsgzoo.selectors.registry import register_selector

POOLING_EPS = 1e-6  # the original's constant: a full pair is divided by 2.000001


@register_selector("pooling")
class PoolingSelector(SparseSelector):
    causal_form = True  # chunks of sf tokens, inside one block (sf divides bs)

    def select(self, queries, keys, values, mask) -> SparseTokens:
        n, h, tp, dh = keys.shape
        sf = self.sparsity_factor
        nu = visible(mask).reshape(n, 1, tp // sf, sf, 1)  # (n, 1, L, sf, 1)
        count = nu.sum(dim=-2)  # (n, 1, L, 1)
        pooled_keys = (keys.reshape(n, h, -1, sf, dh) * nu).sum(dim=-2) / (count + POOLING_EPS)
        pooled_values = (values.reshape(n, h, -1, sf, dh) * nu).sum(dim=-2) / (count + POOLING_EPS)
        pooled_mask = (1 - count.clamp(max=1)) * torch.finfo(mask.dtype).min  # (n, 1, L, 1)
        return SparseTokens(pooled_keys, pooled_values, pooled_mask.transpose(-1, -2))

    def sources(self, length, num_heads, keys=None, mask=None):
        return chunk_sources(length, self.sparsity_factor)
