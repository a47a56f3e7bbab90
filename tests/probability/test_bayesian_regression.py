"""BayesianLinearRegression against closed forms, scikit-learn and SciPy."""

import numpy as np
import pytest
import scipy.stats as st
import torch
from sklearn.linear_model import BayesianRidge

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.probability import BayesianLinearRegression


def _data(rng, n=80, d=4):
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) + 2.0
    return X, y


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_posterior_matches_textbook_formula(rng, fit_intercept):
    X, y = _data(rng)
    alpha, beta = 0.7, 3.0
    m = BayesianLinearRegression(alpha, beta, fit_intercept=fit_intercept).fit(
        torch.from_numpy(X), torch.from_numpy(y))
    Xc, yc = (X - X.mean(0), y - y.mean()) if fit_intercept else (X, y)
    S = np.linalg.inv(alpha * np.eye(4) + beta * Xc.T @ Xc)  # Bishop 3.53-3.54
    assert_close(m.posterior_cov, S)
    assert_close(m.posterior_mean, beta * S @ Xc.T @ yc)
    dist = m.to_distribution()
    assert_close(dist.covariance_matrix, S)


@pytest.mark.parametrize("shape", [(80, 4), (15, 30)])
def test_evidence_maximization_matches_bayesian_ridge(rng, shape):
    X, y = _data(rng, *shape)
    sk = BayesianRidge(tol=1e-12, max_iter=2000).fit(X, y)
    m = BayesianLinearRegression(fit_hyperparameters=True, tol=1e-12, max_iter=2000).fit(
        torch.from_numpy(X), torch.from_numpy(y))
    assert_close(m.alpha, sk.lambda_, rtol=1e-6)
    assert_close(m.beta, sk.alpha_, rtol=1e-6)
    assert_close(m.coef, sk.coef_, rtol=1e-6, atol=1e-9)
    assert_close(m.intercept, sk.intercept_, rtol=1e-6)
    mean, std = m.predict(torch.from_numpy(X[:7]), return_std=True)
    sk_mean, sk_std = sk.predict(X[:7], return_std=True)
    assert_close(mean, sk_mean, rtol=1e-6)
    assert_close(std, sk_std, rtol=1e-6)


def test_log_evidence_matches_gaussian_marginal_and_is_differentiable(rng):
    X, y = _data(rng, n=30, d=3)
    m = BayesianLinearRegression(fit_intercept=False).fit(torch.from_numpy(X),
                                                           torch.from_numpy(y))
    a, b = 0.8, 2.5
    # y ~ N(0, I/beta + X X^T / alpha): the marginal likelihood, straight from SciPy
    ref = st.multivariate_normal(np.zeros(30), np.eye(30) / b + X @ X.T / a).logpdf(y)
    assert_close(m.log_evidence(a, b), ref)
    alpha = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u, v: m.log_evidence(u, v), (alpha, beta))
    assert torch.autograd.gradgradcheck(lambda u, v: m.log_evidence(u, v), (alpha, beta))


@pytest.mark.parametrize("hyper", [False, True])
def test_partial_fit_and_batches_equal_one_fit(rng, hyper):
    X, y = _data(rng)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    whole = BayesianLinearRegression(fit_hyperparameters=hyper).fit(Xt, yt)
    streamed = BayesianLinearRegression(fit_hyperparameters=hyper).fit(uneven_batches(Xt, yt))
    online = BayesianLinearRegression(fit_hyperparameters=hyper)
    for xb, yb in uneven_batches(Xt, yt):
        online.partial_fit(xb, yb)
    for other in (streamed, online):
        assert_close(other.posterior_mean, whole.posterior_mean, rtol=1e-10)
        assert_close(other.posterior_cov, whole.posterior_cov, rtol=1e-10)


def test_bad_input():
    X, y = torch.randn(10, 2, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    m = BayesianLinearRegression()
    with pytest.raises(NotFittedError, match="fit"):
        m.predict(X)
    assert_raises_naming(ValueError, lambda: m.fit(X, y[:9]), "'X'", "'y'")
    assert_raises_naming(ValueError, lambda: m.fit(X, y * float("inf")), "'y'")
    BLR = BayesianLinearRegression
    assert_raises_naming(ValueError, lambda: BLR(alpha_init=0.0), "'alpha_init'")
    assert_raises_naming(ValueError, lambda: BLR(beta_init=-1.0), "'beta_init'")
    m.fit(X, y)
    assert_raises_naming(ValueError, lambda: m.predict(torch.randn(3, 5)), "'X'")
    assert_raises_naming(ValueError, lambda: m.partial_fit(torch.randn(3, 5), y[:3]), "'X'")
    assert_raises_naming(ValueError, lambda: m.log_evidence(-1.0, 1.0), "'alpha'")
