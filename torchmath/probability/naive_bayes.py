"""Naive Bayes classifiers (Gaussian, multinomial, Bernoulli) on mergeable class statistics."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, encode_labels, row_chunks, unique_labels
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_int,
    check_nonnegative_tensor,
    check_positive,
    fail,
)
from torchmath.distributed import all_reduce_sum

__all__ = ["BernoulliNaiveBayes", "GaussianNaiveBayes", "MultinomialNaiveBayes"]

_CHUNK_BYTES = 4 * 2**20


def _accuracy(pred: Tensor, y: Tensor, dtype: torch.dtype) -> Tensor:
    return (pred == y.to(pred.device)).to(dtype).mean()


def _onehot(y: Tensor, k: int, like: Tensor) -> Tensor:
    return torch.nn.functional.one_hot(y, k).to(like.dtype)


def _remap(stats: dict[str, Tensor], old: Tensor, new: Tensor) -> dict[str, Tensor]:
    """Move the class rows (dim 0) of statistics over the sorted labels ``old`` to their
    places among the sorted labels ``new`` (a superset); absent classes get zeros."""
    if old.numel() == new.numel():
        return stats
    pos = torch.searchsorted(new, old.to(new.device))
    out = {}
    for key, v in stats.items():
        z = v.new_zeros((new.numel(), *v.shape[1:]))
        z[pos] = v
        out[key] = z
    return out


def _sorted_classes(fn: str, classes: Any) -> Tensor:
    c = torch.as_tensor(classes)
    if c.is_floating_point() or c.is_complex() or c.dtype == torch.bool or c.dim() != 1 \
            or c.numel() == 0:
        raise fail(fn, "classes", "a non-empty 1-d sequence of integer labels",
                   f"{c.dtype} of shape {tuple(c.shape)}", TypeError)
    return torch.unique(c.to(torch.int64))


class _NaiveBayes(Estimator):
    """Shared shell: statistics per class are accumulated, all-reduced, then solved.

    Labels are kept as given (any integers): ``classes`` holds them sorted, the class
    statistics follow that order, ``predict`` returns labels from it and
    ``predict_proba``'s columns follow it.
    """

    _stat_names: tuple[str, ...] = ()
    _fitted_buffers: tuple[str, ...] = ("classes", "class_count", "class_log_prior")
    _state_settings: tuple[str, ...] = ("num_classes",)

    def __init__(self, num_classes: int | None) -> None:
        super().__init__()
        if num_classes is not None:
            check_int(type(self).__name__, "num_classes", num_classes, minimum=1)
        self.num_classes = num_classes

    # -- statistics ------------------------------------------------------------------
    def _check_batch(self, fn: str, X: Tensor) -> None:
        """Extra checks of a batch of features (non-negative counts, ...)."""

    def _empty_stats(self, k: int, d: int, dtype, device) -> dict[str, Tensor]:
        raise NotImplementedError

    def _batch_stats(self, X: Tensor, y: Tensor, k: int) -> dict[str, Tensor]:
        raise NotImplementedError

    def _merge(self, a: dict[str, Tensor], b: dict[str, Tensor]) -> dict[str, Tensor]:
        return {key: a[key] + b[key] for key in a}

    def _all_reduce(self, stats: dict[str, Tensor], sync, process_group) -> dict[str, Tensor]:
        keys = list(stats)
        out = all_reduce_sum(*[stats[k] for k in keys], sync=sync, process_group=process_group)
        return dict(zip(keys, out if isinstance(out, tuple) else (out,), strict=True))

    def _accumulate(self, fn: str, intake: Intake, fixed: Tensor | None, sync, process_group
                    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Class statistics of every batch, merged; then agreed and summed over ranks.

        ``fixed``: the classes when known beforehand (``num_classes``, ``classes=``);
        otherwise the labels seen by any process.
        """
        stats, seen = None, fixed
        for X, y in intake:
            self._check_batch(fn, X)
            if X.shape[0] == 0:
                continue
            if fixed is None:
                labels = unique_labels(y)
                new = labels if seen is None else unique_labels(torch.cat([seen, labels]))
                if stats is not None:
                    stats = _remap(stats, seen, new)
                seen = new
            idx = encode_labels(fn, y, seen)
            k = seen.numel()
            step = row_chunks(X.shape[0], 4 * X.shape[1] * X.element_size(), _CHUNK_BYTES)
            for s in range(0, X.shape[0], step):  # cache-sized blocks, merged exactly
                batch = self._batch_stats(X[s:s + step], idx[s:s + step], k)
                stats = batch if stats is None else self._merge(stats, batch)
        intake.agree(sync=sync, process_group=process_group, device=self.class_count.device)
        classes = fixed if fixed is not None else \
            intake.classes(sync=sync, process_group=process_group)
        classes = classes.to(intake.device)
        if stats is None:
            stats = self._empty_stats(classes.numel(), intake.n_features, intake.dtype,
                                      intake.device)
        else:
            stats = {n: v.to(intake.dtype) for n, v in _remap(stats, seen, classes).items()}
        return classes, self._all_reduce(stats, sync, process_group)

    def _fixed_classes(self, fn: str, classes: Any) -> Tensor | None:
        if classes is not None:
            fixed = _sorted_classes(fn, classes)
            if self.num_classes is not None and fixed.numel() != self.num_classes:
                raise fail(fn, "classes", f"{self.num_classes} labels (num_classes)",
                           fixed.numel())
            return fixed
        if self.num_classes is not None:
            return torch.arange(self.num_classes)
        return None

    def _n_features(self) -> int:
        return self.d

    @property
    def d(self) -> int | None:
        buf = getattr(self, self._stat_names[1])
        return buf.shape[-1] if buf.numel() else None

    def _current_stats(self) -> dict[str, Tensor] | None:
        if not self.class_count.numel():
            return None
        return {"count": self.class_count, **{n: getattr(self, n) for n in
                                               self._stat_names[1:]}}

    def _store(self, classes: Tensor, stats: dict[str, Tensor]) -> None:
        self.classes = classes.to(device=stats["count"].device, dtype=torch.int64)
        self.class_count = stats["count"]
        for name in self._stat_names[1:]:
            setattr(self, name, stats[name])
        self.class_log_prior = (stats["count"] / stats["count"].sum()).log()
        self._solve()
        self._mark_fitted()

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None):
        """Fit from ``(X, y)``, a pair, or an iterable of ``(X, y)`` batches; returns self.

        The classes are ``0..num_classes-1`` when ``num_classes`` is given, else the
        labels seen (over all processes)."""
        fn = f"{type(self).__name__}.fit"
        intake = Intake(data, y, fn=fn, y_kind="labels")
        self._store(*self._accumulate(fn, intake, self._fixed_classes(fn, None), sync,
                                      process_group))
        return self

    def partial_fit(self, data: Any, y: Tensor | None = None, *, classes: Any = None,
                    sync: bool | None = None, process_group=None):
        """Add batches to the statistics (exact: batches in sequence equal one fit).

        ``classes`` (as in scikit-learn) fixes the label set on the first call, so a
        batch that lacks some classes still gets their columns; without it the label set
        grows with the labels seen.
        """
        fn = f"{type(self).__name__}.partial_fit"
        current = self._current_stats()
        fixed = self._fixed_classes(fn, classes)
        if fixed is not None and current is not None:
            fixed = torch.unique(torch.cat([self.classes.cpu(), fixed]))
        intake = Intake(data, y, fn=fn, y_kind="labels", n_features=self.d)
        new_classes, batch = self._accumulate(fn, intake, fixed, sync, process_group)
        if current is not None:
            union = torch.unique(torch.cat([self.classes, new_classes.to(self.classes)]))
            batch = self._merge(_remap(current, self.classes, union),
                                _remap({n: v.to(current["count"]) for n, v in batch.items()},
                                       new_classes.to(union), union))
            new_classes = union
        self._store(new_classes, batch)
        return self

    # -- prediction ------------------------------------------------------------------
    def _joint_log_likelihood(self, X: Tensor) -> Tensor:
        raise NotImplementedError

    def _checked(self, fn: str, X: Tensor) -> Tensor:
        self._check_fitted(fn)
        return self._input(fn, X)

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

    def _log_proba(self, X: Tensor, method: str) -> Tensor:
        jll = self._jll(self._checked(method, X))
        return jll - torch.logsumexp(jll, -1, keepdim=True)

    def predict_log_proba(self, X: Tensor) -> Tensor:
        """Log posterior class probabilities, ``(..., K)``."""
        return self._log_proba(X, "predict_log_proba")

    def predict_proba(self, X: Tensor) -> Tensor:
        """Posterior class probabilities, ``(..., K)``."""
        return self._log_proba(X, "predict_proba").exp()

    def predict(self, X: Tensor) -> Tensor:
        """The most probable class label (from ``classes``), ``(...)``."""
        return self.classes[self._jll(self._checked("predict", X)).argmax(-1)]

    def score(self, X: Tensor, y: Tensor) -> Tensor:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        return _accuracy(self.predict(X), y, self.class_log_prior.dtype)

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
        num_classes: the classes are the labels ``0..num_classes-1`` (default: the
            labels seen, any integers).

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

    _fitted_buffers = _NaiveBayes._fitted_buffers + ("theta", "m2", "var", "epsilon")
    _state_settings = ("num_classes", "var_smoothing")

    def __init__(self, var_smoothing: float = 1e-9, num_classes: int | None = None):
        super().__init__(num_classes)
        self.var_smoothing = check_positive("GaussianNaiveBayes", "var_smoothing",
                                            var_smoothing, strict=False)

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

    def _all_reduce(self, stats, sync, process_group):
        count, weighted = all_reduce_sum(stats["count"], stats["count"][:, None] * stats["theta"],
                                         sync=sync, process_group=process_group)
        theta = weighted / count.clamp_min(torch.finfo(count.dtype).tiny)[:, None]
        spread = stats["count"][:, None] * (stats["theta"] - theta).square()
        m2 = all_reduce_sum(stats["m2"] + spread, sync=sync, process_group=process_group)
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

    _fitted_buffers = _NaiveBayes._fitted_buffers + ("feature_count", "feature_log_prob")
    _state_settings = ("num_classes", "alpha")

    def __init__(self, alpha: float, num_classes: int | None):
        super().__init__(num_classes)
        self.alpha = check_positive(type(self).__name__, "alpha", alpha, strict=False)

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
        num_classes: the classes are ``0..num_classes-1`` (default: the labels seen).

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

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None):
        super().__init__(alpha, num_classes)

    def _check_batch(self, fn, X):
        check_nonnegative_tensor(fn, "X", X)

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
        num_classes: the classes are ``0..num_classes-1`` (default: the labels seen).

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

    _state_settings = ("num_classes", "alpha", "binarize")

    def __init__(self, alpha: float = 1.0, binarize: float | None = 0.0,
                 num_classes: int | None = None):
        super().__init__(alpha, num_classes)
        if binarize is not None and (isinstance(binarize, bool) or
                                     not isinstance(binarize, int | float)):
            raise fail("BernoulliNaiveBayes", "binarize", "a number or None",
                       type(binarize).__name__, TypeError)
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
