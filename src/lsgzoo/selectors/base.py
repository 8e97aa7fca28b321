"""The sparse-selector interface and the helpers shared by the built-in selectors.

A selector compresses the local (non-global) keys/values of one layer into a
shorter sequence of "sparse tokens" that far-away query blocks can attend to.

Shapes: queries/keys/values (n, h, tp, dh) with tp a multiple of block_size;
key mask (n, 1, 1, tp) additive (0 = visible, finfo.min = masked).
A selector returns `SparseTokens` with keys/values (n, h, L, dh) and an additive
mask (n, 1, 1, L) or (n, h, 1, L).
"""

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SparseTokens:
    """Compressed keys/values (n, h, L, dh) and their additive mask (n, 1|h, 1, L)."""

    keys: torch.Tensor
    values: torch.Tensor
    mask: torch.Tensor


class SelectionTape:
    """A selector's discrete, data-dependent choices (norm's top-k positions, lsh's buckets), recorded once
    and replayed in order, so a recomputation (the `fused` backward) selects exactly what forward selected —
    even where recomputing on differently laid-out inputs could break a near-tie the other way."""

    def __init__(self):
        self.choices: list = []
        self.replaying = False
        self.position = 0

    def choose(self, compute):
        """`compute()` while recording (its result kept), the next recorded result while replaying."""
        if not self.replaying:
            self.choices.append(compute())
            return self.choices[-1]
        if self.position >= len(self.choices):
            raise RuntimeError("the selector made more choices in its recomputation than in forward")
        self.position += 1
        return self.choices[self.position - 1]

    def replay(self):
        """Switch to replaying from the first choice; returns self."""
        self.replaying, self.position = True, 0
        return self


class SparseSelector(nn.Module):
    """Base class: subclass, implement `select` (and `sources`), then `@register_selector`.

    Class attributes describe the selector for introspection:
    produces_keys: False for selectors that disable the sparse part ("none").
    data_dependent: which positions feed a sparse token depends on the keys.
    per_head: the positions feeding a sparse token differ between heads.
    causal_form: the selector may run with `causal=True`: its sparse token k summarises tokens of block
        k // c only (c = bs / sf, L = nb·c), so the causal window (blocks ≤ w − 2) never reads the future.
        Off by default: a selector states it (`causal_refusal` gives the reason shown otherwise).
    """

    name: str = "?"
    produces_keys: bool = True
    data_dependent: bool = False
    per_head: bool = False
    causal_form: bool = False
    no_causal_form: str = ("it does not declare a causal form (set causal_form = True on a selector whose sparse "
                           "token k summarises tokens of block k // c only)")

    def __init__(self, config):
        super().__init__()
        self.tape: SelectionTape | None = None
        self.block_size = config.block_size
        self.sparse_block_size = config.sparse_block_size
        self.sparsity_factor = config.sparsity_factor
        self.lsh_num_pre_rounds = getattr(config, "lsh_num_pre_rounds", 1)
        self.causal = getattr(config, "causal", False)

    @classmethod
    def validate(cls, config) -> None:
        """Raise `ValueError` (naming the field and the fix) for settings this selector cannot run."""

    @classmethod
    def causal_refusal(cls, config) -> str | None:
        """Why this selector cannot run with `causal=True` under `config`, or None when it can.

        With sf == 1 every selector keeps every token (with its mask), which is causal."""
        if cls.causal_form or config.sparsity_factor == 1:
            return None
        return cls.no_causal_form

    def forward(self, queries, keys, values, mask) -> SparseTokens:
        """(n, h, tp, dh) ×3 + (n, 1, 1, tp) → SparseTokens. sf == 1 keeps every token."""
        if self.sparsity_factor == 1:
            n, h = keys.shape[:2]
            return SparseTokens(keys, values, mask.expand(n, h, 1, mask.shape[-1]))
        return self.select(queries, keys, values, mask)

    def select(self, queries, keys, values, mask) -> SparseTokens:
        raise NotImplementedError

    def choose(self, compute):
        """Run a discrete, data-dependent choice (no gradient) through the active `SelectionTape`, if any.

        Selectors whose choices depend on the data make them through this method so that a recomputation
        replays them exactly; `compute` is a zero-argument function returning the choice (e.g. indices).
        """
        with torch.no_grad():
            return compute() if self.tape is None else self.tape.choose(compute)

    @contextmanager
    def taped(self, tape: SelectionTape):
        """Within the block, choices are recorded on (or replayed from) `tape`."""
        previous, self.tape = self.tape, tape
        try:
            yield tape
        finally:
            self.tape = previous

    def source_map(self, length: int, num_heads: int, keys=None, mask=None) -> torch.Tensor:
        """Bool (hs, L, length): which original positions may feed each sparse token.

        hs is num_heads for per-head selectors, else 1. Data-dependent selectors use
        `keys` (n=1, h, length, dh) to give the actual choice; without keys they
        return every position that could be chosen.
        """
        if self.sparsity_factor == 1:
            return torch.eye(length, dtype=torch.bool).unsqueeze(0)
        return self.sources(length, num_heads, keys, mask)

    def sources(self, length: int, num_heads: int, keys=None, mask=None) -> torch.Tensor:
        raise NotImplementedError(f"selector {self.name!r} does not describe its sources")


def visible(mask: torch.Tensor) -> torch.Tensor:
    """ν: 1.0 where the additive mask is 0 (visible), else 0.0; same shape and dtype."""
    return (mask == 0).to(mask.dtype)


def chunk_sources(length: int, chunk: int) -> torch.Tensor:
    """Bool (1, length // chunk, length): sparse token j covers positions [j·chunk, (j+1)·chunk)."""
    owner = torch.arange(length) // chunk
    return (owner.unsqueeze(0) == torch.arange(length // chunk).unsqueeze(1)).unsqueeze(0)


def index_sources(positions: torch.Tensor, length: int) -> torch.Tensor:
    """Bool (hs, L, length) one-hot of integer positions (hs, L)."""
    out = torch.zeros(*positions.shape, length, dtype=torch.bool)
    return out.scatter_(-1, positions.unsqueeze(-1), True)


def gather_tokens(keys, values, mask, positions: torch.Tensor) -> SparseTokens:
    """Pick per-head positions.

    keys/values (n, h, tp, dh); mask (n, 1, 1, tp); positions (n|1, h, L) long.
    Returns keys/values (n, h, L, dh) and mask (n, h, 1, L).
    """
    n, h = keys.shape[:2]
    positions = positions.expand(n, h, positions.shape[-1])
    picked_mask = mask.expand(n, h, 1, mask.shape[-1]).gather(-1, positions.unsqueeze(2))
    return SparseTokens(gather_rows(keys, positions), gather_rows(values, positions), picked_mask)


def gather_rows(x, positions):
    """x (n, h, tp, dh), positions (n, h, L) long → (n, h, L, dh): x[i, j, positions[i, j, l]].

    Copies whole dh-rows with one `index_select` (a per-element `gather` with a dh-expanded
    index is several times slower). Works on the rows where they lie: heads-merged
    (n, tp, h, dh) storage, as the projections produce it, or (n, h, tp, dh).
    """
    n, h, tp, dh = x.shape
    heads_merged = x.transpose(1, 2)
    if heads_merged.is_contiguous():
        rows = heads_merged.reshape(-1, dh)  # row (i, p, j) = (i·tp + p)·h + j
        batch = torch.arange(n, device=x.device).view(n, 1, 1) * tp
        index = (batch + positions) * h + torch.arange(h, device=x.device).view(1, h, 1)
    else:
        rows = x.reshape(-1, dh)  # row (i, j, p) = (i·h + j)·tp + p
        index = positions + torch.arange(n * h, device=x.device).view(n, h, 1) * tp
    return rows.index_select(0, index.reshape(-1)).view(n, h, -1, dh)
