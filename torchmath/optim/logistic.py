"""Logistic regression (binary and multinomial) with none / L2 / L1 / elastic-net penalties."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from torchmath._batches import as_batches, row_chunks
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_choice,
    check_floating,
    check_in_range,
    check_int,
    check_positive,
    check_shape,
    check_tensor,
    fail,
    validating,
)
from torchmath.distributed import all_reduce, all_reduce_sum
from torchmath.optim.proximal import prox_elastic_net

__all__ = ["LogisticRegression", "logistic_loss"]

PENALTIES = ("none", "l2", "l1", "elasticnet")
SOLVERS = ("newton", "lbfgs", "fista")


def logistic_loss(X: Tensor, y: Tensor, coef: Tensor, intercept: Tensor) -> Tensor:
    r"""Summed logistic (cross-entropy) loss of a linear model; binary or multinomial.

    .. math::
        \ell = \sum_i \Big(\log \sum_k e^{z_{ik}} - z_{i y_i}\Big), \qquad
        z_i = W x_i + b

    With one row of coefficients (binary) this is
    :math:`\sum_i \operatorname{softplus}(z_i) - y_i z_i` with :math:`y_i \in \{0, 1\}`.

    Args:
        X: features. y: integer labels. coef: ``W``. intercept: ``b``.

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)``; ``coef``: ``(K', d)`` with ``K' = 1`` (binary)
        or the number of classes; ``intercept``: ``(K',)``. Returns a scalar.

    Example:
        >>> X = torch.tensor([[0.0], [1.0]]); y = torch.tensor([0, 1])
        >>> logistic_loss(X, y, torch.zeros(1, 1), torch.zeros(1))
        tensor(1.3863)

    Source: Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 4.4.
    """
    z = X @ coef.mT + intercept
    if coef.shape[0] == 1:
        z = z.squeeze(-1)
        return (F.softplus(z) - y.to(z.dtype) * z).sum()
    return (torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)).sum()


def _batch_stats(X: Tensor, y: Tensor, W: Tensor, b: Tensor, hessian: bool):
    """Loss sum, gradient and (optionally) Hessian of one batch in the stacked variables
    ``theta = [W, b]`` of shape ``(K', d + 1)`` -- additive over batches."""
    n, d = X.shape
    K = W.shape[0]
    z = X @ W.mT + b
    if K == 1:
        z1 = z.squeeze(-1)
        yf = y.to(X.dtype)
        loss = (F.softplus(z1) - yf * z1).sum()
        p = torch.sigmoid(z1)
        R = (p - yf).unsqueeze(-1)  # (n, 1)
    else:
        loss = (torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)).sum()
        p = torch.softmax(z, -1)
        R = p - F.one_hot(y, K).to(X.dtype)
    grad = torch.cat([R.mT @ X, R.sum(0).unsqueeze(-1)], -1)  # (K, d+1)
    if not hessian:
        return loss, grad, None
    if K == 1:
        # [X 1]^T S [X 1] by blocks, in row chunks: no concatenated copy of X and no
        # temporary larger than a few tens of MB (DESIGN.md, "Fast by construction").
        w = p * (1 - p)
        H = X.new_empty(d + 1, d + 1)
        Hxx = X.new_zeros(d, d)
        step = row_chunks(n, d * X.element_size())
        for start in range(0, n, step):
            Xc = X[start:start + step]
            Hxx = Hxx + (Xc * w[start:start + step].unsqueeze(-1)).mT @ Xc
        H[:d, :d] = Hxx
        H[:d, d] = H[d, :d] = w @ X
        H[d, d] = w.sum()
    else:
        Xt = torch.cat([X, X.new_ones(n, 1)], -1)
        D = d + 1
        H = X.new_zeros(K, D, K, D)
        for k in range(K):
            for j in range(k, K):
                w = p[:, k] * ((1.0 if j == k else 0.0) - p[:, j])
                block = (Xt * w.unsqueeze(-1)).mT @ Xt
                H[k, :, j, :] = block
                if j != k:
                    H[j, :, k, :] = block.mT
        H = H.reshape(K * D, K * D)
    return loss, grad, H


class LogisticRegression(Estimator):
    r"""Penalized logistic regression, binary or multinomial, with scikit-learn's objective.

    .. math::
        \min_{W, b}\; C \sum_{i=1}^n \ell(W x_i + b,\ y_i) + r(W), \qquad
        r(W) = \rho \|W\|_1 + \tfrac{1 - \rho}{2} \|W\|_F^2

    with :math:`\ell` the cross-entropy (:func:`logistic_loss`), :math:`\rho = 0` for
    ``"l2"``, :math:`\rho = 1` for ``"l1"``, :math:`\rho` = ``l1_ratio`` for
    ``"elasticnet"``, and no :math:`r` for ``"none"``; the intercept is not penalized.
    Two classes give one coefficient row (sigmoid), more give one row per class (softmax),
    as scikit-learn's ``LogisticRegression`` does.

    Solvers (the objective is divided by :math:`C n` internally; same minimizer):

    * ``"newton"``: exact Newton with the closed-form Hessian :math:`\tilde X^\top S
      \tilde X` (one block per class pair for softmax), Cholesky solves and backtracking;
      gradient and Hessian are additive over batches and all-reduced across processes.
      Smooth penalties only.
    * ``"lbfgs"``: ``torch.optim.LBFGS`` with a strong-Wolfe line search. Smooth only.
    * ``"fista"``: accelerated proximal gradient with adaptive restart (Beck & Teboulle
      2009; O'Donoghue & Candes 2015), step :math:`1/L` from the largest eigenvalue of
      :math:`\tilde X^\top \tilde X`; the penalty enters through
      :func:`torchmath.optim.prox_elastic_net`, so L1 yields exact zeros.

    ``solver=None`` picks ``"newton"`` for ``"none"``/``"l2"`` and ``"fista"`` otherwise.

    Args:
        penalty: ``"none" | "l2" | "l1" | "elasticnet"``.
        C: inverse regularization strength (> 0).
        l1_ratio: :math:`\rho \in [0, 1]`, required for ``"elasticnet"`` only.
        solver: ``"newton" | "lbfgs" | "fista"`` or ``None`` (automatic).
        fit_intercept: learn :math:`b` (unpenalized).
        max_iter: iteration limit of the solver.
        tol: stop when the largest entry of the gradient (the proximal-gradient mapping
            for ``fista``) of the scaled objective is below ``tol``.

    Attributes:
        coef: ``(K', d)`` buffer; ``intercept``: ``(K',)``; ``n_iter``: iterations used.

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)`` integer labels ``0..K-1`` (``K >= 2``).

    Raises:
        ValueError: unknown penalty or solver, a non-smooth penalty with ``"newton"`` or
            ``"lbfgs"``, ``l1_ratio`` missing for (or given without) ``"elasticnet"``,
            bad ``C``/``max_iter``/``tol``; labels that are not integers ``0..K-1`` with
            ``K >= 2``; ``X`` of the wrong shape.

    Example:
        >>> X = torch.tensor([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
        >>> y = torch.tensor([0, 0, 1, 1, 0, 1])
        >>> model = LogisticRegression(C=1.0).fit(X, y)
        >>> model.predict(torch.tensor([[-3.0], [3.0]]))
        tensor([0, 1])

    Source: scikit-learn's ``LogisticRegression`` objective (Pedregosa et al., JMLR 2011);
    Nocedal & Wright, *Numerical Optimization*, ch. 3, 7 (Newton, L-BFGS).
    """

    def __init__(self, penalty: str = "l2", C: float = 1.0, l1_ratio: float | None = None,
                 solver: str | None = None, fit_intercept: bool = True, max_iter: int = 100,
                 tol: float = 1e-8):
        super().__init__()
        fn = "LogisticRegression"
        check_choice(fn, "penalty", penalty, PENALTIES)
        check_positive(fn, "C", C)
        if penalty == "elasticnet":
            if l1_ratio is None:
                raise fail(fn, "l1_ratio", "a number in [0, 1] for penalty='elasticnet'",
                           "None")
            check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
        elif l1_ratio is not None:
            raise fail(fn, "l1_ratio", "to be None unless penalty='elasticnet'", l1_ratio)
        if solver is None:
            solver = "newton" if penalty in ("none", "l2") else "fista"
        check_choice(fn, "solver", solver, SOLVERS)
        if solver in ("newton", "lbfgs") and penalty in ("l1", "elasticnet"):
            raise fail(fn, "solver", f"'fista' for the non-smooth penalty={penalty!r}",
                       repr(solver))
        check_int(fn, "max_iter", max_iter, minimum=1)
        check_positive(fn, "tol", tol)
        self.penalty, self.C, self.solver = penalty, float(C), solver
        self.l1_ratio = {"none": 0.0, "l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)
        self.fit_intercept, self.max_iter, self.tol = bool(fit_intercept), max_iter, tol
        self.register_buffer("coef", torch.empty(0))
        self.register_buffer("intercept", torch.empty(0))
        self.register_buffer("n_iter", torch.zeros((), dtype=torch.int64))

    # ----------------------------------------------------------------- fitting
    def _data(self, data: Any, y: Tensor | None, sync: bool | None):
        fn = "LogisticRegression.fit"
        batches = as_batches(data, fn=fn, y=y, arity=2)
        if not batches.reiterable:
            batches = [tuple(b) for b in batches]  # the solvers make several passes
        n, d, kmax, dtype, device = 0, None, -1, None, None
        for X, yb in batches:
            check_floating(fn, "X", X)
            check_shape(fn, "X", X, (None,) if d is None else (d,))
            if X.dim() != 2:
                raise fail(fn, "X", "of shape (n, d)", tuple(X.shape))
            check_tensor(fn, "y", yb)
            if yb.is_floating_point() or yb.is_complex() or yb.dtype == torch.bool:
                raise fail(fn, "y", "to hold integer class labels 0..K-1", yb.dtype, TypeError)
            if yb.shape != X.shape[:1]:
                raise fail(fn, "y", f"of shape ({X.shape[0]},) to match 'X'", tuple(yb.shape))
            d, dtype, device = X.shape[1], X.dtype, X.device
            n += X.shape[0]
            if yb.numel():
                if validating() and int(yb.min()) < 0:
                    raise fail(fn, "y", "to hold class labels 0..K-1", f"label {int(yb.min())}")
                kmax = max(kmax, int(yb.max()))
        if d is None:
            raise fail(fn, "data", "at least one batch", "no batches")
        counts = all_reduce_sum(torch.tensor([float(n)], dtype=torch.float64), sync=sync)
        kmax_all = all_reduce([torch.tensor([kmax], dtype=torch.int64)], "max", sync=sync)[0]
        n_total, n_classes = int(counts), int(kmax_all) + 1
        if n_classes < 2:
            raise fail(fn, "y", "labels of at least two classes 0..K-1", f"{n_classes} class")
        return batches, n_total, n_classes, d, dtype, device

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None):
        """Fit on a tensor pair ``(X, y)``, ``fit(X, y)``, or an iterable of batches."""
        batches, n, K, d, dtype, device = self._data(data, y, sync)
        rows = 1 if K == 2 else K
        theta = torch.zeros(rows, d + 1, dtype=dtype, device=device)
        scale = 1.0 / n
        alpha = 1.0 / (self.C * n)  # penalty weight on the scaled objective

        def stats(theta: Tensor, hessian: bool):
            W, b = theta[:, :d], theta[:, d]
            loss = theta.new_zeros(())
            grad = torch.zeros_like(theta)
            H = theta.new_zeros(rows * (d + 1), rows * (d + 1)) if hessian else None
            for X, yb in batches:
                if not X.shape[0]:
                    continue
                lb, gb, Hb = _batch_stats(X, yb.to(device), W, b, hessian)
                loss, grad = loss + lb, grad + gb
                if hessian:
                    H = H + Hb
            if hessian:
                loss, grad, H = all_reduce_sum(loss, grad, H, sync=sync)
            else:
                loss, grad = all_reduce_sum(loss, grad, sync=sync)
            loss, grad = loss * scale, grad * scale
            H = H * scale if hessian else None
            if not self.fit_intercept:
                grad[:, d] = 0
            return loss, grad, H

        mask = torch.ones_like(theta)
        mask[:, d] = 0  # the intercept is not penalized
        l2 = 0.0 if self.penalty == "none" else alpha * (1 - self.l1_ratio)

        if self.solver == "newton":
            theta, it = self._newton(stats, theta, mask, l2)
        elif self.solver == "lbfgs":
            theta, it = self._lbfgs(stats, theta, mask, l2)
        else:
            theta, it = self._fista(stats, batches, theta, mask, alpha, sync)
        if rows > 1 and self.fit_intercept:
            theta[:, d] -= theta[:, d].mean()  # softmax intercepts: the centered choice
        self.coef = theta[:, :d].contiguous()
        self.intercept = theta[:, d].contiguous()
        self.n_iter = torch.tensor(it, device=device)
        self._mark_fitted()
        return self

    def _newton(self, stats, theta, mask, l2):
        rows, D = theta.shape
        P = (mask * l2).reshape(-1)
        f = lambda t, hess: self._penalized(stats(t, hess), t, mask, l2)
        loss, grad, H = f(theta, True)
        it = 0
        for it in range(1, self.max_iter + 1):
            if float(grad.abs().max()) <= self.tol:
                it -= 1
                break
            # Directions without curvature (softmax's shift, or an unpenalized column of
            # zeros) get a tiny ridge; the gradient has no component along them.
            Hp = H + torch.diag(P + 1e-12 * (1 + float(H.diagonal().abs().max())))
            if not self.fit_intercept:
                idx = torch.arange(rows, device=theta.device) * D + D - 1
                Hp[idx, :] = 0.0
                Hp[:, idx] = 0.0
                Hp[idx, idx] = 1.0
            L, info = torch.linalg.cholesky_ex(Hp)
            step = -torch.cholesky_solve(grad.reshape(-1, 1), L).reshape(rows, D)
            slope = float((grad * step).sum())
            t = 1.0
            while True:
                trial = theta + t * step
                new = f(trial, True)
                if float(new[0]) <= float(loss) + 1e-4 * t * slope or t < 1e-10:
                    break
                t *= 0.5
            theta, (loss, grad, H) = trial, new
        return theta, it

    @staticmethod
    def _penalized(out, theta, mask, l2):
        loss, grad, H = out
        w = theta * mask
        return loss + 0.5 * l2 * (w * w).sum(), grad + l2 * w, H

    def _lbfgs(self, stats, theta, mask, l2):
        param = theta.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([param], lr=1, max_iter=self.max_iter,
                                tolerance_grad=self.tol, tolerance_change=0.0,
                                history_size=20, line_search_fn="strong_wolfe")
        calls = [0]

        def closure():
            calls[0] += 1
            with torch.no_grad():
                loss, grad, _ = self._penalized(stats(param.detach(), False), param.detach(),
                                                mask, l2)
            param.grad = grad
            return loss

        opt.step(closure)
        state = opt.state[param]
        return param.detach(), int(state.get("n_iter", calls[0]))

    def _fista(self, stats, batches, theta, mask, alpha, sync):
        d = theta.shape[1] - 1
        gram = theta.new_zeros(d + 1, d + 1)
        for X, _ in batches:
            Xt = torch.cat([X, X.new_ones(X.shape[0], 1)], -1)
            gram = gram + Xt.mT @ Xt
        gram = all_reduce_sum(gram, sync=sync)
        n = 1.0 / alpha / self.C
        curvature = 0.25 if theta.shape[0] == 1 else 0.5
        L = curvature * float(torch.linalg.eigvalsh(gram)[-1]) / n
        step = 1.0 / L
        lam = step * alpha if self.penalty != "none" else 0.0

        def prox(v):
            if lam == 0.0:
                return v
            return torch.where(mask.bool(), prox_elastic_net(v, lam, self.l1_ratio), v)

        def smooth_loss(t):
            return stats(t, False)

        x = theta
        yk, tk = theta, 1.0
        loss_y, grad_y, _ = smooth_loss(yk)
        it = 0
        for it in range(1, self.max_iter + 1):  # noqa: B007  (it is returned)
            x_new = prox(yk - step * grad_y)
            change = float((x_new - yk).abs().max()) / step
            t_new = (1 + (1 + 4 * tk * tk) ** 0.5) / 2
            # Adaptive restart when the momentum points uphill (O'Donoghue & Candes).
            if float(((yk - x_new) * (x_new - x)).sum()) > 0:
                t_new, y_next = 1.0, x_new
            else:
                y_next = x_new + ((tk - 1) / t_new) * (x_new - x)
            x, yk, tk = x_new, y_next, t_new
            if change <= self.tol:
                break
            loss_y, grad_y, _ = smooth_loss(yk)
        return x, it

    # -------------------------------------------------------------- prediction
    def decision_function(self, X: Tensor) -> Tensor:
        """Scores :math:`W x + b`: ``(n,)`` for two classes, ``(n, K)`` for more."""
        self._check_fitted("decision_function")
        fn = "LogisticRegression.decision_function"
        check_floating(fn, "X", X)
        check_shape(fn, "X", X, (self.coef.shape[1],))
        z = X @ self.coef.mT.to(X.dtype) + self.intercept.to(X.dtype)
        return z.squeeze(-1) if self.coef.shape[0] == 1 else z

    def predict_log_proba(self, X: Tensor) -> Tensor:
        """Log class probabilities, ``(n, K)`` (``K = 2`` for binary)."""
        z = self.decision_function(X)
        if self.coef.shape[0] == 1:
            return torch.stack([F.logsigmoid(-z), F.logsigmoid(z)], -1)
        return torch.log_softmax(z, -1)

    def predict_proba(self, X: Tensor) -> Tensor:
        """Class probabilities, ``(n, K)``."""
        return self.predict_log_proba(X).exp()

    def predict(self, X: Tensor) -> Tensor:
        """Most probable class, ``(n,)`` int64."""
        z = self.decision_function(X)
        if self.coef.shape[0] == 1:
            return (z > 0).long()
        return z.argmax(-1)

    def forward(self, X: Tensor) -> Tensor:
        """The log class probabilities (differentiable in ``X``)."""
        return self.predict_log_proba(X)

    def extra_repr(self) -> str:
        return (f"penalty={self.penalty!r}, C={self.C}, l1_ratio={self.l1_ratio}, "
                f"solver={self.solver!r}, fit_intercept={self.fit_intercept}")
