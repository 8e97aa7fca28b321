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

Causal (`causal=True`): local keys are those of blocks w − 1 and w up to the query itself, the
sparse runs come from the causal window rule, and the g global queries see the globals only.

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

Bounded compilation: the compiled kernel is specialised to its shapes, so the token length is padded
up to a bucket (`bucket_blocks`: 3·2^k or 4·2^k query blocks, at most 1.5× the blocks) with the padded
keys masked, and the output sliced back. Any mix of lengths up to nb blocks then compiles at most
`len(bucket_sizes(nb))` kernels per (dtype, head dim, heads, batch size, grad mode, config). Each new
kernel is logged ("compiling attention kernel for length L") and timed in `KERNEL_LOG`. The kernel is
compiled with fullgraph=True, so a recompile limit or a compile failure raises instead of running eager
FlexAttention; that raises `KernelUnavailable`, which `LSGAttention` answers with the `fused` backend
(one warning per reason, recorded in `KERNEL_LOG.fallbacks`).
"""

import functools
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lsgzoo.attention.layout import contiguous_runs, window_index

try:
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
except ImportError:  # torch < 2.5
    BlockMask = flex_attention = None

TILE = 128  # FlexAttention's default tile (rows of queries × rows of keys per block-sparse entry)
MAX_KERNELS = 64  # compiled shapes allowed in one process (dynamo's recompile limit for the kernel, raised to it)
kernel_logger = logging.getLogger(__name__)


class KernelUnavailable(RuntimeError):
    """The compiled FlexAttention kernel cannot run these inputs (compile failure, kernel limit reached)."""


def bucket_blocks(blocks: int) -> int:
    """The smallest bucket ≥ `blocks` among 3·2^k and 4·2^k (3, 4, 6, 8, 12, 16, …); below 3 blocks, `blocks`."""
    if blocks < 3:
        return blocks
    power = 1 << (blocks - 1).bit_length()  # smallest power of two ≥ blocks
    return power * 3 // 4 if power * 3 // 4 >= blocks else power


def bucket_sizes(max_blocks: int) -> list[int]:
    """Every bucket a length of 3..max_blocks blocks can be padded to (the compiled-kernel bound per shape key)."""
    return sorted({bucket_blocks(blocks) for blocks in range(3, max_blocks + 1)})


@dataclass
class KernelLog:
    """What the compiled kernel did in this process: one entry per compiled shape, the fallbacks taken.

    compiles: {length, bucket, seconds} per new shape (seconds: its first call, compilation included);
    fallbacks: one reason per distinct failure; seen/failed: shape keys compiled / refused.
    """

    compiles: list = field(default_factory=list)
    fallbacks: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    failed: set = field(default_factory=set)

    def reset(self) -> None:
        self.compiles.clear()
        self.fallbacks.clear()

    def summary(self) -> dict:
        """The run-summary fields: kernels compiled since `reset`, seconds spent, fallback reasons."""
        return {"attention_kernels_compiled": len(self.compiles),
                "attention_compile_s": sum(entry["seconds"] for entry in self.compiles),
                "attention_fallbacks": list(self.fallbacks)}

    def fall_back(self, key, reason: str) -> KernelUnavailable:
        """Refuse shape `key` from now on; warn once per distinct reason. Returns the error to raise."""
        self.failed.add(key)
        if reason not in self.fallbacks:
            self.fallbacks.append(reason)
            warnings.warn(f"compiled FlexAttention unavailable ({reason}); lsg_backend falls back to 'fused'",
                          stacklevel=3)
        return KernelUnavailable(reason)


KERNEL_LOG = KernelLog()


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
    """The compiled FlexAttention kernel (compiled once per shape, lazily; fullgraph: never eager in part)."""
    return torch.compile(flex_attention, dynamic=False, fullgraph=True)


def run_compiled(query, keys, values, score_mod, block_mask, scale: float, length: int):
    """The compiled kernel on bucketed inputs, logging and timing each new shape; `KernelUnavailable` when
    a shape cannot compile or would pass `MAX_KERNELS` (length: the caller's padded token length, for the log)."""
    key = (tuple(query.shape), keys.shape[-2], query.dtype, str(query.device),
           torch.is_grad_enabled() and query.requires_grad)
    if key in KERNEL_LOG.failed:
        raise KernelUnavailable("shape refused earlier")
    new = key not in KERNEL_LOG.seen
    if new:
        if len(KERNEL_LOG.seen) >= MAX_KERNELS:
            raise KERNEL_LOG.fall_back(key, f"more than {MAX_KERNELS} compiled shapes")
        kernel_logger.info("compiling attention kernel for length %d (bucket %d, %s)", length, query.shape[-2],
                    str(query.dtype).removeprefix("torch."))
    started = time.perf_counter()
    try:
        with torch._dynamo.config.patch(recompile_limit=MAX_KERNELS):
            out = compiled_flex_attention()(query, keys, values, score_mod=score_mod, block_mask=block_mask,
                                            scale=scale)
    except Exception as error:
        if not new:
            raise
        raise KERNEL_LOG.fall_back(key, f"{type(error).__name__}: {error}".splitlines()[0][:200]) from error
    if new:
        KERNEL_LOG.seen.add(key)
        KERNEL_LOG.compiles.append({"length": length, "bucket": query.shape[-2],
                                    "seconds": time.perf_counter() - started})
    return out


def block_intervals(w: torch.Tensor, tp: int, sparse_len: int, num_global: int, block_size: int, step: int,
                    pad: int, runs, local_end: int = 2) -> torch.Tensor:
    """Key intervals seen by query blocks `w` (long (m,)) → long (m, P, 2) [start, end) in the flex key layout.

    Intervals are disjoint: the local window [(w − 1)·bs, (w + local_end)·bs), one per sparse run, the global
    keys; empty ones have start = end.
    """
    def clipped(start, end, low, high):
        start, end = start.clamp(low, high), end.clamp(low, high)
        return torch.stack([start, torch.maximum(start, end)], dim=-1)

    parts = [clipped((w - 1) * block_size, (w + local_end) * block_size, 0, tp)]
    for run_start, length in runs:
        first = tp + w * step + run_start - pad  # key row of the run's first entry
        parts.append(clipped(first, first + length, tp, tp + sparse_len))
    total = tp + sparse_len + num_global
    parts.append(clipped(torch.full_like(w, tp + sparse_len), torch.full_like(w, total), 0, total))
    return torch.stack(parts, dim=1)


@functools.lru_cache(maxsize=MAX_KERNELS)  # one mask per bucket and config: as many as kernels
def lsg_block_mask(tp: int, sparse_len: int, num_global: int, block_size: int, step: int, pad: int, runs: tuple,
                   device: str, causal: bool = False):
    """The `BlockMask` of the LSG pattern for token queries (tp) over keys [tokens | sparse | global].

    A (query tile, key tile) pair is listed when some query of the tile sees some key of it, and is
    full when every query of the tile sees every key of it; `mask_mod` decides inside partial tiles.
    Causal: blocks w − 1 and w are seen, but only block w − 1 counts towards full tiles (inside block w
    each query sees a different prefix).
    """
    total = tp + sparse_len + num_global
    q_tiles, kv_tiles = -(-tp // TILE), -(-total // TILE)

    def mask_mod(b, h, q, kv):
        block = q // block_size
        key_block = kv // block_size
        local = (kv < tp) & (key_block >= block - 1) & ((kv <= q) if causal else (key_block <= block + 1))
        relative = kv - tp + pad - block * step  # position in block w's padded sparse window frame
        in_run = functools.reduce(lambda seen, run: seen | ((relative >= run[0]) & (relative < run[0] + run[1])),
                                  runs, relative < relative)
        sparse = (kv >= tp) & (kv < tp + sparse_len) & in_run
        return local | sparse | (kv >= tp + sparse_len)

    blocks = torch.arange(-(-tp // block_size))
    tile_start = torch.arange(kv_tiles) * TILE
    tile_end = (tile_start + TILE).clamp(max=total)

    def overlap(local_end):  # (nb, kv_tiles): keys of each tile inside the intervals of each block
        intervals = block_intervals(blocks, tp, sparse_len, num_global, block_size, step, pad, runs,
                                    local_end)  # (nb, P, 2)
        return (torch.minimum(intervals[:, None, :, 1], tile_end[None, :, None])
                - torch.maximum(intervals[:, None, :, 0], tile_start[None, :, None])).clamp(min=0).sum(-1)

    seen_keys = overlap(1 if causal else 2)
    seen = seen_keys > 0
    full = (overlap(0) if causal else seen_keys) == TILE
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
    """LSG attention on padded inputs through one FlexAttention call at the bucketed length.

    query/key/value (n, h, g + tp, dh), first g rows global; key_mask (n, 1, 1, tp) additive;
    selector: the `SparseSelector` (or None). compiled: use the compiled kernel (default
    `compile_enabled`). The selector sees the tp tokens, as in the other backends; tokens and sparse
    tokens are then padded to `bucket_blocks(tp / bs)` blocks (zero rows, masked in the key bias), so
    real queries see exactly their unpadded keys. Returns (n, h, g + tp, dh).
    """
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, total, dh = query.shape
    tp = total - g
    nb = tp // bs
    extra_blocks = bucket_blocks(nb) - nb
    tb = tp + extra_blocks * bs  # bucketed token length
    masked = torch.finfo(key_mask.dtype).min

    def padded(x, rows):  # (n, h, r, dh) → (n, h, r + rows, dh), zero rows
        return F.pad(x, (0, 0, 0, rows))

    token_query, token_key, token_value = (padded(x[:, :, g:], tb - tp) for x in (query, key, value))
    keys, values = [token_key], [token_value]
    bias = [F.pad(key_mask.view(n, 1, tp), (0, tb - tp), value=masked).expand(n, h, tb)]
    sparse_len, runs, step, pad = 0, (), 1, 0
    if selector is not None:
        sparse = selector(query[:, :, g:], key[:, :, g:], value[:, :, g:], key_mask)
        step = cfg.compressed_block_size
        extra = extra_blocks * step  # each block adds `step` compressed entries to the window rule
        sparse_len = sparse.keys.shape[-2] + extra
        pad, index = window_index(sparse_len, nb + extra_blocks, step, cfg.sparse_block_size, cfg.causal)
        offsets = index[0].tolist()
        if len(set(offsets)) != len(offsets):
            raise ValueError(f"the sparse window of block_size={bs}, sparsity_factor={cfg.sparsity_factor}, "
                             f"sparse_block_size={cfg.sparse_block_size} repeats entries; use lsg_backend='eager'")
        runs = contiguous_runs(offsets)
        keys.append(padded(sparse.keys, extra))
        values.append(padded(sparse.values, extra))
        sparse_bias = sparse.mask.reshape(n, -1, sparse_len - extra)
        bias.append(F.pad(sparse_bias, (0, extra), value=masked).expand(n, h, sparse_len))
    keys.append(key[:, :, :g])
    values.append(value[:, :, :g])
    bias.append(key_mask.new_zeros(n, h, g))
    keys, values = torch.cat(keys, dim=2), torch.cat(values, dim=2)  # (n, h, K = tb + L + g, dh)
    key_bias = torch.cat(bias, dim=-1).float().contiguous()  # (n, h, K)

    def score_mod(score, b, head, q, kv):
        return score + key_bias[b, head, kv]

    block_mask = lsg_block_mask(tb, sparse_len, g, bs, step, pad, runs, str(query.device), cfg.causal)
    scale = 1.0 / math.sqrt(dh)
    if compile_enabled(query.device) if compiled is None else compiled:
        block_out = run_compiled(token_query, keys, values, score_mod, block_mask, scale, tp)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
            block_out = flex_attention(token_query, keys, values, score_mod=score_mod, block_mask=block_mask,
                                       scale=scale)  # (n, h, tb, dh)
    full_mask = F.pad(key_mask, (g, 0), value=0.0).to(query.dtype)  # (n, 1, 1, g + tp)
    seen = g if cfg.causal else total  # causal: the globals see each other only
    global_out = F.scaled_dot_product_attention(query[:, :, :g], key[:, :, :seen], value[:, :, :seen],
                                                attn_mask=full_mask[..., :seen])
    return torch.cat([global_out, block_out[:, :, :tp]], dim=2)
