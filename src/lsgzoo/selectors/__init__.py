"""Sparse selectors: one file each, behind a name registry.

Built in: none, norm, pooling, lsh, stride, block_stride, bos_pooling (the original's),
and bos_pooling_masked (bos_pooling with all-padding chunks masked).
Register your own with `@register_selector("name")` on a `SparseSelector` subclass.
"""

from lsgzoo.selectors.base import SparseSelector, SparseTokens
from lsgzoo.selectors.registry import available_selectors, build_selector, get_selector_class, register_selector
from lsgzoo.selectors import block_stride, bos_pooling, bos_pooling_masked, lsh, none, norm, pooling, stride  # noqa: F401

__all__ = [
    "SparseSelector",
    "SparseTokens",
    "available_selectors",
    "build_selector",
    "get_selector_class",
    "register_selector",
]
