"""`LSGAttentionConfig`: the LSG keys plus the host model's values, validated once.

The keys (names, types, model defaults) are `attention.keys.LSGKeys`; this module adds the two values
the host model supplies (attention dropout, head count) and the validation. A config is validated
once, at construction: impossible or crashing combinations raise a `ValueError` naming the field and
the fix; the original implementation's auto-corrections (global-token clamping, `pool_with_global`
under `mask_first_token`) are kept, with a warning. A model builds one and hands the same object to
every layer and selector.
"""

import warnings
from dataclasses import dataclass

from lsgzoo.attention.backends import BACKEND_CHOICES, DEFAULT_BACKEND
from lsgzoo.attention.keys import LSGKeys
from lsgzoo.selectors.registry import get_selector_class

MAX_GLOBAL_TOKENS = 512


@dataclass(kw_only=True)
class LSGAttentionConfig(LSGKeys):
    """Every knob of LSG self-attention: the `LSGKeys` (see there) plus, from the host model,

    attention_dropout: dropout on attention probabilities (training only).
    num_heads: optional, only used for the stride-selector warning.
    """

    attention_dropout: float = 0.0
    num_heads: int | None = None

    def __post_init__(self):
        validate_attention_settings(self)

    @property
    def sparse_enabled(self) -> bool:
        """True when sparse keys are added (sbs truthy, sf > 0, type has a selector)."""
        return sparse_is_enabled(self)

    @property
    def compressed_block_size(self) -> int:
        """c = bs // sf: compressed entries per block."""
        return self.block_size // self.sparsity_factor if self.sparsity_factor > 0 else 0


def sparse_is_enabled(cfg) -> bool:
    """Sparse keys run iff sbs is truthy, sf > 0 and the selector produces keys."""
    if not cfg.sparse_block_size or cfg.sparsity_factor <= 0 or cfg.sparsity_type is None:
        return False
    return get_selector_class(cfg.sparsity_type).produces_keys


def _require_int(cfg, name: str, minimum: int, fix: str):
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be an integer; {fix}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}; {fix}")


def validate_attention_settings(cfg) -> None:
    """Validate (and where the original did, auto-correct) an `LSGAttentionConfig` in place."""
    _require_int(cfg, "block_size", 1, "use a positive block length such as 64 or 128")
    if cfg.sparse_block_size is None:
        pass
    else:
        _require_int(cfg, "sparse_block_size", 0, "use 0 (or None) to disable sparse keys, else e.g. 128")
    if isinstance(cfg.sparsity_factor, bool) or not isinstance(cfg.sparsity_factor, int):
        raise ValueError(f"sparsity_factor={cfg.sparsity_factor!r} must be an integer (≤ 0 disables sparse keys)")
    _require_int(cfg, "lsh_num_pre_rounds", 0, "use 0 or more pre-hashing rounds (default 1)")
    if not 0.0 <= float(cfg.attention_dropout) < 1.0:
        raise ValueError(f"attention_dropout={cfg.attention_dropout} must be in [0, 1)")

    if cfg.sparsity_type is not None:
        get_selector_class(cfg.sparsity_type)  # raises listing the registered names

    heads = cfg.num_heads
    if cfg.sparsity_type in ("stride", "block_stride") and heads and cfg.sparsity_factor > heads:
        warnings.warn(
            f"sparsity_type={cfg.sparsity_type!r} with sparsity_factor={cfg.sparsity_factor} > "
            f"{heads} heads: some positions are never reached by any head; "
            "use a factor no larger than the head count",
            stacklevel=3,
        )

    g = cfg.num_global_tokens
    if isinstance(g, bool) or not isinstance(g, int):
        raise ValueError(f"num_global_tokens={g!r} must be an integer in [1, {MAX_GLOBAL_TOKENS}]")
    if g < 1:
        warnings.warn(f"num_global_tokens={g} < 1: set to 1 (the format needs one global token)", stacklevel=3)
        cfg.num_global_tokens = 1
    elif g > MAX_GLOBAL_TOKENS:
        warnings.warn(f"num_global_tokens={g} > {MAX_GLOBAL_TOKENS}: set to {MAX_GLOBAL_TOKENS}", stacklevel=3)
        cfg.num_global_tokens = MAX_GLOBAL_TOKENS

    bs, sf = cfg.block_size, cfg.sparsity_factor
    if sf > 0 and bs % sf != 0:
        raise ValueError(
            f"block_size={bs} must be a multiple of sparsity_factor={sf}; "
            f"pick sparsity_factor among the divisors of block_size (e.g. {_divisors(bs)})"
        )
    if sparse_is_enabled(cfg):
        c = bs // sf
        if c > 1 and c % 2 == 1:
            raise ValueError(
                f"block_size/sparsity_factor = {bs}/{sf} = {c} is odd: the sparse window rule "
                "only aligns for an even ratio (or 1); change block_size or sparsity_factor"
            )
        get_selector_class(cfg.sparsity_type).validate(cfg)

    if cfg.lsg_backend not in BACKEND_CHOICES:
        raise ValueError(
            f"lsg_backend={cfg.lsg_backend!r} is unknown; choose one of {list(BACKEND_CHOICES)} "
            f"({DEFAULT_BACKEND!r} picks the fastest for the device, 'eager' is the reference)"
        )
    if cfg.mask_first_token and not cfg.pool_with_global:
        warnings.warn(
            "mask_first_token=True requires pool_with_global=True (token 0 is hidden, so it takes the "
            "first global token's output): setting pool_with_global=True",
            stacklevel=3,
        )
        cfg.pool_with_global = True


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0]

