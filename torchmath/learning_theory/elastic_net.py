r"""Lasso and elastic-net regression on the Gram matrix, a whole path of alphas at once.

scikit-learn's objective, for every :math:`\alpha` of a path together:

.. math::
    \min_{w, b}\ \frac{1}{2n}\|y - Xw - b\|_2^2 + \alpha\rho\|w\|_1
    + \frac{\alpha(1-\rho)}{2}\|w\|_2^2

The data enter only through the centred Gram matrix :math:`G = X_c^\top X_c/n` and
:math:`q = X_c^\top y_c/n` (a :class:`~torchmath.linalg.ScatterMatrix`, so fitting streams
over batches and all-reduces across processes). The solver is FISTA with adaptive restart
on all alphas at once (one ``(A, d) x (d, d)`` product per iteration), and every few
iterations an exact *polish*: on the current support and signs it solves the KKT system

.. math::
    (G_{SS} + \alpha(1-\rho) I)\, w_S = q_S - \alpha\rho\, \mathrm{sign}(w_S)

and accepts it when the KKT conditions hold everywhere (signs kept on :math:`S`,
:math:`|q_j - (Gw)_j| \le \alpha\rho` off it), which makes the result exact to rounding
instead of to an iteration tolerance.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, accumulate
from torchmath._estimator import ConvergenceWarning, Estimator, r2_score
from torchmath._validation import (
    check_finite,
    check_floating,
    check_in_range,
    check_int,
    check_ndim,
    check_nonnegative_tensor,
    check_positive,
    check_same_size,
    check_shape,
    fail,
    validating,
)
from torchmath.linalg import ScatterMatrix
from torchmath.optim import prox_elastic_net

__all__ = ["ElasticNet", "Lasso", "elastic_net", "elastic_net_gram"]


def _as_alphas(fn: str, alpha, like: Tensor) -> tuple[Tensor, bool]:
    if isinstance(alpha, Tensor):
        check_ndim(fn, "alpha", alpha, min_ndim=0)
        if alpha.dim() > 1:
            raise fail(fn, "alpha", "a number or a 1-D tensor of values", tuple(alpha.shape))
        check_positive(fn, "alpha", alpha, strict=False)
        scalar = alpha.dim() == 0
        a = alpha.to(dtype=like.dtype, device=like.device).reshape(-1)
    else:
        check_positive(fn, "alpha", alpha, strict=False)
        scalar = True
        a = like.new_tensor([float(alpha)])
    return a, scalar


def _largest_eigenvalue(G: Tensor, n_iter: int = 30) -> Tensor:
    """Power iteration for the largest eigenvalue of a PSD matrix, with a 5% margin (the
    step size only needs to be near 1/L: the exact KKT polish settles the answer)."""
    v = G.new_ones(G.shape[-1]) / G.shape[-1] ** 0.5 + 0.01 * torch.arange(
        G.shape[-1], dtype=G.dtype, device=G.device) / G.shape[-1]
    for _ in range(n_iter):
        w = G @ v
        v = w / w.norm().clamp_min(torch.finfo(G.dtype).tiny)
    return (v @ (G @ v)).clamp_min(torch.finfo(G.dtype).tiny) * 1.05


def _polish(G: Tensor, q: Tensor, active: Tensor, sign: Tensor, l1: Tensor, l2: Tensor,
            group: int = 4) -> Tensor:
    """Solve the KKT system of each row on its own support. Rows are sorted by support size
    and solved in groups of ``group``, each padded to its largest support, so the cost is
    about the sum of the supports' cubes instead of rows x d^3. NaN where singular."""
    n_rows, d = active.shape
    out = G.new_zeros(n_rows, d)
    counts = active.sum(-1)
    order = torch.argsort(counts)
    counts_host = counts[order].tolist()
    for start in range(0, n_rows, group):
        rows = order[start:start + group]
        k = counts_host[min(start + group, n_rows) - 1]
        if k == 0:
            continue
        # each row's active coordinates first (stable), then padding coordinates
        idx = torch.argsort((~active[rows]).to(torch.int8), dim=-1, stable=True)[:, :k]
        real = torch.gather(active[rows], 1, idx).to(G.dtype)  # (g, k): 1 active, 0 padding
        Gs = G[idx.unsqueeze(-1), idx.unsqueeze(-2)] * (real.unsqueeze(-1) * real.unsqueeze(-2))
        diag = torch.where(real > 0, l2[rows].expand(-1, k), torch.ones_like(real))
        M = Gs + torch.diag_embed(diag)
        rhs = real * (q[idx] - l1[rows] * torch.gather(sign[rows], 1, idx))
        L, info = torch.linalg.cholesky_ex(M)
        sol = torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1) * real
        sol = torch.where((info == 0).unsqueeze(-1), sol, torch.full_like(sol, float("nan")))
        out[rows] = out[rows].scatter(1, idx, sol)
    return out


def _check_gram_problem(fn: str, G: Tensor, q: Tensor, alpha: Tensor, l1_ratio: float,
                        max_iter: int, check_every: int) -> None:
    for name, t in (("G", G), ("q", q), ("alpha", alpha)):
        check_floating(fn, name, t)
    check_ndim(fn, "q", q, ndim=1)
    d = q.shape[0]
    check_ndim(fn, "G", G, ndim=2)
    check_shape(fn, "G", G, (d, d))
    check_ndim(fn, "alpha", alpha, ndim=1)
    check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
    check_int(fn, "max_iter", max_iter, minimum=1)
    check_int(fn, "check_every", check_every, minimum=1)
    check_finite(fn, "alpha", alpha)
    check_nonnegative_tensor(fn, "alpha", alpha)
    check_finite(fn, "G", G)
    check_finite(fn, "q", q)
    if validating() and d:
        eig = torch.linalg.eigvalsh(0.5 * (G + G.mT))
        floor = -1e3 * d * torch.finfo(G.dtype).eps * eig[-1].abs().clamp_min(1.0)
        if bool(eig[0] < floor):
            raise fail(fn, "G", "to be positive semi-definite (a Gram matrix)",
                       f"a matrix with smallest eigenvalue {float(eig[0]):.3g}")


def elastic_net_gram(G: Tensor, q: Tensor, alpha: Tensor, l1_ratio: float = 0.5, *,
                     max_iter: int = 20000, tol: float = 1e-12, check_every: int = 10
                     ) -> tuple[Tensor, Tensor, Tensor]:
    r"""Solve the elastic net from its Gram matrix for many alphas at once.

    .. math::
        \min_w\ \tfrac12 w^\top G w - q^\top w + \alpha\rho\|w\|_1
        + \tfrac{\alpha(1-\rho)}{2}\|w\|_2^2

    FISTA with adaptive restart (Beck & Teboulle 2009; O'Donoghue & Candès 2015) and an
    exact KKT polish on the detected support (see the module docstring).

    Args:
        G: ``(d, d)`` symmetric positive semi-definite (:math:`X^\top X / n`).
        q: ``(d,)`` (:math:`X^\top y / n`).
        alpha: ``(A,)`` non-negative penalty weights.
        l1_ratio: :math:`\rho \in [0, 1]`.
        max_iter: most FISTA iterations.
        tol: stop (without a KKT certificate) when no coefficient moves by more than
            ``tol`` times the largest one between checks.
        check_every: iterations between polish attempts (each is one batched solve).

    Shape:
        returns ``W`` ``(A, d)``, ``n_iter`` ``(A,)`` and ``converged`` ``(A,)``.

    Returns:
        the coefficients, the iterations used and whether the KKT conditions were
        certified, per alpha.

    Raises:
        ValueError: wrong shapes, a negative or non-finite ``alpha``, ``l1_ratio`` outside
            [0, 1], ``max_iter``/``check_every`` < 1, and (while validation is on) a
            non-finite or not positive semi-definite ``G`` or a non-finite ``q``.

    Example:
        >>> G = torch.eye(2, dtype=torch.float64); q = torch.tensor([1.0, 0.2], dtype=G.dtype)
        >>> W, _, ok = elastic_net_gram(G, q, torch.tensor([0.5], dtype=G.dtype), 1.0)
        >>> W  # soft-thresholding for an orthonormal design
        tensor([[0.5000, 0.0000]], dtype=torch.float64)

    Source: Zou & Hastie (2005) (the elastic net); Beck & Teboulle (2009) (FISTA);
    O'Donoghue & Candès (2015) (adaptive restart).
    """
    _check_gram_problem("elastic_net_gram", G, q, alpha, l1_ratio, max_iter, check_every)
    return _solve_gram(G, q, alpha, l1_ratio, max_iter, tol, check_every)


def _solve_gram(G: Tensor, q: Tensor, alpha: Tensor, l1_ratio: float, max_iter: int,
                tol: float, check_every: int = 10) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`elastic_net_gram` without its checks, for a ``G`` that is a Gram matrix by
    construction (the estimators' accumulated scatter: finite when the data are, and
    positive semi-definite, so the eigenvalue check would be a wasted ``d^3``)."""
    A, d = alpha.shape[0], q.shape[-1]
    l1 = (alpha * l1_ratio).unsqueeze(-1)  # (A, 1)
    l2 = (alpha * (1 - l1_ratio)).unsqueeze(-1)
    step = 1.0 / _largest_eigenvalue(G)
    W = G.new_zeros(A, d)
    Z = W.clone()
    t = G.new_ones(A, 1)
    done = torch.zeros(A, dtype=torch.bool, device=G.device)
    n_iter = torch.zeros(A, dtype=torch.int64, device=G.device)
    result = W.clone()
    slack = 1e-9 if G.dtype == torch.float64 else 1e-4
    last = W.clone()
    last_sign = torch.full_like(W, 2.0)  # no sign pattern matches at the first check
    it = 0
    while it < max_iter:
        for _ in range(check_every):
            grad = Z @ G - q
            W_new = prox_elastic_net(Z - step * grad, step * alpha.unsqueeze(-1), l1_ratio)
            # adaptive restart: momentum off where it points uphill
            restart = ((Z - W_new) * (W_new - W)).sum(-1, keepdim=True) > 0
            t = torch.where(restart, torch.ones_like(t), t)
            t_new = (1 + torch.sqrt(1 + 4 * t * t)) / 2
            Z = W_new + ((t - 1) / t_new) * (W_new - W)
            W, t = W_new, t_new
        it += check_every
        n_iter = torch.where(done, n_iter, n_iter + check_every)
        # exact polish on the support and signs of W, for the alphas still running whose
        # support and signs did not change since the last check (the solve is the cost)
        active = W != 0
        sign_now = torch.sign(W)
        todo = ~done & (sign_now == last_sign).all(-1)
        last_sign = sign_now
        if not bool(todo.any()):
            moved = (W - last).abs().amax(-1) <= tol * W.abs().amax(-1).clamp_min(1e-300)
            last = W.clone()
            if bool((done | moved).all()):
                break
            continue
        rows = todo.nonzero().squeeze(-1)
        polished = _polish(G, q, active[rows], sign_now[rows], l1[rows], l2[rows])
        act, sign = active[rows], sign_now[rows]
        grad_p = q - polished @ G - l2[rows] * polished
        scale = 1 + polished.abs().amax(-1, keepdim=True) + q.abs().amax()
        ok = torch.where(act, polished * sign > 0,
                         grad_p.abs() <= l1[rows] + slack * scale).all(-1)
        ok &= torch.isfinite(polished).all(-1)
        kkt = torch.zeros_like(done)
        kkt[rows] = ok
        result[rows] = torch.where(ok.unsqueeze(-1), polished, result[rows])
        done |= kkt
        moved = (W - last).abs().amax(-1) <= tol * W.abs().amax(-1).clamp_min(1e-300)
        last = W.clone()
        if bool((done | moved).all()):
            break
    result = torch.where(done.unsqueeze(-1), result, W)
    return result, n_iter, done


def _solve(fn: str, stats: ScatterMatrix, alpha, l1_ratio, fit_intercept, max_iter, tol):
    n = stats.count
    if fit_intercept:
        S = stats.scatter / n
        mean = stats.mean
    else:
        S = (stats.scatter + n * torch.outer(stats.mean, stats.mean)) / n
        mean = torch.zeros_like(stats.mean)
    G, q = S[:-1, :-1], S[:-1, -1]
    alphas, scalar = _as_alphas(fn, alpha, G)
    check_finite(fn, "alpha", alphas)
    W, n_iter, converged = _solve_gram(G, q, alphas, l1_ratio, max_iter, tol)
    b = mean[-1] - W @ mean[:-1]
    if not bool(converged.all()):
        warnings.warn(f"{fn}: the KKT conditions were not certified for "
                      f"{int((~converged).sum())} alpha(s) within max_iter={max_iter}; "
                      "raise max_iter", ConvergenceWarning, stacklevel=3)
    if scalar:
        return W[0], b[0], n_iter[0], converged[0]
    return W, b, n_iter, converged


def _check_xy(fn: str, X: Tensor, y: Tensor) -> None:
    check_floating(fn, "X", X)
    check_ndim(fn, "X", X, ndim=2)
    check_floating(fn, "y", y)
    check_ndim(fn, "y", y, ndim=1)
    check_same_size(fn, ["X", "y"], [X, y])
    check_finite(fn, "X", X)
    check_finite(fn, "y", y)


def elastic_net(X: Tensor, y: Tensor, alpha: float | Tensor = 1.0, l1_ratio: float = 0.5, *,
                fit_intercept: bool = True, max_iter: int = 20000, tol: float = 1e-12
                ) -> tuple[Tensor, Tensor]:
    r"""Elastic-net (lasso when ``l1_ratio=1``) coefficients and intercept, for one alpha or
    a whole path.

    .. math::
        \min_{w, b}\ \frac{1}{2n}\|y - Xw - b\|_2^2 + \alpha\rho\|w\|_1
        + \frac{\alpha(1-\rho)}{2}\|w\|_2^2

    Source: Zou & Hastie (2005); Friedman, Hastie & Tibshirani (2010) for the objective
    and path; solved as in :func:`elastic_net_gram`.

    Args:
        X: ``(n, d)`` features.
        y: ``(n,)`` targets.
        alpha: a number or a 1-D tensor of ``A`` values (solved together).
        l1_ratio: :math:`\rho \in [0, 1]`.
        fit_intercept: centre the data and fit :math:`b`.
        max_iter, tol: solver limits (see :func:`elastic_net_gram`).

    Shape:
        ``coef`` is ``(d,)`` (``(A, d)`` for a tensor of alphas), ``intercept`` ``()``
        (``(A,)``).

    Returns:
        ``(coef, intercept)``.

    Raises:
        ValueError: negative ``alpha``, ``l1_ratio`` outside [0, 1], mismatched shapes.

    Example:
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]],
        ...                  dtype=torch.float64)
        >>> coef, b = elastic_net(X, X @ torch.tensor([2.0, 0.1], dtype=X.dtype) + 1,
        ...                       alpha=0.1, l1_ratio=1.0)
        >>> coef, b  # G = I/2: w_j = S(q_j, alpha) / G_jj
        (tensor([1.8000, 0.0000], dtype=torch.float64), tensor(1., dtype=torch.float64))
    """
    fn = "elastic_net"
    _check_xy(fn, X, y)
    check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
    stats = ScatterMatrix(X.shape[1] + 1)
    stats.update((X, y.unsqueeze(-1)))
    coef, b, _, _ = _solve(fn, stats, alpha, l1_ratio, fit_intercept, max_iter, tol)
    return coef, b


class ElasticNet(Estimator):
    r"""Linear regression with a combined L1 and L2 penalty (scikit-learn's objective).

    .. math::
        \min_{w, b}\ \frac{1}{2n}\|y - Xw - b\|_2^2 + \alpha\rho\|w\|_1
        + \frac{\alpha(1-\rho)}{2}\|w\|_2^2

    ``alpha`` may be a 1-D tensor: the whole path is fitted at once and ``coef`` holds one
    row per alpha. Fitting accumulates the centred Gram matrix of ``[X, y]`` batch by
    batch (exact merges) and all-reduces it under a process group. Source: Zou & Hastie
    (2005); solver as in :func:`elastic_net_gram`.

    Args:
        alpha: penalty weight(s) :math:`\alpha \ge 0`, a number or a 1-D tensor.
        l1_ratio: :math:`\rho \in [0, 1]`.
        fit_intercept: fit :math:`b` (centre the data).
        max_iter, tol: solver limits.

    Attributes:
        coef: ``(d,)`` or ``(A, d)`` buffer. intercept: ``()`` or ``(A,)`` buffer.
        n_iter, converged: iterations used and whether the KKT conditions were certified
            (buffers, per alpha); a fit that stops at ``max_iter`` warns with
            :class:`torchmath.ConvergenceWarning`.

    Shape:
        ``fit``: ``X`` ``(n, d)``, ``y`` ``(n,)``. ``predict(X)``: ``(...)`` for ``X``
        ``(..., d)``, with a leading ``(A,)`` dimension for a path (as
        :class:`~torchmath.linalg.RidgeRegression`).

    Raises:
        ValueError: bad hyperparameters or data shapes. NotFittedError: predict before fit.

    Example:
        >>> X = torch.randn(50, 3, dtype=torch.float64)
        >>> y = X @ torch.tensor([1.0, 0.0, -2.0], dtype=X.dtype)
        >>> model = ElasticNet(alpha=torch.tensor([0.01, 0.1]), l1_ratio=0.7).fit(X, y)
        >>> model.coef.shape, model.predict(X).shape
        (torch.Size([2, 3]), torch.Size([2, 50]))
    """

    _fitted_buffers = ("coef", "intercept", "n_iter", "converged")
    _state_settings = ("alpha", "l1_ratio", "fit_intercept")

    def __init__(self, alpha: float | Tensor = 1.0, l1_ratio: float = 0.5, *,
                 fit_intercept: bool = True, max_iter: int = 20000, tol: float = 1e-12):
        super().__init__()
        fn = type(self).__name__
        if isinstance(alpha, Tensor):
            if alpha.dim() > 1:
                raise fail(fn, "alpha", "a number or a 1-D tensor of values",
                           tuple(alpha.shape))
            if alpha.is_floating_point() and bool(torch.isnan(alpha).any()):
                raise fail(fn, "alpha", "numbers, not NaN", alpha.tolist())
            check_positive(fn, "alpha", alpha, strict=False)
        else:
            check_positive(fn, "alpha", alpha, strict=False)
        check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
        check_int(fn, "max_iter", max_iter, minimum=1)
        check_positive(fn, "tol", tol, strict=False)
        self.alpha, self.l1_ratio, self.fit_intercept = alpha, l1_ratio, fit_intercept
        self.max_iter, self.tol = max_iter, tol

    def _n_features(self) -> int:
        return self.coef.shape[-1]

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None) -> ElasticNet:
        """Fit from a tensor pair, an ``(X, y)`` tuple or an iterable of batches."""
        fn = f"{type(self).__name__}.fit"
        intake = Intake(data, y, fn=fn, y_kind="targets", n_targets=1)
        stream = accumulate(intake, sync=sync, process_group=process_group,
                            device=self.coef.device)
        if not stream.y_1d:
            raise fail(fn, "y", "of shape (n_samples,) (one target)", "2-d targets")
        coef, b, n_iter, converged = _solve(fn, stream.stats, self.alpha, self.l1_ratio,
                                            self.fit_intercept, self.max_iter, self.tol)
        self.coef, self.intercept, self.n_iter = coef, b, n_iter
        self.converged = converged
        self._mark_fitted()
        return self

    def predict(self, X: Tensor) -> Tensor:
        r""":math:`Xw + b`: ``(...)``, or ``(A, ...)`` for a path of alphas."""
        X = self._input("predict", X)
        if self.coef.dim() == 1:
            return X @ self.coef + self.intercept
        out = X @ self.coef.mT + self.intercept  # (..., A)
        return out.movedim(-1, 0)

    def forward(self, X: Tensor) -> Tensor:
        """Same as :meth:`predict` (differentiable in ``X``)."""
        return self.predict(X)

    def score(self, X: Tensor, y: Tensor) -> Tensor:
        r"""Coefficient of determination :math:`R^2` (one per alpha for a path)."""
        return r2_score(self.predict(X), y)


class Lasso(ElasticNet):
    r"""Linear regression with an L1 penalty: :class:`ElasticNet` with ``l1_ratio=1``.

    .. math::
        \min_{w, b}\ \frac{1}{2n}\|y - Xw - b\|_2^2 + \alpha\|w\|_1

    Source: Tibshirani (1996).

    Args:
        alpha: penalty weight(s), a number or a 1-D tensor (a path).
        fit_intercept, max_iter, tol: as for :class:`ElasticNet`.

    Shape:
        as :class:`ElasticNet`.

    Raises:
        ValueError: negative ``alpha``.

    Example:
        >>> X = torch.randn(40, 4, dtype=torch.float64)
        >>> y = 3 * X[:, 0]
        >>> Lasso(alpha=0.5).fit(X, y).coef[1:].abs().max()  # irrelevant features: exactly 0
        tensor(0., dtype=torch.float64)
    """

    _state_settings = ("alpha", "fit_intercept")

    def __init__(self, alpha: float | Tensor = 1.0, *, fit_intercept: bool = True,
                 max_iter: int = 20000, tol: float = 1e-12):
        super().__init__(alpha, 1.0, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol)
