"""Causal LSG attention (`causal=True`): a dense oracle, causality by perturbation, backends, refusals.

The oracle builds each query's visible keys from the rule in docs/causal.md, one query at a time, and runs
plain softmax attention over [globals | tokens | sparse tokens] with everything else masked:
query i of block w sees the g globals, tokens j with (w − 1)·bs ≤ j ≤ i, and compressed entries
k ∈ [(w − 1)·c − sbs, (w − 1)·c); a global query sees the g globals. Padding and the selector's own
masks hide entries as usual. The sparse tokens are the selector's (tested on their own elsewhere).
"""

import math

import pytest
import torch

from lsgzoo import LSGAttentionConfig, lsg_attention
from lsgzoo.attention.lsg import LSGAttention, additive_key_mask
from lsgzoo.attention.layout import padded_length

CAUSAL_SELECTORS = ["none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling_masked"]
BACKENDS = ["eager", "sdpa", "fused", "flex"]
# (block, sparse block, factor): c = 2 with two blocks of sparse context; c = 1; sf = 1 (every token kept)
SHAPES = [(4, 4, 2), (4, 2, 4), (4, 4, 1)]
LENGTH, GLOBALS = 29, 2  # 29 tokens pad to 32 = 8 blocks of 4


def settings(selector, block=4, sparse_block=4, factor=2, **kw):
    return dict(block_size=block, sparse_block_size=sparse_block, sparsity_factor=factor, sparsity_type=selector,
                num_global_tokens=GLOBALS, causal=True, **kw)


def shape_valid(selector, block, sparse_block, factor):
    try:
        LSGAttentionConfig(**settings(selector, block, sparse_block, factor))
    except ValueError:
        return False
    return True


GRID = [(selector, *shape) for selector in CAUSAL_SELECTORS for shape in SHAPES if shape_valid(selector, *shape)]


def inputs(n=2, h=2, length=LENGTH, dh=4, dtype=torch.float64, seed=3):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, h, GLOBALS + length, dh, generator=generator, dtype=dtype) for _ in range(3)]


def padding_mask(n=2, length=LENGTH):
    """Row 0: a hole at 9-11 and right padding from 25; row 1: left padding of 6."""
    mask = torch.ones(n, length)
    mask[0, 9:12] = 0
    mask[0, 25:] = 0
    mask[1, :6] = 0
    return mask


def oracle(cfg, query, key, value, padding):
    """Dense masked causal LSG attention, one query position at a time → (n, h, g + t, dh)."""
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, total, dh = query.shape
    length = total - g
    tp = padded_length(length, bs, cfg.adaptive)
    pad = lambda x: torch.nn.functional.pad(x, (0, 0, 0, tp - length))  # noqa: E731
    query, key, value = pad(query), pad(key), pad(value)
    real = torch.zeros(n, tp, dtype=torch.bool)
    real[:, :length] = padding.bool()
    if cfg.mask_first_token:
        real[:, 0] = False
    keys, values = [key], [value]
    visible = [torch.cat([torch.ones(n, g, dtype=torch.bool), real], 1).view(n, 1, -1).expand(n, h, -1)]
    sparse_index = torch.zeros(0, dtype=torch.long)
    selector = LSGAttention(cfg).selector
    if selector is not None and tp > 2 * bs:
        key_mask = additive_key_mask(real.to(query.dtype), n, tp, query.dtype, "cpu")
        torch.manual_seed(11)  # lsh's planes, drawn as in the layer
        sparse = selector(query[:, :, g:], key[:, :, g:], value[:, :, g:], key_mask)
        keys.append(sparse.keys)
        values.append(sparse.values)
        visible.append((sparse.mask == 0).expand(n, h, 1, -1)[:, :, 0])
        sparse_index = torch.arange(sparse.keys.shape[-2])
    keys, values, visible = torch.cat(keys, 2), torch.cat(values, 2), torch.cat(visible, 2)  # (n, h, K)
    c, sbs = cfg.compressed_block_size, cfg.sparse_block_size or 0
    outputs = []
    for row in range(g + tp):
        allowed = torch.zeros(keys.shape[2], dtype=torch.bool)
        allowed[:g] = True  # globals: always
        if row >= g:
            i = row - g
            w = i // bs
            allowed[g + max(0, (w - 1) * bs):g + i + 1] = True
            entries = (sparse_index >= (w - 1) * c - sbs) & (sparse_index < (w - 1) * c)
            allowed[g + tp:] = entries
        seen = visible & allowed  # (n, h, K)
        scores = torch.einsum("nhd,nhkd->nhk", query[:, :, row], keys) / math.sqrt(dh)
        scores = scores.masked_fill(~seen, float("-inf"))
        outputs.append(torch.einsum("nhk,nhkd->nhd", torch.softmax(scores, -1), values))
    return torch.stack(outputs, 2)[:, :, :total]


def run(backend, cfg_kw, tensors, padding, grad=True):
    """Output and (q, k, v) gradients of a weighted sum of the output."""
    q, k, v = (x.clone().requires_grad_(grad) for x in tensors)
    torch.manual_seed(11)
    out = lsg_attention(q, k, v, LSGAttentionConfig(lsg_backend=backend, **cfg_kw), padding)
    if not grad:
        return [out]
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    return [out, q.grad, k.grad, v.grad]


def oracle_run(cfg_kw, tensors, padding):
    q, k, v = (x.clone().requires_grad_() for x in tensors)
    out = oracle(LSGAttentionConfig(**cfg_kw), q, k, v, padding)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    return [out, q.grad, k.grad, v.grad]


def assert_same(got, want, atol):
    for name, a, b in zip(("output", "dq", "dk", "dv"), got, want):
        torch.testing.assert_close(a, b, atol=atol, rtol=atol, msg=lambda m: f"{name}: {m}")


def real_rows(tensor, padding):
    """Outputs at globals and real positions only (padded query rows are computed and dropped by models)."""
    keep = torch.cat([torch.ones(padding.shape[0], GLOBALS, dtype=torch.bool), padding.bool()], 1)
    return tensor.transpose(1, 2)[keep]


@pytest.mark.parametrize("mask_first", [False, True])
@pytest.mark.parametrize("selector,block,sparse_block,factor", GRID)
def test_eager_equals_the_dense_oracle_outputs_and_gradients(selector, block, sparse_block, factor, mask_first):
    cfg = settings(selector, block, sparse_block, factor, mask_first_token=mask_first)
    tensors, padding = inputs(), padding_mask()
    assert_same(run("eager", cfg, tensors, padding), oracle_run(cfg, tensors, padding), atol=1e-10)


@pytest.mark.parametrize("length", [5, 8, 12])
def test_short_inputs_use_causal_full_attention(length):
    """tp ≤ 2·bs: full attention, which is the causal LSG pattern there (no block w − 2 exists)."""
    cfg = settings("pooling")
    tensors, padding = inputs(length=length), padding_mask(length=length)
    padding[0, length - 1:] = 0
    assert_same(run("eager", cfg, tensors, padding), oracle_run(cfg, tensors, padding), atol=1e-10)


def test_causal_sees_fewer_keys_than_the_encoder_pattern():
    """A guard for the oracle's own rule: the non-causal layer differs, the causal one does not."""
    tensors, padding = inputs(), padding_mask()
    causal = settings("pooling")
    encoder = dict(causal, causal=False)
    want = oracle_run(causal, tensors, padding)[0]
    assert not torch.allclose(run("eager", encoder, tensors, padding)[0], want)
    torch.testing.assert_close(run("eager", causal, tensors, padding)[0], want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("selector", CAUSAL_SELECTORS)
def test_perturbing_token_j_changes_no_earlier_output(flex_backward_on_cpu, selector, backend):
    """Changing the q/k/v inputs of token j changes no output at positions < j (globals included), and does
    change some later one; every selector and backend, j across block boundaries."""
    dtype = torch.float64 if backend in ("eager", "sdpa") else torch.float32
    cfg = settings(selector)
    tensors, padding = inputs(dtype=dtype), padding_mask()
    base = run(backend, cfg, tensors, padding, grad=False)[0]
    for j in (0, 3, 4, 13, 20, 27):
        changed = [x.clone() for x in tensors]
        for x in changed:
            x[:, :, GLOBALS + j] += 3.0
        out = run(backend, cfg, changed, padding, grad=False)[0]
        torch.testing.assert_close(out[:, :, :GLOBALS + j], base[:, :, :GLOBALS + j], atol=0, rtol=0)
        assert not torch.allclose(out[:, :, GLOBALS + j:], base[:, :, GLOBALS + j:])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("selector", CAUSAL_SELECTORS)
def test_padding_content_does_not_reach_real_outputs(selector, backend):
    """Left padding, a hole and right padding: new values at padded positions change no real output."""
    dtype = torch.float64 if backend in ("eager", "sdpa") else torch.float32
    cfg = settings(selector)
    tensors, padding = inputs(dtype=dtype), padding_mask()
    noisy = [x.clone() for x in tensors]
    hidden = torch.cat([torch.zeros(2, GLOBALS, dtype=torch.bool), padding == 0], 1)  # (n, g + t)
    for x in noisy:
        x.transpose(1, 2)[hidden] = torch.randn_like(x.transpose(1, 2)[hidden]) * 5
    got = real_rows(run(backend, cfg, noisy, padding, grad=False)[0], padding)
    want = real_rows(run(backend, cfg, tensors, padding, grad=False)[0], padding)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["sdpa", "fused", "flex"])
@pytest.mark.parametrize("selector,block,sparse_block,factor", GRID)
def test_backends_equal_eager_outputs_and_gradients(flex_backward_on_cpu, selector, block, sparse_block, factor,
                                                    backend):
    cfg = settings(selector, block, sparse_block, factor)
    tensors, padding = inputs(dtype=torch.float32), padding_mask()
    assert_same(run(backend, cfg, tensors, padding), run("eager", cfg, tensors, padding), atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("selector", ["norm", "pooling"])
def test_fused_in_chunks_equals_eager(monkeypatch, selector, chunk):
    """Chunks of 1 and of 3 of the 8 query blocks: the per-chunk causal mask and the 2·bs window folds."""
    from lsgzoo.attention import fused

    monkeypatch.setattr(fused, "chunk_blocks", lambda *args: chunk)
    cfg = settings(selector)
    tensors, padding = inputs(dtype=torch.float32), padding_mask()
    assert_same(run("fused", cfg, tensors, padding), run("eager", cfg, tensors, padding), atol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "flex"])
def test_backends_equal_eager_at_a_realistic_block_size(flex_backward_on_cpu, backend):
    """bs = 16 (flex tiles of 128 rows span several blocks, fused chunks several blocks), norm, 4 heads."""
    cfg = dict(settings("norm", 16, 16, 4), num_global_tokens=GLOBALS)
    tensors = inputs(n=2, h=4, length=250, dh=8, dtype=torch.float32)
    padding = torch.ones(2, 250)
    padding[1, :40] = 0
    assert_same(run(backend, cfg, tensors, padding), run("eager", cfg, tensors, padding), atol=1e-5)


@pytest.mark.parametrize("cfg_kw,named,reason", [
    (dict(sparsity_type="bos_pooling"), "'bos_pooling'", "never masked"),
    (dict(sparsity_type="lsh", sparse_block_size=4, sparsity_factor=4), "'lsh'", "is bos_pooling"),
])
def test_selectors_without_a_causal_form_are_refused_by_name(cfg_kw, named, reason):
    base = dict(block_size=8, sparse_block_size=8, sparsity_factor=2, causal=True)
    with pytest.raises(ValueError, match=rf"causal=True cannot use sparsity_type={named}: .*{reason}"):
        LSGAttentionConfig(**{**base, **cfg_kw})
    LSGAttentionConfig(**{**base, **cfg_kw, "causal": False})  # the encoder pattern takes them


def test_a_registered_selector_must_declare_its_causal_form():
    from lsgzoo.selectors import register_selector
    from lsgzoo.selectors.pooling import PoolingSelector

    @register_selector("my_pooling")
    class MyPooling(PoolingSelector):
        causal_form = False

    with pytest.raises(ValueError, match="sparsity_type='my_pooling': it does not declare a causal form"):
        LSGAttentionConfig(sparsity_type="my_pooling", block_size=8, sparse_block_size=8, causal=True)
    MyPooling.causal_form = True
    assert LSGAttentionConfig(sparsity_type="my_pooling", block_size=8, sparse_block_size=8, causal=True).causal


def test_bos_pooling_with_factor_one_keeps_every_token_and_is_allowed():
    assert LSGAttentionConfig(sparsity_type="bos_pooling", sparsity_factor=1, causal=True).causal


@pytest.mark.parametrize("selector", ["pooling", "stride", "block_stride", "none"])
def test_the_causal_pattern_is_the_encoder_pattern_restricted_to_the_past(selector):
    """In the normal window regime (c even, 4·sbs > 3·c) the causal rule drops exactly the later keys."""
    from lsgzoo.attention.pattern import attention_pattern

    causal = LSGAttentionConfig(**settings(selector, 8, 4, 2))
    encoder = LSGAttentionConfig(**dict(settings(selector, 8, 4, 2), causal=False))
    got = attention_pattern(causal, 61, num_heads=2).connectivity
    want = attention_pattern(encoder, 61, num_heads=2).connectivity
    position = torch.arange(GLOBALS + 61) - GLOBALS  # the globals sit before token 0
    later_token = (position.view(1, -1) > position.view(-1, 1)) & (position.view(1, -1) >= 0)
    assert torch.equal(got, want & ~later_token)
    assert got.sum() < want.sum()


def test_the_causal_key_is_a_hydra_key_and_a_run_refuses_bos_pooling_by_name():
    from lsgzoo.training.config import ConfigError, compose_config

    assert compose_config(["attention.causal=true", "attention.sparsity_type=pooling"]).attention.causal is True
    with pytest.raises(ConfigError, match=r"^attention: causal=True cannot use sparsity_type='bos_pooling'"):
        compose_config(["attention.causal=true", "attention.sparsity_type=bos_pooling"])


def test_the_causal_key_round_trips_through_a_model_config(tmp_path):
    from lsgzoo.models import LSGBartConfig

    LSGBartConfig(causal=True, sparsity_type="pooling").save_pretrained(tmp_path)
    assert LSGBartConfig.from_pretrained(tmp_path).causal is True
    with pytest.raises(ValueError, match="causal=True cannot use sparsity_type='bos_pooling'"):
        LSGBartConfig(causal=True, sparsity_type="bos_pooling")


def test_key_counts_of_the_causal_pattern_by_hand():
    """g=1, bs=sbs=8, sf=2 (c=4), 64 tokens, pooling: the last query of block w sees 1 global, the 8 or 16
    local tokens of blocks w − 1 and w, and the entries [4·(w − 1) − 8, 4·(w − 1)) ∩ [0, 32): 0, 0, 4, 8, 8, …"""
    from lsgzoo.attention.pattern import key_counts

    cfg = LSGAttentionConfig(block_size=8, sparse_block_size=8, sparsity_factor=2, sparsity_type="pooling",
                             causal=True)
    assert key_counts(cfg, 64).tolist() == [[9, 17, 21, 25, 25, 25, 25, 25]]
    assert key_counts(LSGAttentionConfig(block_size=8, sparse_block_size=8, sparsity_type="none", causal=True),
                      64).tolist() == [[9] + [17] * 7]
