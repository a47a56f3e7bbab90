"""Truncated and randomized SVD, and the deterministic sign rule for singular vectors."""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath import _random
from torchmath._validation import check_finite, check_floating, check_int, check_ndim, fail
from torchmath.linalg.eigen import SVDResult, safe_svd

__all__ = ["randomized_svd", "svd_flip", "truncated_svd"]


def svd_flip(U: Tensor | None, Vh: Tensor, *, u_based: bool = False
             ) -> tuple[Tensor | None, Tensor]:
    r"""Fix the signs of singular vectors deterministically.

    .. math::
        (u_i, v_i) \to (s_i u_i, s_i v_i), \quad
        s_i = \operatorname{sign}\big(x_{i, \arg\max_j |x_{ij}|}\big)

    where :math:`x_i` is row :math:`i` of ``Vh`` (default, scikit-learn's PCA convention
    ``u_based_decision=False``) or column :math:`i` of ``U`` (``u_based=True``): after the
    flip the entry of largest magnitude of each vector is positive. Ties go to the first
    such entry; a zero vector keeps its sign.

    Args:
        U: left singular vectors (columns) or ``None``.
        Vh: right singular vectors (rows).
        u_based: decide from the columns of ``U`` instead of the rows of ``Vh``.

    Shape:
        ``U``: ``(..., m, k)``; ``Vh``: ``(..., k, n)``; returns the same shapes.

    Returns:
        ``(U, Vh)`` with flipped signs (``U`` stays ``None`` if it was).

    Raises:
        ValueError: ``u_based=True`` without ``U``.

    Example:
        >>> U, Vh = svd_flip(torch.eye(2), torch.tensor([[1.0, -3.0], [2.0, 1.0]]))
        >>> Vh
        tensor([[-1.,  3.],
                [ 2.,  1.]])

    Source: scikit-learn, ``sklearn.utils.extmath.svd_flip`` (the convention).
    """
    if u_based:
        if U is None:
            raise fail("svd_flip", "U", "to be given when u_based=True", None)
        ref = U.mT
    else:
        ref = Vh
    pick = ref.abs().argmax(-1, keepdim=True)
    s = torch.sign(ref.gather(-1, pick))
    s = torch.where(s == 0, torch.ones_like(s), s)  # (..., k, 1)
    Vh = Vh * s
    if U is not None:
        U = U * s.mT
    return U, Vh


def _check_k(fn: str, A: Tensor, k: int) -> None:
    check_int(fn, "k", k, minimum=1)
    if k > min(A.shape[-2:]):
        raise fail(fn, "k", f"to be at most min(m, n) = {min(A.shape[-2:])}", k)


def truncated_svd(A: Tensor, k: int) -> SVDResult:
    r"""The ``k`` leading singular triplets, exactly (best rank-``k`` approximation).

    .. math::
        A_k = U_k \operatorname{diag}(s_{1..k}) V_k^\top
        = \arg\min_{\operatorname{rank} B \le k} \|A - B\|_F \quad \text{(Eckart–Young)}

    Computes the full reduced SVD through :func:`~torchmath.linalg.safe_svd` (so the
    gradient is finite at repeated singular values) and keeps the first ``k``; use
    :func:`randomized_svd` when ``k`` is much smaller than ``min(m, n)``. Signs follow
    :func:`svd_flip`.

    Args:
        A: matrices.
        k: number of triplets.

    Shape:
        ``A``: ``(..., m, n)``; returns ``U`` ``(..., m, k)``, ``S`` ``(..., k)``, ``Vh``
        ``(..., k, n)``.

    Returns:
        An :class:`SVDResult` ``(U, S, Vh)`` of the ``k`` leading triplets.

    Raises:
        ValueError: ``k`` larger than ``min(m, n)`` or non-finite entries.

    Example:
        >>> truncated_svd(torch.diag(torch.tensor([1.0, 3.0, 2.0])), 2).S
        tensor([3., 2.])

    Source: Eckart and Young (1936), "The approximation of one matrix by another of
    lower rank".
    """
    fn = "truncated_svd"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_finite(fn, "A", A)
    _check_k(fn, A, k)
    U, S, Vh = safe_svd(A)
    U, Vh = svd_flip(U[..., :k], Vh[..., :k, :])
    return SVDResult(U, S[..., :k], Vh)


def randomized_svd(A: Tensor, k: int, *, n_oversamples: int = 10, n_iter: int = 4,
                   generator: torch.Generator | None = None) -> SVDResult:
    r"""Approximate leading SVD by random projection (Halko, Martinsson and Tropp).

    .. math::
        Y = (A A^\top)^q A \Omega, \;\; \Omega \in \mathbb{R}^{n \times (k+p)},\;\;
        Q = \operatorname{orth}(Y), \;\; Q^\top A = \tilde U \Sigma V^\top
        \Rightarrow A \approx (Q\tilde U)\, \Sigma V^\top

    A Gaussian test matrix with :math:`p` = ``n_oversamples`` extra columns captures the
    range of :math:`A`; ``n_iter`` = :math:`q` power iterations, each followed by a QR
    re-orthonormalization (so rounding does not wash out the small singular values),
    sharpen the spectrum decay to :math:`(\sigma_{j}/\sigma_{k+1})^{2q+1}`. The cost is a
    few passes of matrix products with :math:`A` plus one small SVD. Batched; autograd
    runs through the products, the QRs and the small SVD. Signs follow :func:`svd_flip`.

    Args:
        A: matrices.
        k: number of triplets.
        n_oversamples: extra random directions :math:`p`.
        n_iter: power iterations :math:`q`.
        generator: for the test matrix (drawn on the CPU when given, then moved).

    Shape:
        ``A``: ``(..., m, n)``; returns ``U`` ``(..., m, k)``, ``S`` ``(..., k)``, ``Vh``
        ``(..., k, n)``.

    Returns:
        An :class:`SVDResult` ``(U, S, Vh)`` of the ``k`` leading triplets.

    Raises:
        ValueError: ``k`` larger than ``min(m, n)``, negative ``n_iter`` or
            ``n_oversamples``, non-finite entries.

    Example:
        >>> A = torch.diag(torch.tensor([5.0, 4.0, 3.0, 0.1], dtype=torch.float64))
        >>> randomized_svd(A, 2, generator=torch.Generator().manual_seed(0)).S
        tensor([5., 4.], dtype=torch.float64)

    Source: Halko, Martinsson and Tropp (2011), "Finding structure with randomness",
    algorithms 4.4 and 5.1.
    """
    fn = "randomized_svd"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    _check_k(fn, A, k)
    check_int(fn, "n_oversamples", n_oversamples, minimum=0)
    check_int(fn, "n_iter", n_iter, minimum=0)
    check_finite(fn, "A", A)
    m, n = A.shape[-2:]
    transpose = m < n  # work with the tall orientation: fewer columns to sketch
    M = A.mT if transpose else A
    cols = min(k + n_oversamples, min(m, n))
    omega = _random.randn((*M.shape[:-2], M.shape[-1], cols), generator=generator,
                          dtype=A.dtype, device=A.device)
    Q, _ = torch.linalg.qr(M @ omega)
    for _ in range(n_iter):
        Z, _ = torch.linalg.qr(M.mT @ Q)
        Q, _ = torch.linalg.qr(M @ Z)
    B = Q.mT @ M
    Ub, S, Vh = torch.linalg.svd(B, full_matrices=False)
    U = Q @ Ub[..., :k]
    S, Vh = S[..., :k], Vh[..., :k, :]
    if transpose:
        U, Vh = Vh.mT, U.mT
    U, Vh = svd_flip(U, Vh)
    return SVDResult(U, S, Vh)
