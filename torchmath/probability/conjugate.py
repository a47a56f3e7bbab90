"""Conjugate Bayesian updates: posterior, posterior predictive and MAP in closed form."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Distribution,
    Gamma,
    InverseGamma,
    NegativeBinomial,
    Normal,
    StudentT,
)

from torchmath._validation import (
    check_finite,
    check_floating,
    check_labels,
    check_nonnegative_tensor,
    check_positive,
    fail,
    validating,
)

__all__ = [
    "ConjugatePosterior",
    "beta_bernoulli",
    "dirichlet_categorical",
    "gamma_poisson",
    "normal_inverse_gamma",
    "normal_normal",
]


@dataclass
class ConjugatePosterior:
    """The result of a conjugate update.

    Attributes:
        params: the posterior's hyperparameters, by name.
        posterior: the posterior over the parameter, a ``torch.distributions`` object (for
            the Normal-Inverse-Gamma model: the marginal posterior of the mean).
        predictive: the posterior predictive of one new observation.
        map: the posterior mode (MAP estimate) of the parameter.
        extra: further posteriors (the variance's, for Normal-Inverse-Gamma).
    """

    params: dict[str, Tensor]
    posterior: Distribution
    predictive: Distribution
    map: Tensor
    extra: dict[str, object]


# Distributions built here take checked parameters: no validation (a host sync) again.
_NV = {"validate_args": False}


def _as(x, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _data(fn: str, x: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        raise fail(fn, "x", "to be a torch.Tensor", type(x).__name__, TypeError)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.dim() == 0:
        raise fail(fn, "x", "samples along the last dimension", "a scalar")
    check_finite(fn, "x", x)
    return x


def _hyper(fn: str, name: str, value, like: Tensor) -> Tensor:
    check_positive(fn, name, value)
    return _as(value, like)


def _beta_mode(a: Tensor, b: Tensor) -> Tensor:
    mode = (a - 1) / (a + b - 2)
    mean = a / (a + b)
    mode = torch.where((a > 1) & (b > 1), mode, mean)
    mode = torch.where((a <= 1) & (b > 1), torch.zeros_like(a), mode)
    return torch.where((a > 1) & (b <= 1), torch.ones_like(a), mode)


def beta_bernoulli(x: Tensor, alpha=1.0, beta=1.0) -> ConjugatePosterior:
    r"""Beta prior, Bernoulli likelihood: the posterior of a success probability.

    .. math::
        p \sim \mathrm{Beta}(\alpha, \beta),\; x_i \sim \mathrm{Bern}(p) \;\Rightarrow\;
        p \mid x \sim \mathrm{Beta}(\alpha + s,\ \beta + n - s),\; s = \textstyle\sum_i x_i

    Predictive: :math:`P(x_{new}=1\mid x) = \alpha'/(\alpha'+\beta')`. MAP:
    :math:`(\alpha'-1)/(\alpha'+\beta'-2)` when both exceed one, 0 or 1 at a boundary
    mode, and the posterior mean where the mode is not unique.

    Args:
        x: 0/1 outcomes, the last dimension is the sample axis.
        alpha, beta: prior pseudo-counts (positive; numbers or tensors broadcasting with
            ``x.shape[:-1]``).

    Shape:
        ``x``: ``(..., n)``; posterior parameters ``(...)``.

    Returns:
        A :class:`ConjugatePosterior` with the Beta posterior, the Bernoulli posterior
        predictive and the MAP success probability.

    Raises:
        ValueError: values other than 0 and 1, non-positive hyperparameters.

    Example:
        >>> post = beta_bernoulli(torch.tensor([1.0, 1.0, 0.0, 1.0]), 2.0, 2.0)
        >>> post.params["alpha"], post.params["beta"], post.map
        (tensor(5.), tensor(3.), tensor(0.6667))

    Source: Murphy, *Machine Learning: A Probabilistic Perspective* (2012), sec. 3.3.
    """
    fn = "beta_bernoulli"
    x = _data(fn, x)
    if validating() and bool(((x != 0) & (x != 1)).any()):
        raise fail(fn, "x", "to hold only 0 and 1", "other values")
    a0, b0 = _hyper(fn, "alpha", alpha, x), _hyper(fn, "beta", beta, x)
    s, n = x.sum(-1), x.shape[-1]
    a, b = a0 + s, b0 + (n - s)
    return ConjugatePosterior({"alpha": a, "beta": b}, Beta(a, b, **_NV),
                              Bernoulli(probs=a / (a + b), **_NV),
                              _beta_mode(a, b), {})


def dirichlet_categorical(x: Tensor, concentration: Tensor) -> ConjugatePosterior:
    r"""Dirichlet prior, categorical likelihood: the posterior of class probabilities.

    .. math::
        \pi \sim \mathrm{Dir}(\alpha),\; x_i \sim \mathrm{Cat}(\pi) \;\Rightarrow\;
        \pi \mid x \sim \mathrm{Dir}(\alpha + n), \quad n_k = \#\{i: x_i = k\}

    Predictive: :math:`\mathrm{Cat}(\alpha'/\sum_k\alpha'_k)`. MAP:
    :math:`(\alpha'_k-1)_+ / \sum_j(\alpha'_j-1)_+` (the mode; the posterior mean when
    every :math:`\alpha'_k \le 1`).

    Args:
        x: integer labels in ``[0, K)``, the last dimension is the sample axis.
        concentration: the prior :math:`\alpha` (positive), ``(..., K)``.

    Shape:
        ``x``: ``(..., n)``; ``concentration`` ``(..., K)``; returns ``(..., K)`` parameters.

    Returns:
        A :class:`ConjugatePosterior` with the Dirichlet posterior, the categorical posterior
        predictive and the MAP class probabilities.

    Raises:
        TypeError: non-integer labels. ValueError: labels out of range, non-positive
        concentration.

    Example:
        >>> post = dirichlet_categorical(torch.tensor([0, 2, 2]), torch.ones(3))
        >>> post.params["concentration"], post.map
        (tensor([2., 1., 3.]), tensor([0.3333, 0.0000, 0.6667]))

    Source: Murphy (2012), sec. 3.4.
    """
    fn = "dirichlet_categorical"
    check_floating(fn, "concentration", concentration)
    check_positive(fn, "concentration", concentration)
    K = concentration.shape[-1]
    check_labels(fn, "x", x, K)
    if x.dim() == 0:
        raise fail(fn, "x", "samples along the last dimension", "a scalar")
    counts = torch.nn.functional.one_hot(x, K).to(concentration.dtype).sum(-2)
    a = concentration + counts
    excess = (a - 1).clamp_min(0)
    total = excess.sum(-1, keepdim=True)
    mean = a / a.sum(-1, keepdim=True)
    mode = torch.where(total > 0, excess / total.clamp_min(torch.finfo(a.dtype).tiny), mean)
    return ConjugatePosterior({"concentration": a}, Dirichlet(a, **_NV),
                              Categorical(probs=mean, **_NV),
                              mode, {})


def gamma_poisson(x: Tensor, shape=1.0, rate=1.0) -> ConjugatePosterior:
    r"""Gamma prior, Poisson likelihood: the posterior of a rate.

    .. math::
        \lambda \sim \mathrm{Gamma}(a, b),\; x_i \sim \mathrm{Poi}(\lambda) \;\Rightarrow\;
        \lambda \mid x \sim \mathrm{Gamma}(a + \textstyle\sum_i x_i,\ b + n)

    Predictive: negative binomial with ``total_count`` :math:`a'` and success
    probability :math:`1/(b'+1)`. MAP: :math:`(a'-1)/b'` (0 when :math:`a' < 1`).

    Args:
        x: non-negative counts, the last dimension is the sample axis.
        shape, rate: the prior's shape :math:`a` and rate :math:`b` (positive).

    Shape:
        ``x``: ``(..., n)``; parameters ``(...)``.

    Returns:
        A :class:`ConjugatePosterior` with the Gamma posterior, the negative-binomial posterior
        predictive and the MAP rate.

    Raises:
        ValueError: negative counts, non-positive hyperparameters.

    Example:
        >>> post = gamma_poisson(torch.tensor([2.0, 4.0, 3.0]), 1.0, 1.0)
        >>> post.params["shape"], post.params["rate"], post.map
        (tensor(10.), tensor(4.), tensor(2.2500))

    Source: Murphy (2012), sec. 3.6 (exercise 3.20); Gelman et al., *BDA3*, sec. 2.6.
    """
    fn = "gamma_poisson"
    x = _data(fn, x)
    check_nonnegative_tensor(fn, "x", x)
    a0, b0 = _hyper(fn, "shape", shape, x), _hyper(fn, "rate", rate, x)
    a, b = a0 + x.sum(-1), b0 + x.shape[-1]
    mode = ((a - 1) / b).clamp_min(0)
    predictive = NegativeBinomial(total_count=a, probs=1 / (b + 1), **_NV)
    return ConjugatePosterior({"shape": a, "rate": b}, Gamma(a, b, **_NV), predictive, mode, {})


def normal_normal(x: Tensor, prior_mean=0.0, prior_std=1.0, *, noise_std) -> ConjugatePosterior:
    r"""Normal prior on the mean of normal data with known noise: the posterior mean.

    .. math::
        \frac{1}{\tau_n^2} = \frac{1}{\tau_0^2} + \frac{n}{\sigma^2}, \qquad
        \mu_n = \tau_n^2\Big(\frac{\mu_0}{\tau_0^2} + \frac{\sum_i x_i}{\sigma^2}\Big)

    Predictive: :math:`\mathcal N(\mu_n, \sigma^2 + \tau_n^2)`. MAP: :math:`\mu_n`.

    Args:
        x: observations, the last dimension is the sample axis.
        prior_mean, prior_std: the prior :math:`\mathcal N(\mu_0, \tau_0^2)`.
        noise_std: the known observation standard deviation :math:`\sigma` (keyword-only).

    Shape:
        ``x``: ``(..., n)``; parameters ``(...)``.

    Returns:
        A :class:`ConjugatePosterior` with the normal posterior of the mean, the normal
        posterior predictive and the MAP mean.

    Raises:
        ValueError: non-positive standard deviations, non-finite data.

    Example:
        >>> post = normal_normal(torch.tensor([1.0, 3.0]), 0.0, 1.0, noise_std=1.0)
        >>> post.params["mean"], post.params["std"]
        (tensor(1.3333), tensor(0.5774))

    Source: Murphy (2012), sec. 4.6.1; Bishop (2006), eqs. 2.141-2.142.
    """
    fn = "normal_normal"
    x = _data(fn, x)
    check_finite(fn, "prior_mean", _as(prior_mean, x))
    m0 = _as(prior_mean, x)
    s0 = _hyper(fn, "prior_std", prior_std, x)
    sigma = _hyper(fn, "noise_std", noise_std, x)
    precision = 1 / s0.square() + x.shape[-1] / sigma.square()
    var_n = 1 / precision
    mu = var_n * (m0 / s0.square() + x.sum(-1) / sigma.square())
    std = var_n.sqrt()
    return ConjugatePosterior({"mean": mu, "std": std}, Normal(mu, std, **_NV),
                              Normal(mu, (sigma.square() + var_n).sqrt(), **_NV), mu, {})


def normal_inverse_gamma(x: Tensor, mean=0.0, kappa=1.0, alpha=1.0, beta=1.0
                         ) -> ConjugatePosterior:
    r"""Normal-Inverse-Gamma prior on the mean and variance of normal data.

    .. math::
        \sigma^2 \sim \mathrm{IG}(\alpha_0,\beta_0),\; \mu\mid\sigma^2 \sim
        \mathcal N(\mu_0, \sigma^2/\kappa_0) \;\Rightarrow\;
        \kappa_n = \kappa_0 + n,\; \mu_n = \frac{\kappa_0\mu_0 + n\bar x}{\kappa_n},\;
        \alpha_n = \alpha_0 + \frac n2,\;
        \beta_n = \beta_0 + \frac12\sum_i (x_i-\bar x)^2 + \frac{\kappa_0 n(\bar x-\mu_0)^2}
        {2\kappa_n}

    Marginal posterior of the mean: Student-t with :math:`2\alpha_n` degrees of freedom,
    location :math:`\mu_n`, scale :math:`\sqrt{\beta_n/(\alpha_n\kappa_n)}`; of the
    variance: :math:`\mathrm{IG}(\alpha_n, \beta_n)` (in ``extra["variance"]``).
    Predictive: Student-t, :math:`2\alpha_n` degrees of freedom, scale
    :math:`\sqrt{\beta_n(\kappa_n+1)/(\alpha_n\kappa_n)}`. MAP (the joint mode):
    ``map`` is :math:`\mu_n`, ``extra["map_variance"]`` is :math:`\beta_n/(\alpha_n+3/2)`.

    Args:
        x: observations, the last dimension is the sample axis.
        mean, kappa, alpha, beta: the prior's :math:`\mu_0, \kappa_0, \alpha_0, \beta_0`.

    Shape:
        ``x``: ``(..., n)``; parameters ``(...)``.

    Returns:
        A :class:`ConjugatePosterior` with the Normal-Inverse-Gamma posterior parameters, the
        Student-t posterior predictive, the MAP mean (and the MAP variance in ``extra``).

    Raises:
        ValueError: non-positive ``kappa``/``alpha``/``beta``, non-finite data.

    Example:
        >>> post = normal_inverse_gamma(torch.tensor([1.0, 3.0]))
        >>> post.params["mean"], post.params["beta"]
        (tensor(1.3333), tensor(3.3333))

    Source: Murphy, *Conjugate Bayesian analysis of the Gaussian distribution* (2007),
    sec. 6.
    """
    fn = "normal_inverse_gamma"
    x = _data(fn, x)
    m0 = _as(mean, x)
    check_finite(fn, "mean", m0)
    k0 = _hyper(fn, "kappa", kappa, x)
    a0, b0 = _hyper(fn, "alpha", alpha, x), _hyper(fn, "beta", beta, x)
    n = x.shape[-1]
    xbar = x.mean(-1)
    ss = (x - xbar.unsqueeze(-1)).square().sum(-1)
    kn = k0 + n
    mn = (k0 * m0 + n * xbar) / kn
    an = a0 + n / 2
    bn = b0 + ss / 2 + k0 * n * (xbar - m0).square() / (2 * kn)
    post_mean = StudentT(2 * an, mn, (bn / (an * kn)).sqrt(), **_NV)
    predictive = StudentT(2 * an, mn, (bn * (kn + 1) / (an * kn)).sqrt(), **_NV)
    extra = {"variance": InverseGamma(an, bn, **_NV), "map_variance": bn / (an + 1.5)}
    return ConjugatePosterior({"mean": mn, "kappa": kn, "alpha": an, "beta": bn}, post_mean,
                              predictive, mn, extra)

