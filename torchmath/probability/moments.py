"""Expectation, variance, covariance and correlation, weighted and batched, and streaming."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, accumulate
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_finite,
    check_floating,
    check_int,
    check_ndim,
    check_nonnegative_tensor,
    check_shape,
    fail,
    promote,
    validating,
)
from torchmath.linalg import ScatterMatrix, column_gram

__all__ = ["RunningMoments", "corr", "cov", "mean", "var"]


def _check_correction(fn: str, correction: Any) -> int:
    if correction not in (0, 1) or isinstance(correction, bool):
        raise fail(fn, "correction", "to be 0 or 1", repr(correction))
    return int(correction)


def _weights(fn: str, x: Tensor, weights: Tensor | None, dim: int) -> Tensor | None:
    """Weights broadcast against ``x`` (a vector along ``dim`` or ``x``'s own shape)."""
    if weights is None:
        return None
    check_floating(fn, "weights", weights)
    n = x.shape[dim]
    if weights.dim() == 1 and weights.shape[0] == n:
        shape = [1] * x.dim()
        shape[dim] = n
        weights = weights.reshape(shape)
    elif weights.shape != x.shape:
        raise fail(fn, "weights", f"of shape ({n},) or {tuple(x.shape)}", tuple(weights.shape))
    check_nonnegative_tensor(fn, "weights", weights)
    check_finite(fn, "weights", weights)
    return weights.to(torch.promote_types(x.dtype, weights.dtype))


def mean(x: Tensor, dim: int = -1, *, weights: Tensor | None = None,
         keepdim: bool = False) -> Tensor:
    r"""The (weighted) sample mean, an estimate of the expectation :math:`\mathbb E[X]`.

    .. math::
        \bar x = \frac{\sum_i w_i x_i}{\sum_i w_i}

    Args:
        x: samples along ``dim``.
        dim: the sample axis.
        weights: non-negative weights, of shape ``(x.shape[dim],)`` or ``x.shape``.
        keepdim: keep ``dim`` with size one.

    Shape:
        ``x``: ``(..., n, ...)``; returns ``x``'s shape without ``dim``.

    Returns:
        The (weighted) means.

    Raises:
        ValueError: bad ``weights`` (shape, negative, non-finite).

    Example:
        >>> mean(torch.tensor([1.0, 2.0, 6.0]), weights=torch.tensor([1.0, 1.0, 0.0]))
        tensor(1.5000)

    Source: the sample mean (Wasserman, *All of Statistics*, 2004, ch. 3).
    """
    fn = "mean"
    check_floating(fn, "x", x)
    w = _weights(fn, x, weights, dim)
    if w is None:
        return x.mean(dim, keepdim=keepdim)
    (x, w), _ = promote(x, w)
    return (w * x).sum(dim, keepdim=keepdim) / w.sum(dim, keepdim=keepdim)


def _denominator(w: Tensor | None, n: int, dim, correction: int, like: Tensor) -> Tensor:
    if w is None:
        return like.new_tensor(float(n - correction))
    v1 = w.sum(dim, keepdim=True)
    if correction == 0:
        return v1
    return v1 - w.square().sum(dim, keepdim=True) / v1


def var(x: Tensor, dim: int = -1, *, weights: Tensor | None = None, correction: int = 1,
        keepdim: bool = False) -> Tensor:
    r"""The (weighted) sample variance with Bessel's ``correction`` (0 or 1).

    .. math::
        s^2 = \frac{\sum_i w_i (x_i - \bar x)^2}{V_1 - c\, V_2 / V_1}, \qquad
        V_1 = \sum_i w_i,\; V_2 = \sum_i w_i^2

    With unit weights the denominator is :math:`n - c`; with weights it is the
    reliability-weights correction, NumPy's ``np.cov(..., aweights=w)`` convention.

    Args:
        x: samples along ``dim``.
        dim: the sample axis.
        weights: non-negative weights, of shape ``(x.shape[dim],)`` or ``x.shape``.
        correction: 0 (maximum likelihood) or 1 (unbiased).
        keepdim: keep ``dim`` with size one.

    Shape:
        ``x``: ``(..., n, ...)``; returns ``x``'s shape without ``dim``.

    Returns:
        The (weighted) variances.

    Raises:
        ValueError: ``correction`` not 0 or 1, bad ``weights``, or not enough samples.

    Example:
        >>> var(torch.tensor([1.0, 2.0, 3.0, 4.0]), correction=0)
        tensor(1.2500)

    Source: Wasserman, *All of Statistics* (2004), ch. 3; weighted form as in NumPy's cov.
    """
    fn = "var"
    check_floating(fn, "x", x)
    c = _check_correction(fn, correction)
    w = _weights(fn, x, weights, dim)
    n = x.shape[dim]
    if n <= c:
        raise fail(fn, "x", f"more than {c} sample(s) along dim {dim}", n)
    mu = mean(x, dim, weights=weights, keepdim=True)
    sq = (x - mu).square()
    num = sq.sum(dim, keepdim=True) if w is None else (w * sq).sum(dim, keepdim=True)
    out = num / _denominator(w, n, dim, c, x)
    return out if keepdim else out.squeeze(dim)


def cov(x: Tensor, *, weights: Tensor | None = None, correction: int = 1) -> Tensor:
    r"""The (weighted) sample covariance matrix of the rows of ``x``.

    .. math::
        S = \frac{\sum_i w_i (x_i - \bar x)(x_i - \bar x)^\top}{V_1 - c\, V_2/V_1}

    Args:
        x: ``n`` samples of ``d`` variables (rows are samples), batched.
        weights: non-negative sample weights.
        correction: 0 or 1, as for :func:`var`.

    Shape:
        ``x``: ``(..., n, d)``; ``weights``: ``(n,)`` or ``(..., n)``; returns ``(..., d, d)``.

    Returns:
        The covariance matrices.

    Raises:
        ValueError: ``x`` not at least 2-D, bad ``weights`` or ``correction``.

    Example:
        >>> cov(torch.tensor([[0.0, 0.0], [2.0, 2.0], [4.0, 1.0]]))
        tensor([[4., 1.],
                [1., 1.]])

    Source: the sample covariance; weighted form as in NumPy's ``np.cov(aweights=...)``.
    """
    fn = "cov"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=2)
    c = _check_correction(fn, correction)
    n = x.shape[-2]
    if n <= c:
        raise fail(fn, "x", f"more than {c} sample(s) (rows)", n)
    if weights is not None:
        check_floating(fn, "weights", weights)
        if weights.shape != x.shape[:-1] and weights.shape != (n,):
            raise fail(fn, "weights", f"of shape ({n},) or {tuple(x.shape[:-1])}",
                       tuple(weights.shape))
        check_nonnegative_tensor(fn, "weights", weights)
        check_finite(fn, "weights", weights)
        w = weights.to(x.dtype).unsqueeze(-1)
        v1 = w.sum(-2, keepdim=True)
        mu = (w * x).sum(-2) / v1.squeeze(-1)
        denom = v1 if c == 0 else v1 - w.square().sum(-2, keepdim=True) / v1
        return column_gram(x, w.squeeze(-1), center=mu) / denom
    return column_gram(x, center=x.mean(-2)) / (n - c)


def _corr_from_cov(S: Tensor) -> Tensor:
    std = S.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()
    outer = std.unsqueeze(-1) * std.unsqueeze(-2)
    out = S / outer
    return out.clamp(-1, 1)


def corr(x: Tensor, *, weights: Tensor | None = None) -> Tensor:
    r"""The (weighted) Pearson correlation matrix of the rows of ``x``.

    .. math::
        \rho_{jk} = \frac{S_{jk}}{\sqrt{S_{jj} S_{kk}}}

    A variable with zero variance has an undefined correlation; it raises an error
    rather than returning NaN.

    Args:
        x: ``n`` samples of ``d`` variables, batched.
        weights: non-negative sample weights.

    Shape:
        ``x``: ``(..., n, d)``; returns ``(..., d, d)``.

    Returns:
        The correlation matrices.

    Raises:
        ValueError: as :func:`cov`, or a constant variable.

    Example:
        >>> corr(torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]))
        tensor([[1., 1.],
                [1., 1.]])

    Source: Pearson's correlation coefficient (Wasserman, *All of Statistics*, 3.4).
    """
    S = cov(x, weights=weights, correction=0)
    return _checked_corr("corr", S)


def _checked_corr(fn: str, S: Tensor) -> Tensor:
    from torchmath._validation import validating
    if validating() and bool((S.diagonal(dim1=-2, dim2=-1) <= 0).any()):
        raise fail(fn, "x", "variables with positive variance", "a constant variable")
    return _corr_from_cov(S)


class RunningMoments(Estimator):
    r"""Streaming mean, variance, covariance and correlation, mergeable exactly.

    .. math::
        \mu = \frac1W \sum_i w_i x_i, \qquad
        S = \sum_i w_i (x_i - \mu)(x_i - \mu)^\top

    Each batch updates the count, mean and scatter by the exact parallel (Chan) update of
    :class:`torchmath.linalg.ScatterMatrix` (Welford's update when the batch is one row),
    so any split of the data merged in any order gives the whole-data moments to rounding.
    Under ``torch.distributed`` :meth:`fit` all-reduces the accumulators.

    Args:
        dim: the number of variables ``d``.

    Attributes (buffers, after the first rows):
        count ``()`` (total weight), mean ``(d,)``, scatter ``(d, d)``, n_rows ``()``.

    Shape:
        ``update(x)``: ``x`` is ``(n, d)`` or ``(d,)``; ``mean``/``var``: ``(d,)``;
        ``cov``/``corr``: ``(d, d)``.

    Raises:
        ValueError: ``dim`` is not a positive integer.

    Example:
        >>> rm = RunningMoments(2)
        >>> rm.update(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
        >>> rm.update(torch.tensor([4.0, 1.0]))
        >>> rm.mean, rm.var()
        (tensor([2., 1.]), tensor([4., 1.]))

    Source: Chan, Golub and LeVeque, *Algorithms for computing the sample variance* (1979).
    """

    _fitted_buffers = ("count", "mean", "scatter", "n_rows")
    _state_settings = ("dim",)

    def __init__(self, dim: int):
        super().__init__()
        self.dim = check_int("RunningMoments", "dim", dim, minimum=1)
        self._rows = 0  # rows seen, kept on the host so update never syncs for it

    def _acc(self, like: Tensor) -> ScatterMatrix:
        if self._rows:
            return ScatterMatrix.from_state(self.count, self.mean, self.scatter,
                                            n_rows=self._rows)
        return ScatterMatrix(self.dim, dtype=like.dtype, device=like.device)

    def _store(self, acc: ScatterMatrix) -> None:
        if acc.count is None or acc.n_rows == 0:
            return
        self.count, self.mean, self.scatter = acc.count, acc.mean, acc.scatter
        self._rows = acc.n_rows
        self.n_rows = torch.tensor(acc.n_rows, dtype=torch.int64, device=acc.mean.device)
        self._mark_fitted()

    def _after_load(self) -> None:
        self._rows = int(self.n_rows) if self.n_rows.numel() else 0

    def update(self, x: Tensor, weights: Tensor | None = None) -> None:
        """Add a batch of rows ``(n, d)`` (or one row ``(d,)``), optionally weighted."""
        fn = "RunningMoments.update"
        check_floating(fn, "x", x)
        if x.dim() == 1:
            x = x.unsqueeze(0)
        check_ndim(fn, "x", x, ndim=2)
        check_shape(fn, "x", x, (self.dim,))
        check_finite(fn, "x", x)
        if weights is not None:
            check_nonnegative_tensor(fn, "weights", weights)
        acc = self._acc(x)
        acc.update(x.detach(), None if weights is None else weights.detach())
        self._store(acc)

    def merge(self, other: RunningMoments) -> RunningMoments:
        """Fold another accumulator's data into this one; returns ``self``."""
        if not isinstance(other, RunningMoments) or other.dim != self.dim:
            raise fail("RunningMoments.merge", "other", f"a RunningMoments of dim {self.dim}",
                       getattr(other, "dim", type(other).__name__))
        if other._rows == 0:
            return self
        acc = self._acc(other.mean)
        acc.merge(other._acc(other.mean))
        self._store(acc)
        return self

    def fit(self, data: Any, y: Any = None, *, sync: bool | None = None,
            process_group=None) -> RunningMoments:
        """Reset, accumulate every batch of ``data``, and all-reduce across processes."""
        fn = "RunningMoments.fit"
        intake = Intake(data, y, fn=fn, n_features=self.dim)
        stream = accumulate(intake, sync=sync, process_group=process_group,
                            device=self.mean.device)
        self._reset()
        self._rows = 0
        self._store(stream.stats)
        return self

    def var(self, correction: int = 1) -> Tensor:
        """Per-variable variance ``scatter_jj / (W - correction)`` (frequency weights)."""
        return self.cov(correction).diagonal().clone()

    def cov(self, correction: int = 1) -> Tensor:
        """Covariance ``scatter / (W - correction)``, ``(d, d)``."""
        self._check_fitted("cov")
        c = _check_correction("RunningMoments.cov", correction)
        if validating() and bool(self.count <= c):
            raise fail("RunningMoments.cov", "data", f"total weight above {c}",
                       float(self.count))
        return self.scatter / (self.count - c)

    def corr(self) -> Tensor:
        """Correlation matrix, ``(d, d)``."""
        self._check_fitted("corr")
        return _checked_corr("RunningMoments.corr", self.scatter)

    def _n_features(self) -> int:
        return self.dim

    def score_samples(self, X: Tensor) -> Tensor:
        r"""Log-density of each row under the Gaussian of the running moments,
        :math:`\log\mathcal N(x \mid \mu, S / W)` (the maximum-likelihood fit),
        ``(...)`` for ``X`` ``(..., d)``; differentiable in ``X``."""
        X = self._input("score_samples", X)
        return torch.distributions.MultivariateNormal(
            self.mean, covariance_matrix=self.scatter / self.count,
            validate_args=False).log_prob(X)

    def score(self, X: Tensor) -> Tensor:
        """Mean log-likelihood of the rows of ``X`` (:meth:`score_samples`)."""
        return self.score_samples(X).mean()

    def forward(self, x: Tensor) -> Tensor:
        """Update with ``x`` and return the running mean (a module-style call)."""
        self.update(x)
        return self.mean
