"""`LSGAttentionConfig`: the LSG keys plus the host model's values, validated once.

The keys (names, types, model defaults) are `attention.keys.LSGKeys`; this module adds the two values
the host model supplies (attention dropout, head count) and the validation. A config is validated
once, at construction: a value outside its key's range (`attention.keys.KeyRange`) and impossible or
crashing combinations raise a `ValueError` naming the key and the fix. Nothing is corrected, so what a
run records is what ran; the original implementation's auto-corrections (global-token clamping,
`pool_with_global` under `mask_first_token`) are `original_corrections`, applied only when a
checkpoint's config.json is read. A model builds one and hands the same object to every layer and
selector.
"""

import warnings
from dataclasses import dataclass

from lsgzoo.attention.backends import BACKEND_CHOICES, DEFAULT_BACKEND
from lsgzoo.attention.keys import LSG_KEYS, MAX_GLOBAL_TOKENS, LSGKeys, key_problem
from lsgzoo.selectors.registry import get_selector_class


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


def validate_attention_settings(cfg) -> None:
    """Raise `ValueError` (key, range or constraint, fix) unless `cfg`'s settings can run as they are.

    Nothing is corrected: a run records exactly the settings it ran with. The original's corrections,
    for loading its checkpoints, are `original_corrections`.
    """
    for name in LSG_KEYS:
        problem = key_problem(name, getattr(cfg, name))
        if problem is not None:
            raise ValueError(problem)
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
        selector = get_selector_class(cfg.sparsity_type)
        selector.validate(cfg)
        refusal = selector.causal_refusal(cfg) if cfg.causal else None
        if refusal is not None:
            raise ValueError(f"causal=True cannot use sparsity_type={cfg.sparsity_type!r}: {refusal}")

    if cfg.lsg_backend not in BACKEND_CHOICES:
        raise ValueError(
            f"lsg_backend={cfg.lsg_backend!r} is unknown; choose one of {list(BACKEND_CHOICES)} "
            f"({DEFAULT_BACKEND!r} picks the fastest for the device, 'eager' is the reference)"
        )
    if cfg.mask_first_token and not cfg.pool_with_global:
        raise ValueError("mask_first_token=True needs pool_with_global=True (token 0 is hidden, so it takes the "
                         "first global token's output); set pool_with_global=True or mask_first_token=False")


def original_corrections(settings: dict) -> dict[str, tuple]:
    """The corrections the original LSG-BART applied to its config values: {key: (value, corrected)}.

    Only for values read from a checkpoint's config.json (`models.lsg_config`), so that the original's
    checkpoints load as they did there; everywhere else an out-of-range value is an error.
    """
    corrections = {}
    g = settings.get("num_global_tokens")
    if isinstance(g, int) and not isinstance(g, bool) and not 1 <= g <= MAX_GLOBAL_TOKENS:
        corrections["num_global_tokens"] = (g, min(max(g, 1), MAX_GLOBAL_TOKENS))
    if settings.get("mask_first_token") and settings.get("pool_with_global") is False:
        corrections["pool_with_global"] = (False, True)
    return corrections

def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0]

