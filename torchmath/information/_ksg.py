"""Exact neighbour counts for the Kraskov–Stögbauer–Grassberger estimators.

The estimators only need, per sample, (a) the distance to its k-th nearest neighbour in
the joint space under the max-norm and (b) how many samples fall within that distance in
each marginal space. Both are computed here without n x n matrices for 1-D variables:

- (a) samples are sorted by x; the max-norm neighbours are searched in a window of the
  sorted order, and each result is *certified*: if the nearest samples outside the
  window are already farther in x than the window's k-th distance, no outside sample
  can be closer. Uncertified samples alone are redone with windows twice as wide, up to
  the whole sample.
- (b) marginal counts come from ``searchsorted`` in the sorted values, each boundary
  checked with the same floating-point predicate ``|v_j - c| <= r`` as a tree search
  (so the rounding of ``c + r`` never changes a count): they equal scikit-learn's.

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
    ``|v_j - c| <= r`` on its two neighbours and moved across a block of equal values
    when wrong (in practice zero or one round). ``sorted_vals`` is sorted along the last
    dim and has the batch shape of ``centers``. Returns int64 counts.
    """
    n = sorted_vals.shape[-1]
    vals = sorted_vals.contiguous()
    c, r = centers.contiguous(), radius.contiguous()
    hi = torch.searchsorted(vals, c + r, right=True)
    lo = torch.searchsorted(vals, c - r, right=False)
    for _ in range(64):
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
        hi = torch.where(dec, torch.searchsorted(vals, v_last, right=False), hi)
        hi = torch.where(inc, torch.searchsorted(vals, v_next, right=True), hi)
        lo = torch.where(lo_dec, torch.searchsorted(vals, v_prev, right=False), lo)
        lo = torch.where(lo_inc, torch.searchsorted(vals, v_at, right=True), lo)
    return hi - lo


def _kth_smallest(d: Tensor, k: int) -> Tensor:
    # topk is several times faster than kthvalue on CPU for small k.
    return d.topk(k, dim=-1, largest=False, sorted=True).values[..., -1]


def _window_kth(xs: Tensor, ys: Tensor, k: int, W: int) -> Tensor:
    """k-th smallest max-norm distance from each sorted position to the positions within
    ``W`` of it (the point itself excluded); inf where fewer than k exist.

    The windows are ``unfold`` views of the inf-padded sorted arrays (no gather); the
    point itself sits in its window at distance 0, so the (k+1)-th smallest is taken.
    """
    B, n = xs.shape
    pad_x = torch.nn.functional.pad(xs, (W, W), value=math.inf)
    pad_y = torch.nn.functional.pad(ys, (W, W), value=0.0)
    out = []
    per = max(1, _CHUNK_ELEMENTS // max(1, B * (2 * W + 1)))
    for start in range(0, n, per):
        stop = min(n, start + per)
        wx = pad_x[:, start:stop + 2 * W].unfold(-1, 2 * W + 1, 1)
        wy = pad_y[:, start:stop + 2 * W].unfold(-1, 2 * W + 1, 1)
        d = (wx - xs[:, start:stop].unsqueeze(-1)).abs_()
        d = torch.maximum(d, (wy - ys[:, start:stop].unsqueeze(-1)).abs_(), out=d)
        out.append(_kth_smallest(d, k + 1))
    return torch.cat(out, dim=-1)


def _pairs_kth(xs: Tensor, ys: Tensor, k: int, W: int, b: Tensor, i: Tensor) -> Tensor:
    """As :func:`_window_kth` for the listed (batch, position) pairs only."""
    n = xs.shape[-1]
    offsets = torch.arange(-W, W + 1, device=xs.device)
    out = []
    per = max(1, _CHUNK_ELEMENTS // (2 * W + 1))
    for s in range(0, b.shape[0], per):
        bb, ii = b[s:s + per], i[s:s + per]
        idx = ii.unsqueeze(-1) + offsets
        valid = (idx >= 0) & (idx < n)
        idx = idx.clamp(0, n - 1)
        rows = bb.unsqueeze(-1)
        d = torch.maximum((xs[rows, idx] - xs[bb, ii].unsqueeze(-1)).abs(),
                          (ys[rows, idx] - ys[bb, ii].unsqueeze(-1)).abs())
        out.append(_kth_smallest(d.masked_fill_(~valid, math.inf), k + 1))
    return torch.cat(out) if out else xs.new_empty(0)


def _uncertified(xs: Tensor, eps: Tensor, W: int, b: Tensor, i: Tensor) -> Tensor:
    """Whether a sample just outside the window might be closer than ``eps`` in x."""
    n = xs.shape[-1]
    left, right = i - W - 1, i + W + 1
    c = xs[b, i]
    gap_l = (xs[b, left.clamp(min=0)] - c).abs()
    gap_r = (xs[b, right.clamp(max=n - 1)] - c).abs()
    return ((left >= 0) & (gap_l < eps)) | ((right < n) & (gap_r < eps))


def kth_maxnorm_1d(xs: Tensor, ys: Tensor, k: int) -> Tensor:
    """Distance from every sample to its k-th nearest other sample under
    ``max(|dx|, |dy|)``, for samples sorted by x.

    Shape: ``xs``, ``ys``: ``(B, n)`` (``xs`` sorted along the last dim); returns ``(B, n)``.
    """
    B, n = xs.shape
    W = min(n - 1, max(2 * k, math.ceil(1.5 * math.sqrt(k * n))))
    eps = _window_kth(xs, ys, k, W)
    b, i = torch.meshgrid(torch.arange(B, device=xs.device),
                          torch.arange(n, device=xs.device), indexing="ij")
    b, i = b.reshape(-1), i.reshape(-1)
    bad = _uncertified(xs, eps.reshape(-1), W, b, i)
    b, i = b[bad], i[bad]
    while b.shape[0]:
        W = min(n - 1, 2 * W)
        vals = _pairs_kth(xs, ys, k, W, b, i)
        eps[b, i] = vals
        if W >= n - 1:
            break
        bad = _uncertified(xs, vals, W, b, i)
        b, i = b[bad], i[bad]
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
