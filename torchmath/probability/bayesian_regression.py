"""Bayesian linear regression: conjugate Gaussian posterior, evidence maximization."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, accumulate
from torchmath._estimator import Estimator, r2_score
from torchmath._validation import check_int, check_positive, fail
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
        alpha_init: prior precision of the weights (kept fixed, or the starting value
            when ``fit_hyperparameters``).
        beta_init: noise precision (kept fixed, or the starting value when
            ``fit_hyperparameters``); ``None``: ``1`` when fixed, ``1/var(y)`` when fitted
            (scikit-learn's start).
        fit_hyperparameters: maximize the evidence over ``alpha`` and ``beta``.
        fit_intercept: fit an unpenalized intercept by centring.
        max_iter, tol: fixed-point iteration limit and tolerance on the summed absolute
            change of the weights (a fit that stops at ``max_iter`` warns with
            :class:`torchmath.ConvergenceWarning`).
        alpha_shape, alpha_rate, beta_shape, beta_rate: Gamma hyperpriors of the
            fixed-point updates (scikit-learn's ``lambda_1, lambda_2, alpha_1, alpha_2``).

    Attributes (buffers, after ``fit``):
        coef ``(d,)`` (:math:`m_N`), intercept ``()``, posterior_cov ``(d, d)``, alpha
        ``()``, beta ``()``, n_iter ``()``, converged ``()``; count, mean_xy, scatter_xy
        (the statistics of :math:`[x, y]`, for ``partial_fit``).

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)``; ``posterior_mean``: ``(d,)``;
        ``posterior_cov``: ``(d, d)``; ``predict``: ``(...)`` for ``X`` ``(..., d)``.

    Raises:
        ValueError: shape mismatches, non-finite data, non-positive hyperparameters.
        NotFittedError: prediction before ``fit``.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, 3.0, 5.0, 7.0], dtype=torch.float64)
        >>> blr = BayesianLinearRegression(alpha_init=1e-6, beta_init=1e6).fit(X, y)
        >>> blr.posterior_mean, blr.intercept
        (tensor([2.0000], dtype=torch.float64), tensor(1.0000, dtype=torch.float64))

    Source: Bishop, *Pattern Recognition and Machine Learning* (2006), sec. 3.3 and 3.5;
    MacKay, *Bayesian interpolation* (1992).
    """

    _fitted_buffers = ("count", "mean_xy", "scatter_xy", "coef", "intercept", "posterior_cov",
                       "alpha", "beta", "n_iter", "converged")
    _state_settings = ("fit_intercept", "fit_hyperparameters")

    def __init__(self, alpha_init: float = 1.0, beta_init: float | None = None,
                 fit_hyperparameters: bool = False, fit_intercept: bool = True, *,
                 max_iter: int = 300, tol: float = 1e-3, alpha_shape: float = 1e-6,
                 alpha_rate: float = 1e-6, beta_shape: float = 1e-6, beta_rate: float = 1e-6):
        super().__init__()
        fn = "BayesianLinearRegression"
        self.alpha_init = check_positive(fn, "alpha_init", alpha_init)
        self.beta_init = beta_init if beta_init is None else \
            check_positive(fn, "beta_init", beta_init)
        self.fit_hyperparameters = fit_hyperparameters
        self.fit_intercept = fit_intercept
        self.max_iter = check_int(fn, "max_iter", max_iter, minimum=1)
        self.tol = check_positive(fn, "tol", tol, strict=False)
        for name, v in (("alpha_shape", alpha_shape), ("alpha_rate", alpha_rate),
                        ("beta_shape", beta_shape), ("beta_rate", beta_rate)):
            setattr(self, name, check_positive(fn, name, v, strict=False))

    # -- statistics ------------------------------------------------------------------
    def _accumulate(self, fn: str, data: Any, y, sync, process_group,
                    acc: ScatterMatrix | None) -> ScatterMatrix:
        d = None if acc is None else acc.dim - 1
        intake = Intake(data, y, fn=fn, y_kind="targets", n_features=d, n_targets=1)
        stream = accumulate(intake, sync=sync, process_group=process_group,
                            device=self.count.device)
        if not stream.y_1d:
            raise fail(fn, "y", "of shape (n_samples,) (one target)", "2-d targets")
        local = stream.stats
        if acc is not None:
            local = acc.merge(local)
        return local

    def _n_features(self) -> int:
        return self.coef.shape[-1]

    def _current(self) -> ScatterMatrix | None:
        if not self.count.numel():
            return None
        return ScatterMatrix.from_state(self.count, self.mean_xy, self.scatter_xy, n_rows=1)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None):
        """Fit the posterior (and the hyperparameters) from all of ``data``; returns self."""
        acc = self._accumulate("BayesianLinearRegression.fit", data, y, sync, process_group,
                               None)
        return self._solve(acc)

    def partial_fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
                    process_group=None):
        """Exact online update: the posterior of all batches seen so far."""
        acc = self._accumulate("BayesianLinearRegression.partial_fit", data, y, sync,
                               process_group, self._current())
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
        alpha = like.new_tensor(self.alpha_init)
        beta = like.new_tensor(1.0 if self.beta_init is None else self.beta_init)
        n_iter, converged = 0, True
        if self.fit_hyperparameters:
            a1, a2, b1, b2 = self.alpha_shape, self.alpha_rate, self.beta_shape, self.beta_rate
            e, V = torch.linalg.eigh(Sxx)
            e = e.clamp_min(0)
            proj = V.mT @ Sxy
            if self.beta_init is None:
                y_var = self.scatter_xy[-1, -1] / n
                beta = 1.0 / (y_var + torch.finfo(torch.float64).eps)
            old = None
            converged = False
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007
                coef = V @ (beta * proj / (alpha + beta * e))
                sse = Syy - 2 * coef @ Sxy + coef @ (Sxx @ coef)
                gamma = (beta * e / (alpha + beta * e)).sum()
                alpha = (gamma + 2 * a1) / (coef.square().sum() + 2 * a2)
                beta = (n - gamma + 2 * b1) / (sse.clamp_min(0) + 2 * b2)
                if old is not None and float((old - coef).abs().sum()) < self.tol:
                    converged = True
                    break
                old = coef
        d = Sxx.shape[0]
        A = alpha * torch.eye(d, dtype=like.dtype, device=like.device) + beta * Sxx
        L = torch.linalg.cholesky(A)
        self.coef = beta * torch.cholesky_solve(Sxy[:, None], L)[:, 0]
        self.posterior_cov = torch.cholesky_inverse(L).contiguous()
        self.intercept = (self.mean_xy[-1] - self.mean_xy[:-1] @ self.coef) if \
            self.fit_intercept else like.new_zeros(())
        self.alpha, self.beta = alpha, beta
        self.n_iter = torch.tensor(n_iter, device=like.device)
        self.converged = torch.tensor(converged, device=like.device)
        self._mark_fitted()
        if not converged:
            self._warn_not_converged("BayesianLinearRegression.fit")
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
        X = self._input("predict", X)
        mean = X @ self.coef + self.intercept
        if not return_std:
            return mean
        Xc = X - self.mean_xy[:-1] if self.fit_intercept else X
        var = ((Xc @ self.posterior_cov) * Xc).sum(-1) + 1.0 / self.beta
        return mean, var.sqrt()

    def forward(self, X: Tensor) -> Tensor:
        """The predictive mean (differentiable in ``X``)."""
        return self.predict(X)

    def score(self, X: Tensor, y: Tensor) -> Tensor:
        r"""Coefficient of determination :math:`R^2` of the predictive mean."""
        return r2_score(self.predict(X), y)

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
        alpha = self.alpha if alpha is None else torch.as_tensor(alpha, dtype=like.dtype,
                                                                   device=like.device)
        beta = self.beta if beta is None else torch.as_tensor(beta, dtype=like.dtype,
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
