"""Gradients as strict as the forward tests: every backend against float64 eager, half precision against
fp32, double backward, trainable selectors, and exact replay of data-dependent selections.
"""

import itertools
from dataclasses import replace

import pytest
import torch
from torch import nn

from lsgzoo import LSGAttention, LSGAttentionConfig
from lsgzoo.attention import fused
from lsgzoo.selectors import register_selector, registry
from lsgzoo.selectors.base import SelectionTape, SparseTokens, gather_tokens
from lsgzoo.selectors.norm import NormSelector
from lsgzoo.selectors.pooling import PoolingSelector
from test_backends import SELECTORS, padded_inputs, run

GRID = [  # (selector, block, sparse block, factor, globals); 1 global ↔ batch 1, 3 globals ↔ batch 2 + mask_first_token
    case for case in itertools.product(SELECTORS, [8, 16], [0, 8, 16], [1, 2, 4], [1, 3])
]
GRADIENT_BACKENDS = ["sdpa", "fused", "fused-chunks-of-1", "flex"]


@pytest.fixture
def test_selectors(monkeypatch):
    """The test-only selectors, registered in a copy of the registry (other tests see the built-in ones)."""
    monkeypatch.setattr(registry, "_SELECTORS", dict(registry._SELECTORS))
    register_selector("test_scaled_pooling")(ScaledPoolingSelector)
    register_selector("test_jittery_norm")(JitteryNormSelector)


@pytest.fixture
def backend_runner(monkeypatch, flex_backward_on_cpu):
    """`test_backends.run`, plus "fused-chunks-of-1": `fused` forced to one query block per chunk; `flex` runs
    FlexAttention's own eager implementation with its CPU-backward guard lifted (test only)."""
    default_chunks = fused.chunk_blocks

    def run_backend(backend, cfg, inputs, padding, dtype=torch.float32):
        chunked = backend == "fused-chunks-of-1"
        monkeypatch.setattr(fused, "chunk_blocks", (lambda *args: 1) if chunked else default_chunks)
        return run("fused" if chunked else backend, cfg, inputs, padding, dtype)

    return run_backend


@pytest.mark.parametrize("selector,block,sparse_block,factor,globals_", GRID)
def test_every_backend_matches_float64_eager_gradients(backend_runner, selector, block, sparse_block, factor,
                                                       globals_):
    cfg = dict(block_size=block, sparse_block_size=sparse_block, sparsity_factor=factor, sparsity_type=selector,
               num_global_tokens=globals_, mask_first_token=globals_ == 3)
    try:
        LSGAttentionConfig(**cfg)
    except ValueError:
        pytest.skip("settings the config rejects")
    batch = 1 if globals_ == 1 else 2
    inputs, padding = padded_inputs(n=2, h=2, g=globals_, length=5 * block + 3, dh=8)
    inputs = [x[:batch].double() for x in inputs]
    padding = padding[:batch].clone()
    padding[0, 5 * block:] = 0  # padding in every row
    want = backend_runner("eager", cfg, inputs, padding, torch.float64)
    for backend in GRADIENT_BACKENDS:
        got = backend_runner(backend, cfg, inputs, padding)
        for name, a, b in zip(("output", "dq", "dk", "dv"), got, want):
            torch.testing.assert_close(a.double(), b, atol=2e-5, rtol=1e-4, msg=lambda m: f"{backend} {name}: {m}")


HALF_TOLERANCE = {torch.bfloat16: 8 * 2.0 ** -8, torch.float16: 8 * 2.0 ** -11}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("backend", ["eager", "sdpa", "fused", "flex"])
@pytest.mark.parametrize("selector", SELECTORS)
def test_half_precision_gradients_stay_within_a_few_roundings_of_fp32(backend_runner, selector, backend, dtype):
    """Max error ≤ 8u × max |fp32 value| per tensor, u the unit roundoff (bf16 2⁻⁸, fp16 2⁻¹¹).

    Every output and gradient element is a few roundings deep (inputs rounded once, products and probabilities
    rounded to the half type, softmax in fp32), so its error is a small multiple of u relative to the tensor's
    scale; the worst case measured over these settings was ≈ 4u (bf16) and 3u (fp16). lsh hashes in the half
    type, which can flip near-tie buckets — a different selection, not a rounding error — so the fp32 run
    replays the half-precision run's buckets (recorded on a `SelectionTape`).
    """
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type=selector, num_global_tokens=2)
    inputs, padding = padded_inputs()
    got = backend_runner(backend, cfg, inputs, padding, dtype)
    tape = SelectionTape()
    original_init = LSGAttention.__init__

    def taped_init(self, config):
        original_init(self, config)
        if self.selector is not None:
            self.selector.tape = tape

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LSGAttention, "__init__", taped_init)
        backend_runner("eager", cfg, inputs, padding, dtype)  # records the half-precision choices
        tape.replay()
        want = backend_runner("eager", cfg, inputs, padding)
    for name, a, b in zip(("output", "dq", "dk", "dv"), got, want):
        error = (a.float() - b).abs().max() / b.abs().max()
        assert error <= HALF_TOLERANCE[dtype], f"{backend} {name}: relative error {error:.2e}"


def test_fused_refuses_double_backward_clearly():
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, num_global_tokens=2)
    inputs, padding = padded_inputs()
    q, k, v = (x.clone().requires_grad_() for x in inputs)
    out = LSGAttention(replace(cfg, lsg_backend="fused"))(q, k, v, padding)
    (dq,) = torch.autograd.grad(out.square().sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        dq.sum().backward()
    eager_out = LSGAttention(replace(cfg, lsg_backend="eager"))(q, k, v, padding)
    (eager_dq,) = torch.autograd.grad(eager_out.square().sum(), q, create_graph=True)
    (second,) = torch.autograd.grad(eager_dq.sum(), k)  # the reference supports it
    assert torch.isfinite(second).all() and second.abs().sum() > 0


class ScaledPoolingSelector(PoolingSelector):
    """pooling whose sparse keys are multiplied by a learned per-head-dim scale (a trainable selector)."""

    def __init__(self, config):
        super().__init__(config)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 16))

    def select(self, queries, keys, values, mask):
        tokens = super().select(queries, keys, values, mask)
        return SparseTokens(tokens.keys * self.scale, tokens.values, tokens.mask)


@pytest.mark.parametrize("backend", ["fused", "sdpa", "eager"])
def test_trainable_selector_gradients_through_autograd_grad(test_selectors, backend):
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2,
                             sparsity_type="test_scaled_pooling", num_global_tokens=2)
    inputs, padding = padded_inputs()
    results = {}
    for name in (backend, "eager"):
        attention = LSGAttention(replace(cfg, lsg_backend=name))
        q, k, v = (x.clone().requires_grad_() for x in inputs)
        with pytest.warns(UserWarning, match="trainable parameters") if name == "fused" else _no_warning():
            out = attention(q, k, v, padding)
        grads = torch.autograd.grad(out.square().sum(), (q, k, v, attention.selector.scale))
        assert attention.selector.scale.grad is None  # nothing written behind autograd.grad's back
        results[name] = grads
    for got, want in zip(results[backend], results["eager"]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert results[backend][3].abs().sum() > 0


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class JitteryNormSelector(NormSelector):
    """norm whose tie-breaking changes at every call (a private generator that nothing restores): the worst
    case for a backward that recomputes the selection instead of replaying it."""

    def __init__(self, config):
        super().__init__(config)
        self.generator = torch.Generator().manual_seed(0)

    def select(self, queries, keys, values, mask):
        n, h, tp, _ = keys.shape
        keep = self.sparse_block_size // self.sparsity_factor

        def jittered_positions():
            score = torch.rand(n, h, tp, generator=self.generator)
            order = score.view(n, h, -1, self.sparse_block_size).argsort(dim=-1)[..., -keep:]
            return (order + torch.arange(0, tp, self.sparse_block_size).unsqueeze(-1)).reshape(n, h, -1)

        return gather_tokens(keys, values, mask, self.choose(jittered_positions))


def test_fused_backward_replays_forward_selection_exactly(test_selectors):
    """Gradients equal eager's only if backward differentiates the selection forward made."""
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=4,
                             sparsity_type="test_jittery_norm", num_global_tokens=2)
    inputs, padding = padded_inputs()
    results = {}
    for backend in ("fused", "eager"):
        attention = LSGAttention(replace(cfg, lsg_backend=backend))
        attention.selector.generator.manual_seed(5)  # both make the same first choice
        q, k, v = (x.clone().requires_grad_() for x in inputs)
        out = attention(q, k, v, padding)
        results[backend] = [out, *torch.autograd.grad((out * out.detach().sign()).sum(), (q, k, v))]
    for got, want in zip(results["fused"], results["eager"]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_near_ties_in_bf16_select_the_same_keys_in_forward_and_backward():
    """Keys in pairs of equal norm (k and −k) in bf16: the positions backward differentiates are forward's."""
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm",
                             num_global_tokens=1, lsg_backend="fused")
    half = torch.randn(1, 2, 1 + 64, 8).to(torch.bfloat16)
    key = torch.cat([half[:, :, :1], torch.stack([half[:, :, 1:33], -half[:, :, 1:33]], 3).flatten(2, 3)], 2)
    q, k, v = (x.clone().requires_grad_() for x in (half.clone(), key[:, :, :65], half.clone()))
    attention = LSGAttention(cfg)
    recorded = []
    original = SelectionTape.choose

    def spying_choose(tape, compute):
        result = original(tape, compute)
        recorded.append((tape.replaying, result.clone()))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SelectionTape, "choose", spying_choose)
        attention(q, k, v).float().square().sum().backward()
    (forward_phase, forward), (backward_phase, backward) = recorded
    assert (forward_phase, backward_phase) == (False, True) and torch.equal(forward, backward)
