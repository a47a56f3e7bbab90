"""Closed-form MLEs against NumPy/SciPy fits, and fit_mle against closed forms."""

import numpy as np
import pytest
import scipy.stats as st
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.probability import (
    fit_mle,
    mle_bernoulli,
    mle_categorical,
    mle_exponential,
    mle_mvn,
    mle_normal,
    mle_poisson,
)


def test_closed_forms_match_scipy(rng):
    x = rng.normal(2.0, 3.0, size=(4, 50))
    m, s = mle_normal(torch.from_numpy(x))
    for b in range(4):
        loc, scale = st.norm.fit(x[b])
        assert_close(m[b], loc)
        assert_close(s[b], scale)
    e = rng.exponential(2.0, size=80)
    _, scale = st.expon.fit(e, floc=0)
    assert_close(mle_exponential(torch.from_numpy(e)), 1 / scale)
    pois = rng.poisson(3.0, size=(2, 30))
    assert_close(mle_poisson(torch.from_numpy(pois).double()), pois.mean(1))
    bern = (rng.random((3, 40)) < 0.3).astype(float)
    assert_close(mle_bernoulli(torch.from_numpy(bern)), bern.mean(1))
    labels = rng.integers(0, 4, size=(2, 60))
    out = mle_categorical(torch.from_numpy(labels), 4, dtype=torch.float64)
    assert_close(out, np.stack([np.bincount(r, minlength=4) / 60 for r in labels]))
    X = rng.normal(size=(2, 30, 3))
    mu, cov = mle_mvn(torch.from_numpy(X))
    assert_close(cov[1], np.cov(X[1].T, ddof=0))
    assert_close(mu[0], X[0].mean(0))


def test_closed_form_gradients():
    check_gradients(lambda x: mle_normal(x, 0).std, torch.randn(6, 2))
    check_gradients(lambda x: mle_mvn(x).cov, torch.randn(2, 6, 2))
    check_gradients(mle_exponential, torch.rand(5) + 0.5)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_fit_mle_recovers_normal_mle_and_fisher_stderr(method):
    x = torch.randn(200, dtype=torch.float64) * 2 + 1
    lp = lambda x, mu, log_sigma: torch.distributions.Normal(mu, log_sigma.exp()).log_prob(x)
    init = {"mu": torch.tensor(0.0, dtype=torch.float64),
            "log_sigma": torch.tensor(0.0, dtype=torch.float64)}
    res = fit_mle(lp, init, x, method=method, max_iter=1500 if method == "adam" else 100,
                  lr=0.05)
    m, s = mle_normal(x)
    tol = 1e-8 if method == "lbfgs" else 3e-3
    assert_close(res.params["mu"], m, rtol=tol, atol=tol)
    assert_close(res.params["log_sigma"].exp(), s, rtol=tol, atol=tol)
    # observed Fisher information of (mu, log sigma) at the MLE: diag(n/s^2, 2n), by hand
    assert_close(res.stderr["mu"], s / np.sqrt(200), rtol=3e-3 if method == "adam" else 1e-6)
    assert_close(res.stderr["log_sigma"], 1 / np.sqrt(400), rtol=3e-3 if method == "adam"
                 else 1e-6)
    assert_close(res.nll, -st.norm(float(m), float(s)).logpdf(x.numpy()).sum(), rtol=tol)
    assert res.converged or method == "adam"


def test_fit_mle_map_matches_conjugate_mode():
    # Normal mean with known sigma=1 and a N(0, 1) prior: the MAP is sum(x)/(n+1).
    x = torch.randn(20, dtype=torch.float64) + 3
    res = fit_mle(lambda x, mu: torch.distributions.Normal(mu, 1.0).log_prob(x),
                  {"mu": torch.zeros((), dtype=torch.float64)}, x,
                  log_prior=lambda mu: torch.distributions.Normal(0.0, 1.0).log_prob(mu))
    assert_close(res.params["mu"], x.sum() / 21, rtol=1e-8)
    assert_close(res.stderr["mu"], 1 / np.sqrt(21), rtol=1e-6)


def test_bad_input():
    assert_raises_naming(ValueError, lambda: mle_bernoulli(torch.tensor([0.0, 2.0])), "'x'")
    assert_raises_naming(ValueError, lambda: mle_poisson(torch.tensor([-1.0, 2.0])), "'x'")
    assert_raises_naming(ValueError, lambda: mle_exponential(torch.tensor([0.0, 2.0])), "'x'")
    assert_raises_naming(ValueError, lambda: mle_normal(torch.tensor([np.nan, 2.0])), "'x'")
    assert_raises_naming(ValueError, lambda: mle_normal(torch.zeros(0)), "'x'")
    assert_raises_naming(ValueError, lambda: mle_categorical(torch.tensor([0, 3]), 3), "'x'")
    assert_raises_naming(TypeError, lambda: mle_categorical(torch.tensor([0.0]), 3), "'x'")
    assert_raises_naming(ValueError, lambda: mle_mvn(torch.zeros(3)), "'x'")
    lp = lambda x, mu: -(x - mu).square()
    mu = {"mu": torch.zeros(())}
    assert_raises_naming(ValueError, lambda: fit_mle(lp, mu, torch.zeros(3), method="sgd"),
                         "'method'")
    assert_raises_naming(TypeError, lambda: fit_mle(lp, {}, torch.zeros(3)), "'params'")
    assert_raises_naming(ValueError, lambda: fit_mle(
        lambda x, mu: torch.log(mu) * x, {"mu": -torch.ones(())}, torch.ones(3)), "'params'")
