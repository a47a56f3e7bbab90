"""Orthogonal projections onto column spaces, complements, and least squares."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_ndim,
    check_positive,
    check_shape,
    fail,
    promote,
    validating,
)
from torchmath.linalg.eigen import safe_eigh, safe_svd
from torchmath.linalg.gram import column_gram

__all__ = ["LstsqResult", "lstsq", "orthogonal_complement", "project", "projection_matrix"]


def _default_rcond(A: Tensor) -> float:
    return torch.finfo(A.dtype).eps * max(A.shape[-2:])


def _rank_mask(S: Tensor, rcond: float) -> Tensor:
    """Singular values above ``rcond * max(S)`` (per batch element)."""
    return S > rcond * S.amax(-1, keepdim=True)


def _range_basis(fn: str, A: Tensor, rcond: float | None) -> tuple[Tensor, Tensor]:
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_finite(fn, "A", A)
    if rcond is None:
        rcond = _default_rcond(A)
    U, S, _ = safe_svd(A)
    mask = _rank_mask(S, rcond).to(A.dtype)
    return U, mask


def projection_matrix(A: Tensor, *, rcond: float | None = None) -> Tensor:
    r"""Orthogonal projector onto the column space of ``A``.

    .. math::
        P = A A^{+} = U_r U_r^\top, \qquad P^2 = P = P^\top

    where :math:`U_r` are the left singular vectors of the :math:`r` singular values
    above ``rcond`` times the largest, so rank-deficient ``A`` is fine (for full column
    rank :math:`P = A(A^\top A)^{-1}A^\top`). Differentiable through
    :func:`~torchmath.linalg.safe_svd`.

    Args:
        A: matrices whose columns span the subspace.
        rcond: relative singular-value cutoff (default ``eps * max(m, n)``).

    Shape:
        ``A``: ``(..., m, n)``; returns ``(..., m, m)``.

    Returns:
        The projectors :math:`P`.

    Example:
        >>> projection_matrix(torch.tensor([[1.0], [1.0]]))
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])

    Source: Strang, *Introduction to Linear Algebra*, 5th ed., sec. 4.2.
    """
    U, mask = _range_basis("projection_matrix", A, rcond)
    return (U * mask.unsqueeze(-2)) @ U.mT


def project(x: Tensor, A: Tensor, *, rcond: float | None = None) -> Tensor:
    r"""Orthogonal projection of vectors onto the column space of ``A``.

    .. math::
        \hat x = P x = U_r (U_r^\top x) = \arg\min_{z \in \operatorname{col}(A)} \|x - z\|

    Computed as two thin products with :math:`U_r`, never forming the :math:`m \times m`
    projector. The residual :math:`x - \hat x` is orthogonal to every column of ``A``.

    Args:
        x: vectors.
        A: matrices; batch dimensions broadcast against ``x``'s.
        rcond: relative singular-value cutoff.

    Shape:
        ``x``: ``(..., m)``; ``A``: ``(..., m, n)``; returns ``(..., m)``.

    Returns:
        The projections :math:`P x`.

    Raises:
        ValueError: ``x`` does not have ``m`` entries.

    Example:
        >>> project(torch.tensor([1.0, 3.0]), torch.tensor([[1.0], [1.0]]))
        tensor([2., 2.])

    Source: Strang, *Introduction to Linear Algebra*, 5th ed., sec. 4.2.
    """
    fn = "project"
    U, mask = _range_basis(fn, A, rcond)
    check_floating(fn, "x", x)
    check_shape(fn, "x", x, (A.shape[-2],))
    (x, U), _ = promote(x, U)
    coords = (U.mT @ x.unsqueeze(-1)).squeeze(-1) * mask
    return (U @ coords.unsqueeze(-1)).squeeze(-1)


def orthogonal_complement(A: Tensor, *, rcond: float | None = None) -> Tensor:
    r"""Orthonormal basis of the orthogonal complement of the column space of ``A``.

    .. math::
        \operatorname{col}(A)^\perp = \operatorname{null}(A^\top)
        = \operatorname{span}(u_{r+1}, \dots, u_m)

    The trailing left singular vectors of a complete SVD, after the numerical rank
    :math:`r`. The number of columns depends on the rank, so a batch must share one
    rank (one host sync to read it; hence no ``vmap``/``torch.compile``). The basis is
    differentiable: gauge-invariant uses such as the projector :math:`NN^\top = I - P`
    get the exact gradient.

    Args:
        A: matrices.
        rcond: relative singular-value cutoff.

    Shape:
        ``A``: ``(..., m, n)``; returns ``(..., m, m - r)``.

    Returns:
        A matrix whose orthonormal columns span the complement.

    Raises:
        ValueError: the matrices of a batch have different ranks.

    Example:
        >>> N = orthogonal_complement(torch.tensor([[1.0], [0.0]]))
        >>> N.abs()
        tensor([[0.],
                [1.]])

    Source: Strang, *Introduction to Linear Algebra*, 5th ed., sec. 4.1.
    """
    fn = "orthogonal_complement"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_finite(fn, "A", A)
    if rcond is None:
        rcond = _default_rcond(A)
    with torch.no_grad():
        U, S, _ = torch.linalg.svd(A, full_matrices=True)
        ranks = _rank_mask(S, rcond).sum(-1)
    r = int(ranks.max()) if ranks.numel() else 0
    if ranks.numel() and int(ranks.min()) != r:
        raise fail(fn, "A", "matrices of one rank across the batch",
                   f"ranks from {int(ranks.min())} to {r}")
    # The trailing singular vectors of a complete SVD carry no gradient (torch's SVD
    # backward ignores them). M = (I - P) N0, with P = U_r U_r^T differentiable and N0
    # held fixed, spans col(A)^perp for every A near this one; N = M L^{-T} with
    # M^T M = L L^T is orthonormal. It equals N0 here (M = N0, L = I), and N N^T = I - P
    # exactly, so every gauge-invariant use is differentiable to all orders.
    N0 = U[..., r:]
    Ur = torch.linalg.svd(A, full_matrices=False).U[..., :r]
    M = N0 - Ur @ (Ur.mT @ N0)
    L = torch.linalg.cholesky(M.mT @ M)
    return torch.linalg.solve_triangular(L.mT, M, upper=True, left=False)


class LstsqResult(NamedTuple):
    """Solution ``(..., n[, k])``, squared residual norms ``(...[, k])``, numerical rank
    ``(...)`` and singular values ``(..., min(m, n))`` of a least-squares problem."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


def _svd_solve(U: Tensor, S: Tensor, Vh: Tensor, B: Tensor, rcond: float) -> tuple[Tensor, ...]:
    mask = _rank_mask(S, rcond)
    S_inv = torch.where(mask, 1 / torch.where(mask, S, torch.ones_like(S)), torch.zeros_like(S))
    X = Vh.mT @ (S_inv.unsqueeze(-1) * (U.mT @ B))
    return X, mask.sum(-1)


def _qr_solve_no_grad(A: Tensor, B: Tensor, rcond: float, fn: str
                      ) -> tuple[Tensor, Tensor, Tensor]:
    # The same complete orthogonal decomposition without forming Q: LAPACK's geqrf keeps
    # Q as Householder reflectors and ormqr applies them (about half the work of an
    # explicit Q). torch.geqrf has no autograd, so this path runs only without gradients.
    # The SVD of the triangular factor is the SVD of A (Chan's R-SVD), so this also
    # serves method="svd" without gradients. A non-finite entry of A always reaches the
    # triangular factor (through the column norms and reflections), so A's finiteness is
    # checked there, on n x n numbers instead of m x n.
    m, n = A.shape[-2:]
    tall = m >= n
    a, tau = torch.geqrf(A if tall else A.mT)
    k = min(m, n)
    R = a[..., :k, :].triu()
    if validating() and not bool(torch.isfinite(R).all()):
        check_finite(fn, "A", A)
    Ur, S, Vh = torch.linalg.svd(R, full_matrices=False)
    if tall:  # A = Q R, R = Ur S Vh:  x = Vh^T S^+ Ur^T (Q^T b)[:n]
        QtB = torch.ormqr(a, tau, B, left=True, transpose=True)[..., :n, :]
        X, rank = _svd_solve(Ur, S, Vh, QtB, rcond)
        return X, rank, S
    # A^T = Q R, so A = R^T Q^T and x = Q [(R^T)^+ b; 0], with R = Ur S Vh.
    Y, rank = _svd_solve(Vh.mT, S, Ur.mT, B, rcond)  # R^T = Vh^T S Ur^T
    Y = torch.cat([Y, Y.new_zeros(*Y.shape[:-2], n - m, Y.shape[-1])], -2)
    return torch.ormqr(a, tau, Y, left=True, transpose=False), rank, S


def lstsq(A: Tensor, b: Tensor, *, method: str = "qr", rcond: float | None = None
          ) -> LstsqResult:
    r"""Minimum-norm least-squares solution, with residuals, rank and singular values.

    .. math::
        x^\star = \arg\min_{x \in S} \|x\|_2, \quad S = \arg\min_x \|Ax - b\|_2;
        \qquad x^\star = V_r \Sigma_r^{-1} U_r^\top b = A^{+} b

    Singular values at or below ``rcond * max(s)`` count as zero, so a rank-deficient or
    underdetermined system gets the minimum-norm solution and its numerical rank is
    reported — on every device (``torch.linalg.lstsq`` on CUDA handles full rank only,
    and it is not called here). Methods:

    - ``"qr"`` (default): a Householder QR of the tall orientation, then the SVD of the
      small triangular factor — a complete orthogonal decomposition, backward-stable,
      :math:`2mn^2 + O(n^3)`. Without gradients, Q stays in LAPACK's reflector form
      (``torch.geqrf``/``torch.ormqr``, never formed); with gradients, the differentiable
      ``torch.linalg.qr`` is used;
    - ``"svd"``: the SVD of ``A`` (:func:`~torchmath.linalg.safe_svd`, whose backward
      is stable at repeated singular values) when gradients are needed; without them,
      the SVD is computed as Chan's R-SVD (the QR above, then the SVD of ``R``: the same
      factorization ``A = (Q U_R) S V^\top``, never forming the :math:`m \times n` left
      factor), so it costs what ``"qr"`` costs;
    - ``"cholesky"``: the normal equations :math:`A^\top A x = A^\top b` by Cholesky,
      :math:`mn^2` — fastest for :math:`m \gg n`, but its error grows like
      :math:`\kappa(A)^2`; the rank and singular values come from the eigenvalues of
      :math:`A^\top A` (so its cutoff is at least :math:`\sqrt{\max(m,n)\,\epsilon}`:
      smaller singular values cannot be resolved from :math:`A^\top A`), and when the
      rank is deficient the solve falls back to that eigendecomposition (still minimum
      norm).

    All three are differentiable in ``A`` and ``b``. Residuals are always returned:
    :math:`\|b - Ax^\star\|^2` per right-hand side (NumPy returns them only for full-rank
    overdetermined systems).

    Args:
        A: coefficient matrices.
        b: right-hand side(s); batch dimensions broadcast.
        method: ``"qr"``, ``"svd"`` or ``"cholesky"``.
        rcond: relative singular-value cutoff (default ``eps * max(m, n)``, NumPy's).

    Shape:
        ``A``: ``(..., m, n)``; ``b``: ``(..., m)`` or ``(..., m, k)``; ``solution``:
        ``(..., n)`` or ``(..., n, k)``; ``residuals``: ``(...)`` or ``(..., k)``;
        ``rank``: ``(...)``; ``singular_values``: ``(..., min(m, n))``.

    Returns:
        An :class:`LstsqResult` ``(solution, residuals, rank, singular_values)``.

    Raises:
        ValueError: ``b`` does not have ``m`` rows, unknown ``method``, non-finite input.

    Example:
        >>> A = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
        >>> out = lstsq(A, torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64))
        >>> out.solution, int(out.rank)
        (tensor([1., 1.], dtype=torch.float64), 1)

    Source: Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 5.5 (rank-deficient
    least squares, complete orthogonal decompositions).
    """
    fn = "lstsq"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_floating(fn, "b", b)
    check_choice(fn, "method", method, ("qr", "svd", "cholesky"))
    m, n = A.shape[-2:]
    # torch.linalg.solve's rule: b is a (batch of) vector(s) when it has one dimension
    # fewer than A (or is 1-d) and its last size is m.
    vector = b.dim() >= 1 and b.shape[-1] == m and (b.dim() == 1 or b.dim() == A.dim() - 1)
    if vector:
        check_shape(fn, "b", b, (m,))
        B = b.unsqueeze(-1)
    else:
        check_shape(fn, "b", b, (m, None))
        B = b
    check_finite(fn, "b", b)
    (A, B), _ = promote(A, B)
    if rcond is None:
        rcond = _default_rcond(A)
    else:
        check_positive(fn, "rcond", rcond, strict=False)
    with_grad = torch.is_grad_enabled() and (A.requires_grad or b.requires_grad)
    if method != "cholesky" and not with_grad:  # A's finiteness is checked inside
        X, rank, S = _qr_solve_no_grad(A, B, rcond, fn)
    elif method == "svd":
        check_finite(fn, "A", A)
        U, S, Vh = safe_svd(A)
        X, rank = _svd_solve(U, S, Vh, B, rcond)
    elif method == "qr":
        check_finite(fn, "A", A)
        tall = m >= n
        Q, R = torch.linalg.qr(A if tall else A.mT)
        Ur, S, Vhr = safe_svd(R)
        if tall:  # A = (Q Ur) S Vhr
            X, rank = _svd_solve(Q @ Ur, S, Vhr, B, rcond)
        else:  # A = R^T Q^T = Vhr^T S (Q Ur)^T
            X, rank = _svd_solve(Vhr.mT, S, (Q @ Ur).mT, B, rcond)
    else:
        check_finite(fn, "A", A)
        G = column_gram(A)
        AtB = A.mT @ B
        lam, V = safe_eigh(G)
        lam = lam.clamp_min(0).flip(-1)
        V = V.flip(-1)
        S = lam.sqrt()[..., : min(m, n)]
        # Eigenvalues of A^T A carry errors of about eps * s_max^2, so singular values
        # below sqrt(eps) * s_max cannot be told from zero by this method.
        mask = _rank_mask(S, max(rcond, (max(m, n) * torch.finfo(A.dtype).eps) ** 0.5))
        rank = mask.sum(-1)
        if bool((rank == n).all()):
            L, info = torch.linalg.cholesky_ex(G)
            ok = bool((info == 0).all())
        else:
            ok = False
        if ok:
            X = torch.cholesky_solve(AtB, L)
        else:
            full_mask = torch.cat([mask, mask.new_zeros(*mask.shape[:-1], n - mask.shape[-1])],
                                  -1)
            inv = torch.where(full_mask, 1 / torch.where(full_mask, lam, torch.ones_like(lam)),
                              torch.zeros_like(lam))
            X = V @ (inv.unsqueeze(-1) * (V.mT @ AtB))
    residuals = (B - A @ X).square().sum(-2)
    if vector:
        X, residuals = X.squeeze(-1), residuals.squeeze(-1)
    return LstsqResult(X, residuals, rank, S)
