"""Bayes' theorem over a discrete hypothesis axis, marginals and conditionals of tables."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from torchmath._validation import (
    check_finite,
    check_floating,
    check_int,
    check_nonnegative_tensor,
    fail,
    validating,
)

__all__ = ["bayes_posterior", "conditional", "marginal"]


def _dims(fn: str, name: str, dim: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or not -ndim <= d < ndim:
            raise fail(fn, name, f"dimension(s) in [-{ndim}, {ndim})", dim)
        out.append(d % ndim)
    if len(set(out)) != len(out):
        raise fail(fn, name, "distinct dimensions", dim)
    return tuple(out)


def bayes_posterior(prior: Tensor, likelihood: Tensor, *, dim: int = -1,
                    log: bool = False) -> Tensor:
    r"""Posterior over discrete hypotheses by Bayes' theorem, computed in log space.

    .. math::
        p(h \mid x) = \frac{p(x \mid h)\, p(h)}{\sum_{h'} p(x \mid h')\, p(h')}

    The product is formed as a sum of logarithms and normalized with ``logsumexp``, so
    likelihoods as small as :math:`e^{-10^4}` keep their ratios exactly.

    Args:
        prior: prior probabilities :math:`p(h)` along ``dim`` (log-probabilities when
            ``log=True``).
        likelihood: :math:`p(x \mid h)` for each hypothesis (need not sum to one; log
            values when ``log=True``).
        dim: the hypothesis axis (keyword-only).
        log: inputs and output are log-probabilities (keyword-only).

    Shape:
        ``prior`` and ``likelihood`` broadcast; returns the broadcast shape.

    Returns:
        The posterior (or its logarithm), summing to one along ``dim``.

    Raises:
        ValueError: ``prior`` is not a distribution along ``dim``, ``likelihood`` is
            negative or NaN, or every hypothesis has zero posterior mass (zero evidence).

    Example:
        >>> prior = torch.tensor([0.99, 0.01])   # healthy, ill
        >>> lik = torch.tensor([0.05, 0.95])      # P(positive test | h)
        >>> bayes_posterior(prior, lik)
        tensor([0.8390, 0.1610])

    Source: Bayes' theorem (Bishop, *Pattern Recognition and Machine Learning*, eq. 1.12).
    """
    fn = "bayes_posterior"
    check_floating(fn, "prior", prior)
    check_floating(fn, "likelihood", likelihood)
    try:
        shape = torch.broadcast_shapes(prior.shape, likelihood.shape)
    except RuntimeError:
        raise fail(fn, "likelihood", f"a shape that broadcasts with prior's "
                   f"{tuple(prior.shape)}", tuple(likelihood.shape)) from None
    _dims(fn, "dim", dim, max(len(shape), 1))
    if log:
        if validating():
            if bool(torch.isnan(prior).any() | (prior > 0).any()):
                raise fail(fn, "prior", "to hold log-probabilities (<= 0, not NaN)",
                           "positive or NaN entries")
            if bool(torch.isnan(likelihood).any()):
                raise fail(fn, "likelihood", "to hold no NaN", "NaN entries")
            total = torch.logsumexp(prior, dim)
            if bool(((total.exp() - 1).abs() > 1e-4).any()):
                raise fail(fn, "prior", f"to be log-probabilities summing to one along "
                           f"dim {dim}", "other sums")
        log_prior, log_lik = prior, likelihood
    else:
        if validating():
            check_nonnegative_tensor(fn, "prior", prior)
            check_finite(fn, "prior", prior)
            total = prior.sum(dim)
            atol = 1e-6 if prior.dtype == torch.float64 else 1e-4
            if total.numel() and bool(((total - 1).abs() > atol).any()):
                raise fail(fn, "prior", f"to sum to one along dim {dim}", "other sums")
            check_nonnegative_tensor(fn, "likelihood", likelihood)
            check_finite(fn, "likelihood", likelihood)
        log_prior, log_lik = prior.log(), likelihood.log()
    joint = log_prior + log_lik
    evidence = torch.logsumexp(joint, dim, keepdim=True)
    if validating() and bool(torch.isneginf(evidence).any() | torch.isnan(evidence).any()):
        raise fail(fn, "likelihood", "a positive evidence sum_h p(x|h) p(h)",
                   "zero evidence (every hypothesis has zero prior or zero likelihood)")
    log_post = joint - evidence
    return log_post if log else log_post.exp()


def _check_table(fn: str, joint: Tensor, event_ndim: int | None) -> int:
    check_floating(fn, "joint", joint)
    if event_ndim is None:
        event_ndim = joint.dim()
    check_int(fn, "event_ndim", event_ndim, minimum=1)
    if event_ndim > joint.dim():
        raise fail(fn, "event_ndim", f"at most joint.dim() = {joint.dim()}", event_ndim)
    if validating():
        check_nonnegative_tensor(fn, "joint", joint)
        check_finite(fn, "joint", joint)
        total = joint.sum(tuple(range(joint.dim() - event_ndim, joint.dim())))
        atol = 1e-6 if joint.dtype == torch.float64 else 1e-4
        if total.numel() and bool(((total - 1).abs() > atol).any()):
            raise fail(fn, "joint", f"to sum to one over its last {event_ndim} dimension(s)",
                       f"sums off by up to {float((total - 1).abs().max()):.3g}")
    return event_ndim


def marginal(joint: Tensor, dim: int | Sequence[int], *, event_ndim: int | None = None) -> Tensor:
    r"""Marginalize a discrete joint table: sum out the variable(s) on ``dim``.

    .. math::
        p(x) = \sum_y p(x, y)

    Args:
        joint: a joint probability table.
        dim: the dimension(s) of the variables summed out (``torch.sum`` semantics).
        event_ndim: how many trailing dimensions form the table (default: all; leading
            dimensions before them are a batch of tables).

    Shape:
        ``joint``: ``(*batch, *table)``; returns it with ``dim`` removed.

    Returns:
        The marginal table.

    Raises:
        ValueError: negative entries, a table that does not sum to one, or bad ``dim``.

    Example:
        >>> joint = torch.tensor([[0.1, 0.2], [0.3, 0.4]])   # p(x, y)
        >>> marginal(joint, 1)                                # p(x)
        tensor([0.3000, 0.7000])

    Source: the sum rule of probability (Bishop, eq. 1.10).
    """
    fn = "marginal"
    _check_table(fn, joint, event_ndim)
    dims = _dims(fn, "dim", dim, joint.dim())
    return joint.sum(dims)


def conditional(joint: Tensor, given_dim: int | Sequence[int], *,
                dim: int | Sequence[int] | None = None,
                event_ndim: int | None = None) -> Tensor:
    r"""Condition a discrete joint table on the variable(s) on ``given_dim``.

    .. math::
        p(x \mid y) = \frac{p(x, y)}{p(y)} = \frac{p(x, y)}{\sum_{x'} p(x', y)}

    Args:
        joint: a joint probability table.
        given_dim: the dimension(s) of the conditioning variable(s) :math:`y`.
        dim: the dimension(s) of the conditioned variable(s) :math:`x` (keyword-only;
            default: every table dimension not in ``given_dim``).
        event_ndim: how many trailing dimensions form the table (default: all).

    Shape:
        returns the shape of ``joint``; it sums to one over ``dim`` for every value of
        the conditioning variables.

    Returns:
        The conditional table :math:`p(x \mid y)`.

    Raises:
        ValueError: negative entries, a table that does not sum to one, bad dimensions,
            or conditioning on a value of zero probability.

    Example:
        >>> joint = torch.tensor([[0.1, 0.2], [0.3, 0.4]])   # p(x, y)
        >>> conditional(joint, 1)                             # p(x | y), columns sum to 1
        tensor([[0.2500, 0.3333],
                [0.7500, 0.6667]])

    Source: the product rule of probability (Bishop, eq. 1.11).
    """
    fn = "conditional"
    event_ndim = _check_table(fn, joint, event_ndim)
    given = _dims(fn, "given_dim", given_dim, joint.dim())
    table = tuple(range(joint.dim() - event_ndim, joint.dim()))
    if dim is None:
        over = tuple(d for d in table if d not in given)
    else:
        over = _dims(fn, "dim", dim, joint.dim())
    if not over or set(over) & set(given):
        raise fail(fn, "dim", "dimensions distinct from given_dim", dim)
    norm = joint.sum(over, keepdim=True)
    if validating() and bool((norm == 0).any()):
        raise fail(fn, "joint", "positive probability for every conditioning value",
                   "a conditioning value of probability zero")
    return joint / norm
