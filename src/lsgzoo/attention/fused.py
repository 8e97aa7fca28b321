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

Causal (`causal=True`): the local window is [(w−1)·bs, (w+1)·bs) (2·bs rows), masked per query
inside the block itself (`BlockLayout.local_mask`, built per chunk), the sparse runs come from the
causal window rule, and the global queries' buffer mask hides every token row.

Work goes in chunks of query blocks so that every temporary (far keys, kernel
gradients) stays a few MB: they are reused from the allocator's cache instead of
being freshly mapped, and the peak memory of backward does not grow with length.
Backward is a custom autograd function: it re-builds the far keys of a chunk
(nothing of size nb·Kb·dh is stored) and calls the flash backward kernel once per
group with the *merged* output and log-sum-exp, which gives exactly the gradients
of the joint softmax (dS = P ⊙ (dP − rowsum(dO ⊙ O))). Window gradients are folded
back onto the buffer by shifted adds. Saved state: queries, the padded key/value
buffers, output and log-sum-exp — what full attention through SDPA keeps. The
selector's sparse tokens are not stored: backward runs the selector again (same
random draws) and backpropagates through it.

The kernel is PyTorch's private `aten._scaled_dot_product_flash_attention_for_cpu`
(+ `_backward`); `fused_block_attention_available` says when it can be used
(CPU tensors, no attention dropout, op present); otherwise the caller falls back
to the assembled-blocks SDPA path with recomputation.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from lsgzoo.attention.layout import causal_local_windows, contiguous_runs, local_future, local_windows, window_index
from lsgzoo.selectors.base import SelectionTape

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
class BlockLayout:
    """Which keys each query block sees, beyond the strided local window of 3·bs rows.

    Far keys: the g global rows of the key buffer, then `runs`: (start, length) in the
    padded sparse tokens; block w reads rows [start + w·step, start + w·step + length).
    causal: the local window is 2·bs rows (blocks w − 1, w), the last bs of them seen causally.
    """

    num_global: int
    block_size: int
    runs: tuple[tuple[int, int], ...]
    step: int
    causal: bool = False

    @property
    def far_size(self) -> int:
        return self.num_global + sum(length for _, length in self.runs)

    @property
    def local_size(self) -> int:
        """Rows of one block's local window: 3·bs, or 2·bs when causal."""
        return (2 if self.causal else 3) * self.block_size

    def local_mask(self, mask):
        """A chunk's local mask (B|1, count, 1, local_size) → the kernel's: the same, or when causal
        (B|1, count, bs, 2·bs) with each query's later rows of its own block masked."""
        if not self.causal:
            return mask
        future = local_future(self.block_size, mask.device)  # (bs, 2·bs)
        return mask.expand(*mask.shape[:2], self.block_size, -1).masked_fill(future, torch.finfo(mask.dtype).min)


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


def far_group(keys, sparse, layout: BlockLayout, first: int, count: int):
    """Far keys of blocks [first, first + count) → (B, count, Kf, dh).

    keys (B, T, dh) with the global rows first; sparse (B, Lp, dh) padded sparse tokens.
    """
    batch, _, dh = keys.shape
    parts = [keys[:, :layout.num_global].unsqueeze(1).expand(batch, count, layout.num_global, dh)]
    parts += [windows(sparse, start, length, layout.step, first, count) for start, length in layout.runs]
    return torch.cat(parts, dim=2)


class LSGBlockAttention(torch.autograd.Function):
    """LSG attention of every query: global rows over all keys, blocks over [far | local] keys.

    query/key/value (n, h, g + tp, dh), first g rows global; sparse_keys/values (B, Lp, dh) padded
    sparse tokens (B = n·h; no rows without sparse keys), not stored: backward gets them again, with
    their graph, from `sparse_source` (a `SparseSource`); buffer_mask (B|1, 1, T) additive over the
    padded buffer's T = g + bs + tp + bs rows; local_mask (B|1, nb, 1, layout.local_size: 3·bs, causal 2·bs),
    far_mask (B|1, nb, 1, Kf).
    Returns (n, h, g + tp, dh), a view of a (n, g + tp, h, dh) buffer (merging heads is free); the
    gradients of query/key/value come in that layout too.
    """

    @staticmethod
    def forward(ctx, query, key, value, sparse_keys, sparse_values, buffer_mask, local_mask, far_mask, layout, chunk,
                sparse_source):
        flash, _ = _flash_cpu_ops()
        n, h, total, dh = query.shape
        g, bs = layout.num_global, layout.block_size
        nb = (total - g) // bs
        scale = 1.0 / math.sqrt(dh)
        keys, values = (padded_buffer(x, g, bs) for x in (key, value))  # (B, T, dh)
        out = query.new_empty(n, total, h, dh)
        global_query = query[:, :, :g].reshape(n * h, g, dh)
        global_probs = torch.softmax(torch.baddbmm(buffer_mask, global_query, keys.transpose(1, 2), alpha=scale),
                                     dim=-1, dtype=torch.float32)  # (B, g, T)
        out[:, :g] = torch.bmm(global_probs.to(values.dtype), values).view(n, h, g, dh).transpose(1, 2)
        query_blocks = query[:, :, g:].reshape(n * h, nb, bs, dh)
        block_out = out[:, g:].view(n, nb, bs, h, dh).permute(0, 3, 1, 2, 4)  # (n, h, nb, bs, dh) view
        lse = query.new_empty(n * h, nb, bs, dtype=torch.float32)
        for first in range(0, nb, chunk):
            blocks = slice(first, min(first + chunk, nb))
            count = blocks.stop - first
            q = query_blocks[:, blocks]
            local = [windows(x[:, g:], 0, layout.local_size, bs, first, count) for x in (keys, values)]
            far = [far_group(x, s, layout, first, count) for x, s in ((keys, sparse_keys), (values, sparse_values))]
            local_out, local_lse = flash(q, *local, 0.0, False, attn_mask=layout.local_mask(local_mask[:, blocks]),
                                         scale=scale)
            far_out, far_lse = flash(q, *far, 0.0, False, attn_mask=far_mask[:, blocks], scale=scale)
            torch.logaddexp(local_lse, far_lse, out=lse[:, blocks])
            weights = [torch.exp(x - lse[:, blocks]).to(q.dtype).view(n, h, count, bs, 1) for x in (local_lse, far_lse)]
            target = block_out[:, :, blocks]
            torch.mul(local_out.view(n, h, count, bs, dh), weights[0], out=target)
            target.addcmul_(far_out.view(n, h, count, bs, dh), weights[1])
        result = out.transpose(1, 2)
        ctx.save_for_backward(query, keys, values, local_mask, far_mask, result, lse, global_probs)
        ctx.layout, ctx.chunk, ctx.scale, ctx.sparse_source = layout, chunk, scale, sparse_source
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        _, flash_backward = _flash_cpu_ops()
        query, keys, values, local_mask, far_mask, result, lse, global_probs = ctx.saved_tensors
        layout, chunk, scale = ctx.layout, ctx.chunk, ctx.scale
        n, h, total, dh = query.shape
        g, bs = layout.num_global, layout.block_size
        batch, nb = n * h, (total - g) // bs
        tokens = slice(g + bs, g + bs + total - g)  # the token rows of the padded buffers
        selector_inputs = [query[:, :, g:]] + [x.view(n, h, -1, dh)[:, :, tokens] for x in (keys, values)]
        selector_inputs = [x.detach().requires_grad_() for x in selector_inputs]
        sparse_keys, sparse_values = ctx.sparse_source.recompute(*selector_inputs)
        grad_keys, grad_values = (torch.zeros_like(keys) for _ in range(2))
        grad_sparse_keys, grad_sparse_values = (torch.zeros_like(x) for x in (sparse_keys, sparse_values))
        grad_query = query.new_empty(n, total, h, dh).transpose(1, 2)

        global_query = query[:, :, :g].reshape(batch, g, dh)
        global_grad = grad[:, :, :g].reshape(batch, g, dh)
        probs = global_probs.to(values.dtype)
        grad_values.baddbmm_(probs.transpose(1, 2), global_grad)
        grad_probs = torch.bmm(global_grad, values.transpose(1, 2))
        grad_scores = probs * (grad_probs - (grad_probs * probs).sum(-1, keepdim=True))  # (B, g, T)
        grad_query[:, :, :g] = torch.bmm(grad_scores, keys).view(n, h, g, dh) * scale
        grad_keys.baddbmm_(grad_scores.transpose(1, 2), global_query, alpha=scale)

        query_blocks = query[:, :, g:].reshape(batch, nb, bs, dh)
        grad_blocks = grad[:, :, g:].reshape(batch, nb, bs, dh)
        out_blocks = result[:, :, g:].reshape(batch, nb, bs, dh)
        grad_query_blocks = grad_query[:, :, g:].view(n, h, nb, bs, dh)
        for first in range(0, nb, chunk):
            blocks = slice(first, min(first + chunk, nb))
            count = blocks.stop - first
            q, dout, out, chunk_lse = (x[:, blocks] for x in (query_blocks, grad_blocks, out_blocks, lse))
            dout = dout.contiguous()
            local = [windows(x[:, g:], 0, layout.local_size, bs, first, count) for x in (keys, values)]
            dq, dk, dv = flash_backward(dout, q, *local, out, chunk_lse, 0.0, False,
                                        attn_mask=layout.local_mask(local_mask[:, blocks]), scale=scale)
            span = slice(g + first * bs, g + (first + count - 1) * bs + layout.local_size)
            grad_keys[:, span] += fold_windows(dk, bs)
            grad_values[:, span] += fold_windows(dv, bs)
            far = [far_group(x, s.detach(), layout, first, count)
                   for x, s in ((keys, sparse_keys), (values, sparse_values))]
            dq_far, dk, dv = flash_backward(dout, q, *far, out, chunk_lse, 0.0, False, attn_mask=far_mask[:, blocks],
                                            scale=scale)
            torch.add(dq.view(n, h, count, bs, dh), dq_far.view(n, h, count, bs, dh),
                      out=grad_query_blocks[:, :, blocks])
            for far_grad, target, sparse_target in ((dk, grad_keys, grad_sparse_keys),
                                                    (dv, grad_values, grad_sparse_values)):
                target[:, :g] += far_grad[:, :, :g].sum(1)
                offset = g
                for start, length in layout.runs:
                    begin = start + first * layout.step
                    folded = fold_windows(far_grad[:, :, offset:offset + length], layout.step)
                    sparse_target[:, begin:begin + folded.shape[1]] += folded
                    offset += length
        del dq, dk, dv, dq_far, far, local  # free the last chunk's temporaries before the selector's backward
        if sparse_keys.requires_grad:  # through the selector: its gradients land on the token rows
            pending = [(sparse_keys, grad_sparse_keys), (sparse_values, grad_sparse_values)]
            del sparse_keys, sparse_values, grad_sparse_keys, grad_sparse_values
            targets = (grad_query[:, :, g:], *(x.view(n, h, -1, dh)[:, :, tokens] for x in (grad_keys, grad_values)))
            while pending:  # keys, then values: one (n, h, tp, dh) selector gradient alive at a time
                output, grad_output = pending.pop(0)
                grads = torch.autograd.grad(output, selector_inputs, grad_output, retain_graph=bool(pending),
                                            allow_unused=True)  # returned, never written to any .grad
                for target, grad_input in zip(targets, grads):
                    if grad_input is not None:
                        target += grad_input
                del grads
            del targets, selector_inputs
        grad_key = unpadded(grad_keys, n, g, bs)
        del grad_keys  # one padded gradient buffer alive at a time
        grad_value = unpadded(grad_values, n, g, bs)
        return grad_query, grad_key, grad_value, None, None, None, None, None, None, None, None


class SparseSource:
    """The selector's padded sparse tokens, computed again in backward instead of being stored.

    Saving them would cost (B, Lp, dh) × 2 per layer, more than full attention keeps; recomputing
    runs the selector once more (a small share of a layer). Its discrete choices (norm's positions,
    lsh's buckets) are recorded in forward on a `SelectionTape` and replayed, so backward differentiates
    exactly the selection forward used; any other random draw replays forward's RNG state.
    """

    def __init__(self, selector, key_mask, pad: int):
        self.selector, self.key_mask, self.pad = selector, key_mask, pad
        self.rng_state = torch.get_rng_state()
        self.tape = SelectionTape()

    def tokens(self, query, key, value):
        """Token rows (n, h, tp, dh) ×3 → the selector's `SparseTokens`, recording its choices (forward: draws
        advance the global RNG)."""
        with self.selector.taped(self.tape):
            return self.selector(query, key, value, self.key_mask)

    def recompute(self, query, key, value):
        """(padded sparse keys, values) (B, Lp, dh) with the selector's autograd graph, replaying forward's
        choices and random state; the global RNG is left as it was."""
        with torch.enable_grad(), torch.random.fork_rng(devices=[]), self.selector.taped(self.tape.replay()):
            torch.set_rng_state(self.rng_state)
            sparse = self.selector(query, key, value, self.key_mask)
            return [padded_rows(x, self.pad) for x in (sparse.keys, sparse.values)]


class NoSparseSource:
    """Stand-in when the selector produces no sparse tokens: empty (B, 0, dh) far rows."""

    def recompute(self, query, key, value):
        n, h, _, dh = key.shape
        return [key.new_zeros(n * h, 0, dh) for _ in range(2)]


def padded_rows(x, pad: int):
    """(n, h, L, dh) → (n·h, pad + L + pad, dh) with zero rows on both ends."""
    n, h, _, dh = x.shape
    return F.pad(x, (0, 0, pad, pad)).view(n * h, -1, dh)


def padded_buffer(x, num_global: int, block_size: int):
    """(n, h, g + tp, dh) → (n·h, g + bs + tp + bs, dh): the g global rows, bs zero rows, tokens, bs zero rows."""
    n, h, _, dh = x.shape
    zeros = x.new_zeros(n, h, block_size, dh)
    return torch.cat([x[:, :, :num_global], zeros, x[:, :, num_global:], zeros], dim=2).view(n * h, -1, dh)


def unpadded(buffer, batch: int, num_global: int, block_size: int):
    """Inverse of `padded_buffer` in the heads-merged layout.

    (n·h, T, dh) → (n, h, g + tp, dh), a view of a new (n, g + tp, h, dh) tensor.
    """
    rows = buffer.view(batch, -1, *buffer.shape[1:])  # (n, h, T, dh)
    n, h, length, dh = rows.shape
    out = buffer.new_empty(n, length - 2 * block_size, h, dh).transpose(1, 2)
    out[:, :, :num_global] = rows[:, :, :num_global]
    out[:, :, num_global:] = rows[:, :, num_global + block_size:length - block_size]
    return out


def chunk_blocks(num_blocks: int, batch: int, far_size: int, head_dim: int, element_size: int) -> int:
    """Query blocks per chunk: chunks of equal size whose far keys hold at most about `CHUNK_BYTES`."""
    most = max(1, CHUNK_BYTES // (batch * far_size * head_dim * element_size))
    return -(-num_blocks // -(-num_blocks // most))



def fused_lsg_attention(cfg, query, key, value, key_mask, selector):
    """LSG attention on padded inputs through `LSGBlockAttention`.

    query/key/value (n, h, g + tp, dh), first g rows global; key_mask (n, 1, 1, tp) additive;
    selector: the `SparseSelector` (or None), called on the token rows; its `SparseTokens` are
    computed without a graph here and again, with one, in backward (`SparseSource`).
    Returns (n, h, g + tp, dh).
    """
    g, bs = cfg.num_global_tokens, cfg.block_size
    n, h, total, dh = query.shape
    nb = (total - g) // bs
    batch = n * h
    masked_value = torch.finfo(query.dtype).min
    pad_mask = key_mask.new_full((n, 1, 1, bs), masked_value)
    token_mask = key_mask.new_full(key_mask.shape, masked_value) if cfg.causal else key_mask  # causal: globals only
    buffer_mask = torch.cat([key_mask.new_zeros(n, 1, 1, g), pad_mask, token_mask, pad_mask], dim=-1)  # (n, 1, 1, T)
    local_of = causal_local_windows if cfg.causal else local_windows
    local_mask = local_of(key_mask.transpose(-1, -2), bs, masked_value).transpose(-1, -2)  # (n, 1, nb, 1, 3|2·bs)

    far_mask = key_mask.new_zeros(n, 1, nb, 1, g)
    runs, step = (), 1
    source = NoSparseSource()
    sparse_keys = sparse_values = key.new_zeros(batch, 0, dh)
    if selector is not None:
        source = SparseSource(selector, key_mask, 0)
        with torch.no_grad():
            sparse = source.tokens(query[:, :, g:], key[:, :, g:], value[:, :, g:])
        pad, index = window_index(sparse.keys.shape[-2], nb, cfg.compressed_block_size, cfg.sparse_block_size,
                                  cfg.causal)
        source.pad = pad
        runs, step = contiguous_runs(index[0].tolist()), cfg.compressed_block_size
        sparse_keys, sparse_values = (padded_rows(x, pad) for x in (sparse.keys, sparse.values))
        sparse_mask = F.pad(sparse.mask, (pad, pad), value=masked_value)  # (n, 1|h, 1, Lp)
        sparse_mask = sparse_mask[..., index.to(query.device)].transpose(2, 3)  # (n, 1|h, nb, 1, S)
        far_mask = torch.cat([far_mask.expand(n, sparse_mask.shape[1], nb, 1, g), sparse_mask], dim=-1)
    layout = BlockLayout(g, bs, runs, step, cfg.causal)

    def per_batch(mask):  # (n, 1|h, ..., K) → (B|1, ..., K), the kernels' layout; broadcast when n = 1
        mask = mask.to(query.dtype)
        if n == 1 and mask.shape[1] == 1:
            return mask[0]
        return mask.expand(n, h, *mask.shape[2:]).reshape(batch, *mask.shape[2:])

    chunk = chunk_blocks(nb, batch, layout.far_size, dh, query.element_size())
    return LSGBlockAttention.apply(query, key, value, sparse_keys, sparse_values, per_batch(buffer_mask),
                                   per_batch(local_mask), per_batch(far_mask), layout, chunk, source)
