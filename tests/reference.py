"""An independent, loop-based reference of LSG attention written from the spec.

Nothing here imports lsgzoo's attention internals: selectors are re-derived chunk
by chunk and each query block's key set is listed explicitly, then a dense
softmax over the *visible* keys of that set is taken. Slow, small, obvious.
"""

import math

import torch
import torch.nn.functional as F


def reference_sparse_tokens(kind, q, k, v, visible, cfg):
    """Compressed tokens for one batch row. q/k/v (h, tp, dh); visible (tp,) bool.

    Returns keys, values (h, L, dh) and keep (h, L) bool (False = masked entry).
    """
    h, tp, dh = k.shape
    bs, sbs, sf = cfg.block_size, cfg.sparse_block_size, cfg.sparsity_factor
    nu = visible.to(k.dtype)
    if sf == 1:
        return k.clone(), v.clone(), visible.expand(h, tp).clone()
    if kind == "lsh" and sf == sbs:
        kind = "bos_pooling"
    keys, values, keep = [], [], []
    for head in range(h):
        hk, hv, hkeep = [], [], []
        if kind == "pooling":
            for j in range(tp // sf):
                sl = slice(j * sf, (j + 1) * sf)
                count = nu[sl].sum()
                hk.append((k[head, sl] * nu[sl, None]).sum(0) / (count + 1e-6))
                hv.append((v[head, sl] * nu[sl, None]).sum(0) / (count + 1e-6))
                hkeep.append(bool(count > 0))
        elif kind == "bos_pooling":
            for j in range(tp // sf):
                sl = slice(j * sf, (j + 1) * sf)
                masked = torch.zeros(sf, dtype=k.dtype).masked_fill(~visible[sl], torch.finfo(k.dtype).min)
                a = torch.softmax(k[head, sl] @ q[head, 0] / math.sqrt(dh) + masked, dim=0)
                hk.append(a @ k[head, sl])
                hv.append(a @ v[head, sl])
                hkeep.append(True)
        elif kind in ("stride", "block_stride"):
            c = bs // sf
            if kind == "stride":
                positions = [j * sf + head % sf for j in range(tp // sf)]
            else:
                positions = [b * bs + (head * c + i) % bs for b in range(tp // bs) for i in range(c)]
            for p in positions:
                hk.append(k[head, p])
                hv.append(v[head, p])
                hkeep.append(bool(visible[p]))
        elif kind == "norm":
            bm = min(bs, sbs)
            for start in range(0, tp, bm):
                scores = [float(k[head, p].norm()) * float(nu[p]) for p in range(start, start + bm)]
                ranked = sorted(range(bm), key=lambda i: scores[i])[-(bm // sf):]
                for i in ranked:
                    hk.append(k[head, start + i])
                    hv.append(v[head, start + i])
                    hkeep.append(bool(visible[start + i]))
        else:
            raise ValueError(kind)
        keys.append(torch.stack(hk))
        values.append(torch.stack(hv))
        keep.append(torch.tensor(hkeep))
    return torch.stack(keys), torch.stack(values), torch.stack(keep)


def reference_lsh_tokens(k, v, visible, cfg, planes):
    """LSH buckets for one batch row, given the per-round planes (list of (h, dh, out/2))."""
    h, tp, dh = k.shape
    bm = min(cfg.block_size, cfg.sparse_block_size)
    outs = [bm] * cfg.lsh_num_pre_rounds + [bm // cfg.sparsity_factor]
    keys, values, keep = [], [], []
    for head in range(h):
        hk, hv, hkeep = [], [], []
        for start in range(0, tp, bm):
            items = [(k[head, p] * visible[p], v[head, p] * visible[p], float(visible[p])) for p in range(start, start + bm)]
            for out, plane in zip(outs, planes):
                buckets = [[torch.zeros(dh, dtype=k.dtype), torch.zeros(dh, dtype=k.dtype), 0.0] for _ in range(out)]
                for key, value, count in items:
                    proj = F.normalize(key, dim=0) * min(count, 1.0) @ plane[head]
                    b = int(torch.cat([proj, -proj]).argmax())
                    buckets[b][0] = buckets[b][0] + key
                    buckets[b][1] = buckets[b][1] + value
                    buckets[b][2] += count
                items = [tuple(b) for b in buckets]
            for key, value, count in items:
                hk.append(key / (count + 1e-8))
                hv.append(value / (count + 1e-8))
                hkeep.append(count > 0)
        keys.append(torch.stack(hk))
        values.append(torch.stack(hv))
        keep.append(torch.tensor(hkeep))
    return torch.stack(keys), torch.stack(values), torch.stack(keep)


def sparse_window_entries(L, nb, c, sbs):
    """Literal spec §3.1: for each block, the compressed indices (None = padding)."""
    o = c % 2
    W = 6 * sbs
    p = (W - c) // 2 + o
    u = (W - 3 * c) // 2 + o
    u2 = u + o
    padded = [None] * p + list(range(L)) + [None] * p
    windows = [padded[s:s + W] for s in range(0, len(padded) - W + 1, c)]
    if o:
        windows = windows[:-1]
    assert len(windows) == nb
    return [win[u - sbs:u] + win[-u2:-u2 + sbs] for win in windows]


def reference_lsg(q, k, v, cfg, padding_mask=None, lsh_planes=None):
    """Dense-oracle LSG attention. q/k/v (n, h, g + t, dh) → (n, h, g + t, dh)."""
    n, h, total, dh = q.shape
    g, bs = cfg.num_global_tokens, cfg.block_size
    t = total - g
    tp = t if (t <= 2 * bs or t % bs == 0) else t + bs - t % bs
    real = torch.ones(n, tp, dtype=torch.bool)
    real[:, t:] = False
    if padding_mask is not None:
        real[:, :t] = padding_mask.bool()
    if cfg.mask_first_token:
        real[:, 0] = False
    pad = lambda x: F.pad(x, (0, 0, 0, tp - t))  # noqa: E731
    q, k, v = pad(q), pad(k), pad(v)
    out = torch.zeros_like(q)

    def attend(query, keys, values):
        return torch.softmax(query @ keys.T / math.sqrt(dh), dim=-1) @ values

    sparse = cfg.sparse_enabled
    for b in range(n):
        visible_all = torch.cat([torch.ones(g, dtype=torch.bool), real[b]])
        for head in range(h):
            # global queries (and all queries of short inputs) see every visible key
            out[b, head, :g] = attend(q[b, head, :g], k[b, head, visible_all], v[b, head, visible_all])
        if tp <= 2 * bs:
            for head in range(h):
                out[b, head, g:] = attend(q[b, head, g:], k[b, head, visible_all], v[b, head, visible_all])
            continue
        ql, kl, vl = q[b, :, g:], k[b, :, g:], v[b, :, g:]
        if sparse:
            if cfg.sparsity_type == "lsh" and cfg.sparsity_factor not in (1, cfg.sparse_block_size):
                ks, vs, keep = reference_lsh_tokens(kl, vl, real[b], cfg, lsh_planes)
            else:
                ks, vs, keep = reference_sparse_tokens(cfg.sparsity_type, ql, kl, vl, real[b], cfg)
            entries = sparse_window_entries(ks.shape[1], tp // bs, bs // cfg.sparsity_factor, cfg.sparse_block_size)
        for head in range(h):
            for w in range(tp // bs):
                key_list = [k[b, head, j] for j in range(g)]
                value_list = [v[b, head, j] for j in range(g)]
                if sparse:
                    for x in entries[w]:
                        if x is not None and keep[head, x]:
                            key_list.append(ks[head, x])
                            value_list.append(vs[head, x])
                for j in range((w - 1) * bs, (w + 2) * bs):
                    if 0 <= j < tp and real[b, j]:
                        key_list.append(kl[head, j])
                        value_list.append(vl[head, j])
                rows = slice(g + w * bs, g + (w + 1) * bs)
                out[b, head, rows] = attend(q[b, head, rows], torch.stack(key_list), torch.stack(value_list))
    return out[:, :, :total]
