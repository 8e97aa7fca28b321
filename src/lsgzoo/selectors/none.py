"""`none`: no sparse keys; each query block sees its local window and the global tokens."""

from lsgzoo.selectors.base import SparseSelector
from lsgzoo.selectors.registry import register_selector


@register_selector("none")
class NoSparseSelector(SparseSelector):
    """Disables the sparse part (same as `sparsity_type=None`)."""

    produces_keys = False
    causal_form = True  # reads nothing

    def select(self, queries, keys, values, mask):
        raise RuntimeError("the 'none' selector produces no sparse tokens")
