"""Conjugate updates against SciPy distributions and hand-worked formulas."""

import numpy as np
import scipy.stats as st
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.probability import (
    beta_bernoulli,
    dirichlet_categorical,
    gamma_poisson,
    normal_inverse_gamma,
    normal_normal,
)

f64 = dict(dtype=torch.float64)


def test_beta_bernoulli(rng):
    x = (rng.random((3, 25)) < 0.4).astype(float)
    post = beta_bernoulli(torch.from_numpy(x), 2.0, 3.0)
    a, b = 2 + x.sum(1), 3 + 25 - x.sum(1)
    assert_close(post.params["alpha"], a)
    grid = torch.linspace(0.05, 0.95, 7, **f64)[:, None]
    assert_close(post.posterior.log_prob(grid), st.beta(a, b).logpdf(grid.numpy()))
    assert_close(post.predictive.probs, a / (a + b))
    assert_close(post.map, (a - 1) / (a + b - 2))
    # the mode on a boundary: Beta(1, b) with b > 1 peaks at 0
    assert_close(beta_bernoulli(torch.zeros(3, **f64)).map, 0.0)
    # sequential updating equals one batch update
    first = beta_bernoulli(torch.from_numpy(x[0, :10]), 2.0, 3.0)
    second = beta_bernoulli(torch.from_numpy(x[0, 10:]), first.params["alpha"],
                            first.params["beta"])
    assert_close(second.params["alpha"], a[0])


def test_dirichlet_categorical(rng):
    labels = rng.integers(0, 3, size=40)
    alpha = np.array([0.5, 2.0, 1.0])
    post = dirichlet_categorical(torch.from_numpy(labels), torch.from_numpy(alpha))
    a = alpha + np.bincount(labels, minlength=3)
    assert_close(post.params["concentration"], a)
    p = np.array([[0.2, 0.3, 0.5]])
    assert_close(post.posterior.log_prob(torch.from_numpy(p)), st.dirichlet(a).logpdf(p[0]))
    assert_close(post.predictive.probs, a / a.sum())
    assert_close(post.map, (a - 1) / (a - 1).sum())


def test_gamma_poisson(rng):
    x = rng.poisson(4.0, size=(2, 15)).astype(float)
    post = gamma_poisson(torch.from_numpy(x), 2.0, 0.5)
    a, b = 2 + x.sum(1), 0.5 + 15
    assert_close(post.posterior.log_prob(torch.tensor([[3.0], [5.0]], **f64)),
                 st.gamma(a, scale=1 / b).logpdf([[3.0], [5.0]]))
    k = torch.arange(12, **f64)[:, None]
    # posterior predictive: negative binomial, scipy's nbinom(n=a, p=b/(b+1))
    assert_close(post.predictive.log_prob(k), st.nbinom(a, b / (b + 1)).logpmf(k.numpy()),
                 rtol=1e-6)
    assert_close(post.map, (a - 1) / b)


def test_normal_normal(rng):
    x = rng.normal(1.0, 2.0, size=10)
    post = normal_normal(torch.from_numpy(x), 0.5, 3.0, noise_std=2.0)
    prec = 1 / 9 + 10 / 4
    mu = (0.5 / 9 + x.sum() / 4) / prec
    assert_close(post.params["mean"], mu)
    assert_close(post.params["std"], np.sqrt(1 / prec))
    assert_close(post.predictive.log_prob(torch.tensor(0.3, **f64)),
                 st.norm(mu, np.sqrt(4 + 1 / prec)).logpdf(0.3))
    assert_close(post.map, mu)
    check_gradients(lambda x, m: normal_normal(x, m, 1.5, noise_std=0.7).params["mean"],
                    torch.randn(2, 5), torch.randn(()))


def test_normal_inverse_gamma_by_numerical_integration(rng):
    x = rng.normal(1.0, 1.5, size=12)
    m0, k0, a0, b0 = 0.5, 2.0, 3.0, 2.0
    post = normal_inverse_gamma(torch.from_numpy(x), m0, k0, a0, b0)
    # the unnormalized joint posterior on a grid, integrated numerically (independent of
    # the closed form): posterior mean of mu and of sigma^2
    mu = np.linspace(-2, 4, 401)[:, None]
    s2 = np.linspace(0.05, 12, 800)[None, :]
    logp = (st.norm(m0, np.sqrt(s2 / k0)).logpdf(mu) + st.invgamma(a0, scale=b0).logpdf(s2)
            + st.norm(mu[..., None], np.sqrt(s2)[..., None]).logpdf(x).sum(-1))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    assert_close(post.posterior.mean, (w * mu).sum(), rtol=1e-4)
    assert_close(post.extra["variance"].mean, (w * s2).sum(), rtol=1e-3)
    # predictive Student-t against scipy with the textbook parameters
    an, kn = post.params["alpha"], post.params["kappa"]
    bn, mn = post.params["beta"], post.params["mean"]
    scale = float((bn * (kn + 1) / (an * kn)).sqrt())
    assert_close(post.predictive.log_prob(torch.tensor(0.7, **f64)),
                 st.t(2 * float(an), float(mn), scale).logpdf(0.7))
    assert_close(post.extra["map_variance"], bn / (an + 1.5))


def test_bad_input():
    assert_raises_naming(ValueError, lambda: beta_bernoulli(torch.tensor([0.0, 0.5])), "'x'")
    assert_raises_naming(ValueError, lambda: beta_bernoulli(torch.ones(2), -1.0), "'alpha'")
    assert_raises_naming(ValueError, lambda: gamma_poisson(torch.tensor([-1.0])), "'x'")
    assert_raises_naming(ValueError, lambda: gamma_poisson(torch.ones(2), 1.0, 0.0), "'rate'")
    assert_raises_naming(ValueError, lambda: dirichlet_categorical(torch.tensor([3]),
                                                                   torch.ones(3)), "'x'")
    assert_raises_naming(ValueError, lambda: dirichlet_categorical(torch.tensor([0]),
                                                                   -torch.ones(3)),
                         "'concentration'")
    assert_raises_naming(ValueError, lambda: normal_normal(torch.ones(2), noise_std=0.0),
                         "'noise_std'")
    assert_raises_naming(ValueError, lambda: normal_normal(torch.tensor([np.inf]),
                                                           noise_std=1.0), "'x'")
    assert_raises_naming(ValueError, lambda: normal_inverse_gamma(torch.ones(2), kappa=0.0),
                         "'kappa'")
