"""The `flex` backend: LSG attention as one FlexAttention call per layer.

The token queries (n, h, tp, dh) attend to keys and values laid out once as

    [tokens (tp) | sparse tokens (L) | global (g)]      (n, h, K = tp + L + g, dh)

Tokens come first so that query block w and its local keys start on the same 128-row tile
when bs is a multiple of 128 (the tiles of the local window are then full, not partial).
Which keys a query sees is the LSG pattern, a function of positions only (`mask_mod`):

* local: token keys of blocks w − 1, w, w + 1;
* sparse: compressed index s where s + pad − w·c lies in one of the runs of the original's
  sparse window rule (`layout.sparse_window_index`, spec §3.1);
* global: the last g keys.

It depends on shapes alone, so its `BlockMask` is built once per shape and cached. It is built
analytically from those intervals (O(tiles), no t×K mask evaluation). Padding and the selector's
masks, which depend on the data, enter through `score_mod` as the additive key bias
(n, h, K) = [key mask | sparse mask | 0]. The g global queries attend to all g + tp keys with
SDPA, as in the other backends. The selector runs in plain autograd, so data-dependent choices
(norm's top-k, lsh's buckets) are made once and saved by autograd.

FlexAttention is fast only compiled: on CUDA the compiled kernel is always used (its eager
fallback materialises every score). On CPU, FlexAttention has no backward; the forward is
compiled unless `LSGZOO_FLEX_COMPILE=0` (then eager flex is exact but materialises (tp, K)
scores per head: for tests and small inputs). `flex_available` says when the backend can run;
`backends.resolve_backend` falls back otherwise.
"""

import functools
import math
import os
import warnings

import torch
import torch.nn.functional as F

from lsgzoo.attention.layout import contiguous_runs, sparse_window_index

try:
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
except ImportError:  # torch < 2.5
    BlockMask = flex_attention = None

TILE = 128  # FlexAttention's default tile (rows of queries × rows of keys per block-sparse entry)


def flex_available(query, dropout: float) -> bool:
    """FlexAttention can run this layer: present in torch, no attention dropout, a compiler for the
    device (Triton off the CPU), and a backward where one is needed (none on CPU)."""
    if flex_attention is None or dropout != 0.0 or query.device.type not in ("cuda", "cpu", "xpu"):
        return False
    if query.device.type == "cpu":
        return not (torch.is_grad_enabled() and query.requires_grad)
    return triton_available()


@functools.cache
def triton_available() -> bool:
    """Triton is importable (torch.compile's GPU code generator)."""
    try:
        from torch.utils._triton import has_triton
    except ImportError:
        return False
    return has_triton()


def compile_enabled(device: torch.device) -> bool:
    """Whether the compiled kernel is used: always off the CPU; on CPU unless LSGZOO_FLEX_COMPILE=0."""
    return device.type != "cpu" or os.environ.get("LSGZOO_FLEX_COMPILE", "1") != "0"


@functools.cache
def compiled_flex_attention():
    """The compiled FlexAttention kernel (compiled once per process, lazily)."""
    return torch.compile(flex_attention, dynamic=False)


def block_intervals(w: torch.Tensor, tp: int, sparse_len: int, num_global: int, block_size: int, step: int,
                    pad: int, runs) -> torch.Tensor:
    """Key intervals seen by query blocks `w` (long (m,)) → long (m, P, 2) [start, end) in the flex key layout.

    Intervals are disjoint: the local window, one per sparse run, the global keys; empty ones have start = end.
    """
    def clipped(start, end, low, high):
        start, end = start.clamp(low, high), end.clamp(low, high)
        return torch.stack([start, torch.maximum(start, end)], dim=-1)

    parts = [clipped((w - 1) * block_size, (w + 2) * block_size, 0, tp)]
    for run_start, length in runs:
        first = tp + w * step + run_start - pad  # key row of the run's first entry
        parts.append(clipped(first, first + length, tp, tp + sparse_len))
    total = tp + sparse_len + num_global
    parts.append(clipped(torch.full_like(w, tp + sparse_len), torch.full_like(w, total), 0, total))
    return torch.stack(parts, dim=1)


@functools.lru_cache(maxsize=16)
def lsg_block_mask(tp: int, sparse_len: int, num_global: int, block_size: int, step: int, pad: int, runs: tuple,
                   device: str):
    """The `BlockMask` of the LSG pattern for token queries (tp) over keys [tokens | sparse | global].

    A (query tile, key tile) pair is listed when some query of the tile sees some key of it, and is
    full when every query of the tile sees every key of it; `mask_mod` decides inside partial tiles.
    """
    total = tp + sparse_len + num_global
    q_tiles, kv_tiles = -(-tp // TILE), -(-total // TILE)

    def mask_mod(b, h, q, kv):
        block = q // block_size
        key_block = kv // block_size
        local = (kv < tp) & (key_block >= block - 1) & (key_block <= block + 1)
        relative = kv - tp + pad - block * step  # position in block w's padded sparse window frame
        in_run = functools.reduce(lambda seen, run: seen | ((relative >= run[0]) & (relative < run[0] + run[1])),
                                  runs, relative < relative)
        sparse = (kv >= tp) & (kv < tp + sparse_len) & in_run
        return local | sparse | (kv >= tp + sparse_len)

    blocks = torch.arange(-(-tp // block_size))
    intervals = block_intervals(blocks, tp, sparse_len, num_global, block_size, step, pad, runs)  # (nb, P, 2)
    tile_start = torch.arange(kv_tiles) * TILE
    tile_end = (tile_start + TILE).clamp(max=total)
    overlap = (torch.minimum(intervals[:, None, :, 1], tile_end[None, :, None])
               - torch.maximum(intervals[:, None, :, 0], tile_start[None, :, None])).clamp(min=0).sum(-1)
    seen = overlap > 0  # (nb, kv_tiles)
    full = overlap == TILE
    first_block = torch.arange(q_tiles) * TILE // block_size
    last_block = ((torch.arange(q_tiles) + 1) * TILE).clamp(max=tp).sub(1) // block_size
    tile_seen = torch.stack([seen[a:b + 1].any(0) for a, b in zip(first_block.tolist(), last_block.tolist())])
    tile_full = torch.stack([full[a:b + 1].all(0) for a, b in zip(first_block.tolist(), last_block.tolist())])
    partial = tile_seen & ~tile_full

    def ordered(flags):  # (q_tiles, kv_tiles) bool → counts (1, 1, q_tiles), indices (1, 1, q_tiles, kv_tiles)
        counts = flags.sum(-1, dtype=torch.int32)
        order = torch.argsort((~flags).to(torch.int8), dim=-1, stable=True).to(torch.int32)
        return counts.view(1, 1, q_tiles).to(device), order.view(1, 1, q_tiles, kv_tiles).to(device)

    return BlockMask.from_kv_blocks(*ordered(partial), *ordered(tile_full), BLOCK_SIZE=TILE, mask_mod=mask_mod,
                                    seq_lengths=(tp, total))


def flex_lsg_attention(cfg, query, key, value, key_mask, selector, compiled: bool | None = None):
    """LSG attention on padded inputs through one FlexAttention call.

    query/key/value (n, h, g + tp, dh), first g rows global; key_mask (n, 1, 1, tp) additive;
    selector: the `SparseSelector` (or None). compiled: use the compiled kernel (default
    `compile_enabled`). Returns (n, h, g + tp, dh).
    """
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, total, dh = query.shape
    tp = total - g
    nb = tp // bs
    token_query, token_key, token_value = (x[:, :, g:] for x in (query, key, value))
    keys, values, bias = [token_key], [token_value], [key_mask.view(n, 1, tp).expand(n, h, tp)]
    sparse_len, runs, step, pad = 0, (), 1, 0
    if selector is not None:
        sparse = selector(token_query, token_key, token_value, key_mask)
        sparse_len = sparse.keys.shape[-2]
        step = cfg.compressed_block_size
        pad, index = sparse_window_index(sparse_len, nb, step, cfg.sparse_block_size)
        offsets = index[0].tolist()
        if len(set(offsets)) != len(offsets):
            raise ValueError(f"the sparse window of block_size={bs}, sparsity_factor={cfg.sparsity_factor}, "
                             f"sparse_block_size={cfg.sparse_block_size} repeats entries; use lsg_backend='eager'")
        runs = contiguous_runs(offsets)
        keys.append(sparse.keys)
        values.append(sparse.values)
        bias.append(sparse.mask.reshape(n, -1, sparse_len).expand(n, h, sparse_len))
    keys.append(key[:, :, :g])
    values.append(value[:, :, :g])
    bias.append(key_mask.new_zeros(n, h, g))
    keys, values = torch.cat(keys, dim=2), torch.cat(values, dim=2)  # (n, h, K, dh)
    key_bias = torch.cat(bias, dim=-1).float().contiguous()  # (n, h, K)

    def score_mod(score, b, head, q, kv):
        return score + key_bias[b, head, kv]

    block_mask = lsg_block_mask(tp, sparse_len, g, bs, step, pad, runs, str(query.device))
    use_compiled = compile_enabled(query.device) if compiled is None else compiled
    kernel = compiled_flex_attention() if use_compiled else flex_attention
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        block_out = kernel(token_query, keys, values, score_mod=score_mod, block_mask=block_mask,
                           scale=1.0 / math.sqrt(dh))  # (n, h, tp, dh)
    full_mask = F.pad(key_mask, (g, 0), value=0.0).to(query.dtype)  # (n, 1, 1, g + tp)
    global_out = F.scaled_dot_product_attention(query[:, :, :g], key, value, attn_mask=full_mask)
    return torch.cat([global_out, block_out], dim=2)
