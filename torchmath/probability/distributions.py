"""Normal and multivariate normal log-densities and samplers."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath._validation import (
    check_exactly_one,
    check_floating,
    check_matrix_square,
    check_positive,
    check_shape,
    fail,
    validating,
)
from torchmath.linalg import tril_solve

__all__ = ["mvn_log_prob"]

_LOG_2PI = math.log(2 * math.pi)


def _factor(fn: str, name: str, A: Tensor) -> Tensor:
    """Cholesky factor of a covariance or precision, with the standard error if it fails."""
    L, info = torch.linalg.cholesky_ex(A)
    if validating() and bool((info != 0).any()):
        smallest = float(torch.linalg.eigvalsh(A.detach()).min())
        raise fail(fn, name, "to be positive definite",
                   f"a matrix with smallest eigenvalue {smallest:.6g}")
    return L


def mvn_log_prob(x: Tensor, mean: Tensor, *, cov: Tensor | None = None,
                 precision: Tensor | None = None, scale_tril: Tensor | None = None) -> Tensor:
    r"""Log-density of the multivariate normal :math:`\mathcal N(\mu, \Sigma)`.

    .. math::
        \log p(x) = -\tfrac12\big(d \log 2\pi + \log\det\Sigma
                    + (x-\mu)^\top \Sigma^{-1} (x-\mu)\big)

    The covariance is given by exactly one of ``cov`` (:math:`\Sigma`), ``precision``
    (:math:`\Sigma^{-1}`) or ``scale_tril`` (:math:`L` with :math:`\Sigma = LL^\top`). It is
    factorized once per call; the quadratic form is one triangular solve over all points
    (or, for ``precision``, one matrix product), never an explicit inverse. Equal to
    ``torch.distributions.MultivariateNormal(mean, ...).log_prob(x)`` and differentiable in
    every argument.

    Args:
        x: points.
        mean: the mean :math:`\mu`.
        cov: covariance matrices (keyword-only).
        precision: precision matrices (keyword-only).
        scale_tril: lower Cholesky factors of the covariance, positive diagonal
            (keyword-only).

    Shape:
        ``x``: ``(*A, d)``; ``mean``: ``(*M, d)``; the matrix: ``(*S, d, d)``; returns
        ``broadcast(A, M, S)``.

    Raises:
        ValueError: not exactly one matrix form, trailing sizes that disagree, or (while
            validation is on) a matrix that is not positive definite.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, dtype=torch.float64)
        >>> mvn_log_prob(x, torch.zeros(2, dtype=torch.float64), cov=torch.eye(2).double())
        tensor(-1.8379, dtype=torch.float64)
    """
    fn = "mvn_log_prob"
    form, matrix = check_exactly_one(fn, cov=cov, precision=precision, scale_tril=scale_tril)
    check_floating(fn, "x", x)
    check_floating(fn, "mean", mean)
    check_floating(fn, form, matrix)
    check_matrix_square(fn, form, matrix)
    d = matrix.shape[-1]
    check_shape(fn, "x", x, (d,))
    check_shape(fn, "mean", mean, (d,))
    diff = x - mean
    if form == "precision":
        L = _factor(fn, form, matrix)
        # (x-mu)^T P (x-mu) = |L_P^T (x-mu)|^2, a plain matrix product.
        z = (diff.unsqueeze(-2) @ L).squeeze(-2) if L.dim() > 2 else diff @ L
        half_log_det_cov = -L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    else:
        if form == "cov":
            L = _factor(fn, form, matrix)
        else:
            L = matrix
            if validating():
                check_positive(fn, "scale_tril diagonal", L.diagonal(dim1=-2, dim2=-1))
        z = tril_solve(L, diff)
        half_log_det_cov = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    maha = z.square().sum(-1)
    return -0.5 * (d * _LOG_2PI + maha) - half_log_det_cov
