r"""KL and ELBO losses for variational models, with the importance-weighted bound.

Each loss has a functional form and an ``nn.Module``, with ``reduction="none" | "mean" |
"sum" | "batchmean"`` as in ``torch.nn.KLDivLoss``: ``"batchmean"`` divides the sum by
the batch size (the first dimension), the right mean for a KL summed over dimensions.

Mapping to torch's own losses: the reconstruction terms equal
``F.gaussian_nll_loss(full=True, eps=0)``, ``F.binary_cross_entropy_with_logits`` and
``F.cross_entropy`` with ``reduction="none"``, summed over the data dimensions — each is
:math:`-\log p(x \mid z)` for its decoder. The last two are used inside; the Gaussian
term is written out (one line), because ``F.gaussian_nll_loss`` checks its variance with
a host sync on every call and breaks ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchmath._validation import (
    check_choice,
    check_floating,
    check_int,
    check_positive,
    check_shape,
    fail,
)

__all__ = [
    "ELBOLoss",
    "GaussianKLLoss",
    "elbo_loss",
    "gaussian_kl_loss",
    "iwae_bound",
    "reconstruction_nll",
]

_REDUCTIONS = ("none", "mean", "sum", "batchmean")
_LOG_2PI = math.log(2 * math.pi)


def _reduce(fn: str, value: Tensor, reduction: str) -> Tensor:
    check_choice(fn, "reduction", reduction, _REDUCTIONS)
    if reduction == "none":
        return value
    if reduction == "sum":
        return value.sum()
    if reduction == "mean":
        return value.mean()
    batch = value.shape[0] if value.dim() > 0 else 1
    return value.sum() / batch


def gaussian_kl_loss(mean: Tensor, log_var: Tensor, *, prior_mean: Tensor | None = None,
                     prior_log_var: Tensor | None = None, free_bits: float = 0.0,
                     reduction: str = "batchmean") -> Tensor:
    r"""KL from a diagonal-Gaussian posterior to a diagonal-Gaussian (default: standard
    normal) prior, per latent dimension.

    .. math::
        KL_{bd} = \tfrac12\Big(\frac{\sigma_{bd}^2 + (\mu_{bd} - m_d)^2}{s_d^2} - 1
        + \log\frac{s_d^2}{\sigma_{bd}^2}\Big),
        \qquad \text{free bits: } \max(KL_{bd}, \lambda)

    ``"none"`` returns the per-dimension values :math:`KL_{bd}`; ``"batchmean"`` (the
    default) is :math:`\frac1B\sum_{b,d} KL_{bd}`, the KL per sample; ``"mean"`` averages
    over all elements, ``"sum"`` adds them. With ``free_bits`` :math:`\lambda > 0`, each
    per-sample, per-dimension term is floored at :math:`\lambda` nats, so the optimizer gains
    nothing by pushing a dimension's KL below it (the per-sample variant of Kingma et al.'s
    free bits); the floor has zero gradient.

    Args:
        mean: posterior means :math:`\mu`.
        log_var: posterior log-variances :math:`\log\sigma^2`.
        prior_mean: prior means :math:`m` (default 0).
        prior_log_var: prior log-variances :math:`\log s^2` (default 0).
        free_bits: the floor :math:`\lambda \ge 0` in nats.
        reduction: ``"none" | "mean" | "sum" | "batchmean"``.

    Shape:
        ``mean``, ``log_var``: ``(B, ..., d)``; priors broadcast; ``"none"`` returns
        ``(B, ..., d)``, the others a scalar.

    Returns:
        The KL divergence (a loss to minimize).

    Raises:
        ValueError: mismatched shapes, negative ``free_bits``, unknown ``reduction``.

    Example:
        >>> import torch
        >>> gaussian_kl_loss(torch.zeros(4, 2), torch.zeros(4, 2))
        tensor(0.)

    Source: Kingma & Welling (2014), "Auto-encoding variational Bayes", appendix B;
    Kingma et al. (2016), "Improved variational inference with inverse autoregressive
    flow" (free bits).
    """
    kl = _gaussian_kl_loss("gaussian_kl_loss", mean, log_var, prior_mean, prior_log_var,
                           free_bits)
    return _reduce("gaussian_kl_loss", kl, reduction)


def _gaussian_kl_loss(fn: str, mean: Tensor, log_var: Tensor, prior_mean: Tensor | None,
                      prior_log_var: Tensor | None, free_bits: float) -> Tensor:
    check_floating(fn, "mean", mean)
    check_floating(fn, "log_var", log_var)
    if mean.shape != log_var.shape:
        raise fail(fn, "log_var", f"of the same shape as 'mean' {tuple(mean.shape)}",
                   tuple(log_var.shape))
    check_positive(fn, "free_bits", free_bits, strict=False)
    pm = torch.zeros_like(mean) if prior_mean is None else prior_mean
    plv = torch.zeros_like(log_var) if prior_log_var is None else prior_log_var
    kl = 0.5 * ((log_var - plv).exp() + (mean - pm).square() * (-plv).exp() - 1
                + plv - log_var)
    if free_bits > 0:
        kl = kl.clamp_min(free_bits)
    return kl


class GaussianKLLoss(nn.Module):
    r"""Module form of :func:`gaussian_kl_loss`.

    .. math::
        KL\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(m, s^2)\big)

    Args:
        free_bits: floor per sample and latent dimension, in nats.
        reduction: ``"none" | "mean" | "sum" | "batchmean"``.

    Shape:
        as :func:`gaussian_kl_loss`.

    Raises:
        ValueError: a negative ``free_bits`` or an unknown ``reduction``.

    Example:
        >>> import torch
        >>> GaussianKLLoss()(torch.zeros(3, 2), torch.zeros(3, 2))
        tensor(0.)

    Source: Kingma & Welling (2014), appendix B; Kingma et al. (2016) (free bits).
    """

    def __init__(self, free_bits: float = 0.0, reduction: str = "batchmean"):
        super().__init__()
        check_positive("GaussianKLLoss", "free_bits", free_bits, strict=False)
        check_choice("GaussianKLLoss", "reduction", reduction, _REDUCTIONS)
        self.free_bits, self.reduction = free_bits, reduction

    def forward(self, mean: Tensor, log_var: Tensor, prior_mean: Tensor | None = None,
                prior_log_var: Tensor | None = None) -> Tensor:
        return gaussian_kl_loss(mean, log_var, prior_mean=prior_mean,
                                prior_log_var=prior_log_var, free_bits=self.free_bits,
                                reduction=self.reduction)


def reconstruction_nll(x: Tensor, recon: Tensor, *, likelihood: str = "gaussian",
                       obs_var: float | Tensor = 1.0, event_ndim: int = 1) -> Tensor:
    r"""Per-sample reconstruction negative log-likelihood :math:`-\log p(x \mid z)`.

    .. math::
        \text{gaussian: } \tfrac12\sum_j\Big(\frac{(x_j-\hat x_j)^2}{\sigma^2}
        + \log 2\pi\sigma^2\Big), \quad
        \text{bernoulli: } -\sum_j x_j\log s(\ell_j) + (1-x_j)\log(1-s(\ell_j)), \quad
        \text{categorical: } -\sum_j \log \operatorname{softmax}(\ell_j)_{x_j}

    Equal to torch's ``F.gaussian_nll_loss(full=True, eps=0)``,
    ``F.binary_cross_entropy_with_logits`` and ``F.cross_entropy`` (``reduction="none"``),
    summed over the last ``event_ndim`` data dimensions.

    Args:
        x: data; for ``"categorical"``, integer classes.
        recon: decoder output: the mean (gaussian), logits (bernoulli), or class logits
            with the classes in the last dimension (categorical).
        likelihood: ``"gaussian" | "bernoulli" | "categorical"``.
        obs_var: observation variance :math:`\sigma^2` of the Gaussian decoder.
        event_ndim: number of trailing data dimensions summed over.

    Shape:
        ``x``: ``(B, *event)``; ``recon``: ``(B, *event)`` or ``(B, *event, C)``; returns
        ``(B,)``.

    Returns:
        The negative log-likelihood of each sample.

    Raises:
        ValueError: unknown ``likelihood``, mismatched shapes.

    Example:
        >>> import torch
        >>> reconstruction_nll(torch.zeros(1, 1), torch.zeros(1, 1))   # 0.5 log 2 pi
        tensor([0.9189])

    Source: Kingma & Welling (2014), appendix C.
    """
    return _reconstruction_nll("reconstruction_nll", x, recon, likelihood, obs_var, event_ndim)


def _reconstruction_nll(fn: str, x: Tensor, recon: Tensor, likelihood: str,
                        obs_var: float | Tensor, event_ndim: int) -> Tensor:
    check_choice(fn, "likelihood", likelihood, ("gaussian", "bernoulli", "categorical"))
    check_int(fn, "event_ndim", event_ndim, minimum=0)
    dims = tuple(range(-event_ndim, 0))
    if likelihood == "categorical":
        if x.is_floating_point():
            raise fail(fn, "x", "to hold integer classes for a categorical decoder", x.dtype,
                       TypeError)
        check_shape(fn, "recon", recon, (*x.shape[1:], None))
        logits = recon.movedim(-1, 1)
        nll = F.cross_entropy(logits, x, reduction="none")
        return nll.sum(dims) if dims else nll
    check_floating(fn, "recon", recon)
    if recon.shape != x.shape:
        raise fail(fn, "recon", f"of the same shape as 'x' {tuple(x.shape)}",
                   tuple(recon.shape))
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(recon, x.to(recon.dtype), reduction="none")
    else:
        check_positive(fn, "obs_var", obs_var)
        if isinstance(obs_var, Tensor):
            nll = 0.5 * ((x - recon).square() / obs_var + obs_var.log() + _LOG_2PI)
        else:
            nll = 0.5 * ((x - recon).square() / obs_var + math.log(obs_var) + _LOG_2PI)
    return nll.sum(dims) if dims else nll


def elbo_loss(x: Tensor, recon: Tensor, mean: Tensor, log_var: Tensor, *,
              likelihood: str = "gaussian", beta: float = 1.0, kl: str = "analytic",
              z: Tensor | None = None, obs_var: float | Tensor = 1.0, event_ndim: int = 1,
              free_bits: float = 0.0, reduction: str = "batchmean") -> Tensor:
    r"""Negative evidence lower bound (the VAE loss) with a diagonal-Gaussian posterior and
    a standard-normal prior.

    .. math::
        \mathcal L(x) = -\mathbb E_{q(z|x)}[\log p(x \mid z)]
        + \beta\, KL\big(q(z \mid x) \,\|\, \mathcal N(0, I)\big) \;\ge\; -\log p(x)
        \quad (\beta = 1)

    The reconstruction term is :func:`reconstruction_nll` at one reparameterized sample
    (the decoder output ``recon``). The KL is analytic (``kl="analytic"``,
    :func:`gaussian_kl_loss` summed over latent dimensions) or the one-sample Monte Carlo
    estimate :math:`\log q(z|x) - \log p(z)` at the sample ``z`` (``kl="mc"``).

    ``"none"`` returns the per-sample loss :math:`\mathcal L(x_b)`; ``"batchmean"`` and
    ``"mean"`` average it over the batch (the same here, since the unreduced loss is
    already per sample), ``"sum"`` adds it.

    Args:
        x: data.
        recon: decoder output at ``z`` (see :func:`reconstruction_nll`).
        mean, log_var: the encoder's posterior mean and log-variance.
        likelihood: ``"gaussian" | "bernoulli" | "categorical"``.
        beta: weight of the KL term (:math:`\beta`-VAE); 1 gives the ELBO.
        kl: ``"analytic"`` or ``"mc"``.
        z: the latent sample that produced ``recon`` (needed for ``kl="mc"``).
        obs_var: Gaussian decoder variance.
        event_ndim: trailing data dimensions summed over.
        free_bits: KL floor per latent dimension (analytic KL only).
        reduction: ``"none" | "mean" | "sum" | "batchmean"``.

    Shape:
        ``x``: ``(B, *event)``; ``mean``, ``log_var``, ``z``: ``(B, d)``; ``"none"``
        returns ``(B,)``.

    Returns:
        The negative ELBO (a loss to minimize).

    Raises:
        ValueError: unknown ``kl``/``likelihood``/``reduction``, ``kl="mc"`` without ``z``.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3)
        >>> elbo_loss(x, x, torch.zeros(2, 1), torch.zeros(2, 1))   # 3 * 0.5 log 2 pi
        tensor(2.7568)

    Source: Kingma & Welling (2014), eq. (10); Higgins et al. (2017) (beta).
    """
    fn = "elbo_loss"
    check_choice(fn, "kl", kl, ("analytic", "mc"))
    check_positive(fn, "beta", beta, strict=False)
    check_choice(fn, "reduction", reduction, _REDUCTIONS)
    nll = _reconstruction_nll(fn, x, recon, likelihood, obs_var, event_ndim)
    if kl == "analytic":
        kl_term = _gaussian_kl_loss(fn, mean, log_var, None, None, free_bits).sum(-1)
    else:
        if z is None:
            raise fail(fn, "z", "to be the latent sample when kl='mc'", None)
        log_q = -0.5 * ((z - mean).square() * (-log_var).exp() + log_var + _LOG_2PI).sum(-1)
        log_p = -0.5 * (z.square() + _LOG_2PI).sum(-1)
        kl_term = log_q - log_p
    return _reduce(fn, nll + beta * kl_term, reduction)


class ELBOLoss(nn.Module):
    r"""Module form of :func:`elbo_loss` (negative ELBO).

    .. math::
        \mathcal L = -\mathbb E_q[\log p(x\mid z)] + \beta\, KL(q(z\mid x) \,\|\, p(z))

    Args:
        likelihood: ``"gaussian" | "bernoulli" | "categorical"``.
        beta: KL weight.
        kl: ``"analytic"`` or ``"mc"``.
        obs_var: Gaussian decoder variance.
        event_ndim: trailing data dimensions summed over.
        free_bits: KL floor per latent dimension.
        reduction: ``"none" | "mean" | "sum" | "batchmean"``.

    Shape:
        as :func:`elbo_loss`.

    Raises:
        ValueError: an unknown ``likelihood``, ``kl`` or ``reduction``.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3)
        >>> ELBOLoss()(x, x, torch.zeros(2, 1), torch.zeros(2, 1))
        tensor(2.7568)

    Source: Kingma & Welling (2014), eq. (10); Higgins et al. (2017) (beta).
    """

    def __init__(self, likelihood: str = "gaussian", beta: float = 1.0, kl: str = "analytic",
                 obs_var: float = 1.0, event_ndim: int = 1, free_bits: float = 0.0,
                 reduction: str = "batchmean"):
        super().__init__()
        fn = "ELBOLoss"
        check_choice(fn, "likelihood", likelihood, ("gaussian", "bernoulli", "categorical"))
        check_choice(fn, "kl", kl, ("analytic", "mc"))
        check_choice(fn, "reduction", reduction, _REDUCTIONS)
        self.likelihood, self.beta, self.kl = likelihood, beta, kl
        self.obs_var, self.event_ndim = obs_var, event_ndim
        self.free_bits, self.reduction = free_bits, reduction

    def forward(self, x: Tensor, recon: Tensor, mean: Tensor, log_var: Tensor,
                z: Tensor | None = None) -> Tensor:
        return elbo_loss(x, recon, mean, log_var, likelihood=self.likelihood,
                         beta=self.beta, kl=self.kl, z=z, obs_var=self.obs_var,
                         event_ndim=self.event_ndim, free_bits=self.free_bits,
                         reduction=self.reduction)


def iwae_bound(log_likelihood: Tensor, log_prior: Tensor, log_posterior: Tensor) -> Tensor:
    r"""Importance-weighted lower bound on :math:`\log p(x)` from :math:`K` samples.

    .. math::
        \mathcal L_K = \log \frac1K \sum_{k=1}^K
        \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)}, \quad z_k \sim q(z\mid x),
        \qquad \mathcal L_1 = \text{ELBO} \le \mathcal L_K \le \mathcal L_{K+1}
        \le \log p(x) \text{ (in expectation)}

    computed with ``logsumexp`` over the sample dimension (dim 0).

    Args:
        log_likelihood: :math:`\log p(x\mid z_k)`.
        log_prior: :math:`\log p(z_k)`.
        log_posterior: :math:`\log q(z_k\mid x)`.

    Shape:
        each ``(K, ...)``, broadcasting; returns ``(...)``.

    Returns:
        The bound per data point.

    Raises:
        ValueError: zero samples.

    Example:
        >>> import torch
        >>> iwae_bound(torch.zeros(5, 2), torch.zeros(5, 2), torch.zeros(5, 2))
        tensor([0., 0.])

    Source: Burda, Grosse & Salakhutdinov (2016), "Importance weighted autoencoders", eq. (8).
    """
    fn = "iwae_bound"
    check_floating(fn, "log_likelihood", log_likelihood)
    log_w = log_likelihood + log_prior - log_posterior
    if log_w.dim() == 0 or log_w.shape[0] == 0:
        raise fail(fn, "log_likelihood", "to have a non-empty sample dimension 0",
                   tuple(log_w.shape))
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])
