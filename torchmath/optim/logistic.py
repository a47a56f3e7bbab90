"""Logistic regression (binary and multinomial) with none / L2 / L1 / elastic-net penalties."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from torchmath._batches import Intake, encode_labels, row_chunks
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_choice,
    check_floating,
    check_in_range,
    check_int,
    check_labels,
    check_positive,
    fail,
    promote,
)
from torchmath.distributed import all_reduce_sum
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

    Returns:
        The summed loss (a 0-d tensor), in the promoted dtype of ``X``, ``coef`` and
        ``intercept`` (torch's type promotion).

    Raises:
        TypeError: ``X``, ``coef`` or ``intercept`` not floating, ``y`` not integer.
        ValueError: (while validation is on) a label outside ``{0, 1}`` (binary) or
            ``[0, K')`` (multinomial).

    Example:
        >>> X = torch.tensor([[0.0], [1.0]]); y = torch.tensor([0, 1])
        >>> logistic_loss(X, y, torch.zeros(1, 1), torch.zeros(1))
        tensor(1.3863)

    Source: Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 4.4.
    """
    fn = "logistic_loss"
    for name, t in (("X", X), ("coef", coef), ("intercept", intercept)):
        check_floating(fn, name, t)
    check_labels(fn, "y", y, max(coef.shape[0], 2))
    (X, coef, intercept), _ = promote(X, coef, intercept)
    z = X @ coef.mT + intercept
    if coef.shape[0] == 1:
        z = z.squeeze(-1)
        return (F.softplus(z) - y.to(z.dtype) * z).sum()
    return (torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)).sum()


# Row chunks, measured on the 2-core CPU (d = 100): the loss-and-gradient pass reads each
# chunk of X twice (X w, then X^T r), so a chunk that stays in L2 cache (~1 MB) makes it
# one pass over memory (1.7x faster than two full matrix-vector products); the Hessian's
# scaled float32 copy of a chunk is fastest at a few MB (4-8k rows).
_GRAD_CHUNK_BYTES = 2**20
_HESSIAN_CHUNK_BYTES = 4 * 2**20
# Keep a Hessian factor for the next Newton step while full steps shrink the gradient by
# at least this factor.
_REUSE_RATIO = 0.25


class _Objective:
    r"""The scaled logistic loss :math:`\frac1n \sum_i \ell_i + \frac{l_2}{2}\|W\|^2` of
    ``theta = [W, b]`` (shape ``(K', d + 1)``) over batches, with its gradient and Hessian.

    Every sum is additive over batches and all-reduced across processes. When the batches
    are fixed tensors (``cached``), the logits of the last :meth:`value_and_grad` are kept
    so the Hessian at an accepted point costs no further ``X W``.
    """

    def __init__(self, batches, cached: bool, n: int, K: int, d: int, dtype, device, sync,
                 fit_intercept: bool, l2: float):
        self.rows, self.d, self.n = (1 if K == 2 else K), d, n
        self.K, self.dtype, self.device = K, dtype, device
        self.sync, self.process_group = sync  # (sync, process_group)
        self.fit_intercept, self.l2 = fit_intercept, l2
        self.cached = cached
        self.acc = torch.float64 if device.type != "mps" else dtype  # MPS has no float64
        self.source = [self._prepare(X, y) for X, y in batches if X.shape[0]] if cached \
            else batches

    def _prepare(self, X: Tensor, y: Tensor):
        y = y.to(self.device)
        if self.rows == 1:
            return X, y.to(X.dtype)
        return X, F.one_hot(y, self.K).to(X.dtype)

    def _items(self):
        if self.cached:
            yield from self.source
            return
        for X, y in self.source:
            if X.shape[0]:
                yield self._prepare(X, y)

    def value_and_grad(self, theta: Tensor):
        """Penalized loss and gradient at ``theta`` (the gradient is zero in the intercept
        without ``fit_intercept``), and the logits per batch (``None`` if not cached).

        One pass over ``X`` in cache-sized row chunks: ``z = X w + b``, the loss, the
        residual ``r``, and ``X^T r`` while the chunk is still in cache.
        """
        d, rows = self.d, self.rows
        # Chunk sums accumulate in float64 (float32 data too): the line search compares
        # losses that differ in their last digits near the optimum.
        acc = self.acc
        loss = torch.zeros((), dtype=acc, device=self.device)
        grad = torch.zeros(theta.shape, dtype=acc, device=self.device)
        W, b = theta[:, :d], theta[:, d]
        zs = [] if self.cached else None
        for X, t in self._items():
            n = X.shape[0]
            step = row_chunks(n, X.shape[1] * X.element_size(), _GRAD_CHUNK_BYTES)
            z = X.new_empty(n) if rows == 1 else X.new_empty(n, rows)
            for a in range(0, n, step):
                Xc, tc, zc = X[a:a + step], t[a:a + step], z[a:a + step]
                if rows == 1:
                    torch.mv(Xc, W[0], out=zc)
                    zc += b[0]
                    loss += (F.softplus(zc) - tc * zc).sum()
                    r = torch.sigmoid(zc) - tc
                    grad[0, :d] += torch.mv(Xc.mT, r)
                    grad[0, d] += r.sum()
                else:
                    torch.mm(Xc, W.mT, out=zc)
                    zc += b
                    loss += (torch.logsumexp(zc, -1) - (tc * zc).sum(-1)).sum()
                    R = torch.softmax(zc, -1) - tc
                    grad[:, :d] += R.mT @ Xc
                    grad[:, d] += R.sum(0)
            if zs is not None:
                zs.append(z)
        loss, grad = all_reduce_sum(loss, grad, sync=self.sync, process_group=self.process_group)
        loss, grad = loss / self.n, (grad / self.n).to(theta.dtype)
        loss = loss + 0.5 * self.l2 * (W * W).sum()
        grad[:, :d] += self.l2 * W
        if not self.fit_intercept:
            grad[:, d] = 0
        return loss, grad, zs

    def hessian(self, theta: Tensor, zs, low_precision: bool, stride: int = 1) -> Tensor:
        r"""Hessian of the (unpenalized) scaled loss, ``(K' (d+1), K' (d+1))``.

        Each block is :math:`\tilde X^\top S \tilde X` with :math:`\tilde X = [X\ 1]`,
        formed by one GEMM per row chunk on a small buffer (no copy of ``X``), accumulated
        in float64. With ``low_precision`` the chunk GEMMs run in float32; with
        ``stride > 1`` only every ``stride``-th row enters (a sub-sampled Hessian, Byrd et
        al. 2011). Either is only the Newton metric: the gradient, which decides the
        answer, stays exact.
        """
        d, D, rows = self.d, self.d + 1, self.rows
        acc, work = self.acc, torch.float32 if low_precision else self.dtype
        H = torch.zeros(rows * D, rows * D, dtype=acc, device=self.device)
        count = H.new_zeros(())
        items = self._items() if zs is not None else \
            ((item, self._logits(item[0], theta)) for item in self._items())
        for item, z in (zip(items, zs, strict=True) if zs is not None else items):
            X = item[0][::stride]
            z = z[::stride]
            count += X.shape[0]
            if rows == 1:  # [X 1]^T diag(w) [X 1] = B^T B with B = sqrt(w) [X 1]
                _add_gram(H, X, torch.sigmoid(z).mul_(torch.sigmoid(-z)).sqrt_(), work)
                continue
            n = X.shape[0]
            step = row_chunks(n, D * 4, _HESSIAN_CHUNK_BYTES)
            buf = torch.empty(step, D, dtype=work, device=self.device)
            P = torch.softmax(z, -1)
            for a in range(0, n, step):
                m = min(step, n - a)
                B = buf[:m]
                B[:, :d] = X[a:a + m]
                B[:, d] = 1
                Pc = P[a:a + m]
                for k in range(rows):
                    for j in range(k, rows):
                        w = Pc[:, k] * ((1.0 if j == k else 0.0) - Pc[:, j])
                        block = ((B * w.to(work)[:, None]).mT @ B).to(acc)
                        H[k * D:(k + 1) * D, j * D:(j + 1) * D] += block
                        if j != k:
                            H[j * D:(j + 1) * D, k * D:(k + 1) * D] += block.mT
        H, count = all_reduce_sum(H, count, sync=self.sync, process_group=self.process_group)
        return H / count

    def _logits(self, X: Tensor, theta: Tensor) -> Tensor:
        d = self.d
        if self.rows == 1:
            return torch.mv(X, theta[0, :d]) + theta[0, d]
        return torch.addmm(theta[:, d], X, theta[:, :d].mT)

    def gram(self) -> Tensor:
        r""":math:`\tilde X^\top \tilde X / n`, :math:`\tilde X = [X\ 1]`, summed in float64."""
        D = self.d + 1
        H = torch.zeros(D, D, dtype=self.acc, device=self.device)
        for X, _ in self._items():
            _add_gram(H, X, None, self.dtype)
        return all_reduce_sum(H, sync=self.sync, process_group=self.process_group) / self.n


def _add_gram(H: Tensor, X: Tensor, s: Tensor | None, work: torch.dtype) -> None:
    """``H += B^T B`` for ``B = diag(s) [X 1]`` (``s = 1`` if ``None``), by row chunks on a
    small buffer of dtype ``work``: no copy of ``X``, one GEMM per chunk."""
    n, d = X.shape
    step = row_chunks(n, (d + 1) * 4, _HESSIAN_CHUNK_BYTES)
    buf = torch.empty(step, d + 1, dtype=work, device=X.device)
    for a in range(0, n, step):
        m = min(step, n - a)
        B = buf[:m]
        if s is None:
            B[:, :d] = X[a:a + m]
            B[:, d] = 1
        else:
            torch.mul(X[a:a + m], s[a:a + m, None], out=B[:, :d])
            B[:, d] = s[a:a + m]
        H += (B.mT @ B).to(H.dtype)


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

    * ``"newton"``: Newton's method with the closed-form Hessian :math:`\tilde X^\top S
      \tilde X` (one block per class pair for softmax), Cholesky solves and Armijo
      backtracking; gradient and Hessian are additive over batches and all-reduced across
      processes. The Hessian is only the step's metric, so it is made cheap where that is
      safe: on large problems it starts sub-sampled (every 2nd-4th row) with float32 GEMMs,
      a factor is reused while steps converge fast, and it becomes exact when they do not
      (see ``_newton``); the exact gradient decides convergence. Smooth penalties only.
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
        max_iter: iteration limit of the solver; ``None``: 100 for ``"newton"`` and
            ``"lbfgs"``, 10 000 for ``"fista"`` (first-order: enough to converge on
            standardized data such as breast cancer).
        tol: stop when the Newton decrement :math:`\sqrt{g^\top H^{-1} g}` (``newton``;
            invariant to the scale of the features), the largest entry of the gradient
            (``lbfgs``) or of the proximal-gradient mapping (``fista``) of the scaled
            objective is below ``tol``. A fit that stops at ``max_iter`` warns with
            :class:`torchmath.ConvergenceWarning`.

    Attributes:
        classes: ``(K,)`` the labels, sorted (any integers; scikit-learn's ``classes_``);
        coef: ``(K', d)`` buffer; ``intercept``: ``(K',)``; ``n_iter``: iterations used;
        ``converged``: whether ``tol`` was met. Softmax intercepts are centred across
        classes, and so are unpenalized softmax coefficients (as scikit-learn's).

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)`` integer labels of at least two classes.

    Raises:
        ValueError: unknown penalty or solver, a non-smooth penalty with ``"newton"`` or
            ``"lbfgs"``, ``l1_ratio`` missing for (or given without) ``"elasticnet"``,
            bad ``C``/``max_iter``/``tol``; fewer than two classes; NaN/inf in ``X``;
            ``X`` of the wrong shape.

    Example:
        >>> X = torch.tensor([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
        >>> y = torch.tensor([0, 0, 1, 1, 0, 1])
        >>> model = LogisticRegression(C=1.0).fit(X, y)
        >>> model.predict(torch.tensor([[-3.0], [3.0]]))
        tensor([0, 1])

    Source: scikit-learn's ``LogisticRegression`` objective (Pedregosa et al., JMLR 2011);
    Nocedal & Wright, *Numerical Optimization*, ch. 3, 7 (Newton, L-BFGS).
    """

    _fitted_buffers = ("classes", "coef", "intercept", "n_iter", "converged")
    _state_settings = ("penalty", "C", "l1_ratio", "fit_intercept")

    def __init__(self, penalty: str = "l2", C: float = 1.0, l1_ratio: float | None = None,
                 solver: str | None = None, fit_intercept: bool = True,
                 max_iter: int | None = None, tol: float = 1e-8):
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
        if solver is not None:
            check_choice(fn, "solver", solver, SOLVERS)
            if solver in ("newton", "lbfgs") and penalty in ("l1", "elasticnet"):
                raise fail(fn, "solver", f"'fista' for the non-smooth penalty={penalty!r}",
                           repr(solver))
        if max_iter is not None:
            check_int(fn, "max_iter", max_iter, minimum=1)
        check_positive(fn, "tol", tol)
        self.penalty, self.C, self.l1_ratio, self.solver = penalty, C, l1_ratio, solver
        self.fit_intercept, self.max_iter, self.tol = fit_intercept, max_iter, tol

    def _n_features(self) -> int:
        return self.coef.shape[-1]

    def _solver(self) -> str:
        if self.solver is not None:
            return self.solver
        return "newton" if self.penalty in ("none", "l2") else "fista"

    def _rho(self) -> float:
        """The L1 share of the penalty: 0 for none/l2, 1 for l1, ``l1_ratio`` otherwise."""
        return {"none": 0.0, "l2": 0.0, "l1": 1.0}.get(self.penalty, self.l1_ratio)

    def _max_iter(self) -> int:
        if self.max_iter is not None:
            return self.max_iter
        return 10_000 if self._solver() == "fista" else 100

    # ----------------------------------------------------------------- fitting
    def _data(self, data: Any, y: Tensor | None, sync: bool | None, process_group):
        fn = "LogisticRegression.fit"
        intake = Intake(data, y, fn=fn, y_kind="labels")
        # Tensors and lists are fixed: keep the batches (the same tensors, no copies) so
        # logits can be cached between passes. A one-shot iterator is read once into a
        # list (the solvers make several passes); a DataLoader is re-read on every pass.
        cached = y is not None or isinstance(data, Tensor | list | tuple) \
            or not intake.batches.reiterable
        items = intake.read()  # the first pass: checks, layout and labels
        intake.agree(sync=sync, process_group=process_group, device=self.coef.device)
        classes = intake.classes(sync=sync, process_group=process_group)
        if classes.numel() < 2:
            raise fail(fn, "y", "labels of at least two classes",
                       f"{classes.numel()} class(es)")
        n = all_reduce_sum(torch.tensor([float(intake.n_rows)], dtype=torch.float64),
                           sync=sync, process_group=process_group)
        if cached:
            batches = [(X, encode_labels(fn, yb, classes)) for X, yb in items]
        else:
            batches = _Encoded(intake, classes, fn)
        return (batches, cached, int(n), classes, intake.n_features, intake.dtype,
                intake.device)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None):
        """Fit on a tensor pair ``(X, y)``, ``fit(X, y)``, or an iterable of batches."""
        batches, cached, n, classes, d, dtype, device = self._data(data, y, sync,
                                                                   process_group)
        K = classes.numel()
        rows = 1 if K == 2 else K
        theta = torch.zeros(rows, d + 1, dtype=dtype, device=device)
        alpha = 1.0 / (self.C * n)  # penalty weight on the scaled objective
        rho, solver = self._rho(), self._solver()
        l2 = 0.0 if self.penalty == "none" else alpha * (1 - rho)
        if solver == "fista":
            l2 = 0.0  # the proximal step applies the whole penalty
        obj = _Objective(batches, cached, n, K, d, dtype, device, (sync, process_group),
                         self.fit_intercept, l2)
        if solver == "newton":
            theta, it, ok = self._newton(obj, theta)
        elif solver == "lbfgs":
            theta, it, ok = self._lbfgs(obj, theta)
        else:
            theta, it, ok = self._fista(obj, theta, alpha)
        if rows > 1:
            # Softmax is invariant to a shift shared by all classes: take the centred
            # choice for what is not penalized (the intercepts; all of theta without a
            # penalty, as scikit-learn's unpenalized multinomial model; L2 centres the
            # coefficients by itself, L1 is not invariant).
            theta = theta.clone()
            if self.fit_intercept:
                theta[:, d] -= theta[:, d].mean()
            if self.penalty == "none":
                theta[:, :d] -= theta[:, :d].mean(0)
        self.classes = classes.to(device)
        self.coef = theta[:, :d].contiguous()
        self.intercept = theta[:, d].contiguous()
        self.n_iter = torch.tensor(it, device=device)
        self.converged = torch.tensor(ok, device=device)
        self._mark_fitted()
        if not ok:
            self._warn_not_converged("LogisticRegression.fit", self._max_iter(),
                                     f" (solver={solver!r})")
        return self

    def _newton_factor(self, obj: _Objective, theta: Tensor, zs, low_precision: bool,
                       stride: int, exact: bool):
        """Cholesky factor of the penalized Hessian, or ``None`` when an inexact Hessian is
        not safely positive definite (float32 rounding on an ill-conditioned problem)."""
        rows, D = theta.shape
        H = obj.hessian(theta, zs, low_precision, stride)
        penalty = theta.new_full((rows, D), obj.l2)
        penalty[:, D - 1] = 0.0
        diag = H.diagonal()
        scale = diag.abs().max()
        # A ridge relative to each direction's own curvature (features of any scale give
        # the same steps, rescaled); directions without curvature (an unpenalized column
        # of zeros) get a tiny one relative to the largest: the gradient has no component
        # along them.
        flat = torch.where(diag > 0, diag, 1e-12 * scale + torch.finfo(H.dtype).tiny)
        diag += penalty.reshape(-1).to(H.dtype) + 1e-12 * flat
        idx = torch.arange(rows, device=theta.device) * D + D - 1  # the intercepts
        if not self.fit_intercept:
            H[idx, :] = 0.0
            H[:, idx] = 0.0
            H[idx, idx] = 1.0
        elif rows > 1:
            # Softmax is invariant to shifting all intercepts together: give that direction
            # curvature (the gradient is orthogonal to it, so the step does not change).
            H[idx[:, None], idx] += scale / rows
        L, info = torch.linalg.cholesky_ex(H)
        dL = L.diagonal()
        if not exact and (bool(info) or float((dL.max() / dL.min()) ** 2) > 1e4):
            return None  # float32 rounding could break or slow Newton here
        jitter = 1e-10
        while bool(info) and jitter < 1:  # rounding in an exact Hessian of a flat problem
            L, info = torch.linalg.cholesky_ex(H + jitter * scale * torch.eye(
                H.shape[0], dtype=H.dtype, device=H.device))
            jitter *= 100
        return L

    def _newton(self, obj: _Objective, theta: Tensor):
        """Newton's method with Armijo backtracking and a cheap, adaptive Hessian.

        The Hessian (a GEMM over the data) costs several gradients, and Newton converges
        (superlinearly near the optimum, by the Dennis-More condition) with any metric
        close to it, while the exact gradient decides the answer. So, measured on the
        benchmark: the Hessian of large problems is first formed on every ``stride``-th
        row (sub-sampled Newton, Byrd et al. 2011), its GEMMs run in float32 for float64
        data, and a factor is kept for the next step while full steps shrink the gradient
        at least ``1 / _REUSE_RATIO``-fold (the chord/Shamanskii variant). A fresh full
        step that shrinks it less than 2-fold, or a condition estimate above 1e4, moves to
        a more exact Hessian (all rows, then float64); backtracking steps refresh it.
        """
        rows, D = theta.shape
        # Hessian levels: (low_precision, stride), cheapest first. Small problems (a
        # Hessian of under ~4M multiply-adds) take plain exact Newton steps.
        levels = [(False, 1)]
        reuse = obj.n * (rows * D) ** 2 >= 2**22
        if reuse:
            if theta.dtype == torch.float64:
                levels.insert(0, (True, 1))
            stride = min(4, obj.n // (64 * rows * D))
            if stride > 1:
                levels.insert(0, (levels[0][0], stride))
        level = 0
        loss, grad, zs = obj.value_and_grad(theta)
        gmax = float(grad.abs().max())
        L, fresh, it, converged = None, False, 0, False
        for it in range(1, self._max_iter() + 1):
            if gmax == 0.0:
                it, converged = it - 1, True
                break
            if L is None:
                last = len(levels) - 1
                L = self._newton_factor(obj, theta, zs, *levels[level], level == last)
                if L is None:  # ill-conditioned: the exact Hessian from now on
                    level = last
                    L = self._newton_factor(obj, theta, zs, *levels[level], True)
                fresh = True
            step = -torch.cholesky_solve(grad.reshape(-1, 1).to(L.dtype), L)
            step = step.reshape(rows, D).to(theta.dtype)
            slope = float((grad * step).sum())
            # The Newton decrement sqrt(g^T H^-1 g) = sqrt(-slope): affine invariant, so
            # features scaled by 1e-6 stop where unscaled ones do.
            if fresh and (-slope) ** 0.5 <= self.tol:
                it, converged = it - 1, True
                break
            if not fresh and (-slope) ** 0.5 <= self.tol:
                L = None  # confirm with a fresh factor before stopping
                continue
            f0, t = float(loss), 1.0
            while True:
                trial = theta + t * step
                new_loss, new_grad, new_zs = obj.value_and_grad(trial)
                if float(new_loss) <= f0 + 1e-4 * t * slope or t < 1e-10:
                    break
                t *= 0.5
            if fresh and (t < 1e-10 or float(new_loss) >= f0):
                # no decrease along a fresh Newton direction: at rounding level
                converged = (-slope) ** 0.5 <= max(self.tol, 1e3 * torch.finfo(
                    theta.dtype).eps ** 0.5 * (1 + abs(f0)) ** 0.5)
                break
            theta, loss, grad, zs = trial, new_loss, new_grad, new_zs
            new_gmax = float(grad.abs().max())
            ratio = new_gmax / gmax
            if fresh and t == 1.0 and ratio > 0.5 and level + 1 < len(levels):
                level += 1  # a fresh full Newton step should shrink the gradient more
            if t < 1.0 or ratio > _REUSE_RATIO or not reuse:
                L = None  # refresh the Hessian for the next step
            fresh, gmax = False, new_gmax
        return theta, it, converged

    def _lbfgs(self, obj: _Objective, theta: Tensor):
        param = theta.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([param], lr=1, max_iter=self._max_iter(),
                                tolerance_grad=self.tol, tolerance_change=0.0,
                                history_size=20, line_search_fn="strong_wolfe")
        calls = [0]

        def closure():
            calls[0] += 1
            with torch.no_grad():
                loss, param.grad, _ = obj.value_and_grad(param.detach())
            return loss

        opt.step(closure)
        state = opt.state[param]
        with torch.no_grad():
            gmax = float(obj.value_and_grad(param.detach())[1].abs().max())
        return param.detach(), int(state.get("n_iter", calls[0])), gmax <= self.tol

    def _fista(self, obj: _Objective, theta: Tensor, alpha: float):
        rows, D = theta.shape
        # Lipschitz constant of the scaled loss: curvature * lambda_max([X 1]^T [X 1]) / n.
        gram = obj.gram()
        curvature = 0.25 if rows == 1 else 0.5
        L = curvature * float(torch.linalg.eigvalsh(gram)[-1])
        step = 1.0 / L
        lam = step * alpha if self.penalty != "none" else 0.0
        mask = torch.ones_like(theta, dtype=torch.bool)
        mask[:, D - 1] = False  # the intercept is not penalized

        def prox(v):
            if lam == 0.0:
                return v
            return torch.where(mask, prox_elastic_net(v, lam, self._rho()), v)

        def gradient(t):
            return obj.value_and_grad(t)[1]

        x = theta
        yk, tk = theta, 1.0
        grad_y = gradient(yk)
        it, converged = 0, False
        for it in range(1, self._max_iter() + 1):  # noqa: B007  (it is returned)
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
                converged = True
                break
            grad_y = gradient(yk)
        return x, it, converged

    # -------------------------------------------------------------- prediction
    def _scores(self, X: Tensor, method: str) -> Tensor:
        X = self._input(method, X)
        z = X @ self.coef.mT + self.intercept
        return z.squeeze(-1) if self.coef.shape[0] == 1 else z

    def _log_proba(self, X: Tensor, method: str) -> Tensor:
        z = self._scores(X, method)
        if self.coef.shape[0] == 1:
            return torch.stack([F.logsigmoid(-z), F.logsigmoid(z)], -1)
        return torch.log_softmax(z, -1)

    def decision_function(self, X: Tensor) -> Tensor:
        """Scores :math:`W x + b`: ``(..., )`` for two classes, ``(..., K)`` for more."""
        return self._scores(X, "decision_function")

    def predict_log_proba(self, X: Tensor) -> Tensor:
        """Log class probabilities, ``(..., K)`` (columns follow ``classes``)."""
        return self._log_proba(X, "predict_log_proba")

    def predict_proba(self, X: Tensor) -> Tensor:
        """Class probabilities, ``(..., K)`` (columns follow ``classes``)."""
        return self._log_proba(X, "predict_proba").exp()

    def predict(self, X: Tensor) -> Tensor:
        """The most probable class label (from ``classes``), ``(...)``."""
        z = self._scores(X, "predict")
        idx = (z > 0).long() if self.coef.shape[0] == 1 else z.argmax(-1)
        return self.classes[idx]

    def score(self, X: Tensor, y: Tensor) -> Tensor:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        return (self.predict(X) == y.to(self.classes.device)).to(self.coef.dtype).mean()

    def forward(self, X: Tensor) -> Tensor:
        """The log class probabilities (differentiable in ``X``)."""
        return self.predict_log_proba(X)


class _Encoded:
    """A DataLoader's batches re-read on every pass, as ``(X, class index)`` (checked on
    the first pass; detached on every one)."""

    def __init__(self, intake: Intake, classes: Tensor, fn: str):
        self.intake, self.classes, self.fn = intake, classes, fn

    def __iter__(self):
        for batch in self.intake.batches:
            X = batch[0].detach().to(self.intake.dtype)
            yield X, encode_labels(self.fn, batch[1], self.classes)
