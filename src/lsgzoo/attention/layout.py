"""Block layout of LSG attention: padding, local windows, the sparse window rule.

All functions are pure tensor index manipulations; none allocates anything of
size t×t. Notation: bs block size, sbs sparse block size, c = bs // sf,
tp padded length, nb = tp / bs blocks, L compressed length.
"""

import functools

import torch
import torch.nn.functional as F


def padded_length(length: int, block_size: int, adaptive: bool = True) -> int:
    """Length after adaptive padding: a multiple of bs when length > 2·bs, else unchanged."""
    if length <= 2 * block_size or length % block_size == 0:
        return length
    if not adaptive:
        raise ValueError(
            f"sequence length {length} is not a multiple of block_size={block_size} and adaptive=False; "
            "set adaptive=True or pad inputs to a multiple of block_size"
        )
    return length + block_size - length % block_size


def uses_full_attention(padded: int, block_size: int) -> bool:
    """Short inputs (tp ≤ 2·bs) use plain full attention."""
    return padded <= 2 * block_size


def local_windows(x: torch.Tensor, block_size: int, fill: float = 0.0) -> torch.Tensor:
    """(..., tp, d) → (..., nb, 3·bs, d): block w sees positions [(w−1)·bs, (w+2)·bs), padded with `fill`."""
    padded = F.pad(x, (0, 0, block_size, block_size), value=fill)
    return padded.unfold(-2, 3 * block_size, block_size).transpose(-1, -2)


@functools.lru_cache(maxsize=64)
def sparse_window_index(compressed_length: int, num_blocks: int, c: int, sparse_block_size: int, device: str = "cpu"):
    """The original's sparse window rule (spec §3.1), as indices (cached: do not modify them).

    Returns (pad, index): pad the compressed sequence with `pad` entries on both ends,
    then block w takes padded entries `index[w]` (long (nb, S), S ≤ 2·sbs, on `device`).
    """
    o = c % 2
    window = 6 * sparse_block_size
    pad = (window - c) // 2 + o
    u = (window - 3 * c) // 2 + o
    u_end = u + o
    in_window = list(range(window))
    offsets = in_window[u - sparse_block_size:u] + in_window[-u_end:-u_end + sparse_block_size]
    count = (compressed_length + 2 * pad - window) // c + 1 - o
    if count != num_blocks:
        raise ValueError(
            f"sparse windows ({count}) do not match query blocks ({num_blocks}) for compressed length "
            f"{compressed_length}, c={c}, sparse_block_size={sparse_block_size}"
        )
    starts = torch.arange(num_blocks).unsqueeze(1) * c
    return pad, (starts + torch.tensor(offsets, dtype=torch.long).view(1, -1)).to(device)


@functools.lru_cache(maxsize=64)
def causal_sparse_window_index(compressed_length: int, num_blocks: int, c: int, sparse_block_size: int,
                               device: str = "cpu"):
    """The causal sparse window (cached: do not modify): block w takes compressed entries
    [(w−1)·c − sbs, (w−1)·c), i.e. the sbs entries just before its causal local window [(w−1)·bs, (w+1)·bs).

    Entry k summarises block ⌊k / c⌋ (every causal selector keeps L = nb·c), so these come from blocks ≤ w − 2
    only. In the normal regime they are the first half of the original rule; the half after the window is
    the future. Returns (pad, index) as `sparse_window_index`: pad = sbs + c, index (nb, sbs) long.
    """
    if compressed_length != num_blocks * c:
        raise ValueError(f"causal sparse windows need {num_blocks} blocks × c={c} compressed entries, "
                         f"got {compressed_length}")
    pad = sparse_block_size + c
    starts = torch.arange(num_blocks).unsqueeze(1) * c
    return pad, (starts + torch.arange(sparse_block_size).view(1, -1)).to(device)


def window_index(compressed_length: int, num_blocks: int, c: int, sparse_block_size: int, causal: bool,
                 device: str = "cpu"):
    """(pad, index) of the causal or the original sparse window rule."""
    rule = causal_sparse_window_index if causal else sparse_window_index
    return rule(compressed_length, num_blocks, c, sparse_block_size, device)


def causal_local_windows(x: torch.Tensor, block_size: int, fill: float = 0.0) -> torch.Tensor:
    """(..., tp, d) → (..., nb, 2·bs, d): block w's causal local keys [(w−1)·bs, (w+1)·bs), padded with `fill`
    (the causal mask inside block w is `local_future`)."""
    padded = F.pad(x, (0, 0, block_size, 0), value=fill)
    return padded.unfold(-2, 2 * block_size, block_size).transpose(-1, -2)


def local_future(block_size: int, device=None) -> torch.Tensor:
    """Bool (bs, 2·bs): True where query r of a block may not see slot s of its causal local window
    (slots [bs, 2·bs) are the block itself; r sees s iff s ≤ bs + r)."""
    slots = torch.arange(2 * block_size, device=device)
    return slots.unsqueeze(0) > torch.arange(block_size, device=device).unsqueeze(1) + block_size


def sparse_windows(x: torch.Tensor, c: int, sparse_block_size: int, num_blocks: int, fill: float = 0.0,
                   causal: bool = False):
    """(..., L, d) → (..., nb, S, d): the compressed entries each query block sees (S = sbs when causal)."""
    pad, index = window_index(x.shape[-2], num_blocks, c, sparse_block_size, causal, str(x.device))
    padded = F.pad(x, (0, 0, pad, pad), value=fill)
    return padded[..., index, :]


def contiguous_runs(row: list[int]) -> tuple[tuple[int, int], ...]:
    """[3, 4, 5, 9, 10] → ((3, 3), (9, 2)): maximal runs of consecutive integers as (start, length)."""
    runs = []
    for value in row:
        if runs and value == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    return tuple((start, length) for start, length in runs)
