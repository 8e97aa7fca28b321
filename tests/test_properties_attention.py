"""Property: any LSG settings × lengths × batch/padding either match the dense oracle on every CPU backend, or
are refused when the config is built with a `ValueError` naming a key — never an error from inside a kernel.

Settings are drawn per `LSGKeys` key from values that can run plus values outside the key's range (wrong
types, negatives, unknown names). The oracle is `reference.reference_lsg` (float64, loop-based); every backend
runs on the fp32-rounded inputs and must agree with it to 1e-5, as in test_attention_oracle. `flex` runs
FlexAttention's own eager kernel (no compile, no gradient: `LSGZOO_FLEX_COMPILE=0`, see conftest).
"""

import re
from dataclasses import replace

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lsgzoo import LSGAttentionConfig, lsg_attention
from lsgzoo.attention.keys import LSG_KEYS, key_range
from reference import reference_lsg
from test_attention_oracle import BACKEND_DTYPES, BUILTIN, lsh_planes

# A key may receive a value of the wrong kind or outside its range.
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 700), st.floats(-2, 40), st.sampled_from(["", "x", "8"]))
# Values each key can run with (combinations may still be refused: block_size % sparsity_factor, ...).
VALID = {
    "sparsity_type": st.sampled_from([*BUILTIN, "bos_pooling_masked", None]),
    "block_size": st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16]),
    "sparse_block_size": st.sampled_from([None, 0, 1, 2, 3, 4, 8, 16, 24]),
    "sparsity_factor": st.sampled_from([-1, 0, 1, 2, 4, 8]),
    "num_global_tokens": st.integers(1, 4),
    "lsh_num_pre_rounds": st.integers(0, 2),
    "mask_first_token": st.booleans(),
    "adaptive": st.booleans(),
    "lsg_backend": st.sampled_from(["auto", "eager", "sdpa", "fused", "flex"]),
    "pass_global_tokens_to_decoder": st.booleans(),
    "pool_with_global": st.booleans(),
    "causal": st.just(False),  # the dense oracle here is bidirectional; causal LSG: tests/test_causal_attention.py
}
assert set(VALID) == set(LSG_KEYS), "a new LSGKeys key needs a strategy here"
OUT_OF_RANGE = {"sparsity_type": st.sampled_from(["nonexistent", "NORM", ""]), "lsg_backend": st.just("cuda")}


@st.composite
def attention_settings(draw, junk_keys=()):
    """One value per key and host value: from `VALID`, except the `junk_keys`, drawn from anything."""
    chosen = {key: draw(st.one_of(JUNK, OUT_OF_RANGE.get(key, JUNK)) if key in junk_keys else VALID[key])
              for key in LSG_KEYS}
    return {**chosen, "attention_dropout": draw(st.sampled_from([0.0, -0.1, 1.0]) if "attention_dropout" in junk_keys
                                                else st.just(0.0)),
            "num_heads": draw(st.sampled_from([None, 2]))}


# Call-time errors that a config cannot rule out, because they depend on the input's length.
INPUT_DEPENDENT = ("adaptive=False",)


@st.composite
def inputs(draw):
    """(n, length, padding (n, length) float 0/1, heads, head dim): rows of different lengths, holes."""
    n = draw(st.integers(1, 3))
    length = draw(st.integers(1, 70))
    padding = torch.ones(n, length)
    for row in range(n):
        real = draw(st.integers(0, length))
        padding[row, real:] = 0
        for hole in draw(st.lists(st.integers(0, length - 1), max_size=3)):
            padding[row, hole] = 0
    return n, length, padding, draw(st.sampled_from([1, 2])), draw(st.sampled_from([2, 4]))


def build(settings_: dict):
    """The config, or None after checking that its refusal is a ValueError naming a key."""
    try:
        return LSGAttentionConfig(**settings_)
    except ValueError as refused:
        named = [key for key in (*LSG_KEYS, "attention_dropout") if re.search(rf"\b{key}\b", str(refused))]
        assert named, f"the refusal names no key: {refused}"
        event(f"refused: {named[0]}")
        return None


def attend(cfg, backend, q, k, v, padding, dtype, seed):
    torch.manual_seed(seed)  # lsh draws its planes at every call
    with torch.no_grad():  # flex has no CPU backward; the oracle comparison is about values
        return lsg_attention(q.to(dtype), k.to(dtype), v.to(dtype), replace(cfg, lsg_backend=backend), padding)


def check_every_backend(cfg, n, length, padding, h, dh, seed=7):
    """Every CPU backend agrees with the oracle (or, for selectors the oracle lacks, with `eager`)."""
    q, k, v = (torch.randn(n, h, cfg.num_global_tokens + length, dh, dtype=torch.float64).float().double()
               for _ in range(3))
    try:
        if cfg.sparsity_type in BUILTIN or not cfg.sparse_enabled:
            planes = lsh_planes(cfg, h, dh, seed) if cfg.sparsity_type == "lsh" and cfg.sparse_enabled else None
            want = reference_lsg(q, k, v, cfg, padding, planes)
        else:
            want = attend(cfg, "eager", q, k, v, padding, torch.float64, seed)
        for backend, dtype in BACKEND_DTYPES.items():
            got = attend(cfg, backend, q, k, v, padding, dtype, seed)
            assert got.shape == want.shape
            torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0, msg=lambda m: f"{backend}: {m}")
    except ValueError as refused:
        assert any(text in str(refused) for text in INPUT_DEPENDENT), f"refused only at call time: {refused}"
        assert length % cfg.block_size and length > 2 * cfg.block_size


@pytest.mark.filterwarnings("ignore:sparsity_type=.*some positions are never reached")
@settings(max_examples=2 * settings.default.max_examples, suppress_health_check=[HealthCheck.too_slow])
@given(attention_settings(), inputs())
def test_runnable_settings_match_the_oracle_on_every_backend_or_are_refused_naming_a_key(settings_, shapes):
    cfg = build(settings_)
    event("refused" if cfg is None else "ran")
    if cfg is not None:
        check_every_backend(cfg, *shapes)


@pytest.mark.filterwarnings("ignore:sparsity_type=.*some positions are never reached")
@given(st.data(), st.sets(st.sampled_from([*LSG_KEYS, "attention_dropout"]), min_size=1, max_size=2), inputs())
def test_values_outside_a_keys_range_are_refused_naming_that_key(data, junk_keys, shapes):
    """The first key (in `LSGKeys` order) whose value is out of range is the one the refusal names; values
    that happen to be in range run as any other."""
    settings_ = data.draw(attention_settings(junk_keys))
    outside = [key for key in LSG_KEYS if not key_range(key).contains(settings_[key])]
    if outside:
        with pytest.raises(ValueError, match=rf"^{outside[0]}={re.escape(repr(settings_[outside[0]]))} is out of range"):
            LSGAttentionConfig(**settings_)
        return
    cfg = build(settings_)
    if cfg is not None:
        check_every_backend(cfg, *shapes)
