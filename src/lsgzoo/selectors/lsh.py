"""`lsh`: random-projection hashing of each chunk of bm = min(bs, sbs) tokens into buckets.

Each chunk's ν-masked keys are hashed by a chain of rounds: `lsh_num_pre_rounds`
rounds into bm buckets, then one into bm // sf buckets. A round draws
`torch.randn(1, h, 1, dh, out // 2)` from the global RNG (shared by all rows and
chunks), projects the L2-normalised inputs, takes argmax over [proj, -proj] and
sums keys, values and token counts into fresh buckets. Sparse tokens are the
bucket means; empty buckets are masked. With sf == sbs the selector is bos_pooling.
Randomness is drawn at every forward in this fixed order, so seeding the global
RNG reproduces a run.
"""

import torch
import torch.nn.functional as F

from lsgzoo.selectors.base import SparseSelector, SparseTokens, chunk_sources, index_sources, visible
from lsgzoo.selectors.bos_pooling import bos_pool
from lsgzoo.selectors.norm import chunked_selection_checks
from lsgzoo.selectors.registry import register_selector

LSH_EPS = 1e-8


def argmax_signed(projected):
    """argmax over [projected, −projected] on the last dim (first index on ties), without the concatenation."""
    top, top_index = projected.max(dim=-1)
    low, low_index = projected.min(dim=-1)
    return torch.where(top >= -low, top_index, low_index + projected.shape[-1])


def sum_into_buckets(rows, buckets, num_buckets: int):
    """rows (..., cur, d), buckets (..., cur) long in [0, num_buckets) → (..., num_buckets, d) bucket sums.

    One `index_add_` over whole d-rows (a `scatter_add` with a d-expanded index is several times slower).
    """
    *lead, cur, d = rows.shape
    groups = buckets.numel() // cur
    target = (buckets + torch.arange(groups, device=buckets.device).view(*buckets.shape[:-1], 1) * num_buckets)
    sums = rows.new_zeros(groups * num_buckets, d).index_add_(0, target.reshape(-1), rows.reshape(-1, d))
    return sums.view(*lead, num_buckets, d)


@register_selector("lsh")
class LSHSelector(SparseSelector):
    data_dependent = True
    per_head = True
    causal_form = True  # buckets of one chunk of min(bs, sbs) tokens (inside one block), planes are not data

    @classmethod
    def causal_refusal(cls, config):
        if config.sparsity_factor == config.sparse_block_size and config.sparsity_factor > 1:
            return (f"with sparsity_factor == sparse_block_size ({config.sparsity_factor}) lsh is bos_pooling, "
                    f"whose sparse tokens are never masked; pick another sparsity_factor or bos_pooling_masked")
        return super().causal_refusal(config)

    @classmethod
    def validate(cls, config):
        sf, sbs = config.sparsity_factor, config.sparse_block_size
        if sf <= 1 or sf == sbs:
            return
        chunked_selection_checks(config, "lsh")
        bm = min(config.block_size, sbs)
        if bm // sf < 2:
            raise ValueError(
                f"sparsity_type='lsh' needs min(block_size, sparse_block_size) // sparsity_factor >= 2 "
                f"buckets per chunk (got {bm} // {sf}); lower sparsity_factor or raise sparse_block_size"
            )

    def hash_chunks(self, keys, values, mask):
        """Bucket sums (n, h, C, out, dh) ×2, counts (n, h|1, C, out, 1), and each token's
        final bucket (n, h, C, bm) — C = tp / bm chunks."""
        n, h, tp, dh = keys.shape
        bm = min(self.block_size, self.sparse_block_size)
        nu = visible(mask).reshape(n, 1, tp // bm, bm, 1)  # (n, 1, C, bm, 1)
        bucket_keys = keys.reshape(n, h, -1, bm, dh) * nu
        bucket_values = values.reshape(n, h, -1, bm, dh) * nu
        counts = nu
        assignment = torch.arange(bm, device=keys.device).expand(n, h, tp // bm, bm)
        for out in [bm] * self.lsh_num_pre_rounds + [bm // self.sparsity_factor]:
            def hash_round(bucket_keys=bucket_keys, counts=counts, out=out):
                planes = torch.randn(1, h, 1, dh, out // 2, device=keys.device).to(keys.dtype)
                projected = torch.matmul(F.normalize(bucket_keys, dim=-1) * counts.clamp(max=1), planes)
                return argmax_signed(projected)  # (n, h, C, cur)

            buckets = self.choose(hash_round)
            assignment = buckets.gather(-1, assignment)
            bucket_keys = sum_into_buckets(bucket_keys, buckets, out)
            bucket_values = sum_into_buckets(bucket_values, buckets, out)
            counts = sum_into_buckets(counts.expand(n, h, -1, -1, -1), buckets, out)
        return bucket_keys, bucket_values, counts, assignment

    def select(self, queries, keys, values, mask) -> SparseTokens:
        if self.sparsity_factor == self.sparse_block_size:
            return bos_pool(queries, keys, values, mask, self.sparsity_factor)
        n, h, _, dh = keys.shape
        bucket_keys, bucket_values, counts, _ = self.hash_chunks(keys, values, mask)
        sparse_mask = (1 - counts.clamp(max=1)) * torch.finfo(mask.dtype).min  # (n, h, C, out, 1)
        # the original's +1e-8 underflows to 0 in float16: clamp so empty buckets stay 0 / tiny = 0
        denominator = (counts + LSH_EPS).clamp(min=torch.finfo(counts.dtype).tiny)
        return SparseTokens(
            (bucket_keys / denominator).reshape(n, h, -1, dh),
            (bucket_values / denominator).reshape(n, h, -1, dh),
            sparse_mask.reshape(n, h, 1, -1),
        )

    def sources(self, length, num_heads, keys=None, mask=None):
        bm = min(self.block_size, self.sparse_block_size)
        sf = self.sparsity_factor
        if sf == self.sparse_block_size:
            return chunk_sources(length, sf)
        out = bm // sf
        if keys is None:
            token_chunk = torch.arange(length // bm * out) // out
            return (token_chunk.unsqueeze(1) == (torch.arange(length) // bm).unsqueeze(0)).unsqueeze(0)
        if mask is None:
            mask = keys.new_zeros(1, 1, 1, length)
        _, _, _, assignment = self.hash_chunks(keys, keys, mask)  # (1, h, C, bm)
        token = assignment[0] + out * torch.arange(length // bm, device=keys.device).unsqueeze(-1)
        return index_sources(token.reshape(num_heads, length).cpu(), length // bm * out).transpose(1, 2)
