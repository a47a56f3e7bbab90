"""Cholesky factorization that survives nearly singular input, and solves that reuse it."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from torchmath._validation import (
    check_finite,
    check_floating,
    check_matrix_square,
    check_shape,
    not_positive_definite,
    promote,
)

__all__ = ["CholeskyJitterWarning", "safe_cholesky", "tril_solve"]


class CholeskyJitterWarning(UserWarning):
    """``safe_cholesky`` had to add diagonal jitter to factorize its input."""


def safe_cholesky(A: Tensor, *, max_tries: int = 6, jitter: float | None = None) -> Tensor:
    r"""Lower Cholesky factor of a symmetric positive (semi-)definite matrix, with jitter.

    .. math::
        A + \epsilon I = L L^\top, \qquad \epsilon = 0, \epsilon_0, 10\epsilon_0, \dots

    The factorization is first tried as is. Batch elements that fail are retried with a
    diagonal jitter :math:`\epsilon` that starts at ``jitter`` (default: ``1e-10`` in
    float64, ``1e-6`` in float32, times the mean of the diagonal) and grows tenfold per
    try. When jitter was needed a :class:`CholeskyJitterWarning` says how much; when
    ``max_tries`` do not suffice, the error gives the smallest eigenvalue. Same recipe as
    GPyTorch's ``psd_safe_cholesky`` (Gardner et al., 2018).

    Args:
        A: symmetric matrices.
        max_tries: number of jitter levels to try after the plain attempt.
        jitter: the first jitter level, relative to the mean diagonal.

    Shape:
        ``A``: ``(..., n, n)``; returns ``(..., n, n)``.

    Returns:
        The lower-triangular factor :math:`L` with :math:`A + \epsilon I = L L^\top`
        (:math:`\epsilon = 0` when no jitter was needed).

    Raises:
        ValueError: ``A`` is not square, or is not positive definite even with jitter.

    Example:
        >>> import torch
        >>> safe_cholesky(torch.tensor([[4.0, 2.0], [2.0, 2.0]]))
        tensor([[2., 0.],
                [1., 1.]])

    Source: Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 4.2 (Cholesky);
    Gardner et al. (2018), GPyTorch (the jitter schedule).
    """
    fn = "safe_cholesky"
    check_floating(fn, "A", A)
    check_matrix_square(fn, "A", A)
    check_finite(fn, "A", A)
    L, info = torch.linalg.cholesky_ex(A)
    failed = info != 0
    if not bool(failed.any()):
        return L
    if jitter is None:
        jitter = 1e-10 if A.dtype == torch.float64 else 1e-6
    scale = A.diagonal(dim1=-2, dim2=-1).mean(-1).abs().clamp_min(torch.finfo(A.dtype).tiny)
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    level = jitter
    for _ in range(max_tries):
        added = torch.where(failed, scale * level, torch.zeros_like(scale))
        L, info = torch.linalg.cholesky_ex(A + added[..., None, None] * eye)
        if not bool((info != 0).any()):
            warnings.warn(f"safe_cholesky: added up to {float(added.max()):.3g} to the diagonal "
                          "to factorize a matrix that was not numerically positive definite",
                          CholeskyJitterWarning, stacklevel=2)
            return L
        level *= 10
    raise not_positive_definite(fn, "A", A)


def tril_solve(scale_tril: Tensor, x: Tensor) -> Tensor:
    r"""Solve :math:`L z = x` for many vectors ``x`` at once, with broadcasting.

    .. math::
        z = L^{-1} x

    The rows of ``x`` that share one factor are gathered into a single matrix, so
    ``n`` vectors against one ``(d, d)`` factor cost one triangular solve with ``n``
    right-hand sides instead of ``n`` small ones. This is the whitening step of the
    Gaussian log-density and of the Mahalanobis distance.

    Args:
        scale_tril: lower-triangular factors with a positive diagonal.
        x: vectors; leading dimensions broadcast against those of ``scale_tril``.

    Shape:
        ``scale_tril``: ``(*B, d, d)``; ``x``: ``(*A, d)``; returns
        ``broadcast(A, B) + (d,)``.

    Returns:
        The solutions :math:`z`.

    Raises:
        ValueError: ``scale_tril`` is not square, or ``x``'s last dimension is not ``d``.

    Example:
        >>> import torch
        >>> L = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
        >>> tril_solve(L, torch.tensor([[2.0, 2.0], [4.0, 3.0]]))
        tensor([[1., 1.],
                [2., 1.]])

    Source: Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 3.1 (triangular
    systems).
    """
    fn = "tril_solve"
    check_matrix_square(fn, "scale_tril", scale_tril)
    d = scale_tril.shape[-1]
    check_shape(fn, "x", x, (d,))
    (scale_tril, x), _ = promote(scale_tril, x)
    batch = torch.broadcast_shapes(x.shape[:-1], scale_tril.shape[:-2])
    nb = len(batch)
    fac_batch = (1,) * (nb - (scale_tril.dim() - 2)) + tuple(scale_tril.shape[:-2])
    # Dimensions where the factor is shared become rows of one right-hand-side matrix.
    keep = [i for i in range(nb) if fac_batch[i] != 1]
    fold = [i for i in range(nb) if fac_batch[i] == 1]
    xe = x.expand(*batch, d)
    xp = xe.permute(*keep, *fold, nb)
    kept_shape = [batch[i] for i in keep]
    fold_shape = [batch[i] for i in fold]
    rows = xp.reshape(*kept_shape, -1, d)
    L = scale_tril.reshape(*kept_shape, d, d) if keep else scale_tril.reshape(d, d)
    if rows.shape[-2] > d:
        # Many vectors per factor: invert the small triangular factor once (d^3/3) and
        # apply it as one matrix product, which runs near the GEMM ceiling, where a
        # triangular solve with many right-hand sides runs several times slower.
        eye = torch.eye(d, dtype=L.dtype, device=L.device)
        L_inv = torch.linalg.solve_triangular(L, eye, upper=False)
        z = rows @ L_inv.mT
    else:
        # Solve Z L^T = X row-wise, i.e. L z = x for every row x.
        z = torch.linalg.solve_triangular(L.mT, rows, upper=True, left=False)
    z = z.reshape(*kept_shape, *fold_shape, d)
    inverse = [0] * nb
    for pos, dim in enumerate(keep + fold):
        inverse[dim] = pos
    return z.permute(*inverse, nb)
