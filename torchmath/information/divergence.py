r"""Divergences between distributions: KL (discrete, Gaussian, any pair of
``torch.distributions``), cross-entropy, Jensen–Shannon and f-divergences, and an upper
bound on the KL between Gaussian mixtures.

How torch's own losses map onto these quantities:

- ``torch.nn.KLDivLoss()(input, target)`` / ``F.kl_div(input, target)`` computes
  :math:`\sum p (\log p - \log q)` with ``input`` :math:`= \log q` and ``target``
  :math:`= p`: the arguments come in the *reverse* order of :math:`KL(p \| q)`, which is why
  :func:`kl_divergence` takes keyword-only ``p_*``/``q_*`` arguments. Its
  ``reduction="batchmean"`` is the mean KL per row, :math:`\frac1B \sum_b KL(p_b \| q_b)`.
- ``torch.nn.CrossEntropyLoss()(logits, y)`` is :func:`cross_entropy` with ``p`` the
  one-hot label and ``q_logits = logits``: :math:`H(p, q) = -\log q_y`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import (
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    register_kl,
)

from torchmath._validation import (
    check_choice,
    check_cholesky,
    check_floating,
    check_int,
    check_no_nan,
    check_positive,
    check_shape,
    compute_dtype,
    fail,
    validating,
)
from torchmath.information._forms import log_base, plogq, resolve_form
from torchmath.linalg import tril_solve

__all__ = [
    "MonteCarloKL",
    "cross_entropy",
    "f_divergence",
    "gaussian_kl",
    "js_divergence",
    "kl_divergence",
    "mixture_kl_upper_bound",
]


class MonteCarloKL(NamedTuple):
    """A KL divergence and the standard error of its Monte Carlo estimate (zero for an
    analytic value): what ``kl_divergence(..., return_stderr=True)`` returns."""

    value: Tensor
    stderr: Tensor


def _pq(fn: str, p_probs, p_logits, p_log_probs, q_probs, q_logits, q_log_probs, dim):
    p, log_p = resolve_form(fn, "p_", p_probs, p_logits, p_log_probs, dim)
    q, log_q = resolve_form(fn, "q_", q_probs, q_logits, q_log_probs, dim)
    return p, log_p, q, log_q


def kl_divergence(p: Distribution | None = None, q: Distribution | None = None, *,
                  p_probs: Tensor | None = None, p_logits: Tensor | None = None,
                  p_log_probs: Tensor | None = None, q_probs: Tensor | None = None,
                  q_logits: Tensor | None = None, q_log_probs: Tensor | None = None,
                  dim: int = -1, base: float | None = None, method: str = "auto",
                  n_samples: int = 10_000, return_stderr: bool = False):
    r"""Kullback–Leibler divergence :math:`KL(p \| q)`.

    .. math::
        KL(p \| q) = \sum_i p_i \log \frac{p_i}{q_i}
        \quad\text{or}\quad \int p(x) \log \frac{p(x)}{q(x)}\,dx
        \;\approx\; \frac1n \sum_{s=1}^n \log\frac{p(x_s)}{q(x_s)},\ x_s \sim p

    **Discrete form** (keyword-only, so the direction is explicit): exactly one of
    ``p_probs``/``p_logits``/``p_log_probs`` and one of ``q_probs``/``q_logits``/
    ``q_log_probs``. :math:`0 \log 0 = 0`; a zero in ``q`` where ``p > 0`` gives
    :math:`+\infty`. Equal to ``scipy.special.rel_entr(p, q).sum()``, and to
    ``F.kl_div(log_q, p, reduction="sum")`` (note torch's reversed order).

    **Distribution form**: ``kl_divergence(p, q)`` for two ``torch.distributions``
    objects. The analytic value from torch's KL registry when the pair is registered
    (``method="auto"`` or ``"analytic"``; this module adds multivariate normal against
    diagonal normal, both ways); otherwise (or with ``method="mc"``) a Monte Carlo
    estimate from ``n_samples`` draws of ``p`` (reparameterized when ``p`` supports it,
    so it is differentiable). The result is always a tensor; ``return_stderr=True``
    returns a :class:`MonteCarloKL` ``(value, stderr)`` instead, with the Monte Carlo
    standard error (zero for an analytic value).

    Args:
        p, q: distributions (distribution form).
        p_probs, p_logits, p_log_probs: the first distribution, one form (keyword-only).
        q_probs, q_logits, q_log_probs: the second distribution, one form (keyword-only).
        dim: the outcome dimension (discrete form).
        base: logarithm base; ``None`` for nats.
        method: ``"auto"``, ``"analytic"`` or ``"mc"`` (distribution form).
        n_samples: Monte Carlo sample size.
        return_stderr: return ``(value, stderr)`` rather than the value alone.

    Shape:
        discrete: ``(..., K)`` each, broadcasting; returns ``(...)``. Distributions:
        returns their broadcast batch shape.

    Returns:
        The divergence (a tensor), or :class:`MonteCarloKL` ``(value, stderr)`` with
        ``return_stderr=True``.

    Raises:
        ValueError: both or neither form, not exactly one form per side, probabilities
            off the simplex, ``method="analytic"`` for an unregistered pair.

    Example:
        >>> import torch
        >>> kl_divergence(p_probs=torch.tensor([0.5, 0.5]), q_probs=torch.tensor([0.9, 0.1]))
        tensor(0.5108)
        >>> from torch.distributions import Normal
        >>> kl_divergence(Normal(0.0, 1.0), Normal(1.0, 1.0))
        tensor(0.5000)

    Source: Kullback & Leibler (1951); Cover & Thomas, *Elements of Information Theory*, §2.3.
    """
    fn = "kl_divergence"
    discrete = {"p_probs": p_probs, "p_logits": p_logits, "p_log_probs": p_log_probs,
                "q_probs": q_probs, "q_logits": q_logits, "q_log_probs": q_log_probs}
    has_discrete = any(v is not None for v in discrete.values())
    has_dist = p is not None or q is not None
    if has_discrete == has_dist:
        raise ValueError(f"{fn}: expected either distributions 'p' and 'q' or the keyword "
                         "forms 'p_probs'/'p_logits'/'p_log_probs' with 'q_probs'/"
                         "'q_logits'/'q_log_probs', got "
                         + ("both" if has_dist else "neither"))
    scale = log_base(fn, base)
    if has_discrete:
        p_, log_p, _, log_q = _pq(fn, p_probs, p_logits, p_log_probs, q_probs, q_logits,
                                  q_log_probs, dim)
        value = (plogq(p_, log_p) - plogq(p_, log_q)).sum(dim) / scale
        return MonteCarloKL(value, torch.zeros_like(value)) if return_stderr else value
    for name, d in (("p", p), ("q", q)):
        if not isinstance(d, Distribution):
            raise fail(fn, name, "to be a torch.distributions.Distribution",
                       type(d).__name__, TypeError)
    check_choice(fn, "method", method, ("auto", "analytic", "mc"))
    if method != "mc":
        try:
            value = torch.distributions.kl_divergence(p, q) / scale
            return MonteCarloKL(value, torch.zeros_like(value)) if return_stderr else value
        except NotImplementedError:
            if method == "analytic":
                raise fail(fn, "p, q", "a pair with an analytic KL in torch's registry",
                           f"({type(p).__name__}, {type(q).__name__})") from None
    check_int(fn, "n_samples", n_samples, minimum=2)
    x = p.rsample((n_samples,)) if p.has_rsample else p.sample((n_samples,))
    log_ratio = (p.log_prob(x) - q.log_prob(x)) / scale
    value = log_ratio.mean(0)
    if not return_stderr:
        return value
    return MonteCarloKL(value, log_ratio.std(0) / math.sqrt(n_samples))


def cross_entropy(*, p_probs: Tensor | None = None, p_logits: Tensor | None = None,
                  p_log_probs: Tensor | None = None, q_probs: Tensor | None = None,
                  q_logits: Tensor | None = None, q_log_probs: Tensor | None = None,
                  dim: int = -1, base: float | None = None) -> Tensor:
    r"""Cross-entropy :math:`H(p, q)` of discrete distributions.

    .. math::
        H(p, q) = -\sum_i p_i \log q_i = H(p) + KL(p \| q)

    With ``p`` one-hot at the label :math:`y` and ``q_logits`` a network's outputs this is
    ``torch.nn.CrossEntropyLoss(reduction="none")(logits, y)``; use that loss for
    training on labels (it is fused and faster), and this function for soft targets and
    the information-theoretic reading.

    Args:
        p_probs, p_logits, p_log_probs: the target distribution, one form (keyword-only).
        q_probs, q_logits, q_log_probs: the model distribution, one form (keyword-only).
        dim: the outcome dimension.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``(..., K)`` each, broadcasting; returns ``(...)``.

    Returns:
        The cross-entropy; :math:`+\infty` where ``q`` is zero and ``p`` is not.

    Raises:
        ValueError: not exactly one form per side, or probabilities off the simplex.

    Example:
        >>> import torch
        >>> cross_entropy(p_probs=torch.tensor([1.0, 0.0]), q_probs=torch.tensor([0.5, 0.5]))
        tensor(0.6931)

    Source: Cover & Thomas, *Elements of Information Theory*, §2.3 and problem 2.
    """
    fn = "cross_entropy"
    scale = log_base(fn, base)
    p, _, _, log_q = _pq(fn, p_probs, p_logits, p_log_probs, q_probs, q_logits,
                         q_log_probs, dim)
    return -plogq(p, log_q).sum(dim) / scale


def js_divergence(*, p_probs: Tensor | None = None, p_logits: Tensor | None = None,
                  p_log_probs: Tensor | None = None, q_probs: Tensor | None = None,
                  q_logits: Tensor | None = None, q_log_probs: Tensor | None = None,
                  dim: int = -1, base: float | None = None) -> Tensor:
    r"""Jensen–Shannon divergence of discrete distributions.

    .. math::
        JS(p, q) = \tfrac12 KL(p \| m) + \tfrac12 KL(q \| m), \qquad m = \tfrac12 (p + q)

    Symmetric, finite (at most :math:`\log 2`) even where the supports differ; its square
    root is a metric. The mixture is formed in log space (``logaddexp``).
    ``scipy.spatial.distance.jensenshannon(p, q) ** 2`` computes the same value.

    Args:
        p_probs, p_logits, p_log_probs: one form of ``p`` (keyword-only).
        q_probs, q_logits, q_log_probs: one form of ``q`` (keyword-only).
        dim: the outcome dimension.
        base: logarithm base; ``None`` for nats (``2`` bounds it by 1).

    Shape:
        ``(..., K)`` each, broadcasting; returns ``(...)``.

    Returns:
        The Jensen–Shannon divergence.

    Raises:
        ValueError: not exactly one form per side, or probabilities off the simplex.

    Example:
        >>> import torch
        >>> js_divergence(p_probs=torch.tensor([1.0, 0.0]), q_probs=torch.tensor([0.0, 1.0]),
        ...               base=2)
        tensor(1.)

    Source: Lin (1991), "Divergence measures based on the Shannon entropy".
    """
    fn = "js_divergence"
    scale = log_base(fn, base)
    p, log_p, q, log_q = _pq(fn, p_probs, p_logits, p_log_probs, q_probs, q_logits,
                             q_log_probs, dim)
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    kl_pm = (plogq(p, log_p) - plogq(p, log_m)).sum(dim)
    kl_qm = (plogq(q, log_q) - plogq(q, log_m)).sum(dim)
    # JS >= 0; rounding in log m can leave -1e-17 where p == q.
    return (0.5 * (kl_pm + kl_qm)).clamp_min(0) / scale


# Generators f (convex, f(1) = 0) and the slope lim_{t->inf} f(t)/t for q = 0, p > 0.
_F_DIVERGENCES: dict[str, tuple[Callable[[Tensor], Tensor], float]] = {
    "kl": (lambda t: torch.special.xlogy(t, t), math.inf),
    "reverse_kl": (lambda t: -torch.log(t), 0.0),
    "total_variation": (lambda t: 0.5 * (t - 1).abs(), 0.5),
    "hellinger": (lambda t: (t.sqrt() - 1).square(), 1.0),
    "chi2": (lambda t: (t - 1).square(), math.inf),
    "js": (lambda t: 0.5 * (torch.special.xlogy(t, t)
                            - torch.special.xlogy(t + 1, (t + 1) / 2)), 0.5 * math.log(2.0)),
}


def f_divergence(*, p_probs: Tensor | None = None, p_logits: Tensor | None = None,
                 p_log_probs: Tensor | None = None, q_probs: Tensor | None = None,
                 q_logits: Tensor | None = None, q_log_probs: Tensor | None = None,
                 f: str | Callable[[Tensor], Tensor] = "kl", dim: int = -1,
                 f_slope: float = math.inf) -> Tensor:
    r"""Csiszár f-divergence of discrete distributions.

    .. math::
        D_f(p \| q) = \sum_i q_i\, f\!\left(\frac{p_i}{q_i}\right), \qquad
        f \text{ convex}, f(1) = 0

    Where :math:`q_i = 0 < p_i` the term is :math:`p_i \lim_{t\to\infty} f(t)/t`.
    ``f`` is a name — ``"kl"`` (:math:`t\log t`), ``"reverse_kl"`` (:math:`-\log t`),
    ``"total_variation"`` (:math:`\tfrac12|t-1|`), ``"hellinger"``
    (:math:`(\sqrt t - 1)^2`, the squared Hellinger distance times 2), ``"chi2"``
    (:math:`(t-1)^2`), ``"js"`` — or a callable ``f(t)``, with ``f_slope`` its slope at
    infinity (default :math:`+\infty`).

    Args:
        p_probs, p_logits, p_log_probs: one form of ``p`` (keyword-only).
        q_probs, q_logits, q_log_probs: one form of ``q`` (keyword-only).
        f: the generator, by name or as a callable on tensors.
        dim: the outcome dimension.
        f_slope: :math:`\lim_{t\to\infty} f(t)/t` for a callable ``f``.

    Shape:
        ``(..., K)`` each, broadcasting; returns ``(...)``.

    Returns:
        The f-divergence.

    Raises:
        ValueError: not exactly one form per side, probabilities off the simplex, an
            unknown ``f`` name.

    Example:
        >>> import torch
        >>> p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])
        >>> f_divergence(p_probs=p, q_probs=q, f="total_variation")
        tensor(0.4000)

    Source: Csiszár (1967); Ali & Silvey (1966).
    """
    fn = "f_divergence"
    if isinstance(f, str):
        check_choice(fn, "f", f, tuple(_F_DIVERGENCES))
        f, f_slope = _F_DIVERGENCES[f]
    elif not callable(f):
        raise fail(fn, "f", "to be a name or a callable", type(f).__name__, TypeError)
    p, _, q, _ = _pq(fn, p_probs, p_logits, p_log_probs, q_probs, q_logits, q_log_probs, dim)
    p, q = torch.broadcast_tensors(p, q)
    # Only an exact zero in q takes the limit; a NaN stays NaN.
    q_zero = q == 0
    safe_q = torch.where(q_zero, torch.ones_like(q), q)
    inner = torch.where(q_zero, torch.zeros_like(q), safe_q * f(p / safe_q))
    if f_slope == math.inf:
        edge = torch.where(p == 0, torch.zeros_like(p), p * math.inf)
    else:
        edge = p * f_slope
    return torch.where(q_zero, edge, inner).sum(dim)


def gaussian_kl(mean0: Tensor, cov0: Tensor, mean1: Tensor, cov1: Tensor, *,
                diagonal: bool = False) -> Tensor:
    r"""KL divergence between two multivariate normals, full or diagonal covariances.

    .. math::
        KL(\mathcal N_0 \| \mathcal N_1) = \tfrac12\Big(\operatorname{tr}(\Sigma_1^{-1}
        \Sigma_0) + (\mu_1-\mu_0)^\top \Sigma_1^{-1} (\mu_1-\mu_0) - d
        + \log\frac{\det\Sigma_1}{\det\Sigma_0}\Big)

    Full covariances (the default) are factorized once each by Cholesky; the trace is
    :math:`\|L_1^{-1} L_0\|_F^2` and the quadratic form :math:`\|L_1^{-1}(\mu_1-\mu_0)\|^2`,
    by triangular solves, never an inverse. With ``diagonal=True`` the covariances are
    vectors of variances and the elementwise formula is used. The form is never guessed
    from the shapes: a batch of means with one shared full covariance broadcasts as in
    ``torch.distributions.MultivariateNormal``.

    Args:
        mean0, cov0: the first normal's mean and covariance.
        mean1, cov1: the second normal's mean and covariance.
        diagonal: ``True`` when the covariances are given as variance vectors
            (keyword-only).

    Shape:
        means ``(..., d)``; covariances ``(..., d, d)`` (full) or ``(..., d)``
        (``diagonal=True``); all leading dimensions broadcast; returns the broadcast
        batch shape ``(...)``.

    Returns:
        The divergence in nats.

    Raises:
        ValueError: mismatched sizes, or (while validation is on) covariances that are
            not positive definite, variances that are not positive, NaN.

    Example:
        >>> gaussian_kl(torch.zeros(2), torch.eye(2), torch.zeros(2), 2 * torch.eye(2))
        tensor(0.1931)
        >>> gaussian_kl(torch.zeros(2), torch.ones(2), torch.zeros(2), 2 * torch.ones(2),
        ...             diagonal=True)
        tensor(0.1931)

    Source: Kullback (1959), *Information Theory and Statistics*; Duchi, "Derivations for
    linear algebra and optimization" (KL of multivariate normals).
    """
    fn = "gaussian_kl"
    if not isinstance(diagonal, bool):
        raise fail(fn, "diagonal", "to be True or False", type(diagonal).__name__, TypeError)
    for name, t in (("mean0", mean0), ("cov0", cov0), ("mean1", mean1), ("cov1", cov1)):
        check_floating(fn, name, t)
    d = mean0.shape[-1] if mean0.dim() else 0
    check_shape(fn, "mean0", mean0, (d,))
    check_shape(fn, "mean1", mean1, (d,))
    trailing = (d,) if diagonal else (d, d)
    check_shape(fn, "cov0", cov0, trailing)
    check_shape(fn, "cov1", cov1, trailing)
    dtype, out_dtype = compute_dtype(mean0, cov0, mean1, cov1)
    mean0, cov0, mean1, cov1 = (t.to(dtype) for t in (mean0, cov0, mean1, cov1))
    diff = mean1 - mean0
    if diagonal:
        if validating():
            check_positive(fn, "cov0", cov0)
            check_positive(fn, "cov1", cov1)
            check_no_nan(fn, "mean0", mean0)
            check_no_nan(fn, "mean1", mean1)
        ratio = cov0 / cov1
        out = 0.5 * (ratio - 1 - ratio.log() + diff.square() / cov1).sum(-1)
        return out.to(out_dtype)
    L0 = check_cholesky(fn, "cov0", cov0)
    L1 = check_cholesky(fn, "cov1", cov1)
    trace = torch.linalg.solve_triangular(L1, L0, upper=False).square().sum((-2, -1))
    maha = tril_solve(L1, diff).square().sum(-1)
    log_det = 2 * (L1.diagonal(dim1=-2, dim2=-1).log().sum(-1)
                   - L0.diagonal(dim1=-2, dim2=-1).log().sum(-1))
    return (0.5 * (trace + maha - d + log_det)).to(out_dtype)


def _as_gaussian(fn: str, name: str, dist: Distribution) -> tuple[Tensor, Tensor, bool]:
    """(mean, cov, diagonal) of a Gaussian component family."""
    if isinstance(dist, MultivariateNormal):
        return dist.loc, dist.covariance_matrix, False
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal) \
            and dist.reinterpreted_batch_ndims == 1:
        return dist.base_dist.loc, dist.base_dist.scale.square(), True
    if isinstance(dist, Normal):
        return dist.loc.unsqueeze(-1), dist.scale.square().unsqueeze(-1), True
    raise fail(fn, name, "to have Normal, Independent(Normal, 1) or MultivariateNormal "
               "components", type(dist).__name__)


@register_kl(MultivariateNormal, Independent)
def _kl_mvn_diag(p: MultivariateNormal, q: Independent) -> Tensor:
    if not (isinstance(q.base_dist, Normal) and q.reinterpreted_batch_ndims == 1):
        raise NotImplementedError
    var = q.base_dist.scale.square()
    return gaussian_kl(p.loc, p.covariance_matrix, q.base_dist.loc, torch.diag_embed(var))


@register_kl(Independent, MultivariateNormal)
def _kl_diag_mvn(p: Independent, q: MultivariateNormal) -> Tensor:
    if not (isinstance(p.base_dist, Normal) and p.reinterpreted_batch_ndims == 1):
        raise NotImplementedError
    var = p.base_dist.scale.square()
    return gaussian_kl(p.base_dist.loc, torch.diag_embed(var), q.loc, q.covariance_matrix)


def mixture_kl_upper_bound(p: MixtureSameFamily, q: MixtureSameFamily, *,
                           n_iter: int = 30) -> Tensor:
    r"""Variational upper bound on :math:`KL(f \| g)` between two Gaussian mixtures.

    For :math:`f = \sum_a \pi_a f_a` and :math:`g = \sum_b \omega_b g_b`, any joint
    weights :math:`\phi_{ab}` (with :math:`\sum_b \phi_{ab} = \pi_a`) and
    :math:`\psi_{ab}` (with :math:`\sum_a \psi_{ab} = \omega_b`) give

    .. math::
        KL(f \| g) \le \sum_{a,b} \phi_{ab}\Big(\log\frac{\phi_{ab}}{\psi_{ab}}
        + KL(f_a \| g_b)\Big),

    which is minimized by alternating
    :math:`\phi_{ab} \propto \pi_a\, \psi_{ab} e^{-KL(f_a\|g_b)}` (normalized over
    :math:`b`) and :math:`\psi_{ab} \propto \omega_b\, \phi_{ab}` (normalized over
    :math:`a`), from :math:`\phi = \psi = \pi\omega^\top`; each step lowers the bound.
    When the mixtures have as many components, the result is also capped by the
    matched-pair (convexity) bound :math:`KL(\pi\|\omega) + \sum_a \pi_a KL(f_a\|g_a)`,
    another feasible choice of the weights. Equal to the exact KL when both
    mixtures have one component. All component pairs' KLs are computed in one batched
    :func:`gaussian_kl`; the iterations run in log space.

    Args:
        p, q: ``MixtureSameFamily`` of ``Normal``, ``Independent(Normal, 1)`` or
            ``MultivariateNormal`` components.
        n_iter: alternating updates.

    Shape:
        the mixtures' batch shape ``(...)``; returns ``(...)``.

    Returns:
        The upper bound in nats.

    Raises:
        ValueError: components that are not Gaussian.

    Example:
        >>> import torch
        >>> from torch.distributions import Categorical, MixtureSameFamily, Normal
        >>> mix = lambda m: MixtureSameFamily(Categorical(torch.ones(2)), Normal(m, 1.0))
        >>> f, g = mix(torch.tensor([-1.0, 1.0])), mix(torch.tensor([-1.0, 1.0]))
        >>> mixture_kl_upper_bound(f, g)
        tensor(0.)

    Source: Hershey & Olsen (2007), "Approximating the KL divergence between Gaussian
    mixture models", §7 (variational upper bound).
    """
    fn = "mixture_kl_upper_bound"
    for name, d in (("p", p), ("q", q)):
        if not isinstance(d, MixtureSameFamily):
            raise fail(fn, name, "to be a MixtureSameFamily", type(d).__name__, TypeError)
    check_int(fn, "n_iter", n_iter, minimum=0)
    m0, c0, diag0 = _as_gaussian(fn, "p", p.component_distribution)
    m1, c1, diag1 = _as_gaussian(fn, "q", q.component_distribution)
    for name, t in (("p", m0), ("p", c0), ("q", m1), ("q", c1)):
        check_no_nan(fn, f"{name} component parameters", t)
    if diag0 != diag1:  # mixed forms: compare as full covariances
        c0 = torch.diag_embed(c0) if diag0 else c0
        c1 = torch.diag_embed(c1) if diag1 else c1
        diag0 = False
    # Pairwise component KLs D[a, b], shape (..., A, B).
    if diag0:
        D = gaussian_kl(m0.unsqueeze(-2), c0.unsqueeze(-2), m1.unsqueeze(-3),
                        c1.unsqueeze(-3), diagonal=True)
    else:
        D = gaussian_kl(m0.unsqueeze(-2), c0.unsqueeze(-3), m1.unsqueeze(-3),
                        c1.unsqueeze(-4), diagonal=False)
    log_pi = p.mixture_distribution.logits.log_softmax(-1).unsqueeze(-1)  # (..., A, 1)
    log_w = q.mixture_distribution.logits.log_softmax(-1).unsqueeze(-2)   # (..., 1, B)
    log_phi = log_psi = log_pi + log_w
    for _ in range(n_iter):
        log_phi = log_pi + (log_psi - D).log_softmax(-1)
        log_psi = log_w + log_phi.log_softmax(-2)
    phi = log_phi.exp()
    bound = (phi * (log_phi - log_psi + D)).sum((-2, -1))
    if D.shape[-1] == D.shape[-2]:
        # The matched-pair (convexity) bound is another feasible (phi, psi): keep the lower.
        pi, w = log_pi.squeeze(-1), log_w.squeeze(-2)
        matched = (pi.exp() * (pi - w + D.diagonal(dim1=-2, dim2=-1))).sum(-1)
        bound = torch.minimum(bound, matched)
    return bound
