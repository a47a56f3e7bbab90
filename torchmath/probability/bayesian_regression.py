"""Bayesian linear regression: conjugate Gaussian posterior, evidence maximization."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import as_batches
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_finite,
    check_floating,
    check_int,
    check_ndim,
    check_positive,
    check_same_size,
    check_shape,
    fail,
)
from torchmath.distributed import agree_layout
from torchmath.linalg import ScatterMatrix

__all__ = ["BayesianLinearRegression"]


class BayesianLinearRegression(Estimator):
    r"""Linear regression with a Gaussian prior on the weights, solved in closed form.

    .. math::
        w \sim \mathcal N(0, \alpha^{-1} I),\; y \mid x, w \sim \mathcal N(x^\top w + b,
        \beta^{-1}) \;\Rightarrow\; w \mid \mathcal D \sim \mathcal N(m_N, S_N),\;
        S_N^{-1} = \alpha I + \beta X^\top X,\; m_N = \beta S_N X^\top y

    The sufficient statistics are the count, means and scatter of :math:`[x, y]`
    (:class:`torchmath.linalg.ScatterMatrix`), merged exactly, so :meth:`partial_fit` in
    batches, a DataLoader and a multi-process fit all give the one-shot posterior. With
    ``fit_intercept`` the data are centred and the intercept is not penalized (as in
    scikit-learn). With ``fit_hyperparameters=True`` the evidence is maximized by
    MacKay's fixed-point updates, with the same Gamma hyperpriors and starting values
    as scikit-learn's ``BayesianRidge`` (whose ``lambda_``/``alpha_`` are our
    ``alpha``/``beta``):

    .. math::
        \gamma = \sum_i \frac{\beta e_i}{\alpha + \beta e_i},\quad
        \alpha \leftarrow \frac{\gamma + 2a_1}{m_N^\top m_N + 2a_2},\quad
        \beta \leftarrow \frac{n - \gamma + 2b_1}{\lVert y - Xm_N\rVert^2 + 2b_2}

    with :math:`e_i` the eigenvalues of :math:`X^\top X`.

    Args:
        alpha: prior precision of the weights (the starting value when fitted).
        beta: noise precision (when fitted, the start is ``1/var(y)`` as in scikit-learn).
        fit_hyperparameters: maximize the evidence over ``alpha`` and ``beta``.
        fit_intercept: fit an unpenalized intercept by centring.
        max_iter, tol: fixed-point iteration limit and tolerance on the summed absolute
            change of the weights.
        alpha_shape, alpha_rate, beta_shape, beta_rate: Gamma hyperpriors of the
            fixed-point updates (scikit-learn's ``lambda_1, lambda_2, alpha_1, alpha_2``).

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)``; ``posterior_mean``: ``(d,)``;
        ``posterior_cov``: ``(d, d)``; ``predict``: ``(...)`` for ``X`` ``(..., d)``.

    Raises:
        ValueError: shape mismatches, non-finite data, non-positive hyperparameters.
        NotFittedError: prediction before ``fit``.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, 3.0, 5.0, 7.0], dtype=torch.float64)
        >>> blr = BayesianLinearRegression(alpha=1e-6, beta=1e6).fit(X, y)
        >>> blr.posterior_mean, blr.intercept
        (tensor([2.0000], dtype=torch.float64), tensor(1.0000, dtype=torch.float64))

    Source: Bishop, *Pattern Recognition and Machine Learning* (2006), sec. 3.3 and 3.5;
    MacKay, *Bayesian interpolation* (1992).
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, fit_hyperparameters: bool = False,
                 fit_intercept: bool = True, *, max_iter: int = 300, tol: float = 1e-3,
                 alpha_shape: float = 1e-6, alpha_rate: float = 1e-6,
                 beta_shape: float = 1e-6, beta_rate: float = 1e-6):
        super().__init__()
        fn = "BayesianLinearRegression"
        self.alpha = check_positive(fn, "alpha", alpha)
        self.beta = check_positive(fn, "beta", beta)
        self.fit_hyperparameters = bool(fit_hyperparameters)
        self.fit_intercept = bool(fit_intercept)
        self.max_iter = check_int(fn, "max_iter", max_iter, minimum=1)
        self.tol = check_positive(fn, "tol", tol, strict=False)
        self.hyperpriors = tuple(check_positive(fn, name, v, strict=False) for name, v in
                                 (("alpha_shape", alpha_shape), ("alpha_rate", alpha_rate),
                                  ("beta_shape", beta_shape), ("beta_rate", beta_rate)))
        for name in ("count", "mean_xy", "scatter_xy", "coef", "intercept", "posterior_cov",
                     "alpha_", "beta_", "n_iter"):
            self.register_buffer(name, torch.empty(0))

    # -- statistics ------------------------------------------------------------------
    def _check_xy(self, fn: str, X: Tensor, y: Tensor) -> Tensor:
        check_floating(fn, "X", X)
        check_ndim(fn, "X", X, ndim=2)
        check_floating(fn, "y", y)
        check_ndim(fn, "y", y, ndim=1)
        check_same_size(fn, ["X", "y"], [X, y])
        check_finite(fn, "X", X)
        check_finite(fn, "y", y)
        if self.mean_xy.numel():
            check_shape(fn, "X", X, (self.mean_xy.shape[0] - 1,))
        return torch.cat([X, y[:, None].to(X.dtype)], 1)

    def _accumulate(self, fn: str, data: Any, y, sync, acc: ScatterMatrix | None):
        local = None
        for X, yy in as_batches(data, fn=fn, y=y, arity=2):
            Z = self._check_xy(fn, X, yy)
            if local is None:
                local = ScatterMatrix(Z.shape[1], dtype=Z.dtype, device=Z.device)
            local.update(Z.detach())
        (dim,), dtype = agree_layout([0 if local is None else local.dim],
                                     None if local is None else local.mean.dtype, sync=sync)
        dtype = dtype or torch.get_default_dtype()
        if dim == 0:
            raise fail(fn, "data", "at least one sample", "no samples")
        if local is None:
            local = ScatterMatrix(dim, dtype=dtype, device=self.count.device)
        local.all_reduce(sync=sync)
        if acc is not None:
            local = acc.merge(local)
        if local.count is None or not bool(local.count > 0):
            raise fail(fn, "data", "at least one sample", "no samples")
        return local

    def _current(self) -> ScatterMatrix | None:
        if not self.count.numel():
            return None
        acc = ScatterMatrix(self.mean_xy.shape[0], dtype=self.mean_xy.dtype,
                            device=self.mean_xy.device)
        acc.count, acc.mean, acc.scatter = self.count, self.mean_xy, self.scatter_xy
        acc.n_rows = 1
        return acc

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None):
        """Fit the posterior (and the hyperparameters) from all of ``data``; returns self."""
        acc = self._accumulate("BayesianLinearRegression.fit", data, y, sync, None)
        return self._solve(acc)

    def partial_fit(self, X: Tensor, y: Tensor, *, sync: bool | None = None):
        """Exact online update: the posterior of all batches seen so far."""
        acc = self._accumulate("BayesianLinearRegression.partial_fit", X, y, sync,
                               self._current())
        return self._solve(acc)

    def _moments(self, count=None, mean=None, scatter=None):
        """``(Sxx, Sxy, Syy)``: centred (with intercept) or raw second moments."""
        count = self.count if count is None else count
        mean = self.mean_xy if mean is None else mean
        S = self.scatter_xy if scatter is None else scatter
        if not self.fit_intercept:
            S = S + count * torch.outer(mean, mean)
        return S[:-1, :-1], S[:-1, -1], S[-1, -1]

    def _solve(self, acc: ScatterMatrix):
        self.count, self.mean_xy, self.scatter_xy = acc.count, acc.mean, acc.scatter
        Sxx, Sxy, Syy = self._moments()
        n = self.count
        like = self.mean_xy
        alpha, beta = like.new_tensor(self.alpha), like.new_tensor(self.beta)
        n_iter = 0
        if self.fit_hyperparameters:
            a1, a2, b1, b2 = self.hyperpriors
            e, V = torch.linalg.eigh(Sxx)
            e = e.clamp_min(0)
            proj = V.mT @ Sxy
            y_var = self.scatter_xy[-1, -1] / n
            beta = 1.0 / (y_var + torch.finfo(torch.float64).eps)
            old = None
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007
                coef = V @ (beta * proj / (alpha + beta * e))
                sse = Syy - 2 * coef @ Sxy + coef @ (Sxx @ coef)
                gamma = (beta * e / (alpha + beta * e)).sum()
                alpha = (gamma + 2 * a1) / (coef.square().sum() + 2 * a2)
                beta = (n - gamma + 2 * b1) / (sse.clamp_min(0) + 2 * b2)
                if old is not None and float((old - coef).abs().sum()) < self.tol:
                    break
                old = coef
        d = Sxx.shape[0]
        A = alpha * torch.eye(d, dtype=like.dtype, device=like.device) + beta * Sxx
        L = torch.linalg.cholesky(A)
        self.coef = beta * torch.cholesky_solve(Sxy[:, None], L)[:, 0]
        self.posterior_cov = torch.cholesky_inverse(L).contiguous()
        self.intercept = (self.mean_xy[-1] - self.mean_xy[:-1] @ self.coef) if \
            self.fit_intercept else like.new_zeros(())
        self.alpha_, self.beta_ = alpha, beta
        self.n_iter = torch.tensor(n_iter, device=like.device)
        self._mark_fitted()
        return self

    # -- results ---------------------------------------------------------------------
    @property
    def posterior_mean(self) -> Tensor:
        """The posterior mean of the weights :math:`m_N`, ``(d,)``."""
        self._check_fitted("posterior_mean")
        return self.coef

    def predict(self, X: Tensor, return_std: bool = False):
        r"""Predictive mean :math:`x^\top m_N + b`, and optionally the predictive standard
        deviation :math:`\sqrt{\beta^{-1} + \tilde x^\top S_N \tilde x}` (``\tilde x``:
        centred when an intercept is fitted, as in scikit-learn)."""
        self._check_fitted("predict")
        fn = "BayesianLinearRegression.predict"
        check_floating(fn, "X", X)
        check_shape(fn, "X", X, (self.coef.shape[0],))
        X = X.to(self.coef.dtype)
        mean = X @ self.coef + self.intercept
        if not return_std:
            return mean
        Xc = X - self.mean_xy[:-1] if self.fit_intercept else X
        var = ((Xc @ self.posterior_cov) * Xc).sum(-1) + 1.0 / self.beta_
        return mean, var.sqrt()

    def forward(self, X: Tensor) -> Tensor:
        """The predictive mean (differentiable in ``X``)."""
        return self.predict(X)

    def log_evidence(self, alpha: Tensor | float | None = None,
                     beta: Tensor | float | None = None) -> Tensor:
        r"""Log marginal likelihood of the (centred) targets, differentiable in ``alpha``
        and ``beta``.

        .. math::
            \log p(y\mid\alpha,\beta) = \frac d2\log\alpha + \frac n2\log\beta - E(m_N)
            - \frac12\log|A| - \frac n2\log 2\pi,\;
            E(m) = \frac\beta2\lVert y - Xm\rVert^2 + \frac\alpha2 m^\top m

        Defaults to the fitted hyperparameters. (Bishop 2006, eq. 3.86.)
        """
        self._check_fitted("log_evidence")
        like = self.mean_xy
        alpha = self.alpha_ if alpha is None else torch.as_tensor(alpha, dtype=like.dtype,
                                                                   device=like.device)
        beta = self.beta_ if beta is None else torch.as_tensor(beta, dtype=like.dtype,
                                                                device=like.device)
        check_positive("BayesianLinearRegression.log_evidence", "alpha", alpha)
        check_positive("BayesianLinearRegression.log_evidence", "beta", beta)
        Sxx, Sxy, Syy = self._moments()
        n, d = self.count, Sxx.shape[0]
        A = alpha * torch.eye(d, dtype=like.dtype, device=like.device) + beta * Sxx
        L = torch.linalg.cholesky(A)
        m = beta * torch.cholesky_solve(Sxy[:, None], L)[:, 0]
        sse = Syy - 2 * m @ Sxy + m @ (Sxx @ m)
        E = beta / 2 * sse + alpha / 2 * m.square().sum()
        log_det = 2 * L.diagonal().log().sum()
        return d / 2 * alpha.log() + n / 2 * beta.log() - E - log_det / 2 - \
            n / 2 * math.log(2 * math.pi)

    def to_distribution(self) -> torch.distributions.MultivariateNormal:
        """The posterior over the weights as ``torch.distributions.MultivariateNormal``."""
        self._check_fitted("to_distribution")
        return torch.distributions.MultivariateNormal(self.coef,
                                                      covariance_matrix=self.posterior_cov)
