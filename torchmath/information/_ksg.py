"""Exact neighbour counts for the Kraskov–Stögbauer–Grassberger estimators.

The estimators only need, per sample, (a) the distance to its k-th nearest neighbour in
the joint space under the max-norm and (b) how many samples fall within that distance in
each marginal space. Both are computed here without n x n matrices for 1-D variables,
batched over a leading dimension (all features of ``mutual_info_scores`` at once):

- (a) samples, sorted by x, are cut into blocks of ``S ~ sqrt(k n)`` consecutive samples
  (strips of the plane), and each block is sorted by y. Every sample looks at a window of
  ``2h + 1`` y-neighbours in its own block and in the blocks on either side, and keeps the
  k + 1 smallest max-norm distances (itself included) with a running min/max insertion
  over the ``3(2h + 1)`` window columns: a few dozen whole-vector operations, no per-row
  sort. The result is *certified* exact when no sample outside the windows can be closer:
  the samples just past each window's ends are at least as far in y, and the blocks two
  away at least as far in x. The rest (samples in the sparse tails, ties) keep their
  distance as an upper bound ``b``; every sample closer than ``b`` lies in the sorted
  x-window ``|dx| <= b`` and in the sorted y-window ``|dy| <= b``, so the exact value is
  the (k + 1)-th smallest distance over the smaller of the two (found by ``searchsorted``,
  grouped by width).
- (b) marginal counts come from ``searchsorted`` of sorted centres in the sorted values,
  each boundary checked with the same floating-point predicate ``|v_j - c| <= r`` as a tree
  search (so the rounding of ``c + r`` never changes a count): they equal scikit-learn's.

Multi-dimensional variables fall back to chunked ``torch.cdist`` (max-norm).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["count_within_sorted", "kth_maxnorm_1d", "kth_maxnorm_nd", "count_within_nd"]

_CHUNK_ELEMENTS = 1 << 20  # temporaries of at most ~8 MB in float64


def count_within_sorted(sorted_vals: Tensor, centers: Tensor, radius: Tensor) -> Tensor:
    """``#{j : |sorted_vals[..., j] - centers[..., i]| <= radius[..., i]}`` for every i.

    ``torch.searchsorted`` on ``c - r`` and ``c + r`` gives the boundaries up to the
    rounding of those sums; each boundary is then checked with the exact predicate
    ``|v_j - c| <= r`` on its two neighbours and stepped by one (twice at most, then moved
    across a whole block of equal values by a search) until it holds. ``sorted_vals`` is
    sorted along the last dim and has the batch shape of ``centers``; sorted centres make
    the searches several times faster (cache locality). Returns int64 counts.
    """
    n = sorted_vals.shape[-1]
    vals = sorted_vals.contiguous()
    c, r = centers.contiguous(), radius.contiguous()
    hi = torch.searchsorted(vals, c + r, right=True)
    lo = torch.searchsorted(vals, c - r, right=False)
    for it in range(64):
        # hi = number of j with v_j - c <= r (monotone in j).
        v_last = vals.gather(-1, (hi - 1).clamp(0, n - 1))
        v_next = vals.gather(-1, hi.clamp(max=n - 1))
        dec = (hi > 0) & ((v_last - c) > r)
        inc = (hi < n) & ((v_next - c) <= r)
        # lo = first j with c - v_j <= r (monotone in j).
        v_prev = vals.gather(-1, (lo - 1).clamp(0, n - 1))
        v_at = vals.gather(-1, lo.clamp(max=n - 1))
        lo_dec = (lo > 0) & ((c - v_prev) <= r)
        lo_inc = (lo < n) & ((c - v_at) > r)
        if not bool((dec | inc | lo_dec | lo_inc).any()):
            break
        if it < 2:  # rounding moves a boundary by one sample unless values are tied
            hi = hi - dec.long() + inc.long()
            lo = lo - lo_dec.long() + lo_inc.long()
            continue
        hi = torch.where(dec, torch.searchsorted(vals, v_last, right=False), hi)
        hi = torch.where(inc, torch.searchsorted(vals, v_next, right=True), hi)
        lo = torch.where(lo_dec, torch.searchsorted(vals, v_prev, right=False), lo)
        lo = torch.where(lo_inc, torch.searchsorted(vals, v_at, right=True), lo)
    return hi - lo


def _kth_smallest(d: Tensor, k: int) -> Tensor:
    # topk is several times faster than kthvalue on CPU for small k.
    return d.topk(k, dim=-1, largest=False, sorted=True).values[..., -1]


def _insert(top: list[Tensor], d: Tensor, tmp: Tensor) -> None:
    """Insert ``d`` into the running sorted lists ``top[0] <= ... <= top[m-1]`` (the m
    smallest seen so far, with multiplicity), elementwise and in place."""
    for j in range(len(top) - 1, 0, -1):
        torch.maximum(top[j - 1], d, out=tmp)
        torch.minimum(top[j], tmp, out=top[j])
    torch.minimum(top[0], d, out=top[0])


def _block_pass(xs: Tensor, ys: Tensor, yrank: Tensor, k: int, S: int, h: int
                ) -> tuple[Tensor, Tensor]:
    """Upper bounds on the k-th neighbour distance of every sample, and where they are
    certified exact (see the module docstring). x-sorted order in and out."""
    B, n = xs.shape
    dev, inf = xs.device, math.inf
    nb = -(-n // S)
    N = nb * S
    pad = lambda t, v: torch.nn.functional.pad(t, (0, N - n), value=v)  # noqa: E731
    xs_p, ys_p = pad(xs, inf), pad(ys, inf)
    # Each block sorted by y (by rank: ties in a fixed order); padding ranks last.
    rb, perm = pad(yrank, n).view(B, nb, S).sort(-1)
    xb = xs_p.view(B, nb, S).gather(-1, perm)
    yb = ys_p.view(B, nb, S).gather(-1, perm)
    # Rows: an empty block, the nb blocks, an empty block; each row padded by h (-inf
    # in y) before and h + 1 (+inf) after, so every window lies inside its row.
    R, L = nb + 2, S + 2 * h + 1
    Xp = xs.new_full((B, R, L), inf)
    Yp = ys.new_full((B, R, L), inf)
    Yp[:, :, :h] = -inf
    Xp[:, 1:-1, h:h + S] = xb
    Yp[:, 1:-1, h:h + S] = yb
    Rb = rb.new_full((B, R, S), n + 1)
    Rb[:, 1:-1] = rb
    Xf, Yf = Xp.view(-1), Yp.view(-1)
    cx, cy = xb.reshape(-1), yb.reshape(-1)
    row = (torch.arange(B, device=dev).view(B, 1, 1) * R
           + torch.arange(1, nb + 1, device=dev).view(1, nb, 1))
    top = [cx.new_full(cx.shape, inf) for _ in range(k + 1)]
    tmp = torch.empty_like(cx)
    ends = cx.new_full(cx.shape, inf)
    for o in (-1, 0, 1):
        if o == 0:  # own block: the window centred on the sample itself
            start = (row * L + torch.arange(S, device=dev)).reshape(-1)
        else:  # first position in the next block with a larger rank, minus h
            q = torch.searchsorted(Rb[:, 1 + o:1 + o + nb].contiguous(), rb)
            start = ((row + o) * L + q).reshape(-1)
        for j in range(2 * h + 1):
            idx = start + j if j else start
            dx = Xf.index_select(0, idx).sub_(cx).abs_()  # faster than take on CPU
            dy = Yf.index_select(0, idx).sub_(cy).abs_()
            if j == 0 or j == 2 * h:
                torch.minimum(ends, dy, out=ends)
            _insert(top, torch.maximum(dx, dy, out=dx), tmp)
    eps = top[k].view(B, nb, S)  # top[0] is the sample itself (distance 0)
    ends = ends.view(B, nb, S)
    first, last = xs_p.view(B, nb, S)[..., 0], xs_p.view(B, nb, S)[..., -1]
    lo_edge = torch.nn.functional.pad(last, (2, 0), value=-inf)[:, :nb, None]
    hi_edge = torch.nn.functional.pad(first, (0, 2), value=inf)[:, 2:, None]
    ok = (ends >= eps) & ((xb - lo_edge) >= eps) & ((hi_edge - xb) >= eps)
    xidx = (perm + torch.arange(0, N, S, device=dev).view(1, nb, 1)).view(B, N)
    out = xs.new_empty((B, N)).scatter_(1, xidx, eps.view(B, N))
    okx = torch.empty((B, N), dtype=torch.bool, device=dev).scatter_(1, xidx, ok.view(B, N))
    return out[:, :n], okx[:, :n]


def _exact_in_windows(xs: Tensor, ys: Tensor, xsy: Tensor, ysy: Tensor, k: int,
                      b: Tensor, i: Tensor, bound: Tensor) -> Tensor:
    """Exact k-th neighbour distance of samples ``(b, i)`` (x-sorted positions) given
    upper bounds: the (k + 1)-th smallest distance over the smaller of the sorted windows
    ``|dx| <= bound`` (in ``xs``) and ``|dy| <= bound`` (in ``ysy``, with ``xsy``)."""
    B, n = xs.shape
    dev = xs.device
    cx, cy = xs[b, i], ys[b, i]
    # Windows as slices [lo, lo + w) of the sorted rows. One flat search over all rows at
    # once: row t is shifted by an offset past the end of row t - 1; the shift rounds,
    # but monotonically, so each found window contains the exact one (widened further by
    # far more than the rounding of c +- bound). Extra candidates never change the
    # (k + 1)-th smallest distance: they are real samples of the same row.
    slack = torch.finfo(xs.dtype).eps * 64
    los, ws = [], []
    for srt, c in ((xs, cx), (ysy, cy)):
        lo_v, hi_v = srt[:, 0], srt[:, -1]
        ends = torch.cumsum((hi_v - lo_v) * 1.125 + 1, 0)  # row t lies below ends[t]
        shift = torch.cat((ends.new_zeros(1), ends[:-1])) - lo_v
        reach = bound + (c.abs() + bound) * slack
        flat = (srt + shift[:, None]).view(-1)
        lo = torch.searchsorted(flat, c - reach + shift[b]) - b * n
        hi = torch.searchsorted(flat, c + reach + shift[b], right=True) - b * n
        lo = lo.clamp(0, n)
        los.append(lo)
        ws.append(hi.clamp(0, n) - lo)
    use_y = ws[1] < ws[0]
    lo, w = torch.where(use_y, los[1], los[0]), torch.where(use_y, ws[1], ws[0])
    prim = torch.stack((xs, ysy), 1).view(-1)  # the sorted coordinate
    sec = torch.stack((ys, xsy), 1).view(-1)   # the other one
    cp, cs = torch.where(use_y, cy, cx), torch.where(use_y, cx, cy)
    out = torch.empty_like(cx)
    width = torch.ceil(torch.log2(w.clamp_min(k + 1).to(torch.float64))).long()
    for e in torch.unique(width).tolist():  # widths grouped by powers of two
        W = min(1 << e, n)
        sel = (width == e).nonzero().squeeze(-1)
        # Slide each window inside its row, keeping [lo, lo + w) covered.
        start = (b[sel] * 2 + use_y[sel].long()) * n + lo[sel].clamp(max=n - W)
        ar = torch.arange(W, device=dev)
        per = max(1, _CHUNK_ELEMENTS // W)
        for s in range(0, sel.shape[0], per):
            ss = sel[s:s + per]
            idx = (start[s:s + per, None] + ar).view(-1)
            d = (prim.index_select(0, idx).view(-1, W) - cp[ss, None]).abs_()
            torch.maximum(d, (sec.index_select(0, idx).view(-1, W) - cs[ss, None]).abs_(),
                          out=d)
            out[ss] = _kth_smallest(d, k + 1)
    return out


def kth_maxnorm_1d(xs: Tensor, ys: Tensor, k: int, y_order: Tensor | None = None) -> Tensor:
    """Distance from every sample to its k-th nearest other sample under
    ``max(|dx|, |dy|)``, for samples sorted by x.

    Shape: ``xs``, ``ys``: ``(B, n)`` (``xs`` sorted along the last dim); ``y_order``: the
    ``(B, n)`` argsort of ``ys`` when the caller has it; returns ``(B, n)``.
    """
    B, n = xs.shape
    dev = xs.device
    xs, ys = xs.contiguous(), ys.contiguous()
    oy = ys.argsort(dim=-1) if y_order is None else y_order
    yrank = torch.empty_like(oy).scatter_(1, oy, torch.arange(n, device=dev).expand(B, n))
    S = min(n, math.ceil(math.sqrt(k * n)))
    eps, ok = _block_pass(xs, ys, yrank, k, S, h=k + 3)
    b, i = (~ok).nonzero(as_tuple=True)
    if b.shape[0]:
        eps[b, i] = _exact_in_windows(xs, ys, xs.gather(-1, oy), ys.gather(-1, oy), k,
                                      b, i, eps[b, i])
    return eps


def kth_maxnorm_nd(x: Tensor, y: Tensor, k: int) -> Tensor:
    """k-th nearest-neighbour max-norm distance in the joint space, by chunked cdist.

    Shape: ``x``: ``(B, n, dx)``, ``y``: ``(B, n, dy)``; returns ``(B, n)``.
    """
    xy = torch.cat((x, y), dim=-1)
    B, n, _ = xy.shape
    out = []
    per = max(1, _CHUNK_ELEMENTS // max(1, B * n))
    for start in range(0, n, per):
        stop = min(n, start + per)
        d = torch.cdist(xy[:, start:stop], xy, p=math.inf)
        ar = torch.arange(start, stop, device=x.device)
        d[:, ar - start, ar] = math.inf
        out.append(_kth_smallest(d, k))
    return torch.cat(out, dim=-1)


def count_within_nd(x: Tensor, radius: Tensor) -> Tensor:
    """``#{j : max|x_j - x_i| <= radius_i}`` (self included), by chunked cdist.

    Shape: ``x``: ``(B, n, d)``, ``radius``: ``(B, n)``; returns ``(B, n)`` int64.
    """
    B, n, _ = x.shape
    out = []
    per = max(1, _CHUNK_ELEMENTS // max(1, B * n))
    for start in range(0, n, per):
        stop = min(n, start + per)
        d = torch.cdist(x[:, start:stop], x, p=math.inf)
        out.append((d <= radius[:, start:stop].unsqueeze(-1)).sum(-1))
    return torch.cat(out, dim=-1)
