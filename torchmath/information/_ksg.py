"""Exact neighbour counts for the Kraskov–Stögbauer–Grassberger estimators.

The estimators only need, per sample, (a) the distance to its k-th nearest neighbour in
the joint space under the max-norm and (b) how many samples fall within that distance in
each marginal space. Both are computed here without n x n matrices for 1-D variables:

- (a) samples are sorted by x; the max-norm neighbours are searched in a window of the
  sorted order, and each result is *certified*: if the nearest samples outside the
  window are already farther in x than the window's k-th distance, no outside sample
  can be closer. Uncertified rows are redone with a 4x window, then exhaustively.
- (b) marginal counts are exact binary searches in the sorted values, with the same
  floating-point predicate ``|v_j - c| <= r`` as a tree search (no rounding of
  ``c + r``), so counts equal scikit-learn's to the last sample.

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

    Exact binary searches on both sides of each center (about ``2 log2 n`` vectorized
    steps); ``sorted_vals`` is sorted along the last dim. Returns int64 counts.
    """
    n = sorted_vals.shape[-1]
    steps = max(1, math.ceil(math.log2(n + 1)))
    batch = torch.broadcast_shapes(sorted_vals.shape[:-1], centers.shape[:-1])
    vals = sorted_vals.expand(*batch, n)
    m = centers.shape[-1]
    # hi: first j with v_j - c > r ; lo: first j with c - v_j <= r (both monotone in j).
    lo_hi = torch.zeros(2, *batch, m, dtype=torch.long, device=centers.device)
    up_hi = torch.full_like(lo_hi, n)
    c = centers.expand(*batch, m)
    r = radius.expand(*batch, m)
    for _ in range(steps + 1):
        mid = (lo_hi + up_hi) // 2
        v = vals.unsqueeze(0).expand(2, *batch, n).gather(-1, mid.clamp(max=n - 1))
        pred = torch.stack(((v[0] - c) > r, (c - v[1]) <= r)) & (mid < n)
        up_hi = torch.where(pred, mid, up_hi)
        lo_hi = torch.where(pred, lo_hi, mid + 1)
        lo_hi = torch.minimum(lo_hi, up_hi)
    return up_hi[0] - up_hi[1]


def _window_kth(xs: Tensor, ys: Tensor, k: int, W: int, rows: Tensor | None = None) -> Tensor:
    """k-th smallest max-norm distance from each sorted position to the positions within
    ``W`` of it (the point itself excluded); inf where fewer than k exist.

    The windows are ``unfold`` views of the inf-padded sorted arrays (no gather); the
    point itself sits in its window at distance 0, so the (k+1)-th smallest is taken.
    """
    B, n = xs.shape
    pad_x = torch.nn.functional.pad(xs, (W, W), value=math.inf)
    pad_y = torch.nn.functional.pad(ys, (W, W), value=0.0)
    if rows is None:
        rows = torch.arange(n, device=xs.device)
        contiguous = True
    else:
        contiguous = False
    out = []
    per = max(1, _CHUNK_ELEMENTS // max(1, B * (2 * W + 1)))
    for start in range(0, rows.shape[0], per):
        if contiguous:
            stop = min(n, start + per)
            wx = pad_x[:, start:stop + 2 * W].unfold(-1, 2 * W + 1, 1)
            wy = pad_y[:, start:stop + 2 * W].unfold(-1, 2 * W + 1, 1)
            cx, cy = xs[:, start:stop], ys[:, start:stop]
        else:
            r = rows[start:start + per]
            idx = r.unsqueeze(-1) + torch.arange(2 * W + 1, device=xs.device)
            wx, wy = pad_x[:, idx], pad_y[:, idx]
            cx, cy = xs[:, r], ys[:, r]
        d = (wx - cx.unsqueeze(-1)).abs_()
        d = torch.maximum(d, (wy - cy.unsqueeze(-1)).abs_(), out=d)
        out.append(d.kthvalue(k + 1, dim=-1).values)
    return torch.cat(out, dim=-1)


def kth_maxnorm_1d(xs: Tensor, ys: Tensor, k: int) -> Tensor:
    """Distance from every sample to its k-th nearest other sample under
    ``max(|dx|, |dy|)``, for samples sorted by x.

    Shape: ``xs``, ``ys``: ``(B, n)`` (``xs`` sorted along the last dim); returns ``(B, n)``.
    """
    B, n = xs.shape
    W = min(n - 1, max(2 * k, math.ceil(1.5 * math.sqrt(k * n))))
    rows = torch.arange(n, device=xs.device)
    eps = _window_kth(xs, ys, k, W)
    while True:
        left = rows - W - 1
        right = rows + W + 1
        gap_l = (xs[:, left.clamp(min=0)] - xs).abs()
        gap_r = (xs[:, right.clamp(max=n - 1)] - xs).abs()
        bad = ((left >= 0) & (gap_l < eps)) | ((right < n) & (gap_r < eps))
        if not bool(bad.any()):
            return eps
        W_new = min(n - 1, 4 * W)
        b_idx, i_idx = bad.nonzero(as_tuple=True)
        if W_new >= n - 1 or b_idx.shape[0] * 8 > B * n:
            # Exhaustive search for the uncertified rows, in chunks.
            fixed = []
            per = max(1, _CHUNK_ELEMENTS // n)
            for s in range(0, b_idx.shape[0], per):
                b, i = b_idx[s:s + per], i_idx[s:s + per]
                d = torch.maximum((xs[b] - xs[b, i].unsqueeze(-1)).abs(),
                                  (ys[b] - ys[b, i].unsqueeze(-1)).abs())
                d[torch.arange(b.shape[0], device=xs.device), i] = math.inf
                fixed.append(d.kthvalue(k, dim=-1).values)
            eps = eps.clone()
            eps[b_idx, i_idx] = torch.cat(fixed)
            return eps
        # Redo the uncertified rows with a larger window (all batch rows for simplicity).
        W = W_new
        redo = bad.any(0).nonzero(as_tuple=True)[0]
        eps = eps.clone()
        eps[:, redo] = torch.minimum(eps[:, redo], _window_kth(xs, ys, k, W, redo))


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
        out.append(d.kthvalue(k, dim=-1).values)
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
