"""Selector registry and config validation."""

import warnings

import pytest
import torch

from lsgzoo import LSGAttentionConfig, SparseSelector, lsg_attention, register_selector
from lsgzoo.selectors import available_selectors, get_selector_class
from lsgzoo.selectors.base import gather_tokens, index_sources


def test_unknown_selector_lists_registered_names():
    with pytest.raises(ValueError, match="sparsity_type='nrom'.*'norm'.*'pooling'"):
        LSGAttentionConfig(sparsity_type="nrom")
    with pytest.raises(ValueError, match="not a registered selector"):
        get_selector_class("nope")


def test_external_selector_is_usable_by_name():
    @register_selector("test_first_of_chunk")
    class FirstOfChunk(SparseSelector):
        """Keeps the first token of every chunk of sf tokens (same for every head)."""

        def select(self, queries, keys, values, mask):
            positions = torch.arange(0, keys.shape[2], self.sparsity_factor, device=keys.device)
            return gather_tokens(keys, values, mask, positions.view(1, 1, -1).expand(1, keys.shape[1], -1))

        def sources(self, length, num_heads, keys=None, mask=None):
            return index_sources(torch.arange(0, length, self.sparsity_factor).view(1, -1), length)

    assert "test_first_of_chunk" in available_selectors()
    kw = dict(block_size=8, sparse_block_size=8, sparsity_factor=2, num_global_tokens=2)
    q, k, v = (torch.randn(2, 1, 2 + 50, 4) for _ in range(3))  # one head: stride's head 0 = first of chunk
    mask = torch.ones(2, 50)
    mask[1, 30:] = 0
    custom = lsg_attention(q, k, v, LSGAttentionConfig(sparsity_type="test_first_of_chunk", **kw), mask)
    stride = lsg_attention(q, k, v, LSGAttentionConfig(sparsity_type="stride", **kw), mask)
    torch.testing.assert_close(custom, stride, atol=0, rtol=0)
    none = lsg_attention(q, k, v, LSGAttentionConfig(sparsity_type="none", **kw), mask)
    assert not torch.allclose(custom, none)


def test_registering_a_taken_name_needs_overwrite():
    with pytest.raises(ValueError, match="already registered"):
        @register_selector("norm")
        class Other(SparseSelector):
            pass


@pytest.mark.parametrize("kwargs,field", [
    (dict(block_size=0), "block_size"),
    (dict(block_size=-8), "block_size"),
    (dict(sparse_block_size=-1), "sparse_block_size"),
    (dict(block_size=6, sparsity_factor=4), "block_size=6 must be a multiple of sparsity_factor=4"),
    (dict(block_size=6, sparse_block_size=6, sparsity_factor=2), "is odd"),
    (dict(block_size=16, sparse_block_size=12, sparsity_factor=2, sparsity_type="norm"), "must divide block_size"),
    (dict(block_size=16, sparse_block_size=6, sparsity_factor=4, sparsity_type="pooling"), None),
    (dict(block_size=16, sparse_block_size=4, sparsity_factor=4, sparsity_type="norm"), None),
    (dict(block_size=8, sparse_block_size=16, sparsity_factor=8, sparsity_type="lsh"), "buckets per chunk"),
    (dict(block_size=16, sparse_block_size=8, sparsity_factor=8, sparsity_type="lsh"), None),  # sf == sbs: bos_pooling
    (dict(attention_dropout=1.5), "attention_dropout"),
    (dict(lsh_num_pre_rounds=-1), "lsh_num_pre_rounds"),
    (dict(block_size=16.0), "block_size"),
    (dict(lsg_backend="triton"), "lsg_backend"),
])
def test_bad_settings_fail_early_naming_the_field(kwargs, field):
    if field is None:  # valid: no error expected
        LSGAttentionConfig(**kwargs)
        return
    with pytest.raises(ValueError, match=field):
        LSGAttentionConfig(**kwargs)


def test_out_of_range_global_tokens_are_refused_naming_the_range():
    for value in (0, -1, 600):
        with pytest.raises(ValueError, match=rf"num_global_tokens={value} is out of range: it must be an integer "
                                             r"in \[1, 512\]; use between 1 and 512"):
            LSGAttentionConfig(num_global_tokens=value)


def test_stride_factor_above_the_head_count_warns():
    with pytest.warns(UserWarning, match="heads"):
        LSGAttentionConfig(sparsity_type="stride", sparsity_factor=8, block_size=16, num_heads=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSGAttentionConfig(sparsity_type="stride", sparsity_factor=4, block_size=16, num_heads=4)


def test_sparse_is_disabled_by_zero_block_factor_or_none():
    assert LSGAttentionConfig().sparse_enabled
    assert not LSGAttentionConfig(sparse_block_size=0).sparse_enabled
    assert not LSGAttentionConfig(sparse_block_size=None).sparse_enabled
    assert not LSGAttentionConfig(sparsity_factor=0).sparse_enabled
    assert not LSGAttentionConfig(sparsity_type="none").sparse_enabled
    assert not LSGAttentionConfig(sparsity_type=None).sparse_enabled


def test_non_adaptive_non_multiple_length_is_a_clear_error():
    cfg = LSGAttentionConfig(block_size=8, sparse_block_size=8, adaptive=False)
    q = torch.randn(1, 1, 1 + 30, 4)
    with pytest.raises(ValueError, match="adaptive=False"):
        lsg_attention(q, q, q, cfg)
    assert lsg_attention(q[:, :, :1 + 24], q[:, :, :1 + 24], q[:, :, :1 + 24], cfg).shape == (1, 1, 25, 4)


def test_padding_mask_shape_is_checked():
    q = torch.randn(2, 1, 1 + 30, 4)
    with pytest.raises(ValueError, match="padding_mask has shape"):
        lsg_attention(q, q, q, LSGAttentionConfig(block_size=8, sparse_block_size=8), torch.ones(2, 31))


def test_mask_first_token_hides_token_zero():
    cfg = LSGAttentionConfig(block_size=8, sparse_block_size=8, mask_first_token=True, sparsity_type="pooling")
    q, k, v = (torch.randn(1, 2, 1 + 40, 4) for _ in range(3))
    base = lsg_attention(q, k, v, cfg)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 1], v2[:, :, 1] = 100.0, 100.0  # real token 0 (after the global)
    torch.testing.assert_close(lsg_attention(q, k2, v2, cfg)[:, :, 2:], base[:, :, 2:])
