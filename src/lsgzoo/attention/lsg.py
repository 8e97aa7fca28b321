"""LSG attention: every query block attends to [global | sparse window | local window].

`LSGAttention` is parameter-free and works on per-head tensors, so a notebook can
call it on plain tensors; `LSGSelfAttention` adds BART-named q/k/v/out projections.

Layout (spec §3): inputs (n, h, g + t, dh) whose first g rows are global tokens.
The t real positions are right-padded to tp (a multiple of bs) when t > 2·bs.
If tp ≤ 2·bs, plain full attention. Otherwise global queries see all g + tp keys,
and query block w (positions [w·bs, (w+1)·bs)) sees the g global keys, the sparse
tokens just outside its local window, and local positions [(w−1)·bs, (w+2)·bs).

With `causal=True` (docs/causal.md) nothing later is seen: query i of block w sees the globals,
local positions [(w−1)·bs, i], and the sbs sparse tokens just before that window (blocks ≤ w − 2);
global queries see the g globals only (they sit before token 0).
"""

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lsgzoo.attention.backends import BACKENDS, resolve_backend
from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.flex import KernelUnavailable
from lsgzoo.attention.layout import causal_local_windows, local_future, local_windows, padded_length
from lsgzoo.attention.layout import sparse_windows, uses_full_attention
from lsgzoo.selectors.registry import build_selector


def additive_key_mask(padding_mask, batch: int, length: int, dtype, device, mask_first_token: bool = False):
    """2-D padding mask (n, t), nonzero = real (or None) → additive mask (n, 1, 1, t): 0 / finfo.min."""
    masked_value = torch.finfo(dtype).min
    if padding_mask is None:
        mask = torch.zeros(batch, 1, 1, length, dtype=dtype, device=device)
    else:
        if padding_mask.shape != (batch, length):
            raise ValueError(f"padding_mask has shape {tuple(padding_mask.shape)}, expected ({batch}, {length})")
        mask = torch.zeros(batch, 1, 1, length, dtype=dtype, device=device)
        mask = mask.masked_fill((padding_mask == 0).view(batch, 1, 1, length), masked_value)
    if mask_first_token:
        mask[..., 0] = masked_value
    return mask


def causal_full_mask(key_mask, num_global: int):
    """Additive (n, 1, g + tp, g + tp) of causal full attention: the g global queries see the globals only,
    token query i the globals and tokens ≤ i; key_mask (n, 1, 1, tp) masks padding as before."""
    tp = key_mask.shape[-1]
    full = F.pad(key_mask, (num_global, 0), value=0.0).expand(-1, -1, num_global + tp, -1)
    rows = torch.arange(num_global + tp, device=key_mask.device)
    future = (rows.unsqueeze(0) > rows.unsqueeze(1)) & (rows >= num_global)  # (g + tp, g + tp): later token keys
    return full.masked_fill(future, torch.finfo(key_mask.dtype).min)


class LSGAttention(nn.Module):
    """Parameter-free LSG attention (dropout on probabilities while training)."""

    def __init__(self, config: LSGAttentionConfig):
        super().__init__()
        self.config = config
        self.selector = build_selector(config) if config.sparse_enabled else None

    def forward(self, query, key, value, padding_mask=None):
        """query/key/value (n, h, g + t, dh), first g rows global; padding_mask (n, t), 1 = real.

        Returns (n, h, g + t, dh). Pads t to a block multiple when needed and un-pads.
        """
        cfg = self.config
        n, _, total, _ = query.shape
        length = total - cfg.num_global_tokens
        if length < 1:
            raise ValueError(f"inputs hold {total} rows but num_global_tokens={cfg.num_global_tokens}")
        key_mask = additive_key_mask(padding_mask, n, length, query.dtype, query.device, cfg.mask_first_token)
        padded = padded_length(length, cfg.block_size, cfg.adaptive)
        if padded != length:
            extra = padded - length
            query, key, value = (F.pad(x, (0, 0, 0, extra)) for x in (query, key, value))
            key_mask = F.pad(key_mask, (0, extra), value=torch.finfo(query.dtype).min)
        return self.attend_padded(query, key, value, key_mask)[:, :, :total]

    def attend_padded(self, query, key, value, key_mask):
        """The layer algorithm on padded inputs.

        query/key/value (n, h, g + tp, dh); key_mask (n, 1, 1, tp) additive → (n, h, g + tp, dh).
        """
        cfg = self.config
        g, bs = cfg.num_global_tokens, cfg.block_size
        dropout = cfg.attention_dropout if self.training else 0.0
        n, h, total, dh = query.shape
        padded = total - g
        full_mask = F.pad(key_mask, (g, 0), value=0.0)  # (n, 1, 1, g + tp)
        backend = resolve_backend(cfg.lsg_backend, query, dropout)
        if uses_full_attention(padded, bs):
            mask = causal_full_mask(key_mask, g) if cfg.causal else full_mask  # (n, 1, 1 | g + tp, g + tp)
            return backend.product(query, key, value, mask, dropout, self.training)
        if padded % bs:
            raise ValueError(f"padded length {padded} is not a multiple of block_size={bs}")
        if backend.layer is not None and backend.available(query, dropout) and self.layer_kernel_allowed(backend):
            try:
                return backend.layer(cfg, query, key, value, key_mask, self.selector)
            except KernelUnavailable:  # the compiled kernel cannot run (warned once, in KERNEL_LOG)
                backend = BACKENDS[backend.fallback]
            if backend.layer is not None and backend.available(query, dropout) and self.layer_kernel_allowed(backend):
                return backend.layer(cfg, query, key, value, key_mask, self.selector)
        sparse = self.sparse_tokens(query, key, value, key_mask)
        if cfg.causal:  # the globals sit before token 0: they see each other only
            global_keys, global_values, full_mask = key[:, :, :g], value[:, :, :g], full_mask[..., :g]
        else:
            global_keys, global_values = key, value
        global_out = backend.product(query[:, :, :g], global_keys, global_values, full_mask, dropout,
                                     self.training)  # (n, h, g, dh)
        query_blocks = query[:, :, g:].reshape(n, h, padded // bs, bs, dh)  # (n, h, nb, bs, dh)
        if backend.recompute and torch.is_grad_enabled():
            block_out = checkpoint(self.block_attention, query_blocks, key, value, key_mask, sparse, dropout,
                                   backend.product, use_reentrant=False)
        else:
            block_out = self.block_attention(query_blocks, key, value, key_mask, sparse, dropout, backend.product)
        return torch.cat([global_out, block_out.reshape(n, h, padded, dh)], dim=2)

    def layer_kernel_allowed(self, backend) -> bool:
        """False when the selector has trainable parameters the backend's layer kernel cannot differentiate."""
        if backend.trainable_selectors or self.selector is None or not torch.is_grad_enabled():
            return True
        if not any(p.requires_grad for p in self.selector.parameters()):
            return True
        warnings.warn(f"selector {self.selector.name!r} has trainable parameters: lsg_backend={backend.name!r} "
                      "computes it through the assembled path (same numbers, more memory)", stacklevel=4)
        return False

    def block_attention(self, query_blocks, key, value, key_mask, sparse, dropout: float, product):
        """Assemble every block's keys and attend with `product`: query_blocks (n, h, nb, bs, dh) → same shape."""
        block_keys, block_values, block_mask = self.assemble_from_sparse(key, value, key_mask, sparse)
        # keys/values (n, h, nb, Kb, dh), mask (n, 1|h, nb, 1, Kb)
        return product(query_blocks, block_keys, block_values, block_mask, dropout, self.training)

    def sparse_tokens(self, query, key, value, key_mask):
        """The selector's compressed tokens for the local part, or None without sparse keys."""
        if self.selector is None:
            return None
        g = self.config.num_global_tokens
        return self.selector(query[:, :, g:], key[:, :, g:], value[:, :, g:], key_mask)

    def assemble_blocks(self, query, key, value, key_mask):
        """Per-block keys [global | sparse window | local window] and their one mask.

        query/key/value (n, h, g + tp, dh), key_mask (n, 1, 1, tp) →
        keys/values (n, h, nb, Kb, dh) and mask (n, 1|h, nb, 1, Kb), Kb = g + S + 3·bs; when causal,
        S ≤ sbs, the local window is [(w−1)·bs, (w+1)·bs) (Kb = g + S + 2·bs) and the mask is per query,
        (n, 1|h, nb, bs, Kb).
        """
        return self.assemble_from_sparse(key, value, key_mask, self.sparse_tokens(query, key, value, key_mask))

    def assemble_from_sparse(self, key, value, key_mask, sparse):
        """`assemble_blocks` with the selector's tokens already computed (`sparse`, or None)."""
        cfg = self.config
        g, bs = cfg.num_global_tokens, cfg.block_size
        n, h, total, dh = key.shape
        num_blocks = (total - g) // bs
        masked_value = torch.finfo(key.dtype).min
        local_k, local_v = key[:, :, g:], value[:, :, g:]

        keys = [key[:, :, :g].unsqueeze(2).expand(n, h, num_blocks, g, dh)]
        values = [value[:, :, :g].unsqueeze(2).expand(n, h, num_blocks, g, dh)]
        masks = [key_mask.new_zeros(n, 1, num_blocks, 1, g)]
        if sparse is not None:
            c, sbs = cfg.compressed_block_size, cfg.sparse_block_size
            keys.append(sparse_windows(sparse.keys, c, sbs, num_blocks, causal=cfg.causal))  # (n, h, nb, S, dh)
            values.append(sparse_windows(sparse.values, c, sbs, num_blocks, causal=cfg.causal))
            sparse_mask = sparse_windows(sparse.mask.transpose(-1, -2), c, sbs, num_blocks, masked_value, cfg.causal)
            masks.append(sparse_mask.transpose(-1, -2))  # (n, 1|h, nb, 1, S)
        local_of = causal_local_windows if cfg.causal else local_windows
        keys.append(local_of(local_k, bs))  # (n, h, nb, 3·bs | 2·bs, dh)
        values.append(local_of(local_v, bs))
        masks.append(local_of(key_mask.transpose(-1, -2), bs, masked_value).transpose(-1, -2))

        mask_heads = max(m.shape[1] for m in masks)
        block_mask = torch.cat([m.expand(n, mask_heads, num_blocks, 1, m.shape[-1]) for m in masks], dim=-1)
        if cfg.causal:  # query r of a block sees its own block up to itself
            local = local_future(bs, key.device)  # (bs, 2·bs)
            future = torch.cat([local.new_zeros(bs, block_mask.shape[-1] - 2 * bs), local], dim=-1)  # (bs, Kb)
            block_mask = block_mask.expand(-1, -1, -1, bs, -1).masked_fill(future, masked_value)
        return torch.cat(keys, dim=-2), torch.cat(values, dim=-2), block_mask


def lsg_attention(query, key, value, config: LSGAttentionConfig, padding_mask=None):
    """Functional LSG attention on plain tensors (see `LSGAttention.forward`)."""
    return LSGAttention(config)(query, key, value, padding_mask)


BART_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class LSGSelfAttention(nn.Module):
    """Multi-head LSG self-attention; its projections are named after the host family (checkpoint keys).

    projections: the (query, key, value, output) linear names; BART's q/k/v/out_proj by default. An
    output name of None leaves the output projection to the host (BERT's `BertSelfOutput.dense`).
    hidden_states (n, g + t, d) with the g global tokens first → ((n, g + t, d), None).
    """

    def __init__(self, embed_dim: int, num_heads: int, config: LSGAttentionConfig, bias: bool = True,
                 projections: tuple = BART_PROJECTIONS):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.projections = projections
        for name in projections:
            if name is not None:
                setattr(self, name, nn.Linear(embed_dim, embed_dim, bias=bias))
        self.attention = LSGAttention(config)

    def split_heads(self, x):
        n, t, _ = x.shape
        return x.view(n, t, self.num_heads, self.head_dim).transpose(1, 2)  # (n, h, t, dh)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        q, k, v = (self.split_heads(getattr(self, name)(hidden_states)) for name in self.projections[:3])
        out = self.attention(q, k, v, attention_mask)  # (n, h, g + t, dh)
        n, _, t, _ = out.shape
        out = out.transpose(1, 2).reshape(n, t, self.embed_dim)  # (n, g + t, d)
        output_name = self.projections[3]
        return (out if output_name is None else getattr(self, output_name)(out)), None
