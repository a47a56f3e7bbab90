"""Maximum-likelihood estimation: closed forms, and a gradient-based fit with standard errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_labels,
    check_ndim,
    check_nonnegative_tensor,
    check_positive,
    fail,
    validating,
)
from torchmath.linalg import column_gram

__all__ = [
    "MLEResult",
    "MVNMLE",
    "NormalMLE",
    "fit_mle",
    "mle_bernoulli",
    "mle_categorical",
    "mle_exponential",
    "mle_mvn",
    "mle_normal",
    "mle_poisson",
]


class NormalMLE(NamedTuple):
    """Maximum-likelihood normal parameters."""

    mean: Tensor
    std: Tensor


class MVNMLE(NamedTuple):
    """Maximum-likelihood multivariate normal parameters."""

    mean: Tensor
    cov: Tensor


def _samples(fn: str, x: Tensor, dim: int) -> Tensor:
    check_floating(fn, "x", x)
    check_finite(fn, "x", x)
    if x.dim() == 0 or x.shape[dim] == 0:
        raise fail(fn, "x", f"at least one sample along dim {dim}", f"shape {tuple(x.shape)}")
    return x


def mle_normal(x: Tensor, dim: int = -1) -> NormalMLE:
    r"""Maximum-likelihood mean and standard deviation of a normal sample.

    .. math::
        \hat\mu = \frac1n\sum_i x_i, \qquad
        \hat\sigma = \sqrt{\frac1n\sum_i (x_i-\hat\mu)^2}

    Args:
        x: samples along ``dim``.
        dim: the sample axis.

    Shape:
        ``x``: ``(..., n, ...)``; ``mean`` and ``std`` have ``x``'s shape without ``dim``.

    Returns:
        ``(mean, std)``, a named tuple.

    Raises:
        ValueError: no samples, or non-finite ones.

    Example:
        >>> mle_normal(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        NormalMLE(mean=tensor(2.5000), std=tensor(1.1180))

    Source: Casella and Berger, *Statistical Inference* (2002), example 7.2.11.
    """
    x = _samples("mle_normal", x, dim)
    mu = x.mean(dim, keepdim=True)
    return NormalMLE(mu.squeeze(dim), (x - mu).square().mean(dim).sqrt())


def mle_mvn(x: Tensor) -> MVNMLE:
    r"""Maximum-likelihood mean and covariance of a multivariate normal sample.

    .. math::
        \hat\mu = \frac1n\sum_i x_i, \qquad
        \hat\Sigma = \frac1n\sum_i (x_i-\hat\mu)(x_i-\hat\mu)^\top

    Args:
        x: ``n`` samples of dimension ``d``, rows are samples, batched.

    Shape:
        ``x``: ``(..., n, d)``; returns ``mean`` ``(..., d)`` and ``cov`` ``(..., d, d)``.

    Returns:
        An :class:`MVNMLE` ``(mean, cov)``; ``cov`` divides by :math:`n` (the MLE).

    Raises:
        ValueError: ``x`` not at least 2-D, no samples, or non-finite ones.

    Example:
        >>> mle_mvn(torch.tensor([[0.0, 0.0], [2.0, 2.0]])).cov
        tensor([[1., 1.],
                [1., 1.]])

    Source: Bishop, *Pattern Recognition and Machine Learning* (2006), eqs. 2.121-2.122.
    """
    fn = "mle_mvn"
    check_ndim(fn, "x", x, min_ndim=2)
    x = _samples(fn, x, -2)
    mu = x.mean(-2)
    return MVNMLE(mu, column_gram(x, center=mu) / x.shape[-2])


def mle_bernoulli(x: Tensor, dim: int = -1) -> Tensor:
    r"""Maximum-likelihood success probability of 0/1 outcomes: :math:`\hat p = \bar x`.

    .. math::
        \hat p = \frac1n \sum_i x_i

    Args:
        x: outcomes in {0, 1} (floating or integer) along ``dim``.
        dim: the sample axis.

    Shape:
        returns ``x``'s shape without ``dim``.

    Returns:
        The estimates :math:`\hat p`.

    Raises:
        ValueError: values other than 0 and 1, or no samples.

    Example:
        >>> mle_bernoulli(torch.tensor([1.0, 0.0, 1.0, 1.0]))
        tensor(0.7500)

    Source: Casella and Berger (2002), example 7.2.7.
    """
    fn = "mle_bernoulli"
    x = x if x.is_floating_point() else x.to(torch.get_default_dtype())
    x = _samples(fn, x, dim)
    if validating() and bool(((x != 0) & (x != 1)).any()):
        raise fail(fn, "x", "to hold only 0 and 1", "other values")
    return x.mean(dim)


def mle_categorical(x: Tensor, num_classes: int, *, dtype: torch.dtype | None = None) -> Tensor:
    r"""Maximum-likelihood class probabilities of integer labels: the class frequencies.

    .. math::
        \hat\pi_k = \frac{n_k}{n}

    Args:
        x: integer labels in ``[0, num_classes)``; the last dimension is the sample axis.
        num_classes: the number of classes ``K``.
        dtype: the result's floating dtype (default: torch's default dtype).

    Shape:
        ``x``: ``(..., n)``; returns ``(..., K)``.

    Returns:
        The class frequencies :math:`\hat p_k = n_k / n`.

    Raises:
        TypeError: non-integer labels. ValueError: labels out of range, no samples.

    Example:
        >>> mle_categorical(torch.tensor([0, 2, 2, 1]), 3)
        tensor([0.2500, 0.2500, 0.5000])

    Source: Bishop (2006), eq. 2.33.
    """
    fn = "mle_categorical"
    check_int(fn, "num_classes", num_classes, minimum=1)
    check_labels(fn, "x", x, num_classes)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise fail(fn, "x", "at least one sample", f"shape {tuple(x.shape)}")
    dtype = dtype or torch.get_default_dtype()
    onehot = torch.nn.functional.one_hot(x, num_classes).to(dtype)
    return onehot.mean(-2)


def mle_poisson(x: Tensor, dim: int = -1) -> Tensor:
    r"""Maximum-likelihood Poisson rate: the sample mean of the counts.

    .. math::
        \hat\lambda = \frac1n\sum_i x_i

    Args:
        x: non-negative counts along ``dim``.
        dim: the sample axis.

    Shape:
        returns ``x``'s shape without ``dim``.

    Returns:
        The estimates :math:`\hat\lambda = \bar x`.

    Raises:
        ValueError: negative counts or no samples.

    Example:
        >>> mle_poisson(torch.tensor([1.0, 3.0, 2.0]))
        tensor(2.)

    Source: Casella and Berger (2002), exercise 7.2.
    """
    fn = "mle_poisson"
    x = x if x.is_floating_point() else x.to(torch.get_default_dtype())
    x = _samples(fn, x, dim)
    check_nonnegative_tensor(fn, "x", x)
    return x.mean(dim)


def mle_exponential(x: Tensor, dim: int = -1) -> Tensor:
    r"""Maximum-likelihood rate of an exponential sample: one over the sample mean.

    .. math::
        \hat\lambda = \frac{n}{\sum_i x_i}

    Args:
        x: positive samples along ``dim``.
        dim: the sample axis.

    Shape:
        returns ``x``'s shape without ``dim``.

    Returns:
        The estimates :math:`\hat\lambda = 1/\bar x`.

    Raises:
        ValueError: non-positive samples or no samples.

    Example:
        >>> mle_exponential(torch.tensor([0.5, 1.5]))
        tensor(1.)

    Source: Casella and Berger (2002), example 7.2.
    """
    fn = "mle_exponential"
    x = _samples(fn, x, dim)
    check_positive(fn, "x", x)
    return 1.0 / x.mean(dim)


@dataclass
class MLEResult:
    """The result of :func:`fit_mle`.

    Attributes:
        params: the fitted parameters (detached), by name.
        nll: the final negative log-likelihood (negative log-posterior for MAP).
        stderr: standard errors by name, from the inverse observed Fisher information.
        covariance: the inverse Hessian over all parameters, flattened in ``params`` order.
        converged: whether the optimizer met ``tol`` before ``max_iter``.
        n_iter: optimizer iterations used.
    """

    params: dict[str, Tensor]
    nll: Tensor
    stderr: dict[str, Tensor]
    covariance: Tensor
    converged: bool
    n_iter: int


def fit_mle(log_prob_fn: Callable[..., Tensor], params: dict[str, Tensor], data,
            *, log_prior: Callable[..., Tensor] | None = None, method: str = "lbfgs",
            max_iter: int = 200, lr: float = 0.05, tol: float = 1e-9) -> MLEResult:
    r"""Gradient-based maximum likelihood (or MAP), with standard errors from the Hessian.

    .. math::
        \hat\theta = \arg\min_\theta\; -\sum_i \log p(x_i \mid \theta) - \log p(\theta),
        \qquad \operatorname{se}(\hat\theta_j) = \sqrt{[H^{-1}]_{jj}},\;
        H = \nabla^2_\theta \big(-\log p(x\mid\theta) - \log p(\theta)\big)\big|_{\hat\theta}

    The objective is minimized by ``torch.optim.LBFGS`` (strong Wolfe line search) or
    ``torch.optim.Adam``; the observed Fisher information :math:`H` comes from
    ``torch.autograd.functional.hessian`` and is inverted through a Cholesky factorization.

    Args:
        log_prob_fn: ``log_prob_fn(*data, **params)`` returns log-likelihoods (summed).
        params: initial values of the (unconstrained) parameters, by name.
        data: a tensor or a tuple of tensors passed positionally to ``log_prob_fn``.
        log_prior: optional ``log_prior(**params)``; when given the fit is MAP.
        method: ``"lbfgs"`` or ``"adam"``.
        max_iter: iteration limit. lr: step size. tol: stop when the objective changes
            less than ``tol`` (relative) between iterations.

    Shape:
        each parameter keeps its initial value's shape; ``data`` as ``log_prob_fn`` takes
        it; ``MLEResult.covariance`` is ``(p, p)`` over the ``p`` flattened parameters.

    Returns:
        :class:`MLEResult`.

    Raises:
        ValueError: bad ``method``, empty ``params``, non-floating parameters, or a
            non-finite objective at the start.

    Example:
        >>> x = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
        >>> lp = lambda x, mu, log_sigma: torch.distributions.Normal(
        ...     mu, log_sigma.exp()).log_prob(x).sum()
        >>> res = fit_mle(lp, {"mu": torch.tensor(0.0, dtype=torch.float64),
        ...                    "log_sigma": torch.tensor(0.0, dtype=torch.float64)}, x)
        >>> round(float(res.params["mu"]), 6), round(float(res.stderr["mu"]), 4)
        (3.0, 0.9354)

    Source: Casella and Berger (2002), sec. 10.1.3 (asymptotic variance of the MLE).
    """
    fn = "fit_mle"
    check_choice(fn, "method", method, ("lbfgs", "adam"))
    check_int(fn, "max_iter", max_iter, minimum=1)
    check_positive(fn, "lr", lr)
    if not isinstance(params, dict) or not params:
        raise fail(fn, "params", "a non-empty dict of tensors", type(params).__name__, TypeError)
    for name, p in params.items():
        check_floating(fn, f"params['{name}']", p)
    data = data if isinstance(data, tuple) else (data,)
    names = list(params)
    leaves = [params[k].detach().clone().requires_grad_(True) for k in names]

    def objective(*values):
        kw = dict(zip(names, values, strict=True))
        total = -log_prob_fn(*data, **kw).sum()
        if log_prior is not None:
            total = total - log_prior(**kw).sum()
        return total

    start = objective(*leaves).detach()
    if validating() and not bool(torch.isfinite(start)):
        raise fail(fn, "params", "initial values with a finite log-likelihood", float(start))
    if method == "lbfgs":
        opt = torch.optim.LBFGS(leaves, lr=1.0, max_iter=20, tolerance_grad=1e-12,
                                tolerance_change=1e-14, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam(leaves, lr=lr)

    def closure():
        opt.zero_grad()
        loss = objective(*leaves)
        loss.backward()
        return loss

    prev = float(start)
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        loss = float(opt.step(closure).detach())
        if abs(prev - loss) <= tol * max(1.0, abs(loss)) and n_iter > 1:
            converged = True
            break
        prev = loss
    fitted = [p.detach() for p in leaves]
    nll = objective(*fitted).detach()
    flat = torch.cat([p.reshape(-1) for p in fitted])
    sizes = [p.numel() for p in fitted]

    def flat_objective(v):
        parts = torch.split(v, sizes)
        return objective(*[q.reshape(p.shape) for q, p in zip(parts, fitted, strict=True)])

    H = torch.autograd.functional.hessian(flat_objective, flat)
    H = (H + H.mT) / 2
    L, info = torch.linalg.cholesky_ex(H)
    if bool(info != 0):
        warnings.warn("fit_mle: the Hessian of the negative log-likelihood is not positive "
                      "definite at the optimum (not a strict minimum); standard errors are "
                      "set to inf", RuntimeWarning, stacklevel=2)
        cov = torch.full_like(H, float("inf"))
    else:
        cov = torch.cholesky_inverse(L)
    se = cov.diagonal().clamp_min(0).sqrt()
    stderr = {k: s.reshape(p.shape) for k, s, p in zip(names, torch.split(se, sizes), fitted,
                                                        strict=True)}
    return MLEResult(dict(zip(names, fitted, strict=True)), nll, stderr, cov, converged, n_iter)
