"""The `flex` backend: same outputs and gradients as `eager`, an exact analytic BlockMask, `auto` dispatch.

FlexAttention refuses a backward on CPU, but its own eager implementation (the dense reference
every compiled kernel is tested against) has one: `flex_backward_on_cpu` (conftest) lifts the device check
so the gradients of the flex layout — key order, `mask_mod`, `score_mod`, the selector's graph —
are compared with eager's here. Without that fixture, CPU training falls back to `fused`.
"""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
import torch.nn.attention.flex_attention as torch_flex

from lsgzoo import LSGAttention, LSGAttentionConfig, lsg_attention
from lsgzoo.attention import backends, flex
from lsgzoo.attention.backends import BACKENDS, resolve_backend
from lsgzoo.attention.layout import contiguous_runs, sparse_window_index
from lsgzoo.attention.lsg import additive_key_mask
from lsgzoo.models import LSGBartForConditionalGeneration
from test_backends import SELECTORS, assert_same, padded_inputs, run, tiny_config

pytestmark = pytest.mark.skipif(torch_flex is None, reason="torch without FlexAttention")


@pytest.fixture
def count_flex_calls(monkeypatch):
    calls = []
    original = flex.flex_lsg_attention

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setitem(BACKENDS, "flex", replace(BACKENDS["flex"], layer=counted))
    return calls


CASES = [  # (block, sparse block, factor, globals, mask_first_token)
    (16, 16, 2, 2, False), (16, 16, 4, 1, True), (16, 16, 1, 1, False), (16, 8, 2, 3, False),
    (8, 8, 2, 1, True), (16, 32, 4, 2, False), (8, 2, 2, 1, False),
]


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("block,sparse_block,factor,globals_,mask_first", CASES)
@pytest.mark.parametrize("selector", SELECTORS)
def test_flex_matches_eager_forward_and_backward(flex_backward_on_cpu, count_flex_calls, selector, block,
                                                 sparse_block, factor, globals_, mask_first, batch):
    cfg = dict(block_size=block, sparse_block_size=sparse_block, sparsity_factor=factor, sparsity_type=selector,
               num_global_tokens=globals_, mask_first_token=mask_first)
    inputs, padding = padded_inputs(g=globals_)
    inputs, padding = [x[:batch] for x in inputs], padding[:batch]
    assert_same(run("flex", cfg, inputs, padding), run("eager", cfg, inputs, padding))
    assert count_flex_calls, "the flex kernel did not run"


def test_flex_inference_runs_on_cpu_without_lifting_anything(count_flex_calls):
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm",
                             num_global_tokens=2)
    inputs, padding = padded_inputs()
    with torch.no_grad():
        got = lsg_attention(*inputs, replace(cfg, lsg_backend="flex"), padding)
        want = lsg_attention(*inputs, replace(cfg, lsg_backend="eager"), padding)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert count_flex_calls


@pytest.mark.parametrize("dtype,atol", [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_flex_half_precision_stays_close_to_fp32(flex_backward_on_cpu, dtype, atol):
    """Outputs of unit-scale inputs: bf16 keeps 8 bits of mantissa (≈ 4e-3 relative per rounding), fp16 11."""
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="pooling", num_global_tokens=2)
    inputs, padding = padded_inputs()
    got, want = run("flex", cfg, inputs, padding, dtype), run("eager", cfg, inputs, padding)
    torch.testing.assert_close(got[0].float(), want[0], atol=atol, rtol=0)


def tile_grid(counts, indices, q_tiles, kv_tiles):
    """(1, 1, Qt) counts and (1, 1, Qt, KVt) indices → bool (Qt, KVt) of the listed tiles."""
    grid = torch.zeros(q_tiles, kv_tiles, dtype=torch.bool)
    for row in range(q_tiles):
        grid[row, indices[0, 0, row, :counts[0, 0, row]].long()] = True
    return grid


@pytest.mark.parametrize("block,sparse_block,factor,globals_,blocks", [
    (128, 128, 2, 1, 12), (64, 64, 4, 2, 9), (256, 128, 2, 1, 5), (32, 32, 1, 3, 17), (128, 32, 8, 1, 7),
])
def test_analytic_block_mask_equals_the_evaluated_one(block, sparse_block, factor, globals_, blocks):
    """Tiles listed and tiles marked full are exactly those `create_block_mask` finds by evaluating `mask_mod`."""
    tp, c = block * blocks, block // factor
    sparse_len = tp // factor
    pad, index = sparse_window_index(sparse_len, blocks, c, sparse_block)
    runs = contiguous_runs(index[0].tolist())
    mask = flex.lsg_block_mask(tp, sparse_len, globals_, block, c, pad, runs, "cpu")
    evaluated = torch_flex.create_block_mask(mask.mask_mod, None, None, tp, tp + sparse_len + globals_, device="cpu")
    q_tiles, kv_tiles = mask.kv_indices.shape[-2:]
    for ours, theirs in (((mask.kv_num_blocks, mask.kv_indices), (evaluated.kv_num_blocks, evaluated.kv_indices)),
                         ((mask.full_kv_num_blocks, mask.full_kv_indices),
                          (evaluated.full_kv_num_blocks, evaluated.full_kv_indices))):
        assert torch.equal(tile_grid(*ours, q_tiles, kv_tiles), tile_grid(*theirs, q_tiles, kv_tiles))


def test_mask_mod_is_the_lsg_pattern():
    """Query block w sees local blocks w−1..w+1, the sparse entries of its window and the globals — nothing else."""
    block, factor, sparse_block, blocks, g = 8, 2, 8, 6, 2
    tp, c = block * blocks, block // factor
    sparse_len = tp // factor
    pad, index = sparse_window_index(sparse_len, blocks, c, sparse_block)
    mask = flex.lsg_block_mask(tp, sparse_len, g, block, c, pad, contiguous_runs(index[0].tolist()), "cpu")
    dense = torch_flex.create_mask(mask.mask_mod, None, None, tp, tp + sparse_len + g, device="cpu")[0, 0]
    for w in range(blocks):
        want = torch.zeros(tp + sparse_len + g, dtype=torch.bool)
        want[max(0, (w - 1) * block):min(tp, (w + 2) * block)] = True
        entries = index[w] - pad
        want[tp + entries[(entries >= 0) & (entries < sparse_len)]] = True
        want[tp + sparse_len:] = True
        assert torch.equal(dense[w * block:(w + 1) * block], want.expand(block, -1)), f"block {w}"


def test_block_mask_is_built_once_per_shape():
    flex.lsg_block_mask.cache_clear()
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="stride",
                             num_global_tokens=2, lsg_backend="flex")
    inputs, padding = padded_inputs()
    with torch.no_grad():
        for _ in range(3):
            lsg_attention(*inputs, cfg, padding)
    info = flex.lsg_block_mask.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def device_query(device, requires_grad=False):
    return SimpleNamespace(device=torch.device(device), requires_grad=requires_grad)


def test_auto_picks_the_measured_backend_per_device_and_falls_back_cleanly(monkeypatch):
    assert resolve_backend("auto", device_query("cpu"), 0.0).name == "fused"
    assert resolve_backend("auto", device_query("cpu", True), 0.0).name == "fused"
    monkeypatch.setattr(flex, "triton_available", lambda: False)
    assert resolve_backend("auto", device_query("cuda", True), 0.0).name == "fused"  # no compiler for the GPU
    monkeypatch.setattr(flex, "triton_available", lambda: True)
    assert resolve_backend("auto", device_query("cuda", True), 0.0).name == "flex"
    assert resolve_backend("auto", device_query("cuda", True), 0.1).name == "fused"  # flex has no dropout
    assert resolve_backend("auto", device_query("mps"), 0.0).name == backends.AUTO_OTHERWISE
    assert resolve_backend("flex", device_query("cpu"), 0.0).name == "flex"
    with pytest.warns(UserWarning, match="lsg_backend='flex' cannot run here.*using 'fused'"):
        assert resolve_backend("flex", device_query("cpu", True), 0.0).name == "fused"


def test_flex_training_on_cpu_falls_back_to_fused_with_eager_gradients():
    cfg = dict(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm", num_global_tokens=2)
    inputs, padding = padded_inputs()
    with pytest.warns(UserWarning, match="using 'fused'"):
        got = run("flex", cfg, inputs, padding)
    assert_same(got, run("eager", cfg, inputs, padding))


def test_model_with_flex_generates_as_eager():
    ids = torch.randint(4, 64, (2, 150))
    mask = torch.ones_like(ids)
    mask[1, 120:] = 0
    outputs = {}
    for backend in ("eager", "flex"):
        torch.manual_seed(0)
        model = LSGBartForConditionalGeneration(tiny_config(lsg_backend=backend)).eval()
        with torch.no_grad():
            outputs[backend] = (model(input_ids=ids, attention_mask=mask, decoder_input_ids=ids[:, :5]).logits,
                                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False))
    torch.testing.assert_close(outputs["flex"][0], outputs["eager"][0], atol=1e-5, rtol=1e-5)
    assert torch.equal(outputs["flex"][1], outputs["eager"][1])


def dispatched_ops(step) -> int:
    """Operators (kernel launches on a GPU) recorded by the profiler while `step()` runs."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for event in prof.events() if event.name.startswith("aten::"))


def test_flex_work_does_not_grow_in_launches_with_length(flex_backward_on_cpu):
    """The backend `auto` runs on CUDA issues the same operations at 8 and 64 blocks (BlockMask cached):
    no per-block or per-chunk loop, unlike `fused`'s CPU path."""
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="norm",
                             lsg_backend=backends.AUTO_BACKENDS["cuda"])
    counts = []
    for blocks in (8, 64):
        q, k, v = (torch.randn(1, 2, 1 + 16 * blocks, 8, requires_grad=True) for _ in range(3))
        lsg_attention(q, k, v, cfg).sum().backward()  # builds this shape's BlockMask (cached)
        counts.append(dispatched_ops(lambda: lsg_attention(q, k, v, cfg).sum().backward()))
    assert counts[0] == counts[1]


def inductor_cxx() -> str | None:
    """The C++ compiler inductor builds CPU kernels with; None when it finds none (the one reason to skip)."""
    from torch._inductor import cpp_builder, exc

    try:
        return cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return None


def test_compiled_flex_on_cpu_matches_eager():
    """The compiled kernel (inductor's CPU FlexAttention); a compile failure with a compiler present fails."""
    if inductor_cxx() is None:
        pytest.skip("no C++ compiler for inductor's CPU kernels (torch._inductor.config.cpp.cxx)")
    cfg = LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2, sparsity_type="pooling",
                             num_global_tokens=2)
    (q, k, v), padding = padded_inputs(length=112)
    key_mask = additive_key_mask(padding, 2, 112, torch.float32, "cpu")
    selector = LSGAttention(cfg).selector
    with torch.no_grad():
        want = flex.flex_lsg_attention(cfg, q, k, v, key_mask, selector, compiled=False)
        got = flex.flex_lsg_attention(cfg, q, k, v, key_mask, selector, compiled=True)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
