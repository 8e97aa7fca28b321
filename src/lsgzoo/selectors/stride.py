"""`stride`: head η keeps positions j·sf + (η mod sf), so heads cover different phases."""

import torch

from lsgzoo.selectors.base import SparseSelector, SparseTokens, gather_tokens, index_sources
from lsgzoo.selectors.registry import register_selector


@register_selector("stride")
class StrideSelector(SparseSelector):
    per_head = True
    causal_form = True  # entry k is a position of chunk k (sf tokens, inside one block)

    def positions(self, length: int, num_heads: int, device=None) -> torch.Tensor:
        """Long (h, length // sf)."""
        sf = self.sparsity_factor
        phase = torch.arange(num_heads, device=device) % sf
        return torch.arange(0, length - sf + 1, sf, device=device).unsqueeze(0) + phase.unsqueeze(1)

    def select(self, queries, keys, values, mask) -> SparseTokens:
        positions = self.positions(keys.shape[2], keys.shape[1], keys.device)
        return gather_tokens(keys, values, mask, positions.unsqueeze(0))

    def sources(self, length, num_heads, keys=None, mask=None):
        return index_sources(self.positions(length, num_heads), length)
