"""`block_stride`: in block β, head η keeps β·bs + ((η·c + k) mod bs) for k < c = bs / sf."""

import torch

from lsgzoo.selectors.base import SparseSelector, SparseTokens, gather_tokens, index_sources
from lsgzoo.selectors.registry import register_selector


@register_selector("block_stride")
class BlockStrideSelector(SparseSelector):
    per_head = True
    causal_form = True  # the entries of block β are positions of block β

    def positions(self, length: int, num_heads: int, device=None) -> torch.Tensor:
        """Long (h, length // sf)."""
        bs = self.block_size
        c = bs // self.sparsity_factor
        within = (torch.arange(num_heads, device=device).unsqueeze(1) * c + torch.arange(c, device=device)) % bs
        block_start = torch.arange(0, length, bs, device=device)
        return (block_start.view(1, -1, 1) + within.unsqueeze(1)).reshape(num_heads, -1)

    def select(self, queries, keys, values, mask) -> SparseTokens:
        positions = self.positions(keys.shape[2], keys.shape[1], keys.device)
        return gather_tokens(keys, values, mask, positions.unsqueeze(0))

    def sources(self, length, num_heads, keys=None, mask=None):
        return index_sources(self.positions(length, num_heads), length)
