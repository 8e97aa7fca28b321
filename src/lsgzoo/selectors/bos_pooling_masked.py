"""`bos_pooling_masked`: bos_pooling that masks chunks holding no real token.

The original bos_pooling never masks its tokens, so an all-padding chunk yields a
visible token built from padding keys and extra right padding can change outputs.
This variant (not in the original) masks such chunks, making outputs at real
positions independent of padding.

It is bos_pooling's causal form: with `causal=True` the pooling query is the first visible
(unpadded) position's, so that left padding does not steer the pooling weights either; that
position lies before every chunk with a visible token (the others are masked).
"""

import torch

from lsgzoo.selectors.base import visible
from lsgzoo.selectors.bos_pooling import BosPoolingSelector, bos_pool
from lsgzoo.selectors.registry import register_selector


@register_selector("bos_pooling_masked")
class MaskedBosPoolingSelector(BosPoolingSelector):
    causal_form = True

    def select(self, queries, keys, values, mask):
        n, _, _, tp = mask.shape
        first = visible(mask).view(n, tp).argmax(-1) if self.causal else None  # (n,) first visible position
        tokens = bos_pool(queries, keys, values, mask, self.sparsity_factor, first)
        real = visible(mask).reshape(n, 1, 1, tp // self.sparsity_factor, self.sparsity_factor).amax(-1)
        tokens.mask = (1 - real) * torch.finfo(mask.dtype).min  # (n, 1, 1, L)
        return tokens
