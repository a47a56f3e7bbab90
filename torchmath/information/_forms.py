"""Shared plumbing: exactly-one-of probabilities / logits / log-probabilities, safe p·log q."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath._validation import (
    check_exactly_one,
    check_floating,
    check_no_nan,
    check_simplex,
    fail,
)

__all__ = ["log_base", "nearest_kth", "plogp", "plogq", "resolve_form", "safe_log"]


def resolve_form(fn: str, prefix: str, probs: Tensor | None, logits: Tensor | None,
                 log_probs: Tensor | None, dim: int) -> tuple[Tensor, Tensor]:
    """Return ``(p, log_p)`` from exactly one of the three keyword forms.

    ``probs`` must lie on the simplex along ``dim`` (checked while validation is on);
    ``log_probs`` must exponentiate onto it; ``logits`` are normalized by ``log_softmax``
    and may not hold NaN or ``+inf`` (``-inf`` is a zero probability). With validation
    off a NaN propagates into the result (it is never read as zero). Zero probabilities
    give ``log_p = -inf`` with gradients that stay finite.
    """
    names = {f"{prefix}probs": probs, f"{prefix}logits": logits, f"{prefix}log_probs": log_probs}
    name, value = check_exactly_one(fn, **names)
    check_floating(fn, name, value)
    if name.endswith("logits"):
        check_no_nan(fn, name, value, allow_posinf=False)
        log_p = torch.log_softmax(value, dim)
        return log_p.exp(), log_p
    if name.endswith("log_probs"):
        check_no_nan(fn, name, value, allow_posinf=False)
        p = value.exp()
        check_simplex(fn, name + " (exponentiated)", p.detach(), dim)
        return p, value
    check_simplex(fn, name, value.detach(), dim)
    return value, safe_log(value)


def safe_log(p: Tensor) -> Tensor:
    """``log p`` with ``log 0 = -inf`` whose gradient stays finite where it is masked
    (NaN and negative entries give NaN, as ``log`` does)."""
    zero = p == 0
    safe = torch.where(zero, torch.ones_like(p), p)
    return torch.where(zero, torch.full_like(p, -math.inf), safe.log())


def plogp(p: Tensor) -> Tensor:
    r""":math:`p \log p` with :math:`0 \log 0 = 0` and finite gradients."""
    return plogq(p, safe_log(p))


def plogq(p: Tensor, log_q: Tensor) -> Tensor:
    r""":math:`p \log q` with :math:`0 \log q = 0` (also for :math:`q = 0`), gradients kept
    finite where :math:`p = 0`; :math:`p > 0, q = 0` gives :math:`-\infty`; a NaN in
    ``p`` or ``log q`` stays NaN (only an exact zero is masked)."""
    zero = p == 0
    safe_log_q = torch.where(zero, torch.zeros_like(log_q), log_q)
    return torch.where(zero, torch.zeros_like(p), p * safe_log_q)


def log_base(fn: str, base: float | None) -> float:
    """``log(base)`` (1 for nats when ``base`` is None), validated."""
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, int | float) or base <= 0 or base == 1:
        raise fail(fn, "base", "to be a positive number other than 1", base)
    return math.log(base)


def nearest_kth(fn: str, x: Tensor, k: int, *, chunk: int = 2048) -> Tensor:
    """Euclidean distance from each row of ``x`` (``(..., n, d)``) to its ``k``-th nearest
    other row.

    The neighbour is found from ``torch.cdist`` in row chunks without gradients (the
    point itself excluded; the temporary stays ``chunk x n``), then its distance is
    recomputed as ``||x_i - x_j||`` so it is twice differentiable in ``x``.
    """
    n = x.shape[-2]
    if k >= n:
        raise fail(fn, "k", f"to be smaller than the number of samples ({n})", k)
    idx = []
    xd = x.detach()  # the search is not differentiated (nor forward-differentiated)
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            d = torch.cdist(xd[..., start:stop, :], xd)
            rows = torch.arange(start, stop, device=x.device)
            d[..., rows - start, rows] = math.inf
            idx.append(d.topk(k, dim=-1, largest=False).indices[..., -1])
    j = torch.cat(idx, dim=-1)
    neighbour = x.gather(-2, j.unsqueeze(-1).expand(*j.shape, x.shape[-1]))
    return (x - neighbour).norm(dim=-1)
