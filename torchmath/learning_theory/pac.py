r"""PAC learning: sample complexity and generalization bounds, finite and VC classes.

Every function broadcasts over tensor arguments (``epsilon``, ``delta``, ``n``, the class
size or VC dimension), so a whole grid of bounds is one call. Logarithms are natural
unless written :math:`\log_2`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath._validation import check_choice, check_exactly_one, fail, validating
from torchmath.learning_theory._common import as_float_tensors

__all__ = ["hoeffding_bound", "log_growth_bound", "pac_generalization_bound",
           "pac_sample_complexity"]


def _check_open_unit(fn: str, name: str, x: Tensor) -> None:
    if validating() and bool(((x <= 0) | (x >= 1) | torch.isnan(x)).any()):
        raise fail(fn, name, "in (0, 1)", f"values from {float(x.min())} to {float(x.max())}")


def _check_at_least(fn: str, name: str, x: Tensor, low: float, what: str) -> None:
    if validating() and bool(((x < low) | torch.isnan(x)).any()):
        raise fail(fn, name, what, f"minimum {float(x.min())}")


def log_growth_bound(n: Tensor, vc_dim: Tensor) -> Tensor:
    r"""A closed-form upper bound on :math:`\ln \Pi_H(n)` from Sauer's lemma.

    .. math::
        \ln \Pi_H(n) \le \begin{cases} n \ln 2 & n \le d \\
        d \ln(e n / d) & n > d \end{cases}

    (:math:`\Pi_H(n) \le (en/d)^d` for :math:`n \ge d \ge 1`; the trivial :math:`2^n`
    below.) Source: Shalev-Shwartz & Ben-David (2014), Lemma 6.10 and its corollary.

    Args:
        n: sample sizes (floating tensor, ``>= 0``).
        vc_dim: VC dimensions (floating tensor, ``>= 0``), broadcast with ``n``.

    Shape:
        the broadcast shape of ``n`` and ``vc_dim``.

    Returns:
        the bound on the log growth function, a tensor of ``n``'s dtype.

    Example:
        >>> log_growth_bound(torch.tensor([1.0, 10.0]), torch.tensor(2.0))
        tensor([0.6931, 5.2189])
    """
    n, d = torch.broadcast_tensors(n, vc_dim)
    small = n <= d
    safe_d = torch.where(small | (d == 0), torch.ones_like(d), d)
    sauer = torch.xlogy(d, math.e * n / safe_d)
    return torch.where(small, n * math.log(2.0), sauer)


def _hypothesis_args(fn: str, hypothesis_count, vc_dim):
    check_exactly_one(fn, hypothesis_count=hypothesis_count, vc_dim=vc_dim)


def pac_generalization_bound(n, delta, *, hypothesis_count=None, vc_dim=None,
                             realizable: bool = True) -> Tensor:
    r"""The PAC error bound :math:`\epsilon(n, \delta)` that holds with probability
    :math:`\ge 1-\delta` over a sample of size :math:`n`.

    For a finite class of size :math:`|H|` (union bound and Hoeffding):

    .. math::
        \text{realizable: } L_D(h_S) \le \frac{\ln(|H|/\delta)}{n},\qquad
        \text{agnostic: } |L_D(h) - L_S(h)| \le \sqrt{\frac{\ln(2|H|/\delta)}{2n}}
        \ \ \forall h \in H.

    For a class of VC dimension :math:`d`, with :math:`\Pi_H` bounded by
    :func:`log_growth_bound`:

    .. math::
        \text{realizable: } L_D(h_S) \le \frac{2}{n}\left(\log_2 \Pi_H(2n)
        + \log_2 \frac{2}{\delta}\right),\qquad
        \text{agnostic: } L_D(h) \le L_S(h) + \sqrt{\frac{2\ln \Pi_H(n)}{n}}
        + \sqrt{\frac{\ln(1/\delta)}{2n}}.

    Sources: Shalev-Shwartz & Ben-David (2014), Corollaries 2.3 and 4.6 (finite classes);
    Blumer, Ehrenfeucht, Haussler & Warmuth (1989, JACM 36(4)), the
    :math:`2\Pi_H(2n)2^{-\epsilon n/2}` bound for consistent learners; Mohri,
    Rostamizadeh & Talwalkar (2018), Foundations of ML, 2nd ed., Section 3.3 (agnostic VC).

    Args:
        n: sample size(s), ``>= 1``.
        delta: confidence parameter(s) in (0, 1).
        hypothesis_count: :math:`|H|` (``>= 1``) for a finite class; or
        vc_dim: the VC dimension (``>= 0``) for an infinite class. Exactly one is given.
        realizable: whether some hypothesis has zero true error.

    Shape:
        the broadcast shape of the tensor arguments.

    Returns:
        :math:`\epsilon`, a floating tensor (float64 unless a floating tensor came in).

    Raises:
        ValueError: ``delta`` outside (0, 1), ``n < 1``, ``hypothesis_count < 1``,
            ``vc_dim < 0``, or not exactly one of ``hypothesis_count``/``vc_dim``.

    Example:
        >>> pac_generalization_bound(1000, 0.05, hypothesis_count=100)
        tensor(0.0076, dtype=torch.float64)
    """
    fn = "pac_generalization_bound"
    _hypothesis_args(fn, hypothesis_count, vc_dim)
    n, delta, count, d = as_float_tensors(fn, n=n, delta=delta, hypothesis_count=hypothesis_count,
                                          vc_dim=vc_dim)
    _check_open_unit(fn, "delta", delta)
    _check_at_least(fn, "n", n, 1, "to be >= 1")
    if count is not None:
        _check_at_least(fn, "hypothesis_count", count, 1, "to be >= 1")
        if realizable:
            return (torch.log(count) - torch.log(delta)) / n
        return torch.sqrt((math.log(2.0) + torch.log(count) - torch.log(delta)) / (2 * n))
    _check_at_least(fn, "vc_dim", d, 0, "to be non-negative")
    if realizable:
        log2_growth = log_growth_bound(2 * n, d) / math.log(2.0)
        return 2.0 / n * (log2_growth + torch.log2(2.0 / delta))
    return vc_generalization_bound_(n, d, delta)


def vc_generalization_bound_(n: Tensor, d: Tensor, delta: Tensor) -> Tensor:
    """The agnostic VC bound on tensors already checked (shared with :mod:`vc`)."""
    return torch.sqrt(2.0 * log_growth_bound(n, d) / n) \
        + torch.sqrt(-torch.log(delta) / (2.0 * n))


def pac_sample_complexity(epsilon, delta, *, hypothesis_count=None, vc_dim=None,
                          realizable: bool = True) -> Tensor:
    r"""Number of samples that suffice to PAC-learn to error :math:`\epsilon` with
    probability :math:`\ge 1 - \delta`.

    .. math::
        \text{finite, realizable: } m = \left\lceil \frac{\ln(|H|/\delta)}{\epsilon}
        \right\rceil, \qquad
        \text{finite, agnostic: } m = \left\lceil \frac{2\ln(2|H|/\delta)}{\epsilon^2}
        \right\rceil,

    .. math::
        \text{VC, realizable: } m = \left\lceil \max\left(\frac{4}{\epsilon}\log_2
        \frac{2}{\delta},\ \frac{8d}{\epsilon}\log_2 \frac{13}{\epsilon}\right)
        \right\rceil,

    and for a VC class in the agnostic case the smallest :math:`m` at which the uniform
    convergence bound of :func:`pac_generalization_bound` is :math:`\le \epsilon/2`
    (so that ERM is within :math:`\epsilon` of the best hypothesis), found by bisection.

    Sources: Shalev-Shwartz & Ben-David (2014), Corollaries 2.3 and 4.6; Blumer,
    Ehrenfeucht, Haussler & Warmuth (1989, JACM 36(4)), Theorem 2.1; Mohri et al. (2018),
    Section 3.3.

    Args:
        epsilon: accuracy parameter(s) in (0, 1).
        delta: confidence parameter(s) in (0, 1).
        hypothesis_count: :math:`|H| \ge 1` for a finite class; or
        vc_dim: the VC dimension :math:`\ge 0`. Exactly one is given.
        realizable: whether some hypothesis has zero true error.

    Shape:
        the broadcast shape of the tensor arguments.

    Returns:
        the sample sizes, an ``int64`` tensor.

    Raises:
        ValueError: ``epsilon`` or ``delta`` outside (0, 1), a class size ``< 1`` or a
            negative VC dimension, or not exactly one of ``hypothesis_count``/``vc_dim``.

    Example:
        >>> pac_sample_complexity(0.1, 0.05, hypothesis_count=1000)
        tensor(100)
    """
    fn = "pac_sample_complexity"
    _hypothesis_args(fn, hypothesis_count, vc_dim)
    eps, delta, count, d = as_float_tensors(fn, epsilon=epsilon, delta=delta,
                                            hypothesis_count=hypothesis_count, vc_dim=vc_dim)
    _check_open_unit(fn, "epsilon", eps)
    _check_open_unit(fn, "delta", delta)
    eps, delta = eps.double(), delta.double()
    if count is not None:
        _check_at_least(fn, "hypothesis_count", count, 1, "to be >= 1")
        log_count = torch.log(count.double())
        if realizable:
            m = (log_count - torch.log(delta)) / eps
        else:
            m = 2.0 * (math.log(2.0) + log_count - torch.log(delta)) / eps.square()
        return _ceil_int(m)
    _check_at_least(fn, "vc_dim", d, 0, "to be non-negative")
    d = d.double()
    if realizable:
        m = torch.maximum(4.0 / eps * torch.log2(2.0 / delta),
                          8.0 * d / eps * torch.log2(13.0 / eps))
        return _ceil_int(m)
    return _smallest_n(lambda n: vc_generalization_bound_(n, d, delta) <= eps / 2, eps)


def _ceil_int(m: Tensor) -> Tensor:
    # 1e-9 guards against a product like 2.9999999999 that is exactly 3 in real arithmetic
    return torch.ceil(m - 1e-9).clamp_min(1).to(torch.int64)


def _smallest_n(ok, like: Tensor) -> Tensor:
    """Smallest integer n >= 1 with ``ok(n)``, for a predicate monotone in n (batched)."""
    lo = torch.zeros_like(like)  # ok(lo) is False (n = 0 is never enough)
    hi = torch.ones_like(like)
    for _ in range(80):  # doubling: 2**80 samples is beyond any use
        bad = ~ok(hi)
        if not bool(bad.any()):
            break
        lo = torch.where(bad, hi, lo)
        hi = torch.where(bad, hi * 2, hi)
    for _ in range(90):
        if not bool((hi - lo > 1).any()):
            break
        mid = torch.floor((lo + hi) / 2)
        good = ok(mid)
        hi = torch.where(good, mid, hi)
        lo = torch.where(good, lo, mid)
    return hi.to(torch.int64)


def hoeffding_bound(n, delta, *, value_range=1.0, one_sided: bool = False) -> Tensor:
    r"""Hoeffding's deviation of a sample mean of :math:`n` bounded i.i.d. variables.

    With :math:`X_i \in [a, b]` and :math:`r = b - a`, with probability at least
    :math:`1 - \delta`

    .. math::
        |\bar X_n - \mathbb E X| \le r\sqrt{\frac{\ln(2/\delta)}{2n}}
        \quad\text{(two-sided)}, \qquad
        \bar X_n - \mathbb E X \le r\sqrt{\frac{\ln(1/\delta)}{2n}}\quad\text{(one-sided)}.

    Source: Hoeffding (1963), Theorem 2; Shalev-Shwartz & Ben-David (2014), Lemma 4.5.

    Args:
        n: sample size(s), ``>= 1``.
        delta: failure probability in (0, 1).
        value_range: :math:`b - a`, the width of the variables' range (``> 0``).
        one_sided: the one-sided bound instead of the two-sided one.

    Shape:
        the broadcast shape of ``n``, ``delta`` and ``value_range``.

    Returns:
        the deviation :math:`\epsilon`, a floating tensor.

    Raises:
        ValueError: ``delta`` outside (0, 1), ``n < 1`` or ``value_range <= 0``.

    Example:
        >>> hoeffding_bound(torch.tensor([100.0, 10000.0]), 0.05)
        tensor([0.1358, 0.0136])
    """
    fn = "hoeffding_bound"
    check_choice(fn, "one_sided", one_sided, (True, False))
    n, delta, r = as_float_tensors(fn, n=n, delta=delta, value_range=value_range)
    _check_open_unit(fn, "delta", delta)
    _check_at_least(fn, "n", n, 1, "to be >= 1")
    if validating() and bool((r <= 0).any()):
        raise fail(fn, "value_range", "to be positive", f"minimum {float(r.min())}")
    log_term = -torch.log(delta) if one_sided else math.log(2.0) - torch.log(delta)
    return r * torch.sqrt(log_term / (2.0 * n))
