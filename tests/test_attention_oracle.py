"""LSG attention equals a dense softmax over explicitly listed key sets (float64 oracle).

Every backend is checked against the same oracle result: `eager` in float64, the
fused kernels (`sdpa`, `fused`, `flex`, which take fp32/bf16/fp16) on the fp32-rounded inputs.
"""

import itertools
from dataclasses import replace

import pytest
import torch

from lsgzoo import LSGAttentionConfig, available_selectors, lsg_attention
from reference import reference_lsg

BUILTIN = ["none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling"]
BACKEND_DTYPES = {"eager": torch.float64, "sdpa": torch.float32, "fused": torch.float32, "flex": torch.float32}


def random_inputs(n, h, total, dh, dtype=torch.float64):
    return [torch.randn(n, h, total, dh, dtype=dtype) for _ in range(3)]


def lsh_planes(cfg, h, dh, seed):
    """Draw the lsh planes exactly as the selector does: one randn per round, in order."""
    torch.manual_seed(seed)
    bm = min(cfg.block_size, cfg.sparse_block_size or cfg.block_size)
    outs = [bm] * cfg.lsh_num_pre_rounds + [bm // max(cfg.sparsity_factor, 1)]
    return [torch.randn(1, h, 1, dh, out // 2).to(torch.float64)[0, :, 0] for out in outs]


def check_against_oracle(cfg, length, n=2, h=2, dh=4, pad_rows=True, seed=7):
    q, k, v = (x.float().double() for x in random_inputs(n, h, cfg.num_global_tokens + length, dh))
    padding = torch.ones(n, length)
    if pad_rows:
        padding[1, length - max(1, length // 3):] = 0  # a second row with a different amount of padding
        padding[0, 1] = 0  # and a hole in the first
    planes = lsh_planes(cfg, h, dh, seed) if cfg.sparsity_type == "lsh" and cfg.sparse_enabled else None
    want = reference_lsg(q, k, v, cfg, padding, planes)
    for backend, dtype in BACKEND_DTYPES.items():
        torch.manual_seed(seed)
        got = lsg_attention(q.to(dtype), k.to(dtype), v.to(dtype), replace(cfg, lsg_backend=backend), padding)
        assert got.shape == want.shape
        torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0, msg=lambda m: f"{backend}: {m}")


def test_every_builtin_selector_is_registered():
    assert set(BUILTIN) <= set(available_selectors())


GRID = list(itertools.product(BUILTIN, [8, 16, 32], [0, 8, 16], [1, 2, 4], [1, 3]))


@pytest.mark.parametrize("selector,block,sparse_block,factor,globals_", GRID)
def test_dense_oracle_grid(selector, block, sparse_block, factor, globals_):
    cfg = LSGAttentionConfig(
        block_size=block, sparse_block_size=sparse_block, sparsity_factor=factor,
        sparsity_type=selector, num_global_tokens=globals_,
    )
    check_against_oracle(cfg, length=5 * block + 3)


@pytest.mark.parametrize("selector", BUILTIN)
@pytest.mark.parametrize("length", [5, 16, 17, 33, 64])
def test_dense_oracle_lengths_and_first_token_mask(selector, length):
    """Short inputs (full attention), exact multiples, off-by-one lengths; mask_first_token."""
    for mask_first in (False, True):
        cfg = LSGAttentionConfig(block_size=8, sparse_block_size=8, sparsity_factor=2,
                                 sparsity_type=selector, num_global_tokens=2, mask_first_token=mask_first)
        check_against_oracle(cfg, length=length)


@pytest.mark.parametrize("rounds", [0, 1, 2])
def test_dense_oracle_lsh_rounds(rounds):
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=4,
                             sparsity_type="lsh", lsh_num_pre_rounds=rounds)
    check_against_oracle(cfg, length=90)


def test_lsh_with_factor_equal_to_sparse_block_is_bos_pooling():
    q, k, v = random_inputs(1, 2, 1 + 70, 4)
    kw = dict(block_size=8, sparse_block_size=4, sparsity_factor=4)
    lsh = lsg_attention(q, k, v, LSGAttentionConfig(sparsity_type="lsh", **kw))
    bos = lsg_attention(q, k, v, LSGAttentionConfig(sparsity_type="bos_pooling", **kw))
    torch.testing.assert_close(lsh, bos, atol=0, rtol=0)
