"""`norm`: in each chunk of min(bs, sbs) tokens keep the bm // sf keys of largest L2 norm.

Masked keys score 0. Kept tokens stay in ascending-norm order (as the original);
the choice is made without gradient, gradients flow through the gathered keys.
"""

import torch

from lsgzoo.selectors.base import SparseSelector, SparseTokens, gather_tokens, index_sources, visible
from lsgzoo.selectors.registry import register_selector


def chunked_selection_checks(config, name: str) -> None:
    """Checks shared by selectors that work on chunks of bm = min(bs, sbs) tokens."""
    bs, sbs, sf = config.block_size, config.sparse_block_size, config.sparsity_factor
    bm = min(bs, sbs)
    if bs % bm != 0:
        raise ValueError(
            f"sparsity_type={name!r} works on chunks of min(block_size, sparse_block_size)={bm} "
            f"tokens, which must divide block_size={bs}; use a sparse_block_size dividing block_size"
        )
    if bm % sf != 0:
        raise ValueError(
            f"sparsity_type={name!r}: chunk size min(block_size, sparse_block_size)={bm} must be a "
            f"multiple of sparsity_factor={sf}; raise sparse_block_size or lower sparsity_factor"
        )


@register_selector("norm")
class NormSelector(SparseSelector):
    data_dependent = True
    per_head = True
    causal_form = True  # top-k inside chunks of min(bs, sbs) tokens, which divides bs: per completed block

    @classmethod
    def validate(cls, config):
        if config.sparsity_factor > 1:
            chunked_selection_checks(config, "norm")

    def chosen_positions(self, keys, mask) -> torch.Tensor:
        """Long (n, h, L): positions kept, chunk by chunk, ascending norm inside a chunk."""
        n, h, tp, _ = keys.shape
        bm = min(self.block_size, self.sparse_block_size)
        keep = bm // self.sparsity_factor

        def top_norm_positions():
            score = keys.norm(dim=-1) * visible(mask).squeeze(2)  # (n, h, tp)
            order = score.reshape(n, h, tp // bm, bm).argsort(dim=-1)[..., -keep:]
            offsets = torch.arange(0, tp, bm, device=keys.device).unsqueeze(-1)
            return (order + offsets).reshape(n, h, -1)

        return self.choose(top_norm_positions)

    def select(self, queries, keys, values, mask) -> SparseTokens:
        return gather_tokens(keys, values, mask, self.chosen_positions(keys, mask))

    def sources(self, length, num_heads, keys=None, mask=None):
        if keys is not None:
            if mask is None:
                mask = keys.new_zeros(1, 1, 1, length)
            return index_sources(self.chosen_positions(keys, mask)[0].cpu(), length)
        bm = min(self.block_size, self.sparse_block_size)
        keep = bm // self.sparsity_factor
        token_chunk = torch.arange(length // bm * keep) // keep
        return (token_chunk.unsqueeze(1) == (torch.arange(length) // bm).unsqueeze(0)).unsqueeze(0)
