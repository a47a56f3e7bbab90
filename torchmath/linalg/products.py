"""Inner products, norms and distances under a metric; Gram matrices; conditioning."""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_cholesky,
    check_exactly_one,
    check_finite,
    check_floating,
    check_int,
    check_matrix_square,
    check_ndim,
    check_positive,
    check_positive_definite,
    check_shape,
    fail,
    promote,
)
from torchmath.linalg.cholesky import tril_solve

__all__ = ["condition_number", "gram_matrix", "inner", "is_positive_definite",
           "mahalanobis", "norm"]


def _check_metric(fn: str, metric: Tensor, d: int) -> Tensor:
    check_floating(fn, "metric", metric)
    check_shape(fn, "metric", metric, (d, d))
    check_finite(fn, "metric", metric)
    return check_positive_definite(fn, "metric", metric)


def inner(x: Tensor, y: Tensor, *, metric: Tensor | None = None) -> Tensor:
    r"""Inner product of vectors, Euclidean or under a positive-definite metric.

    .. math::
        \langle x, y \rangle_M = x^\top M y, \qquad M = I \text{ by default}

    Any symmetric positive-definite :math:`M` defines an inner product; :math:`M =
    \Sigma^{-1}` gives the Mahalanobis inner product and a diagonal :math:`M` a weighted
    one.

    Args:
        x, y: vectors; leading dimensions broadcast.
        metric: symmetric positive-definite matrix (batched dimensions broadcast too).

    Shape:
        ``x``: ``(..., d)``; ``y``: ``(..., d)``; ``metric``: ``(..., d, d)``; returns
        the broadcast batch shape.

    Returns:
        The inner products :math:`\langle x, y\rangle_M`.

    Raises:
        ValueError: the last dimensions disagree, or ``metric`` is not positive definite
            (checked while validation is on).

    Example:
        >>> inner(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
        tensor(11.)
        >>> inner(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]),
        ...       metric=torch.diag(torch.tensor([2.0, 0.5])))
        tensor(10.)

    Source: Axler, *Linear Algebra Done Right*, ch. 6 (inner products).
    """
    fn = "inner"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)
    check_shape(fn, "y", y, (x.shape[-1],))
    (x, y, metric), out = promote(x, y, metric)
    if metric is None:
        return (x * y).sum(-1).to(out)
    _check_metric(fn, metric, x.shape[-1])
    return (x.unsqueeze(-2) @ (metric @ y.unsqueeze(-1))).squeeze(-1).squeeze(-1).to(out)


def norm(x: Tensor, p: float = 2, *, metric: Tensor | None = None) -> Tensor:
    r"""Vector norm: the :math:`p`-norm, or the norm induced by a metric.

    .. math::
        \|x\|_p = \Big(\sum_i |x_i|^p\Big)^{1/p}, \qquad
        \|x\|_M = \sqrt{x^\top M x} = \|L^\top x\|_2, \quad M = L L^\top

    The metric norm goes through the Cholesky factor, so its gradient at :math:`x = 0`
    is the subgradient 0 rather than NaN (``torch.linalg.vector_norm`` does the same).
    ``p`` may be ``inf``; ``metric`` works with ``p=2`` only.

    Args:
        x: vectors.
        p: order of the norm (ignored by the metric norm, which is induced by
            :math:`\langle\cdot,\cdot\rangle_M`).
        metric: symmetric positive-definite matrix.

    Shape:
        ``x``: ``(..., d)``; ``metric``: ``(..., d, d)``; returns the batch shape.

    Returns:
        The norms, one per vector.

    Raises:
        ValueError: ``metric`` of the wrong shape or not positive definite, or a
            ``p`` other than 2 with a metric.

    Example:
        >>> norm(torch.tensor([3.0, 4.0]))
        tensor(5.)
        >>> norm(torch.tensor([3.0, 4.0]), p=1)
        tensor(7.)

    Source: Horn and Johnson, *Matrix Analysis*, 2nd ed., sec. 5.2 (vector norms).
    """
    fn = "norm"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)
    if metric is None:
        return torch.linalg.vector_norm(x, ord=p, dim=-1)
    if p != 2:
        raise fail(fn, "p", "to be 2 when a metric is given", p)
    (x, metric), out = promote(x, metric)
    check_floating(fn, "metric", metric)
    check_shape(fn, "metric", metric, (x.shape[-1], x.shape[-1]))
    L = check_cholesky(fn, "metric", metric)
    return torch.linalg.vector_norm((x.unsqueeze(-2) @ L).squeeze(-2), dim=-1).to(out)


def mahalanobis(x: Tensor, mean: Tensor, *, cov: Tensor | None = None,
                precision: Tensor | None = None, squared: bool = False) -> Tensor:
    r"""Mahalanobis distance of points from a mean under a covariance (or precision).

    .. math::
        D_M(x) = \sqrt{(x-\mu)^\top \Sigma^{-1} (x-\mu)} = \|L^{-1}(x-\mu)\|_2,
        \qquad \Sigma = L L^\top

    With ``cov`` the difference is whitened by one batched triangular solve with the
    Cholesky factor (:func:`~torchmath.linalg.tril_solve`); no inverse is formed. With
    ``precision`` :math:`P = L_P L_P^\top`, :math:`D_M = \|L_P^\top (x-\mu)\|_2`.

    Args:
        x: points.
        mean: the centre; broadcasts against ``x``.
        cov: covariance, symmetric positive definite. Exactly one of ``cov`` and
            ``precision`` is given.
        precision: inverse covariance, symmetric positive definite.
        squared: return :math:`D_M^2`.

    Shape:
        ``x``, ``mean``: ``(..., d)``; ``cov``/``precision``: ``(..., d, d)``; returns the
        broadcast batch shape.

    Returns:
        The distances :math:`D_M(x)` (squared with ``squared=True``).

    Raises:
        ValueError: not exactly one of ``cov``/``precision``, shapes that do not fit, or a
            matrix that is not positive definite.

    Example:
        >>> mahalanobis(torch.tensor([2.0, 0.0]), torch.zeros(2), cov=4 * torch.eye(2))
        tensor(1.)

    Source: Mahalanobis (1936), "On the generalised distance in statistics".
    """
    fn = "mahalanobis"
    name, matrix = check_exactly_one(fn, cov=cov, precision=precision)
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)
    d = x.shape[-1]
    check_shape(fn, "mean", mean, (d,))
    check_floating(fn, name, matrix)
    check_shape(fn, name, matrix, (d, d))
    (x, mean, matrix), out = promote(x, mean, matrix)
    L = check_cholesky(fn, name, matrix)
    diff = x - mean
    z = tril_solve(L, diff) if name == "cov" else (diff.unsqueeze(-2) @ L).squeeze(-2)
    if squared:
        return z.square().sum(-1).to(out)
    return torch.linalg.vector_norm(z, dim=-1).to(out)


def _squared_distances(X: Tensor, Y: Tensor) -> Tensor:
    # ||x||^2 + ||y||^2 - 2 x.y as one matrix product, clamped at 0 against rounding;
    # no square root, so the gradient at x = y is finite.
    xx = X.square().sum(-1, keepdim=True)
    yy = Y.square().sum(-1).unsqueeze(-2)
    return (xx + yy - 2 * (X @ Y.mT)).clamp_min(0)


def gram_matrix(X: Tensor, Y: Tensor | None = None, *, kernel: str = "linear",
                gamma: float | None = None, degree: int = 3, coef0: float = 1.0) -> Tensor:
    r"""Gram (kernel) matrix of two sets of vectors.

    .. math::
        K_{ij} = k(x_i, y_j), \quad
        k_{\text{linear}} = x^\top y, \quad
        k_{\text{rbf}} = e^{-\gamma \|x-y\|^2}, \quad
        k_{\text{poly}} = (\gamma\, x^\top y + c_0)^{p}

    Parameters follow scikit-learn's ``pairwise_kernels`` (``gamma`` defaults to
    :math:`1/d`). Squared distances are computed as :math:`\|x\|^2 + \|y\|^2 - 2x^\top y`
    in one matrix product (clamped at 0), as scikit-learn does.

    Args:
        X: first set of vectors.
        Y: second set (default ``X``).
        kernel: ``"linear"``, ``"rbf"`` or ``"polynomial"``.
        gamma: kernel scale (rbf and polynomial); default ``1 / d``.
        degree: polynomial degree :math:`p`.
        coef0: polynomial offset :math:`c_0`.

    Shape:
        ``X``: ``(..., n, d)``; ``Y``: ``(..., m, d)``; returns ``(..., n, m)``.

    Returns:
        The kernel matrix :math:`K`.

    Raises:
        ValueError: feature dimensions differ, unknown ``kernel``, non-positive ``gamma``.

    Example:
        >>> X = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> gram_matrix(X)
        tensor([[1., 1.],
                [1., 2.]])
        >>> gram_matrix(X, kernel="rbf", gamma=1.0)
        tensor([[1.0000, 0.3679],
                [0.3679, 1.0000]])

    Source: Schölkopf and Smola, *Learning with Kernels* (2002), ch. 2.
    """
    fn = "gram_matrix"
    check_floating(fn, "X", X)
    check_ndim(fn, "X", X, min_ndim=2)
    if Y is None:
        Y = X
    else:
        check_floating(fn, "Y", Y)
        check_ndim(fn, "Y", Y, min_ndim=2)
        check_shape(fn, "Y", Y, (X.shape[-1],))
    check_choice(fn, "kernel", kernel, ("linear", "rbf", "polynomial"))
    (X, Y), _ = promote(X, Y)
    if gamma is None:
        gamma = 1.0 / X.shape[-1]
    else:
        check_positive(fn, "gamma", gamma)
    if kernel == "linear":
        return X @ Y.mT
    if kernel == "rbf":
        return torch.exp(-gamma * _squared_distances(X, Y))
    check_int(fn, "degree", degree, minimum=1)
    return (gamma * (X @ Y.mT) + coef0) ** degree


def condition_number(A: Tensor, p: float | str | None = None) -> Tensor:
    r"""Condition number of a matrix: how much a solve can amplify relative errors.

    .. math::
        \kappa_2(A) = \frac{\sigma_{\max}(A)}{\sigma_{\min}(A)}, \qquad
        \kappa_p(A) = \|A\|_p \|A^{-1}\|_p

    A thin wrapper of ``torch.linalg.cond`` (which it calls) that validates input; the
    2-norm version works for rectangular matrices and is differentiable. A singular
    matrix gives ``inf`` (or a huge number from rounding), never an error.

    Args:
        A: matrices.
        p: the norm (``None`` = 2; see ``torch.linalg.cond``).

    Shape:
        ``A``: ``(..., m, n)``; returns ``(...)``.

    Returns:
        The condition numbers (``inf`` for a singular matrix).

    Raises:
        TypeError: ``A`` is not a floating-point tensor.
        ValueError: ``A`` is not a (batch of) matrices, is not square for a ``p`` other
            than 2, or (while validation is on) holds NaN or infinite entries.

    Example:
        >>> condition_number(torch.diag(torch.tensor([10.0, 0.1])))
        tensor(100.)

    Source: Trefethen and Bau, *Numerical Linear Algebra* (1997), lecture 12.
    """
    fn = "condition_number"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    if p is not None and p not in (2, -2):
        check_matrix_square(fn, "A", A)
    check_finite(fn, "A", A)
    return torch.linalg.cond(A, p)


def is_positive_definite(A: Tensor, *, rtol: float | None = None) -> Tensor:
    r"""Whether each matrix is symmetric positive definite.

    .. math::
        A = A^\top \quad\text{and}\quad x^\top A x > 0 \;\; \forall x \ne 0
        \iff A = L L^\top \text{ with } L_{ii} > 0

    Decided by a Cholesky attempt (``torch.linalg.cholesky_ex``, no exception, one
    factorization) and a symmetry check :math:`\|A - A^\top\|_\infty \le
    \text{rtol}\,\|A\|_\infty`.

    Args:
        A: square matrices.
        rtol: symmetry tolerance (default ``100 * eps`` of the dtype).

    Shape:
        ``A``: ``(..., n, n)``; returns a bool tensor ``(...)``.

    Returns:
        A bool tensor, ``True`` where the matrix is symmetric positive definite.

    Raises:
        TypeError: ``A`` is not a floating-point tensor.
        ValueError: ``A`` is not a (batch of) square matrices.

    Example:
        >>> is_positive_definite(torch.tensor([[2.0, 1.0], [1.0, 2.0]]))
        tensor(True)
        >>> is_positive_definite(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
        tensor(False)

    Source: Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 4.2.
    """
    fn = "is_positive_definite"
    check_floating(fn, "A", A)
    check_matrix_square(fn, "A", A)
    A = A.detach()
    if rtol is None:
        rtol = 100 * torch.finfo(A.dtype).eps
    scale = A.abs().amax((-2, -1))
    symmetric = (A - A.mT).abs().amax((-2, -1)) <= rtol * scale
    finite = torch.isfinite(A).all(-1).all(-1)
    _, info = torch.linalg.cholesky_ex(torch.where(finite[..., None, None], A,
                                                   torch.zeros_like(A)))
    return symmetric & finite & (info == 0)
