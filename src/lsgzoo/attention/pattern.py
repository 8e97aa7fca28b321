"""Pattern introspection: who attends to whom, over original positions.

`attention_pattern` returns the boolean query×key connectivity of one LSG layer
for a config and a length (globals first, then real positions), per head where
the selector differs by head. For data-dependent selectors (norm, lsh) pass
`keys` to see the actual choice; without keys the pattern shows every position
that *could* be reached and is flagged `data_dependent`. `key_counts` counts the
visible key entries each query block sees, through the real assembly code. Both follow `causal`.
"""

from dataclasses import dataclass

import torch

from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.layout import padded_length, uses_full_attention, window_index
from lsgzoo.attention.lsg import LSGAttention, additive_key_mask


@dataclass
class AttentionPattern:
    """connectivity: bool (hs, g + t, g + t), rows = queries, columns = keys; hs = heads or 1."""

    connectivity: torch.Tensor
    num_global_tokens: int
    sparsity_type: str | None
    per_head: bool
    data_dependent: bool

    def keys_per_query(self) -> torch.Tensor:
        """Long (hs, g + t): distinct original positions (globals included) each query reaches."""
        return self.connectivity.sum(-1)


def attention_pattern(config: LSGAttentionConfig, length: int, num_heads: int = 1,
                      keys: torch.Tensor | None = None, padding_mask: torch.Tensor | None = None) -> AttentionPattern:
    """Connectivity of LSG attention for `length` real tokens.

    keys: optional (1, h, length, dh) local keys for data-dependent selectors.
    padding_mask: optional (length,) 1 = real; masked positions are never reached.
    """
    g, bs = config.num_global_tokens, config.block_size
    padded = padded_length(length, bs, config.adaptive)
    real = torch.zeros(padded, dtype=torch.bool)
    real[:length] = True if padding_mask is None else padding_mask.bool()
    if config.mask_first_token:
        real[0] = False
    selector = LSGAttention(config).selector
    per_head = selector is not None and (selector.per_head or (keys is not None and selector.data_dependent))
    heads = num_heads if per_head else 1
    visible_keys = torch.cat([torch.ones(g, dtype=torch.bool), real])  # (g + tp,)
    conn = visible_keys.expand(heads, g + padded, g + padded).clone()
    if not uses_full_attention(padded, bs):
        conn[:, g:, :] = False
        conn[:, g:, :g] = True
        num_blocks = padded // bs
        if selector is not None:
            if keys is not None:
                keys = torch.nn.functional.pad(keys, (0, 0, 0, padded - length))
            key_mask = additive_key_mask(real.view(1, -1), 1, padded, torch.float32, "cpu")
            sources = selector.source_map(padded, num_heads, keys, key_mask) & real  # (hs', L, tp)
            c, sbs = config.compressed_block_size, config.sparse_block_size
            pad, index = window_index(sources.shape[1], num_blocks, c, sbs, config.causal)
            index = index - pad  # compressed indices, out of range = padding
        for w in range(num_blocks):
            rows = slice(g + w * bs, g + (w + 1) * bs)
            start, stop = max(0, (w - 1) * bs), min(padded, (w + (1 if config.causal else 2)) * bs)
            conn[:, rows, g + start:g + stop] = real[start:stop]
            if selector is not None:
                entries = index[w][(index[w] >= 0) & (index[w] < sources.shape[1])]
                reached = sources[:, entries].any(dim=1)  # (hs', tp)
                conn[:, rows, g:] |= reached.unsqueeze(1)
    if config.causal:  # within the own block, and for the global rows (they see the globals only)
        rows = torch.arange(g + padded)
        conn &= ~((rows.unsqueeze(0) > rows.unsqueeze(1)) & (rows >= g))
    total = g + length
    return AttentionPattern(
        connectivity=conn[:, :total, :total],
        num_global_tokens=g,
        sparsity_type=config.sparsity_type,
        per_head=per_head,
        data_dependent=selector is not None and selector.data_dependent and keys is None,
    )


def key_counts(config: LSGAttentionConfig, length: int, num_heads: int = 1, head_dim: int = 8,
               padding_mask: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Long (hs, nb): visible key entries per query block (causal: its last query), from the real assembly code.

    Uses random queries/keys (seeded); for inputs using full attention returns (1, 1)
    holding g + visible tokens.
    """
    g, bs = config.num_global_tokens, config.block_size
    padded = padded_length(length, bs, config.adaptive)
    mask2d = torch.zeros(1, padded)
    mask2d[0, :length] = 1 if padding_mask is None else padding_mask
    key_mask = additive_key_mask(mask2d, 1, padded, torch.float32, "cpu", config.mask_first_token)
    if uses_full_attention(padded, bs):
        return (key_mask == 0).sum().view(1, 1) + g
    generator = torch.Generator().manual_seed(seed)
    qkv = torch.randn(3, 1, num_heads, g + padded, head_dim, generator=generator)
    _, _, block_mask = LSGAttention(config).assemble_blocks(qkv[0], qkv[1], qkv[2], key_mask)
    return (block_mask[0, :, :, -1] == 0).sum(-1)  # causal: the block's last query, which sees the most


def plot_pattern(pattern: AttentionPattern, path, heads: int = 4, title: str | None = None):
    """Write a PNG of the connectivity (up to `heads` heads side by side); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(heads, pattern.connectivity.shape[0])
    fig, axes = plt.subplots(1, shown, figsize=(4.2 * shown, 4.4), squeeze=False)
    for head, ax in enumerate(axes[0]):
        ax.imshow(pattern.connectivity[head].numpy(), cmap="Greys", interpolation="nearest")
        g = pattern.num_global_tokens
        ax.axhline(g - 0.5, color="tab:red", lw=0.6)
        ax.axvline(g - 0.5, color="tab:red", lw=0.6)
        ax.set_xlabel("key (globals, then positions)")
        ax.set_ylabel("query")
        if pattern.per_head:
            ax.set_title(f"head {head}", fontsize=9)
    kind = pattern.sparsity_type or "none"
    note = " — candidates (data-dependent)" if pattern.data_dependent else ""
    mean_keys = pattern.keys_per_query().float().mean().item()
    fig.suptitle(title or f"{kind}: {mean_keys:.0f} keys/query on average{note}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
