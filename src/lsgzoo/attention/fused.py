"""The `fused` backend on CPU: LSG block attention without copying the local windows.

Query block w (bs queries) attends to two key groups, computed by PyTorch's fused
CPU flash kernel and merged exactly through their log-sum-exp:

* local: positions [(w−1)·bs, (w+2)·bs) — a strided view (`unfold`) of the padded
  keys, so the 3·bs local keys per block (60–80% of all keys) are never copied;
* far: [global | sparse window] — gathered per block (g + S keys).

out = Σ_groups exp(lse_group − lse) · out_group with lse = logaddexp(lse_local, lse_far),
which equals one softmax over the concatenated keys. Backward is a custom autograd
function: it re-gathers the far keys (nothing of size nb·Kb·dh is stored) and calls
the flash backward kernel once per group with the *merged* output and log-sum-exp,
which gives exactly the gradients of the joint softmax (dS = P ⊙ (dP − rowsum(dO ⊙ O))).
Gradients of the local group are folded back onto the padded keys by three shifted adds.

The kernel is PyTorch's private `aten._scaled_dot_product_flash_attention_for_cpu`
(+ `_backward`); `fused_block_attention_available` says when it can be used
(CPU tensors, no attention dropout, op present); otherwise the caller falls back
to the assembled-blocks SDPA path with recomputation.
"""

import math

import torch
import torch.nn.functional as F

from lsgzoo.attention.layout import local_windows, sparse_window_index


def _flash_cpu_ops():
    """(forward, backward) private flash kernels of this torch build, or None."""
    aten = torch.ops.aten
    try:
        return aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention_for_cpu_backward
    except (AttributeError, RuntimeError):
        return None


def fused_block_attention_available(query, dropout: float) -> bool:
    """The two-group CPU kernel path applies: CPU tensors, no attention dropout, the private op exists."""
    return (query.device.type == "cpu" and dropout == 0.0 and query.dtype in (torch.float32, torch.bfloat16,
            torch.float16) and _flash_cpu_ops() is not None)


class TwoGroupBlockAttention(torch.autograd.Function):
    """softmax over [far | local] keys per query block, as two flash calls merged by log-sum-exp.

    query (B, nb, bs, dh); local_keys/values (B, tp + 2·bs, dh) zero-padded by bs on both sides;
    far_source_keys/values (B, F0, dh) with far_index long (nb·Kf) picking each block's far keys;
    local_mask (B|1, nb, 1, 3·bs) and far_mask (B|1, nb, 1, Kf) additive → (B, nb, bs, dh).
    """

    @staticmethod
    def forward(ctx, query, local_keys, local_values, far_source_keys, far_source_values, far_index,
                local_mask, far_mask, block_size):
        flash, _ = _flash_cpu_ops()
        scale = 1.0 / math.sqrt(query.shape[-1])
        groups = _groups(local_keys, local_values, far_source_keys, far_source_values, far_index, block_size,
                         query.shape[1])
        local_out, local_lse = flash(query, groups[0], groups[1], 0.0, False, attn_mask=local_mask, scale=scale)
        far_out, far_lse = flash(query, groups[2], groups[3], 0.0, False, attn_mask=far_mask, scale=scale)
        lse = torch.logaddexp(local_lse, far_lse)  # (B, nb, bs), float32
        out = (local_out * torch.exp(local_lse - lse).unsqueeze(-1).to(local_out.dtype)
               + far_out * torch.exp(far_lse - lse).unsqueeze(-1).to(far_out.dtype))
        ctx.save_for_backward(query, local_keys, local_values, far_source_keys, far_source_values, far_index,
                              local_mask, far_mask, out, lse)
        ctx.block_size, ctx.scale = block_size, scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        _, flash_backward = _flash_cpu_ops()
        query, local_keys, local_values, far_keys, far_values, far_index, local_mask, far_mask, out, lse = (
            ctx.saved_tensors)
        bs, nb = ctx.block_size, query.shape[1]
        groups = _groups(local_keys, local_values, far_keys, far_values, far_index, bs, nb)
        grad_out = grad_out.contiguous()
        dq_local, dk_local, dv_local = flash_backward(grad_out, query, groups[0], groups[1], out, lse, 0.0, False,
                                                      attn_mask=local_mask, scale=ctx.scale)
        dq_far, dk_far, dv_far = flash_backward(grad_out, query, groups[2], groups[3], out, lse, 0.0, False,
                                                attn_mask=far_mask, scale=ctx.scale)
        return (dq_local + dq_far, _fold_local(dk_local, bs), _fold_local(dv_local, bs),
                _scatter_far(dk_far, far_index, far_keys.shape[1]), _scatter_far(dv_far, far_index, far_values.shape[1]),
                None, None, None, None)


def _groups(local_keys, local_values, far_keys, far_values, far_index, block_size, num_blocks):
    """(local keys, local values) as strided views (B, nb, 3·bs, dh) and far keys/values gathered (B, nb, Kf, dh)."""
    windows = [x.unfold(1, 3 * block_size, block_size).transpose(-1, -2) for x in (local_keys, local_values)]
    batch, _, dh = far_keys.shape
    far = [x.index_select(1, far_index).view(batch, num_blocks, -1, dh) for x in (far_keys, far_values)]
    return windows[0], windows[1], far[0], far[1]


def _fold_local(grad_windows, block_size):
    """Sum the overlapping window gradients (B, nb, 3·bs, dh) back onto the padded keys (B, tp + 2·bs, dh)."""
    batch, nb, _, dh = grad_windows.shape
    parts = grad_windows.view(batch, nb, 3, block_size, dh)
    folded = grad_windows.new_zeros(batch, nb + 2, block_size, dh)
    for shift in range(3):
        folded[:, shift:shift + nb] += parts[:, :, shift]
    return folded.view(batch, (nb + 2) * block_size, dh)


def _scatter_far(grad_far, far_index, source_length):
    """(B, nb, Kf, dh) → (B, F0, dh): add each block's far-key gradient back to its source row."""
    batch, _, _, dh = grad_far.shape
    return grad_far.new_zeros(batch, source_length, dh).index_add_(1, far_index, grad_far.reshape(batch, -1, dh))


def fused_block_attention(cfg, query_blocks, key, value, key_mask, sparse):
    """LSG block attention through `TwoGroupBlockAttention`.

    query_blocks (n, h, nb, bs, dh); key/value (n, h, g + tp, dh); key_mask (n, 1, 1, tp) additive;
    sparse: the selector's `SparseTokens` (keys/values (n, h, L, dh), mask (n, 1|h, 1, L)) or None.
    Returns (n, h, nb, bs, dh).
    """
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, nb, _, dh = query_blocks.shape
    batch = n * h
    masked_value = torch.finfo(key.dtype).min
    local_keys, local_values = (F.pad(x[:, :, g:], (0, 0, bs, bs)).reshape(batch, -1, dh) for x in (key, value))
    local_mask = local_windows(key_mask.transpose(-1, -2), bs, masked_value).transpose(-1, -2)  # (n, 1, nb, 1, 3bs)

    index = torch.arange(g).view(1, g).expand(nb, g)
    far_keys, far_values = key[:, :, :g], value[:, :, :g]  # (n, h, g, dh)
    far_mask = key_mask.new_zeros(n, 1, 1, g)
    if sparse is not None:
        pad, sparse_index = sparse_window_index(sparse.keys.shape[-2], nb, cfg.compressed_block_size,
                                                cfg.sparse_block_size)
        index = torch.cat([index, sparse_index + g], dim=1)  # (nb, g + S)
        far_keys, far_values = (torch.cat([far, F.pad(x, (0, 0, pad, pad))], dim=2)
                                for far, x in ((far_keys, sparse.keys), (far_values, sparse.values)))
        sparse_mask = F.pad(sparse.mask, (pad, pad), value=masked_value)  # (n, 1|h, 1, Lp)
        far_mask = torch.cat([far_mask.expand(n, sparse_mask.shape[1], 1, g), sparse_mask], dim=-1)
    index = index.reshape(-1).to(key.device)
    far_mask = far_mask[..., index].view(n, far_mask.shape[1], 1, nb, -1).transpose(2, 3)  # (n, 1|h, nb, 1, Kf)

    def per_batch(mask):  # (n, 1|h, nb, 1, K) → (B, nb, 1, K), the kernel's layout
        return mask.to(query_blocks.dtype).expand(n, h, *mask.shape[2:]).reshape(batch, nb, 1, mask.shape[-1])

    out = TwoGroupBlockAttention.apply(
        query_blocks.reshape(batch, nb, bs, dh), local_keys, local_values,
        far_keys.reshape(batch, -1, dh), far_values.reshape(batch, -1, dh), index,
        per_batch(local_mask), per_batch(far_mask), bs,
    )
    return out.view(n, h, nb, bs, dh)
