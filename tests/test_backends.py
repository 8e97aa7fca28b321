"""Every attention backend gives the eager reference's outputs and gradients (fp32, ≤ 1e-5).

`fused` has two paths: the two-group CPU kernel (fp32/bf16/fp16, no attention
dropout) and the assembled-blocks SDPA fallback with recomputation (other dtypes,
devices, or dropout); both are compared here. Model-level: `lsg_backend` is a
validated, saved config key, and transformers' activation (gradient) checkpointing works on
the LSG encoder.
"""

import json

import pytest
import torch

from lsgzoo import LSGAttentionConfig, lsg_attention
from lsgzoo.attention import fused
from lsgzoo.attention.fused import fused_block_attention_available
from lsgzoo.models import LSGBartConfig, LSGBartForConditionalGeneration

SELECTORS = ["none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling", "bos_pooling_masked"]
FAST = ["sdpa", "fused"]


def run(backend, cfg, inputs, padding, dtype=torch.float32):
    """Output and (q, k, v) gradients of a weighted sum of the output."""
    q, k, v = (x.to(dtype).clone().requires_grad_() for x in inputs)
    torch.manual_seed(11)  # lsh draws its planes at every call
    out = lsg_attention(q, k, v, LSGAttentionConfig(lsg_backend=backend, **cfg), padding)
    weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)
    (out * weights).sum().backward()
    return [out, q.grad, k.grad, v.grad]


def padded_inputs(n=2, h=3, g=2, length=101, dh=16):
    inputs = [torch.randn(n, h, g + length, dh) for _ in range(3)]
    padding = torch.ones(n, length)
    padding[1, 70:] = 0  # a shorter second row
    padding[0, 5:9] = 0  # and holes in the first
    return inputs, padding


def assert_same(got, want, atol=1e-5):
    for name, a, b in zip(("output", "dq", "dk", "dv"), got, want):
        torch.testing.assert_close(a.float(), b.float(), atol=atol, rtol=atol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("selector", SELECTORS)
def test_backend_matches_eager_forward_and_backward(selector, factor, backend):
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=factor, sparsity_type=selector,
               num_global_tokens=2)
    inputs, padding = padded_inputs()
    assert fused_block_attention_available(inputs[0], 0.0)
    assert_same(run(backend, cfg, inputs, padding), run("eager", cfg, inputs, padding))


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("sparse_block_size,factor", [(16, 2), (20, 2), (24, 4)])
@pytest.mark.parametrize("selector", ["none", "norm", "pooling", "bos_pooling"])
def test_fused_in_chunks_matches_eager(monkeypatch, selector, sparse_block_size, factor, batch, chunk):
    """Chunks of 1 and of 3 of the 7 query blocks (3 + 3 + 1), and, with sbs 20 / step 8 or sbs 24 / step 4,
    far windows that are not a multiple of the step or many steps long: outputs and gradients are unchanged."""
    monkeypatch.setattr(fused, "chunk_blocks", lambda *args: chunk)
    cfg = dict(block_size=16, sparse_block_size=sparse_block_size, sparsity_factor=factor, sparsity_type=selector,
               num_global_tokens=2)
    inputs, padding = padded_inputs()
    inputs, padding = [x[:batch] for x in inputs], padding[:batch]
    assert_same(run("fused", cfg, inputs, padding), run("eager", cfg, inputs, padding))


def test_chunks_are_balanced():
    assert [fused.chunk_blocks(nb, 1, 1, 1, 1) for nb in (1, 10, 11, 32)] == [1, 10, 11, 32]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fused, "CHUNK_BYTES", 10)
        assert [fused.chunk_blocks(nb, 1, 1, 1, 1) for nb in (10, 11, 32)] == [10, 6, 8]


def test_contiguous_runs():
    assert fused.contiguous_runs([3, 4, 5, 9, 10, 2]) == ((3, 3), (9, 2), (2, 1))


@pytest.mark.parametrize("selector", ["none", "norm", "pooling"])
def test_fused_fallback_path_matches_eager(selector):
    """float64 is not a fused-kernel dtype: `fused` then assembles blocks and recomputes them in backward."""
    cfg = dict(block_size=8, sparse_block_size=8, sparsity_factor=2, sparsity_type=selector, num_global_tokens=2)
    inputs, padding = padded_inputs(length=53, dh=8)
    assert not fused_block_attention_available(inputs[0].double(), 0.0)
    assert_same(run("fused", cfg, inputs, padding, torch.float64), run("eager", cfg, inputs, padding, torch.float64),
                atol=1e-10)


def test_fused_bfloat16_stays_close_to_fp32():
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm", num_global_tokens=2)
    inputs, padding = padded_inputs()
    got = run("fused", cfg, inputs, padding, torch.bfloat16)
    want = run("eager", cfg, inputs, padding)
    torch.testing.assert_close(got[0].float(), want[0], atol=5e-2, rtol=5e-2)
    assert all(torch.isfinite(g).all() for g in got[1:])


def test_fused_with_attention_dropout_trains():
    cfg = LSGAttentionConfig(block_size=8, sparse_block_size=8, sparsity_factor=2, attention_dropout=0.5)
    from lsgzoo import LSGAttention

    attention = LSGAttention(cfg).train()
    q, k, v = (torch.randn(1, 2, 1 + 50, 4, requires_grad=True) for _ in range(3))
    torch.manual_seed(0)
    out = attention(q, k, v)
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and not torch.allclose(out, attention.eval()(q, k, v))


# ---------------------------------------------------------------- model level


def tiny_config(**kw):
    base = dict(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=512,
                block_size=16, sparse_block_size=16, sparsity_factor=2, dropout=0.0)
    return LSGBartConfig(**{**base, **kw})


def test_lsg_backend_is_validated_and_saved(tmp_path):
    with pytest.raises(ValueError, match="lsg_backend='triton' is unknown"):
        tiny_config(lsg_backend="triton")
    config = tiny_config(lsg_backend="sdpa")
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["lsg_backend"] == "sdpa"
    assert LSGBartConfig.from_pretrained(tmp_path).lsg_backend == "sdpa"
    assert LSGBartConfig().lsg_backend == "auto"


def model_step(config, ids, mask, checkpointing=False):
    torch.manual_seed(0)
    model = LSGBartForConditionalGeneration(config).train()
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    loss = model(input_ids=ids, attention_mask=mask, labels=ids[:, :8].contiguous()).loss
    loss.backward()
    return loss, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


def test_model_backends_and_gradient_checkpointing_give_the_same_loss_and_gradients():
    ids = torch.randint(4, 64, (2, 150))
    mask = torch.ones_like(ids)
    mask[1, 120:] = 0
    want_loss, want = model_step(tiny_config(lsg_backend="eager"), ids, mask)
    for backend, checkpointing in (("fused", False), ("sdpa", False), ("fused", True)):
        loss, grads = model_step(tiny_config(lsg_backend=backend), ids, mask, checkpointing)
        torch.testing.assert_close(loss, want_loss, atol=1e-5, rtol=1e-5)
        assert grads.keys() == want.keys()
        for name in want:
            torch.testing.assert_close(grads[name], want[name], atol=1e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")


def test_gradient_checkpointing_reaches_the_lsg_encoder_layers():
    model = LSGBartForConditionalGeneration(tiny_config())
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.model.encoder.layers)


def test_fused_recomputes_lsh_with_the_forward_draws_and_leaves_the_rng_as_eager_does():
    """`fused` runs the selector again in backward: lsh must hash with the same planes (gradients equal
    eager's) and the global RNG must end where eager leaves it (one draw per forward, none in backward)."""
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=4, sparsity_type="lsh", num_global_tokens=2)
    inputs, padding = padded_inputs()
    after = {}
    for backend in ("fused", "eager"):
        got = run(backend, cfg, inputs, padding)
        after[backend] = torch.rand(4)
        if backend == "fused":
            fused_result = got
    assert_same(fused_result, got)
    assert torch.equal(after["fused"], after["eager"])
