"""Invariants of LSG attention: connectivity counts, padding, gradients, stability, complexity."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lsgzoo import LSGAttentionConfig, lsg_attention
from lsgzoo.attention.pattern import attention_pattern, key_counts, plot_pattern

BUILTIN = ["none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling"]


def small_config(selector, **kw):
    base = dict(block_size=8, sparse_block_size=8, sparsity_factor=2, sparsity_type=selector, num_global_tokens=1)
    return LSGAttentionConfig(**{**base, **kw})


# --- connectivity (spec §5) -------------------------------------------------------------

@pytest.mark.parametrize("selector", ["norm", "pooling", "stride", "block_stride", "bos_pooling"])
def test_key_counts_small_case(selector):
    assert key_counts(small_config(selector), 64, num_heads=4)[0].tolist() == [25, 33, 37, 41, 41, 37, 33, 25]


def test_key_counts_without_sparse():
    assert key_counts(small_config("none"), 64)[0].tolist() == [17, 25, 25, 25, 25, 25, 25, 17]
    assert key_counts(small_config("norm", sparse_block_size=0), 64)[0].tolist() == [17] + [25] * 6 + [17]


def test_key_counts_default_config_at_4096():
    counts = key_counts(LSGAttentionConfig(), 4096, head_dim=4)[0].tolist()
    assert counts == [385, 513, 577] + [641] * 26 + [577, 513, 385]


def spec_formula_counts(cfg, padded):
    """Spec §5: g + local + |sparse windows ∩ [0, L)|, normal regime, no masking."""
    bs, c, sbs, g = cfg.block_size, cfg.compressed_block_size, cfg.sparse_block_size, cfg.num_global_tokens
    nb, compressed = padded // bs, padded // cfg.sparsity_factor
    inside = lambda lo, hi: max(0, min(hi, compressed) - max(lo, 0))  # noqa: E731
    return [g + bs * (min(w + 2, nb) - max(w - 1, 0)) + inside((w - 1) * c - sbs, (w - 1) * c)
            + inside((w + 2) * c, (w + 2) * c + sbs) for w in range(nb)]


@pytest.mark.parametrize("bs,sbs,sf,g", [(16, 16, 2, 1), (16, 8, 4, 3), (32, 16, 2, 2), (8, 16, 2, 1)])
def test_key_counts_follow_the_spec_formula(bs, sbs, sf, g):
    cfg = LSGAttentionConfig(block_size=bs, sparse_block_size=sbs, sparsity_factor=sf, sparsity_type="pooling",
                             num_global_tokens=g)
    assert key_counts(cfg, 12 * bs)[0].tolist() == spec_formula_counts(cfg, 12 * bs)


def test_pattern_reaches_the_spec_positions_for_pooling():
    cfg = small_config("pooling")
    conn = attention_pattern(cfg, 64).connectivity[0]
    bs, sbs, sf, w = 8, 8, 2, 4
    query = 1 + w * bs
    reached = set(torch.nonzero(conn[query, 1:]).flatten().tolist())
    local = set(range((w - 1) * bs, (w + 2) * bs))
    sparse = set(range((w - 1) * bs - sbs * sf, (w - 1) * bs)) | set(range((w + 2) * bs, min(64, (w + 2) * bs + sbs * sf)))
    assert reached == local | sparse
    assert conn[0].all() and conn[:, 0].all()  # the global token sees and is seen by all


def test_pattern_flags_data_dependent_and_per_head(tmp_path):
    norm = attention_pattern(small_config("norm"), 64, num_heads=3)
    assert norm.data_dependent and norm.per_head
    actual = attention_pattern(small_config("norm"), 64, num_heads=3, keys=torch.randn(1, 3, 64, 4))
    assert not actual.data_dependent and actual.connectivity.shape == (3, 65, 65)
    assert (actual.connectivity <= norm.connectivity).all()  # actual choice ⊂ candidates
    stride = attention_pattern(small_config("stride"), 64, num_heads=2)
    assert stride.per_head and not torch.equal(stride.connectivity[0], stride.connectivity[1])
    assert not attention_pattern(small_config("pooling"), 64, num_heads=2).per_head
    png = plot_pattern(stride, tmp_path / "stride.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pattern_never_reaches_padding():
    padding = torch.ones(60)
    padding[40:] = 0
    conn = attention_pattern(small_config("pooling"), 60, padding_mask=padding).connectivity[0]
    assert not conn[:, 1 + 40:].any()


def test_short_inputs_use_full_attention_pattern():
    conn = attention_pattern(small_config("norm"), 16).connectivity  # 16 ≤ 2·bs
    assert conn.all()


# --- padding invariance -------------------------------------------------------------------

def padded_pair(selector, extra):
    """Outputs for 37 real-or-masked tokens, without and with `extra` masked random tokens appended."""
    cfg = small_config(selector, sparsity_factor=4 if selector == "lsh" else 2, num_global_tokens=2)
    length, g = 37, 2
    q, k, v = (torch.randn(2, 3, g + length + extra, 4, dtype=torch.float64) for _ in range(3))
    mask = torch.ones(2, length + extra)
    mask[:, length:] = 0
    mask[1, 30:] = 0
    torch.manual_seed(3)
    short = lsg_attention(q[:, :, :g + length], k[:, :, :g + length], v[:, :, :g + length], cfg, mask[:, :length])
    torch.manual_seed(3)
    long = lsg_attention(q, k, v, cfg, mask)
    return long[:, :, :g + length], short


@pytest.mark.parametrize("selector", [s for s in BUILTIN if s != "bos_pooling"] + ["bos_pooling_masked"])
@pytest.mark.parametrize("extra", [1, 5, 8, 21])
def test_extra_right_padding_never_changes_real_outputs(selector, extra):
    long, short = padded_pair(selector, extra)
    torch.testing.assert_close(long, short, atol=1e-12, rtol=0)


def test_original_bos_pooling_leaks_padding_through_unmasked_chunks():
    """The original's quirk (spec §4/§7), kept for checkpoint parity: all-padding chunks stay visible."""
    long, short = padded_pair("bos_pooling", 5)
    assert not torch.allclose(long, short)


# --- gradients and numerical stability -------------------------------------------------

@pytest.mark.parametrize("selector", BUILTIN + ["bos_pooling_masked"])
def test_gradcheck(selector):
    cfg = LSGAttentionConfig(block_size=4, sparse_block_size=4, sparsity_factor=2, sparsity_type=selector,
                             num_global_tokens=1)
    q, k, v = (torch.randn(1, 2, 1 + 19, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.ones(1, 19)
    mask[0, 5] = 0
    if selector != "bos_pooling":
        # whole masked chunks; the original bos_pooling keeps them visible with weights that
        # are constant numerically (score + finfo.min rounds) but not analytically
        mask[0, 15:] = 0

    def fn(q, k, v):
        torch.manual_seed(5)  # lsh draws its planes at every call
        return lsg_attention(q, k, v, cfg, mask)

    assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("selector", BUILTIN)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_no_nan_with_fully_padded_rows_and_masked_chunks(selector, dtype):
    cfg = small_config(selector, sparsity_factor=4 if selector == "lsh" else 2, num_global_tokens=2)
    length = 70
    q, k, v = (torch.randn(3, 2, 2 + length, 8, dtype=dtype, requires_grad=True) for _ in range(3))
    mask = torch.ones(3, length)
    mask[0] = 0  # a fully padded row
    mask[1, 8:40] = 0  # whole chunks and blocks masked in the middle
    mask[2, 50:] = 0
    out = lsg_attention(q, k, v, cfg, mask)
    assert torch.isfinite(out).all()
    out.float().square().sum().backward()
    for tensor in (q, k, v):
        assert torch.isfinite(tensor.grad).all()


def test_dropout_only_in_training():
    cfg = small_config("pooling", attention_dropout=0.5)
    from lsgzoo import LSGAttention

    attention = LSGAttention(cfg)
    q, k, v = (torch.randn(1, 2, 1 + 40, 4) for _ in range(3))
    attention.eval()
    torch.testing.assert_close(attention(q, k, v), attention(q, k, v))
    attention.train()
    assert not torch.allclose(attention(q, k, v), attention.eval()(q, k, v))


# --- complexity -----------------------------------------------------------------------------

class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in torch.utils._pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


@pytest.mark.parametrize("backend", ["eager", "sdpa", "fused"])
@pytest.mark.parametrize("selector", BUILTIN)
def test_no_quadratic_tensor(selector, backend):
    cfg = small_config(selector, block_size=16, sparse_block_size=16, sparsity_factor=4, lsg_backend=backend)
    largest = {}
    for length in (512, 2048):
        q, k, v = (torch.randn(1, 2, 1 + length, 4, requires_grad=True) for _ in range(3))
        with LargestTensor() as probe:
            lsg_attention(q, k, v, cfg).sum().backward()
        largest[length] = probe.largest
        assert probe.largest < length * length  # a t×t score matrix would be 2·t² here
    assert largest[2048] <= 4.5 * largest[512]  # grows linearly with length (4× length)


def test_lsh_bucket_helpers_match_their_plain_definitions():
    """argmax over [p, −p] (ties included) and bucket sums equal the concatenation / scatter they replace."""
    from lsgzoo.selectors.base import gather_rows
    from lsgzoo.selectors.lsh import argmax_signed, sum_into_buckets

    torch.manual_seed(0)
    for rounded in (False, True):
        p = torch.randn(2, 3, 4, 9, 6)
        p = p.round() if rounded else p
        assert torch.equal(argmax_signed(p), torch.cat([p, -p], dim=-1).argmax(dim=-1))
    rows, buckets = torch.randn(2, 3, 4, 9, 5), torch.randint(0, 6, (2, 3, 4, 9))
    want = torch.zeros(2, 3, 4, 6, 5).scatter_add(-2, buckets.unsqueeze(-1).expand(-1, -1, -1, -1, 5), rows)
    torch.testing.assert_close(sum_into_buckets(rows, buckets, 6), want)
    keys, positions = torch.randn(2, 10, 3, 4), torch.randint(0, 10, (2, 3, 7))
    for x in (keys.transpose(1, 2), keys.transpose(1, 2).contiguous()):  # heads-merged and head-major storage
        assert torch.equal(gather_rows(x, positions), x.gather(2, positions.unsqueeze(-1).expand(-1, -1, -1, 4)))
