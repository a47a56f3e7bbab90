"""QR decompositions by the two textbook algorithms: Gram–Schmidt and Householder."""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_ndim,
    fail,
    validating,
)

__all__ = ["gram_schmidt", "householder_qr"]


def _positive_diagonal(Q: Tensor, R: Tensor) -> tuple[Tensor, Tensor]:
    # Flip signs so that diag(R) >= 0: the QR factorization of a full-rank matrix is then
    # unique, and both algorithms return the same factors.
    k = min(R.shape[-2], R.shape[-1])
    d = R.diagonal(dim1=-2, dim2=-1)[..., :k]
    s = torch.where(d < 0, -torch.ones_like(d), torch.ones_like(d))
    Q = torch.cat([Q[..., :k] * s.unsqueeze(-2), Q[..., k:]], -1)
    R = torch.cat([R[..., :k, :] * s.unsqueeze(-1), R[..., k:, :]], -2)
    return Q, R


def gram_schmidt(A: Tensor, *, reorthogonalize: bool = True) -> tuple[Tensor, Tensor]:
    r"""Reduced QR factorization by modified Gram–Schmidt with re-orthogonalization.

    .. math::
        A = QR, \quad Q^\top Q = I_n, \quad R \text{ upper triangular}, \; R_{jj} > 0;
        \qquad q_j = \frac{v_j}{\|v_j\|}, \;\;
        v_j = a_j - \sum_{i<j} (q_i^\top a_j)\, q_i

    The modified form subtracts each new direction from all remaining columns at once
    (one vectorized step per column, batched over leading dimensions); with
    ``reorthogonalize`` every column is projected against the previous ones a second
    time ("twice is enough"), which keeps :math:`\|Q^\top Q - I\|` at the level of
    rounding even for ill-conditioned :math:`A`. It is written with differentiable torch
    operations, so autograd runs through it. For production code ``torch.linalg.qr``
    (Householder, LAPACK) is faster; this is the algorithm the course teaches, usable
    where a positive-diagonal QR is wanted.

    Args:
        A: matrices with full column rank (``m >= n``).
        reorthogonalize: run the second projection pass.

    Shape:
        ``A``: ``(..., m, n)``; returns ``Q``: ``(..., m, n)``, ``R``: ``(..., n, n)``.

    Returns:
        ``(Q, R)`` with ``diag(R) > 0``; equal to ``torch.linalg.qr(A)`` up to column signs.

    Raises:
        ValueError: ``m < n``, non-finite entries, or (while validation is on) a
            numerically rank-deficient ``A``.

    Example:
        >>> Q, R = gram_schmidt(torch.tensor([[3.0, 1.0], [4.0, 2.0]]))
        >>> R
        tensor([[5.0000, 2.2000],
                [0.0000, 0.4000]])

    Source: Giraud, Langou and Rozložník (2005), "The loss of orthogonality in the
    Gram–Schmidt orthogonalization process"; Björck (1967).
    """
    fn = "gram_schmidt"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    m, n = A.shape[-2:]
    if m < n:
        raise fail(fn, "A", "to have at least as many rows as columns (m >= n)",
                   f"shape {tuple(A.shape)}")
    check_finite(fn, "A", A)
    rest = A
    qs: list[Tensor] = []
    rows: list[Tensor] = []
    for j in range(n):
        v = rest[..., 0]
        rest = rest[..., 1:]
        upper = A.new_zeros(*A.shape[:-2], j) if j else None
        if reorthogonalize and j:
            Q_prev = torch.stack(qs, -1)
            c = (Q_prev.mT @ v.unsqueeze(-1)).squeeze(-1)
            v = v - (Q_prev @ c.unsqueeze(-1)).squeeze(-1)
            upper = c
        r_jj = torch.linalg.vector_norm(v, dim=-1)
        q = v / r_jj.clamp_min(torch.finfo(A.dtype).tiny).unsqueeze(-1)
        r_rest = (q.unsqueeze(-2) @ rest).squeeze(-2)
        rest = rest - q.unsqueeze(-1) * r_rest.unsqueeze(-2)
        qs.append(q)
        parts = [r_jj.unsqueeze(-1), r_rest]
        if upper is not None:
            parts.insert(0, upper)
        rows.append(torch.cat(parts, -1))
    Q = torch.stack(qs, -1)
    # rows[j] holds the corrections R[:j, j] (a column) then R[j, j:] (a row).
    R_rows = []
    for j in range(n):
        R_rows.append(torch.cat([A.new_zeros(*A.shape[:-2], j), rows[j][..., j:]], -1))
    R = torch.stack(R_rows, -2)
    if reorthogonalize and n > 1:  # the second pass's corrections to R[:j, j]
        cols = [torch.cat([rows[j][..., :j], A.new_zeros(*A.shape[:-2], n - j)], -1)
                for j in range(n)]
        R = R + torch.stack(cols, -1)
    if validating():
        diag = R.detach().diagonal(dim1=-2, dim2=-1)
        scale = diag.amax(-1, keepdim=True)
        if bool((diag <= n * torch.finfo(A.dtype).eps * scale).any()):
            raise fail(fn, "A", "to have full column rank", "a numerically rank-deficient "
                       "matrix (use torchmath.linalg.lstsq or safe_svd for those)")
    return Q, R


def householder_qr(A: Tensor, *, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    r"""QR factorization by Householder reflections, with a non-negative diagonal of R.

    .. math::
        H_k = I - 2 v_k v_k^\top, \quad v_k \propto x + \operatorname{sign}(x_1)\|x\| e_1;
        \qquad H_{p} \cdots H_1 A = R, \quad Q = H_1 \cdots H_{p}

    Each reflection zeroes one column below the diagonal; the sign choice avoids
    cancellation, so :math:`Q` is orthogonal to rounding whatever the conditioning of
    :math:`A` (unlike classical Gram–Schmidt). Batched over leading dimensions and
    written in differentiable torch operations. Rank-deficient ``A`` is allowed (then
    some :math:`R_{jj} = 0`). ``torch.linalg.qr`` computes the same factorization in
    LAPACK and is what the rest of torchmath calls; this is the algorithm laid bare.

    Args:
        A: matrices.
        mode: ``"reduced"`` (``Q`` is ``m x k``, ``k = min(m, n)``) or ``"complete"``
            (``Q`` is ``m x m``).

    Shape:
        ``A``: ``(..., m, n)``; returns ``Q``: ``(..., m, k)`` or ``(..., m, m)``;
        ``R``: ``(..., k, n)`` or ``(..., m, n)``.

    Returns:
        ``(Q, R)`` with ``diag(R) >= 0``; equal to ``torch.linalg.qr(A, mode)`` up to the
        signs of the columns of ``Q`` (rows of ``R``).

    Raises:
        ValueError: an unknown ``mode`` or non-finite entries.

    Example:
        >>> Q, R = householder_qr(torch.tensor([[3.0, 1.0], [4.0, 2.0]]))
        >>> R
        tensor([[5.0000, 2.2000],
                [0.0000, 0.4000]])

    Source: Householder (1958); Golub and Van Loan, *Matrix Computations*, alg. 5.2.1.
    """
    fn = "householder_qr"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_choice(fn, "mode", mode, ("reduced", "complete"))
    check_finite(fn, "A", A)
    m, n = A.shape[-2:]
    p = min(m - 1, n)
    batch = A.shape[:-2]
    tiny = torch.finfo(A.dtype).tiny
    R = A
    vs: list[Tensor] = []
    for k in range(p):
        x = R[..., k:, k]
        nx = torch.linalg.vector_norm(x, dim=-1)
        s = torch.where(x[..., 0] < 0, -torch.ones_like(nx), torch.ones_like(nx))
        v = torch.cat([(x[..., 0] + s * nx).unsqueeze(-1), x[..., 1:]], -1)
        v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(tiny)
        block = R[..., k:, k:]
        block = block - 2 * v.unsqueeze(-1) * (v.unsqueeze(-2) @ block)
        top = R[..., :k, :]
        left = R[..., k:, :k]
        R = torch.cat([top, torch.cat([left, block], -1)], -2)
        vs.append(v)
    cols = m if mode == "complete" else min(m, n)
    Q = torch.eye(m, cols, dtype=A.dtype, device=A.device).expand(*batch, m, cols)
    for k in reversed(range(p)):
        v = vs[k]
        block = Q[..., k:, :]
        block = block - 2 * v.unsqueeze(-1) * (v.unsqueeze(-2) @ block)
        Q = torch.cat([Q[..., :k, :], block], -2)
    R = R.triu()
    if mode == "reduced":
        R = R[..., : min(m, n), :]
    return _positive_diagonal(Q, R)
