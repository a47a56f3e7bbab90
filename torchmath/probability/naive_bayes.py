"""Naive Bayes classifiers (Gaussian, multinomial, Bernoulli) on mergeable class statistics."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchmath._batches import as_batches, row_chunks
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_finite,
    check_floating,
    check_int,
    check_labels,
    check_ndim,
    check_nonnegative_tensor,
    check_positive,
    check_same_size,
    check_shape,
    fail,
)
from torchmath.distributed import agree_layout, all_reduce_sum

__all__ = ["BernoulliNaiveBayes", "GaussianNaiveBayes", "MultinomialNaiveBayes"]

_CHUNK_BYTES = 4 * 2**20


def _onehot(y: Tensor, k: int, like: Tensor) -> Tensor:
    return torch.nn.functional.one_hot(y, k).to(like.dtype)


def _pad(t: Tensor, k: int) -> Tensor:
    """Grow the class axis (dim 0) of a statistic to ``k`` with zeros."""
    if t.shape[0] >= k:
        return t
    return torch.cat([t, t.new_zeros(k - t.shape[0], *t.shape[1:])])


class _NaiveBayes(Estimator):
    """Shared shell: statistics per class are accumulated, all-reduced, then solved."""

    _stat_names: tuple[str, ...] = ()

    def __init__(self, n_classes: int | None) -> None:
        super().__init__()
        if n_classes is not None:
            check_int(type(self).__name__, "n_classes", n_classes, minimum=1)
        self.n_classes = n_classes
        self.register_buffer("class_count", torch.empty(0))
        self.register_buffer("class_log_prior", torch.empty(0))

    # -- statistics ------------------------------------------------------------------
    def _check_xy(self, fn: str, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        check_floating(fn, "X", X)
        check_ndim(fn, "X", X, ndim=2)
        check_ndim(fn, "y", y, ndim=1)
        check_same_size(fn, ["X", "y"], [X, y])
        check_finite(fn, "X", X)
        check_labels(fn, "y", y, self.n_classes)
        if self.class_count.numel() and self.d is not None:
            check_shape(fn, "X", X, (self.d,))
        return X, y

    def _empty_stats(self, k: int, d: int, dtype, device) -> dict[str, Tensor]:
        raise NotImplementedError

    def _batch_stats(self, X: Tensor, y: Tensor, k: int) -> dict[str, Tensor]:
        raise NotImplementedError

    def _merge(self, a: dict[str, Tensor], b: dict[str, Tensor]) -> dict[str, Tensor]:
        return {key: a[key] + b[key] for key in a}

    def _all_reduce(self, stats: dict[str, Tensor], sync) -> dict[str, Tensor]:
        keys = list(stats)
        out = all_reduce_sum(*[stats[k] for k in keys], sync=sync)
        return dict(zip(keys, out if isinstance(out, tuple) else (out,), strict=True))

    def _accumulate(self, fn: str, batches, sync, stats: dict[str, Tensor] | None):
        """Local statistics of every batch, merged; then agreed and summed over ranks."""
        for X, y in batches:
            X, y = self._check_xy(fn, X, y)
            if X.shape[0] == 0:
                continue
            k = max(int(y.max()) + 1, self.n_classes or 0,
                    0 if stats is None else stats["count"].shape[0])
            step = row_chunks(X.shape[0], 4 * X.shape[1] * X.element_size(), _CHUNK_BYTES)
            for s in range(0, X.shape[0], step):  # cache-sized blocks, merged exactly
                batch = self._batch_stats(X[s:s + step], y[s:s + step], k)
                if stats is None:
                    stats = batch
                else:
                    stats = self._merge({n: _pad(v, k) for n, v in stats.items()}, batch)
        if stats is None:
            k, d, dtype, device = 0, 0, None, self.class_count.device
        else:
            k, d = stats[self._stat_names[1]].shape
            dtype, device = stats["count"].dtype, stats["count"].device
        (k, d), dtype = agree_layout([k, d], dtype, sync=sync)
        dtype = dtype or torch.get_default_dtype()
        if k == 0:
            raise fail(fn, "data", "at least one labelled sample", "no samples")
        if stats is None:
            stats = self._empty_stats(k, d, dtype, device)
        stats = {n: _pad(v, k) for n, v in stats.items()}
        return self._all_reduce(stats, sync)

    @property
    def d(self) -> int | None:
        buf = getattr(self, self._stat_names[1])
        return buf.shape[-1] if buf.numel() else None

    def _current_stats(self) -> dict[str, Tensor] | None:
        if not self.class_count.numel():
            return None
        return {"count": self.class_count, **{n: getattr(self, n) for n in
                                               self._stat_names[1:]}}

    def _store(self, stats: dict[str, Tensor]) -> None:
        self.class_count = stats["count"]
        for name in self._stat_names[1:]:
            setattr(self, name, stats[name])
        self.class_log_prior = (stats["count"] / stats["count"].sum()).log()
        self._solve()
        self._mark_fitted()

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None):
        """Fit from ``(X, y)``, a pair, or an iterable of ``(X, y)`` batches; returns self."""
        fn = f"{type(self).__name__}.fit"
        batches = as_batches(data, fn=fn, y=y, arity=2)
        self.class_count = torch.empty(0, device=self.class_count.device)
        self._store(self._accumulate(fn, batches, sync, None))
        return self

    def partial_fit(self, X: Tensor, y: Tensor, *, sync: bool | None = None):
        """Add one batch to the statistics (exact: batches in sequence equal one fit)."""
        fn = f"{type(self).__name__}.partial_fit"
        batch = self._accumulate(fn, as_batches(X, fn=fn, y=y, arity=2), sync, None)
        current = self._current_stats()
        if current is not None:
            k = max(batch["count"].shape[0], current["count"].shape[0])
            batch = self._merge({n: _pad(v, k) for n, v in current.items()},
                                {n: _pad(v, k) for n, v in batch.items()})
        self._store(batch)
        return self

    # -- prediction ------------------------------------------------------------------
    def _joint_log_likelihood(self, X: Tensor) -> Tensor:
        raise NotImplementedError

    def _checked(self, fn: str, X: Tensor) -> Tensor:
        self._check_fitted(fn)
        check_floating(f"{type(self).__name__}.{fn}", "X", X)
        check_shape(f"{type(self).__name__}.{fn}", "X", X, (self.d,))
        check_finite(f"{type(self).__name__}.{fn}", "X", X)
        return X.to(self.class_log_prior.dtype)

    def _jll(self, X: Tensor) -> Tensor:
        """Joint log-likelihood over cache-sized row blocks (temporaries stay small)."""
        flat = X.reshape(-1, X.shape[-1])
        step = row_chunks(flat.shape[0], 4 * flat.shape[1] * flat.element_size(), _CHUNK_BYTES)
        if step >= flat.shape[0]:
            out = self._joint_log_likelihood(flat)
        else:
            out = torch.cat([self._joint_log_likelihood(flat[s:s + step])
                             for s in range(0, flat.shape[0], step)])
        return out.reshape(*X.shape[:-1], out.shape[-1])

    def predict_log_proba(self, X: Tensor) -> Tensor:
        """Log posterior class probabilities, ``(..., K)``."""
        jll = self._jll(self._checked("predict_log_proba", X))
        return jll - torch.logsumexp(jll, -1, keepdim=True)

    def predict_proba(self, X: Tensor) -> Tensor:
        """Posterior class probabilities, ``(..., K)``."""
        return self.predict_log_proba(X).exp()

    def predict(self, X: Tensor) -> Tensor:
        """The most probable class, ``(...)``."""
        return self._jll(self._checked("predict", X)).argmax(-1)

    def forward(self, X: Tensor) -> Tensor:
        """Log posterior class probabilities (differentiable in ``X``)."""
        return self.predict_log_proba(X)


class GaussianNaiveBayes(_NaiveBayes):
    r"""Gaussian Naive Bayes: per-class independent normal features.

    .. math::
        \log p(y=k \mid x) = \log\pi_k - \tfrac12\sum_j\Big[\log 2\pi\sigma_{kj}^2
        + \frac{(x_j-\mu_{kj})^2}{\sigma_{kj}^2}\Big] - \log Z(x)

    Per-class counts, means and centred sums of squares are merged exactly across batches
    and ranks (the parallel variance update). As in scikit-learn, ``var_smoothing``
    times the largest feature variance (over all the data seen) is added to every
    variance. The prediction is one matrix product per batch of points (quadratic
    expansion over all classes at once).

    Args:
        var_smoothing: fraction of the largest feature variance added to all variances.
        n_classes: the number of classes (default: inferred as ``max(y) + 1``).

    Shape:
        ``X``: ``(n, d)`` for fit, ``(..., d)`` for prediction; ``y``: ``(n,)`` integer
        labels in ``[0, K)``. Buffers ``theta`` and ``var``: ``(K, d)``.

    Raises:
        ValueError: shape mismatches, non-finite ``X``, labels out of range.
        NotFittedError: prediction before ``fit``.

    Example:
        >>> X = torch.tensor([[0.0], [0.2], [3.0], [3.2]], dtype=torch.float64)
        >>> nb = GaussianNaiveBayes().fit(X, torch.tensor([0, 0, 1, 1]))
        >>> nb.predict(torch.tensor([[0.1], [2.9]], dtype=torch.float64))
        tensor([0, 1])

    Source: scikit-learn's ``GaussianNB`` (same smoothing); Chan, Golub and LeVeque (1979)
    for the merge of variances.
    """

    _stat_names = ("count", "theta", "m2")

    def __init__(self, var_smoothing: float = 1e-9, n_classes: int | None = None):
        super().__init__(n_classes)
        self.var_smoothing = check_positive("GaussianNaiveBayes", "var_smoothing",
                                            var_smoothing, strict=False)
        self.register_buffer("theta", torch.empty(0))
        self.register_buffer("m2", torch.empty(0))
        self.register_buffer("var", torch.empty(0))
        self.register_buffer("epsilon", torch.empty(0))

    def _empty_stats(self, k, d, dtype, device):
        z = torch.zeros(k, d, dtype=dtype, device=device)
        return {"count": torch.zeros(k, dtype=dtype, device=device), "theta": z, "m2": z}

    def _batch_stats(self, X, y, k):
        oh = _onehot(y, k, X)
        count = oh.sum(0)
        theta = (oh.T @ X) / count.clamp_min(1)[:, None]
        diff = X - theta[y]
        m2 = oh.T @ diff.square()
        return {"count": count, "theta": theta, "m2": m2}

    def _merge(self, a, b):
        n = a["count"] + b["count"]
        safe = n.clamp_min(torch.finfo(n.dtype).tiny)[:, None]
        delta = b["theta"] - a["theta"]
        theta = a["theta"] + delta * (b["count"][:, None] / safe)
        m2 = a["m2"] + b["m2"] + delta.square() * (a["count"] * b["count"])[:, None] / safe
        return {"count": n, "theta": theta, "m2": m2}

    def _all_reduce(self, stats, sync):
        count, weighted = all_reduce_sum(stats["count"], stats["count"][:, None] * stats["theta"],
                                         sync=sync)
        theta = weighted / count.clamp_min(torch.finfo(count.dtype).tiny)[:, None]
        spread = stats["count"][:, None] * (stats["theta"] - theta).square()
        m2 = all_reduce_sum(stats["m2"] + spread, sync=sync)
        return {"count": count, "theta": theta, "m2": m2}

    def _solve(self) -> None:
        count, theta, m2 = self.class_count, self.theta, self.m2
        total = count.sum()
        grand = (count @ theta) / total
        feature_var = (m2.sum(0) + count @ (theta - grand).square()) / total
        self.epsilon = self.var_smoothing * feature_var.max()
        var = m2 / count.clamp_min(1)[:, None] + self.epsilon
        self.var = var.clamp_min(torch.finfo(var.dtype).tiny)

    def _joint_log_likelihood(self, X):
        # sum_j (x_j - mu_kj)^2 / var_kj expanded into matrix products over all classes,
        # after centring at the grand mean so features of scale 1e6 do not cancel.
        prec = 1.0 / self.var  # (K, d)
        center = (self.class_count @ self.theta) / self.class_count.sum()
        theta = self.theta - center
        Xc = X - center
        const = (theta.square() * prec).sum(-1) + self.var.log().sum(-1) + \
            X.shape[-1] * torch.log(X.new_tensor(2 * torch.pi))
        quad = Xc.square() @ prec.T - 2 * (Xc @ (theta * prec).T)
        return self.class_log_prior - 0.5 * (quad + const)


class _DiscreteNaiveBayes(_NaiveBayes):
    _stat_names = ("count", "feature_count")

    def __init__(self, alpha: float, n_classes: int | None):
        super().__init__(n_classes)
        self.alpha = check_positive(type(self).__name__, "alpha", alpha, strict=False)
        self.register_buffer("feature_count", torch.empty(0))
        self.register_buffer("feature_log_prob", torch.empty(0))

    def _empty_stats(self, k, d, dtype, device):
        return {"count": torch.zeros(k, dtype=dtype, device=device),
                "feature_count": torch.zeros(k, d, dtype=dtype, device=device)}

    def _batch_stats(self, X, y, k):
        oh = _onehot(y, k, X)
        return {"count": oh.sum(0), "feature_count": oh.T @ self._transform(X)}

    def _smoothing(self) -> float:
        return max(self.alpha, 1e-10)  # scikit-learn's lower bound on alpha


class MultinomialNaiveBayes(_DiscreteNaiveBayes):
    r"""Multinomial Naive Bayes for count features (word counts), Laplace/Lidstone smoothed.

    .. math::
        \hat\theta_{kj} = \frac{N_{kj} + \alpha}{N_k + \alpha d}, \qquad
        \log p(y=k\mid x) = \log\pi_k + \sum_j x_j \log\hat\theta_{kj} - \log Z(x)

    Args:
        alpha: additive smoothing (``alpha < 1e-10`` is raised to ``1e-10`` as in
            scikit-learn).
        n_classes: the number of classes (default: inferred).

    Shape:
        ``X``: ``(n, d)`` non-negative counts; ``y``: ``(n,)``; ``feature_log_prob``:
        ``(K, d)``.

    Raises:
        ValueError: negative counts, shape mismatches, labels out of range.

    Example:
        >>> X = torch.tensor([[3.0, 0.0], [2.0, 1.0], [0.0, 4.0]])
        >>> MultinomialNaiveBayes().fit(X, torch.tensor([0, 0, 1])).predict(X)
        tensor([0, 0, 1])

    Source: McCallum and Nigam, *A comparison of event models for Naive Bayes text
    classification* (1998); scikit-learn's ``MultinomialNB``.
    """

    def __init__(self, alpha: float = 1.0, n_classes: int | None = None):
        super().__init__(alpha, n_classes)

    def _check_xy(self, fn, X, y):
        X, y = super()._check_xy(fn, X, y)
        check_nonnegative_tensor(fn, "X", X)
        return X, y

    def _transform(self, X):
        return X

    def _solve(self):
        smoothed = self.feature_count + self._smoothing()
        self.feature_log_prob = smoothed.log() - smoothed.sum(-1, keepdim=True).log()

    def _joint_log_likelihood(self, X):
        return X @ self.feature_log_prob.T + self.class_log_prior


class BernoulliNaiveBayes(_DiscreteNaiveBayes):
    r"""Bernoulli Naive Bayes for binary features (presence/absence), smoothed.

    .. math::
        \hat p_{kj} = \frac{N_{kj} + \alpha}{N_k + 2\alpha}, \quad
        \log p(y=k\mid x) = \log\pi_k + \sum_j \big[x_j\log\hat p_{kj}
        + (1-x_j)\log(1-\hat p_{kj})\big] - \log Z(x)

    Features are binarized as ``x > binarize`` (scikit-learn's default threshold 0).

    Args:
        alpha: additive smoothing.
        binarize: threshold for binarizing features, or ``None`` if already binary.
        n_classes: the number of classes (default: inferred).

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)``; ``feature_log_prob``: ``(K, d)``.

    Raises:
        ValueError: shape mismatches, non-finite features, labels out of range.

    Example:
        >>> X = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        >>> BernoulliNaiveBayes().fit(X, torch.tensor([0, 0, 1])).predict(X)
        tensor([0, 0, 1])

    Source: McCallum and Nigam (1998); scikit-learn's ``BernoulliNB``.
    """

    def __init__(self, alpha: float = 1.0, binarize: float | None = 0.0,
                 n_classes: int | None = None):
        super().__init__(alpha, n_classes)
        self.binarize = binarize

    def _transform(self, X):
        return X if self.binarize is None else (X > self.binarize).to(X.dtype)

    def _solve(self):
        a = self._smoothing()
        self.feature_log_prob = (self.feature_count + a).log() - \
            (self.class_count + 2 * a).log()[:, None]

    def _joint_log_likelihood(self, X):
        X = self._transform(X)
        log_p = self.feature_log_prob
        log_q = torch.log1p(-log_p.exp())
        return X @ (log_p - log_q).T + (self.class_log_prior + log_q.sum(-1))
