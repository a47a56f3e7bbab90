"""Entropy: discrete (from probabilities, logits or log-probabilities), joint and
conditional, self-information, Gaussian differential entropy, and the k-nearest-neighbour
(Kozachenko–Leonenko) estimator from samples."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath._validation import (
    check_cholesky,
    check_exactly_one,
    check_finite,
    check_floating,
    check_in_range,
    check_int,
    check_matrix_square,
    check_min_rows,
    check_ndim,
    check_no_nan,
    check_nonnegative_tensor,
    fail,
    validating,
)
from torchmath.information._forms import (
    log_base,
    nearest_kth,
    plogp,
    plogq,
    resolve_form,
    safe_log,
)

__all__ = [
    "conditional_entropy",
    "entropy",
    "gaussian_entropy",
    "joint_entropy",
    "knn_entropy",
    "self_information",
]

_LOG_2PI = math.log(2 * math.pi)


def entropy(*, probs: Tensor | None = None, logits: Tensor | None = None,
            log_probs: Tensor | None = None, dim: int = -1,
            base: float | None = None) -> Tensor:
    r"""Shannon entropy of a discrete distribution.

    .. math::
        H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    The distribution is given by exactly one keyword: ``probs`` (on the simplex),
    ``logits`` (unnormalized, passed through ``log_softmax``) or ``log_probs``, so logits
    can never be read as probabilities. Equal to ``scipy.stats.entropy(p, base=base)`` and
    to ``torch.distributions.Categorical(probs).entropy()``.

    Args:
        probs: probabilities (keyword-only).
        logits: unnormalized log-probabilities (keyword-only).
        log_probs: normalized log-probabilities (keyword-only).
        dim: the dimension that indexes the outcomes.
        base: logarithm base (``2`` for bits); ``None`` for nats.

    Shape:
        the input ``(..., K)`` (``K`` along ``dim``); returns ``(...)``.

    Returns:
        The entropy, in nats unless ``base`` is given.

    Raises:
        ValueError: not exactly one form, probabilities off the simplex, a bad ``base``.

    Example:
        >>> import torch
        >>> entropy(probs=torch.tensor([0.5, 0.5]), base=2)
        tensor(1.)

    Source: Shannon (1948); Cover & Thomas, *Elements of Information Theory*, §2.1.
    """
    fn = "entropy"
    scale = log_base(fn, base)
    p, log_p = resolve_form(fn, "", probs, logits, log_probs, dim)
    return -plogq(p, log_p).sum(dim) / scale


def self_information(*, probs: Tensor | None = None, logits: Tensor | None = None,
                     log_probs: Tensor | None = None, dim: int = -1,
                     base: float | None = None) -> Tensor:
    r"""Self-information (surprisal) of events: :math:`I = -\log p`, element-wise.

    .. math::
        I(x_i) = -\log p_i, \qquad \mathbb E_p[I] = H(p)

    Surprisal is a property of each event on its own, so ``probs`` may be any
    probabilities in :math:`[0, 1]` (they need not sum to one: ``[0.5, 0.25, 0.125]`` is
    three events' probabilities) and ``log_probs`` any values :math:`\le 0`. Only
    ``logits`` are normalized (``log_softmax`` along ``dim``) into a distribution first.

    Args:
        probs: probabilities in [0, 1] (keyword-only).
        logits: unnormalized log-probabilities of one distribution along ``dim``
            (keyword-only).
        log_probs: log-probabilities, :math:`\le 0` (keyword-only).
        dim: the outcome dimension (used only for ``logits``).
        base: logarithm base; ``None`` for nats.

    Shape:
        same as the input.

    Returns:
        :math:`-\log p` element-wise; a zero probability has infinite surprisal.

    Raises:
        ValueError: not exactly one form, probabilities outside [0, 1], log-probabilities
            above 0, NaN (while validation is on).

    Example:
        >>> self_information(probs=torch.tensor([0.5, 0.25, 0.125]), base=2)
        tensor([1., 2., 3.])

    Source: Cover & Thomas, *Elements of Information Theory*, §2.1.
    """
    fn = "self_information"
    scale = log_base(fn, base)
    name, value = check_exactly_one(fn, probs=probs, logits=logits, log_probs=log_probs)
    check_floating(fn, name, value)
    if name == "logits":
        check_no_nan(fn, name, value, allow_posinf=False)
        return -torch.log_softmax(value, dim) / scale
    if name == "log_probs":
        check_in_range(fn, name, value, -math.inf, 0.0)
        return -value / scale
    check_in_range(fn, name, value, 0.0, 1.0)
    return -safe_log(value) / scale


def _check_joint(fn: str, joint: Tensor, ndim: int) -> Tensor:
    check_floating(fn, "joint", joint)
    check_ndim(fn, "joint", joint, min_ndim=ndim)
    if validating():
        check_nonnegative_tensor(fn, "joint", joint.detach())
        total = joint.detach().sum(tuple(range(-ndim, 0)))
        atol = 1e-6 if joint.dtype == torch.float64 else 1e-4
        worst = float((total - 1).abs().max()) if total.numel() else 0.0
        if not worst <= atol:
            raise fail(fn, "joint", f"to sum to one over its last {ndim} dimensions",
                       f"sums off by up to {worst:.3g}")
    return joint


def joint_entropy(joint: Tensor, *, ndim: int = 2, base: float | None = None) -> Tensor:
    r"""Entropy of a joint probability table :math:`p(x, y, \dots)`.

    .. math::
        H(X, Y) = -\sum_{x, y} p(x, y) \log p(x, y)

    Args:
        joint: probabilities; the last ``ndim`` dimensions index the variables' values and
            sum to one.
        ndim: number of variables (trailing dimensions) in the table.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``joint``: ``(..., n_1, ..., n_ndim)``; returns ``(...)``.

    Returns:
        The joint entropy.

    Raises:
        ValueError: negative entries, or tables that do not sum to one.

    Example:
        >>> import torch
        >>> joint_entropy(torch.full((2, 2), 0.25), base=2)
        tensor(2.)

    Source: Cover & Thomas, *Elements of Information Theory*, §2.2.
    """
    fn = "joint_entropy"
    check_int(fn, "ndim", ndim, minimum=1)
    scale = log_base(fn, base)
    _check_joint(fn, joint, ndim)
    return -plogp(joint).sum(tuple(range(-ndim, 0))) / scale


def _table_axis(fn: str, name: str, given_dim: int) -> int:
    if isinstance(given_dim, bool) or given_dim not in (0, 1, -1, -2):
        raise fail(fn, name, "to be 0 or 1 (or -2, -1): an axis of the (..., n_x, n_y) "
                   "table", given_dim)
    return given_dim - 2 if given_dim >= 0 else given_dim


def conditional_entropy(joint: Tensor, given_dim: int = -1, *,
                        base: float | None = None) -> Tensor:
    r"""Conditional entropy :math:`H(X \mid Y)` from a joint table.

    .. math::
        H(X \mid Y) = H(X, Y) - H(Y) = -\sum_{x,y} p(x,y) \log \frac{p(x,y)}{p(y)}

    Args:
        joint: a joint probability table over two variables.
        given_dim: the table axis of the conditioning variable :math:`Y`: ``1``/``-1``
            (columns, the default) or ``0``/``-2`` (rows), counted within the last two
            dimensions.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``joint``: ``(..., n_x, n_y)``; returns ``(...)``.

    Returns:
        The conditional entropy, between 0 and :math:`H(X)`.

    Raises:
        ValueError: ``given_dim`` not an axis of the table, or a table off the simplex.

    Example:
        >>> import torch
        >>> joint = torch.tensor([[0.5, 0.0], [0.0, 0.5]])   # X = Y
        >>> conditional_entropy(joint)
        tensor(0.)

    Source: Cover & Thomas, *Elements of Information Theory*, §2.2 (chain rule).
    """
    fn = "conditional_entropy"
    axis = _table_axis(fn, "given_dim", given_dim)
    scale = log_base(fn, base)
    _check_joint(fn, joint, 2)
    marginal = joint.sum(-1 if axis == -2 else -2, keepdim=True)
    h_joint = -plogp(joint).sum((-2, -1))
    h_given = -plogp(marginal).sum((-2, -1))
    return (h_joint - h_given) / scale


def gaussian_entropy(cov: Tensor, *, base: float | None = None) -> Tensor:
    r"""Differential entropy of a multivariate normal :math:`\mathcal N(\mu, \Sigma)`.

    .. math::
        h = \tfrac12 \log\det(2\pi e \Sigma) = \tfrac d2 (1 + \log 2\pi) + \sum_i \log L_{ii}

    with :math:`\Sigma = L L^\top` (one Cholesky factorization, no determinant).

    Args:
        cov: covariance matrices (positive definite).
        base: logarithm base; ``None`` for nats.

    Shape:
        ``cov``: ``(..., d, d)``; returns ``(...)``.

    Returns:
        The differential entropy (may be negative).

    Raises:
        ValueError: ``cov`` not square or not positive definite.

    Example:
        >>> import torch
        >>> gaussian_entropy(torch.eye(1, dtype=torch.float64))
        tensor(1.4189, dtype=torch.float64)

    Source: Cover & Thomas, *Elements of Information Theory*, Theorem 8.4.1.
    """
    fn = "gaussian_entropy"
    check_floating(fn, "cov", cov)
    check_matrix_square(fn, "cov", cov)
    scale = log_base(fn, base)
    L = check_cholesky(fn, "cov", cov)
    d = cov.shape[-1]
    half_logdet = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return (0.5 * d * (1 + _LOG_2PI) + half_logdet) / scale


def knn_entropy(x: Tensor, k: int = 3, *, base: float | None = None) -> Tensor:
    r"""Kozachenko–Leonenko k-nearest-neighbour estimate of differential entropy.

    .. math::
        \hat h = \psi(n) - \psi(k) + \log V_d + \frac dn \sum_{i=1}^n \log \varepsilon_i,
        \qquad V_d = \frac{\pi^{d/2}}{\Gamma(d/2 + 1)}

    where :math:`\varepsilon_i` is the Euclidean distance from sample :math:`i` to its
    :math:`k`-th nearest other sample and :math:`V_d` the volume of the unit ball.
    Distances come from ``torch.cdist`` in row chunks (no :math:`n \times n` buffer for
    large :math:`n`); differentiable in ``x``. Duplicate samples make some
    :math:`\varepsilon_i = 0` and the estimate :math:`-\infty`.

    Args:
        x: samples.
        k: neighbour order, ``1 <= k < n``.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``x``: ``(..., n, d)`` (or ``(n,)`` for 1-D samples); returns ``(...)``.

    Returns:
        The estimated differential entropy.

    Raises:
        ValueError: ``k`` not smaller than the number of samples.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(4000, 1, generator=g, dtype=torch.float64)
        >>> round(float(knn_entropy(x)), 1)    # true value 1.419
        1.4

    Source: Kozachenko & Leonenko (1987); Kraskov, Stögbauer & Grassberger (2004), eq. 20.
    """
    fn = "knn_entropy"
    check_floating(fn, "x", x)
    check_int(fn, "k", k, minimum=1)
    scale = log_base(fn, base)
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    check_ndim(fn, "x", x, min_ndim=2)
    check_finite(fn, "x", x)
    n, d = x.shape[-2], x.shape[-1]
    check_min_rows(fn, "x", n, 2)
    eps = nearest_kth(fn, x, k)
    if validating() and bool((eps == 0).any()):
        raise fail(fn, "x", f"to hold at most {k} copies of any sample (more coinciding samples "
                   "put the k-th neighbour at distance 0 and the estimate at -inf; add a "
                   "little noise or raise k)", "duplicate samples")
    log_unit_ball = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    const = torch.special.digamma(x.new_tensor(float(n))) \
        - torch.special.digamma(x.new_tensor(float(k))) + log_unit_ball
    return (const + d * eps.log().mean(-1)) / scale
