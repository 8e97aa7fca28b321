"""The `fused` backend on CPU: LSG attention with no copies of the block keys and chunked work.

Keys and values are copied once into a padded buffer (B, g + bs + tp + bs, dh):
the g global rows, bs masked zero rows, the tp tokens, bs masked zero rows.
Query block w (bs queries) then attends to two key groups, each computed by
PyTorch's fused CPU flash kernel and merged exactly through their log-sum-exp:

* local: padded rows [(w−1)·bs, (w+2)·bs) of the tokens — a strided view
  (`unfold`) of the buffer; the 3·bs local keys per block are never copied;
* far: [global | sparse window] — the g global rows plus, for each contiguous
  run of the sparse window rule, a strided view of the padded sparse tokens.

out = Σ_groups exp(lse_group − lse) · out_group with lse = logaddexp(lse_local, lse_far),
which equals one softmax over the concatenated keys. The g global queries attend to
the whole buffer (its pad rows masked) through the same kernel.

Work goes in chunks of query blocks so that every temporary (far keys, kernel
gradients) stays a few MB: they are reused from the allocator's cache instead of
being freshly mapped, and the peak memory of backward does not grow with length.
Backward is a custom autograd function: it re-builds the far keys of a chunk
(nothing of size nb·Kb·dh is stored) and calls the flash backward kernel once per
group with the *merged* output and log-sum-exp, which gives exactly the gradients
of the joint softmax (dS = P ⊙ (dP − rowsum(dO ⊙ O))). Window gradients are folded
back onto the buffer by shifted adds. Saved state: queries, the padded buffers, the
sparse tokens, output and log-sum-exp — what full attention through SDPA keeps,
plus the compressed sparse tokens.

The kernel is PyTorch's private `aten._scaled_dot_product_flash_attention_for_cpu`
(+ `_backward`); `fused_block_attention_available` says when it can be used
(CPU tensors, no attention dropout, op present); otherwise the caller falls back
to the assembled-blocks SDPA path with recomputation.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lsgzoo.attention.layout import local_windows, sparse_window_index

CHUNK_BYTES = 8 << 20  # target size of one chunk's far keys; keeps temporaries in the allocator's cache


def _flash_cpu_ops():
    """(forward, backward) private flash kernels of this torch build, or None."""
    aten = torch.ops.aten
    try:
        return aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention_for_cpu_backward
    except (AttributeError, RuntimeError):
        return None


def fused_block_attention_available(query, dropout: float) -> bool:
    """The CPU kernel path applies: CPU tensors, no attention dropout, the private op exists."""
    return (query.device.type == "cpu" and dropout == 0.0 and query.dtype in (torch.float32, torch.bfloat16,
            torch.float16) and _flash_cpu_ops() is not None)


@dataclass(frozen=True)
class FarLayout:
    """Where each query block's far keys come from.

    g global rows of the key buffer, then `runs`: (start, length) in the padded
    sparse tokens; block w reads rows [start + w·step, start + w·step + length).
    """

    num_global: int
    runs: tuple[tuple[int, int], ...]
    step: int

    @property
    def size(self) -> int:
        return self.num_global + sum(length for _, length in self.runs)


def contiguous_runs(row: list[int]) -> tuple[tuple[int, int], ...]:
    """[3, 4, 5, 9, 10] → ((3, 3), (9, 2)): maximal runs of consecutive integers as (start, length)."""
    runs = []
    for value in row:
        if runs and value == runs[-1][0] + runs[-1][1]:
            runs[-1][1] += 1
        else:
            runs.append([value, 1])
    return tuple((start, length) for start, length in runs)


def windows(source, start: int, length: int, step: int, first: int, count: int):
    """(B, F, dh) → (B, count, length, dh): rows [start + w·step, … + length) for w in [first, first + count)."""
    begin = start + first * step
    return source[:, begin:begin + (count - 1) * step + length].unfold(1, length, step).transpose(-1, -2)


def fold_windows(grad, step: int):
    """Adjoint of `windows`: (B, m, length, dh) → (B, (m − 1)·step + length, dh), overlaps summed."""
    batch, count, length, dh = grad.shape
    if length % step or length // step > 4:
        size = [batch, (count - 1) * step + length, dh]
        return torch.ops.aten.unfold_backward(grad.transpose(-1, -2), size, 1, length, step)
    parts = grad.view(batch, count, length // step, step, dh)
    folded = grad.new_zeros(batch, count + length // step - 1, step, dh)
    for shift in range(length // step):
        folded[:, shift:shift + count] += parts[:, :, shift]
    return folded.view(batch, -1, dh)


def far_group(keys, sparse, layout: FarLayout, first: int, count: int):
    """Far keys of blocks [first, first + count): keys (B, T, dh) global rows first, sparse (B, Lp, dh) → (B, count, Kf, dh)."""
    batch, _, dh = keys.shape
    parts = [keys[:, :layout.num_global].unsqueeze(1).expand(batch, count, layout.num_global, dh)]
    parts += [windows(sparse, start, length, layout.step, first, count) for start, length in layout.runs]
    return torch.cat(parts, dim=2)


class LSGBlockAttention(torch.autograd.Function):
    """softmax over [far | local] keys for every query block, plus the global rows' output.

    query_blocks (B, nb, bs, dh); keys/values (B, g + bs + tp + bs, dh), the padded buffers;
    sparse_keys/values (B, Lp, dh) padded sparse tokens (or empty with no runs);
    global_out (n, h, g, dh); local_mask (B|1, nb, 1, 3·bs) and far_mask (B|1, nb, 1, Kf) additive.
    Returns (n, h, g + tp, dh): a view of a (n, g + tp, h, dh) buffer, so merging heads is free.
    """

    @staticmethod
    def forward(ctx, query_blocks, keys, values, sparse_keys, sparse_values, global_out, local_mask, far_mask,
                layout, chunk):
        flash, _ = _flash_cpu_ops()
        n, h, g, dh = global_out.shape
        _, nb, bs, _ = query_blocks.shape
        scale = 1.0 / math.sqrt(dh)
        out = query_blocks.new_empty(n, g + nb * bs, h, dh)
        out[:, :g] = global_out.transpose(1, 2)
        block_out = out[:, g:].view(n, nb, bs, h, dh).permute(0, 3, 1, 2, 4)  # (n, h, nb, bs, dh) view
        lse = query_blocks.new_empty(n * h, nb, bs, dtype=torch.float32)
        for first in range(0, nb, chunk):
            blocks = slice(first, min(first + chunk, nb))
            count = blocks.stop - first
            q = query_blocks[:, blocks]
            local = [windows(x[:, g:], 0, 3 * bs, bs, first, count) for x in (keys, values)]
            far = [far_group(x, s, layout, first, count) for x, s in ((keys, sparse_keys), (values, sparse_values))]
            local_out, local_lse = flash(q, *local, 0.0, False, attn_mask=local_mask[:, blocks], scale=scale)
            far_out, far_lse = flash(q, *far, 0.0, False, attn_mask=far_mask[:, blocks], scale=scale)
            torch.logaddexp(local_lse, far_lse, out=lse[:, blocks])
            weights = [torch.exp(x - lse[:, blocks]).to(q.dtype).view(n, h, count, bs, 1) for x in (local_lse, far_lse)]
            target = block_out[:, :, blocks]
            torch.mul(local_out.view(n, h, count, bs, dh), weights[0], out=target)
            target.addcmul_(far_out.view(n, h, count, bs, dh), weights[1])
        result = out.transpose(1, 2)
        ctx.save_for_backward(query_blocks, keys, values, sparse_keys, sparse_values, local_mask, far_mask, result, lse)
        ctx.layout, ctx.chunk, ctx.scale = layout, chunk, scale
        return result

    @staticmethod
    def backward(ctx, grad):
        _, flash_backward = _flash_cpu_ops()
        query_blocks, keys, values, sparse_keys, sparse_values, local_mask, far_mask, result, lse = ctx.saved_tensors
        layout, chunk = ctx.layout, ctx.chunk
        n, h, total, dh = result.shape
        g = layout.num_global
        batch, nb, bs, _ = query_blocks.shape
        grad_blocks = grad[:, :, g:].reshape(batch, nb, bs, dh)
        out_blocks = result[:, :, g:].reshape(batch, nb, bs, dh)
        grad_query = torch.empty_like(query_blocks)
        grad_keys, grad_values = (keys.new_zeros(keys.shape) for _ in range(2))
        grad_sparse_keys, grad_sparse_values = (x.new_zeros(x.shape) for x in (sparse_keys, sparse_values))
        for first in range(0, nb, chunk):
            blocks = slice(first, min(first + chunk, nb))
            count = blocks.stop - first
            q, dout, out, chunk_lse = (x[:, blocks] for x in (query_blocks, grad_blocks, out_blocks, lse))
            dout = dout.contiguous()
            local = [windows(x[:, g:], 0, 3 * bs, bs, first, count) for x in (keys, values)]
            dq, dk, dv = flash_backward(dout, q, *local, out, chunk_lse, 0.0, False, attn_mask=local_mask[:, blocks],
                                        scale=ctx.scale)
            span = slice(g + first * bs, g + (first + count + 2) * bs)
            grad_keys[:, span] += fold_windows(dk, bs)
            grad_values[:, span] += fold_windows(dv, bs)
            far = [far_group(x, s, layout, first, count) for x, s in ((keys, sparse_keys), (values, sparse_values))]
            dq_far, dk, dv = flash_backward(dout, q, *far, out, chunk_lse, 0.0, False, attn_mask=far_mask[:, blocks],
                                            scale=ctx.scale)
            torch.add(dq, dq_far, out=grad_query[:, blocks])
            for far_grad, target, sparse_target in ((dk, grad_keys, grad_sparse_keys),
                                                    (dv, grad_values, grad_sparse_values)):
                target[:, :g] += far_grad[:, :, :g].sum(1)
                offset = g
                for start, length in layout.runs:
                    begin = start + first * layout.step
                    folded = fold_windows(far_grad[:, :, offset:offset + length], layout.step)
                    sparse_target[:, begin:begin + folded.shape[1]] += folded
                    offset += length
        grad_global = grad[:, :, :g]
        return (grad_query, grad_keys, grad_values, grad_sparse_keys, grad_sparse_values, grad_global,
                None, None, None, None)


def padded_buffer(x, num_global: int, block_size: int):
    """(n, h, g + tp, dh) → (n·h, g + bs + tp + bs, dh): the g global rows, bs zero rows, tokens, bs zero rows."""
    n, h, _, dh = x.shape
    zeros = x.new_zeros(n, h, block_size, dh)
    return torch.cat([x[:, :, :num_global], zeros, x[:, :, num_global:], zeros], dim=2).view(n * h, -1, dh)


def chunk_blocks(num_blocks: int, batch: int, far_size: int, head_dim: int, element_size: int) -> int:
    """Query blocks per chunk: chunks of equal size whose far keys hold at most about `CHUNK_BYTES`."""
    most = max(1, CHUNK_BYTES // (batch * far_size * head_dim * element_size))
    return -(-num_blocks // -(-num_blocks // most))



def fused_lsg_attention(cfg, query, key, value, key_mask, sparse):
    """LSG attention on padded inputs through `LSGBlockAttention`.

    query/key/value (n, h, g + tp, dh), first g rows global; key_mask (n, 1, 1, tp) additive;
    sparse: the selector's `SparseTokens` (keys/values (n, h, L, dh), mask (n, 1|h, 1, L)) or None.
    Returns (n, h, g + tp, dh).
    """
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, total, dh = query.shape
    nb = (total - g) // bs
    batch = n * h
    masked_value = torch.finfo(query.dtype).min
    keys, values = (padded_buffer(x, g, bs) for x in (key, value))
    pad_mask = key_mask.new_full((n, 1, 1, bs), masked_value)
    buffer_mask = torch.cat([key_mask.new_zeros(n, 1, 1, g), pad_mask, key_mask, pad_mask], dim=-1)
    global_out = F.scaled_dot_product_attention(query[:, :, :g], keys.view(n, h, -1, dh), values.view(n, h, -1, dh),
                                                attn_mask=buffer_mask.to(query.dtype))  # (n, h, g, dh)
    local_mask = local_windows(key_mask.transpose(-1, -2), bs, masked_value).transpose(-1, -2)  # (n, 1, nb, 1, 3bs)

    far_mask = key_mask.new_zeros(n, 1, nb, 1, g)
    runs, step = (), 1
    sparse_keys = sparse_values = key.new_zeros(batch, 0, dh)
    if sparse is not None:
        pad, index = sparse_window_index(sparse.keys.shape[-2], nb, cfg.compressed_block_size, cfg.sparse_block_size)
        runs, step = contiguous_runs(index[0].tolist()), cfg.compressed_block_size
        sparse_keys, sparse_values = (F.pad(x, (0, 0, pad, pad)).view(batch, -1, dh)
                                      for x in (sparse.keys, sparse.values))
        sparse_mask = F.pad(sparse.mask, (pad, pad), value=masked_value)  # (n, 1|h, 1, Lp)
        sparse_mask = sparse_mask[..., index.to(query.device)].transpose(2, 3)  # (n, 1|h, nb, 1, S)
        far_mask = torch.cat([far_mask.expand(n, sparse_mask.shape[1], nb, 1, g), sparse_mask], dim=-1)
    layout = FarLayout(g, runs, step)

    def per_batch(mask):  # (n, 1|h, nb, 1, K) → (B|1, nb, 1, K), the kernel's layout; broadcast when n = 1
        mask = mask.to(query.dtype)
        if n == 1 and mask.shape[1] == 1:
            return mask[0]
        return mask.expand(n, h, *mask.shape[2:]).reshape(batch, nb, 1, mask.shape[-1])

    query_blocks = query[:, :, g:].reshape(batch, nb, bs, dh)
    chunk = chunk_blocks(nb, batch, layout.size, dh, query.element_size())
    return LSGBlockAttention.apply(query_blocks, keys, values, sparse_keys, sparse_values, global_out,
                                   per_batch(local_mask), per_batch(far_mask), layout, chunk)
