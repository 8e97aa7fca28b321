"""Analytic FLOP counts of one encoder pass (multiply-add = 2 FLOPs), per implementation.

Counted: the q/k/v/out projections and the FFN (2·T·(4·D² + 2·D·F) per layer), and
the attention products QKᵀ and P·V (4·dh FLOPs per query-key pair per head) over
the keys each implementation actually multiplies, masked or not. Not counted:
softmax, layer norms, embeddings, selectors (all O(T·D) and small).
Backward is counted as 2× forward, so fwd+bwd = 3× forward.
"""

import math

from lsgzoo.attention.keys import LSG_KEYS, LSGKeys

def dense_flops(tokens: int, d_model: int, ffn: int) -> float:
    """Projections + FFN of one layer."""
    return 2.0 * tokens * (4 * d_model * d_model + 2 * d_model * ffn)


def attention_pair_flops(pairs: float, d_model: int) -> float:
    """QKᵀ and P·V over `pairs` query-key pairs, all heads (h·dh = D)."""
    return 4.0 * pairs * d_model


def lsg_pairs(length: int, params: dict, globals_: int = 1) -> float:
    """Query-key pairs of the LSG block layout: g global queries × all keys, tp queries × Kb keys."""
    keys = LSGKeys(**{key: value for key, value in params.items() if key in LSG_KEYS})  # model defaults
    bs = keys.block_size
    tp = length if length <= 2 * bs or length % bs == 0 else length + bs - length % bs
    total = globals_ + tp
    if tp <= 2 * bs:
        return float(total * total)
    sbs, sf, kind = keys.sparse_block_size, keys.sparsity_factor, keys.sparsity_type
    sparse = 2 * sbs if sbs and sf > 0 and kind not in (None, "none") else 0
    return float(globals_ * total + tp * (globals_ + sparse + 3 * bs))


def led_pairs(length: int, window: int) -> float:
    """Longformer: 2·(w/2)+1 local keys per query (computed as w+1 in chunks), plus one global token."""
    padded = math.ceil(length / window) * window
    return float(padded * (window + 1) + 2 * padded)


def bigbird_pairs(length: int, block: int, random_blocks: int) -> float:
    """BigBird ITC: 2 global blocks see everything; the rest see 3 sliding + 2 global + r random blocks."""
    nb = math.ceil(length / block)
    if nb <= 5 + 2 * random_blocks:  # the library falls back to full attention
        return float(length * length)
    return float(2 * block * length + (nb - 2) * block * (5 + random_blocks) * block)


def forward_flops(case: dict, length: int, dims: dict) -> float | None:
    """Forward FLOPs of one encoder pass of `case` at `length` tokens (None for non-encoder cases)."""
    d, f, layers = dims["d_model"], dims["ffn"], dims["layers"]
    kind, params = case["kind"], case["params"]
    if kind in ("lsg", "original"):
        tokens, pairs = length + 1, lsg_pairs(length, params)
    elif kind == "bart":
        tokens, pairs = length, float(length * length)
    elif kind == "led":
        tokens = math.ceil(length / params["window"]) * params["window"]
        pairs = led_pairs(length, params["window"])
    elif kind == "bigbird":
        tokens, pairs = length, bigbird_pairs(length, params["block_size"], params["random_blocks"])
    else:
        return None
    return layers * (dense_flops(tokens, d, f) + attention_pair_flops(pairs, d))


def mode_flops(case: dict, length: int, mode: str, dims: dict) -> float | None:
    forward = forward_flops(case, length, dims)
    return None if forward is None else forward * (1 if mode == "fwd" else 3)
