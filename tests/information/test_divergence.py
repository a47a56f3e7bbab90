"""KL (discrete, distributions, Gaussian), cross-entropy, JS, f-divergences, mixture bound."""

from __future__ import annotations

import math

import pytest
import scipy.spatial.distance
import scipy.special
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import (
    Categorical,
    Independent,
    Laplace,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    StudentT,
)

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    check_gradients,
    rand_simplex,
    rand_spd,
)
from torchmath.information import (
    MonteCarloKL,
    cross_entropy,
    entropy,
    f_divergence,
    gaussian_kl,
    js_divergence,
    kl_divergence,
    mixture_kl_upper_bound,
)


def test_discrete_kl_matches_rel_entr_all_forms(dtype):
    p, q = rand_simplex(3, 5, dtype=dtype), rand_simplex(3, 5, dtype=dtype)
    ref = scipy.special.rel_entr(p.double().numpy(), q.double().numpy()).sum(-1)
    assert_close(kl_divergence(p_probs=p, q_probs=q), ref)
    assert_close(kl_divergence(p_logits=p.log() - 1, q_log_probs=q.log()), ref)
    assert_close(kl_divergence(p_log_probs=p.log(), q_logits=q.log() + 2), ref)
    assert_close(kl_divergence(p_probs=p, q_probs=q, base=2), ref / math.log(2))
    # torch's kl_div takes (log q, p): the reverse order.
    assert_close(F.kl_div(q.log(), p, reduction="none").sum(-1), ref)


def test_zeros_give_zero_or_inf_never_nan():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    q = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    assert kl_divergence(p_probs=p, q_probs=q) == math.inf
    assert kl_divergence(p_probs=p, q_probs=p) == 0
    assert_close(kl_divergence(p_probs=p, q_probs=torch.full((3,), 1 / 3, dtype=p.dtype)),
                 scipy.special.rel_entr(p.numpy(), [1 / 3] * 3).sum())
    assert cross_entropy(p_probs=p, q_probs=q) == math.inf
    js = js_divergence(p_probs=p, q_probs=q)
    assert torch.isfinite(js)
    assert_close(js, scipy.spatial.distance.jensenshannon(p.numpy(), q.numpy()) ** 2)
    assert f_divergence(p_probs=p, q_probs=q, f="chi2") == math.inf
    assert_close(f_divergence(p_probs=p, q_probs=q, f="total_variation"), 0.5)
    for f in ("kl", "reverse_kl", "total_variation", "hellinger", "chi2", "js"):
        assert not torch.isnan(f_divergence(p_probs=p, q_probs=q, f=f))


def test_cross_entropy_is_entropy_plus_kl_and_torch_loss():
    p, q = rand_simplex(4, 6), rand_simplex(4, 6)
    assert_close(cross_entropy(p_probs=p, q_probs=q),
                 entropy(probs=p) + kl_divergence(p_probs=p, q_probs=q))
    logits, y = torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 5, 2, 2])
    one_hot = F.one_hot(y, 6).double()
    assert_close(cross_entropy(p_probs=one_hot, q_logits=logits),
                 F.cross_entropy(logits, y, reduction="none"))


def test_f_divergences_against_closed_forms():
    p, q = rand_simplex(3, 4), rand_simplex(3, 4)
    assert_close(f_divergence(p_probs=p, q_probs=q, f="kl"),
                 kl_divergence(p_probs=p, q_probs=q))
    assert_close(f_divergence(p_probs=p, q_probs=q, f="reverse_kl"),
                 kl_divergence(p_probs=q, q_probs=p))
    assert_close(f_divergence(p_probs=p, q_probs=q, f="total_variation"),
                 0.5 * (p - q).abs().sum(-1))
    assert_close(f_divergence(p_probs=p, q_probs=q, f="hellinger"),
                 (p.sqrt() - q.sqrt()).square().sum(-1))
    assert_close(f_divergence(p_probs=p, q_probs=q, f="chi2"), ((p - q) ** 2 / q).sum(-1))
    assert_close(f_divergence(p_probs=p, q_probs=q, f="js"), js_divergence(p_probs=p, q_probs=q))
    assert_close(f_divergence(p_probs=p, q_probs=q, f=lambda t: (t - 1) ** 2),
                 ((p - q) ** 2 / q).sum(-1))


def test_distribution_pairs_analytic_and_monte_carlo():
    torch.manual_seed(0)
    p = Normal(torch.tensor([0.0, 1.0], dtype=torch.float64),
               torch.tensor([1.0, 2.0], dtype=torch.float64))
    q = Normal(torch.tensor([0.5, -1.0], dtype=torch.float64),
               torch.tensor([1.5, 1.0], dtype=torch.float64))
    exact = torch.distributions.kl_divergence(p, q)
    assert_close(kl_divergence(p, q), exact)
    mc = kl_divergence(p, q, method="mc", n_samples=100_000, return_stderr=True)
    assert isinstance(mc, MonteCarloKL)
    assert ((mc.value - exact).abs() < 5 * mc.stderr).all()
    value, err = kl_divergence(p, q, return_stderr=True)
    assert_close(value, exact)
    assert (err == 0).all()
    # An unregistered pair falls back to Monte Carlo: still a tensor (issue 15), and
    # with return_stderr=True its standard error.
    t = StudentT(torch.tensor(5.0, dtype=torch.float64))
    normal = Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    value = kl_divergence(normal, t, n_samples=50_000)
    assert isinstance(value, torch.Tensor) and value.dim() == 0
    assert float(value.mean()) > 0
    est = kl_divergence(normal, t, n_samples=50_000, return_stderr=True)
    assert isinstance(est, MonteCarloKL) and est.stderr > 0
    assert_raises_naming(ValueError, lambda: kl_divergence(Normal(0.0, 1.0), StudentT(5.0),
                                                           method="analytic"), "p, q")


@pytest.mark.parametrize("pair", ["normal_laplace", "laplace_normal"])
def test_normal_laplace_kls_in_torch_registry_against_monte_carlo(pair):
    torch.manual_seed(1)
    n = Normal(torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64))
    la = Laplace(torch.tensor(-0.4, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64))
    p, q = (n, la) if pair == "normal_laplace" else (la, n)
    exact = kl_divergence(p, q)
    mc = kl_divergence(p, q, method="mc", n_samples=200_000, return_stderr=True)
    assert abs(float(exact - mc.value)) < 5 * float(mc.stderr)


def test_registered_mvn_vs_diagonal_normal():
    cov = rand_spd(2, d=3)
    m0, m1 = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    scale = torch.rand(2, 3, dtype=torch.float64) + 0.5
    mvn, diag = MultivariateNormal(m0, cov), Independent(Normal(m1, scale), 1)
    full = MultivariateNormal(m1, torch.diag_embed(scale ** 2))
    assert_close(kl_divergence(mvn, diag), torch.distributions.kl_divergence(mvn, full))
    assert_close(kl_divergence(diag, mvn), torch.distributions.kl_divergence(full, mvn))


def test_gaussian_kl_full_and_diagonal_vs_torch(dtype):
    cov0, cov1 = rand_spd(3, d=4), rand_spd(3, d=4)
    m0, m1 = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(MultivariateNormal(m0, cov0),
                                            MultivariateNormal(m1, cov1))
    c = lambda t: t.to(dtype)  # noqa: E731
    assert_close(gaussian_kl(c(m0), c(cov0), c(m1), c(cov1)), ref)
    v0, v1 = torch.rand(3, 4, dtype=torch.float64) + 0.2, torch.rand(3, 4, dtype=torch.float64)
    ref_d = torch.distributions.kl_divergence(Independent(Normal(m0, v0.sqrt()), 1),
                                              Independent(Normal(m1, (v1 + 0.2).sqrt()), 1))
    assert_close(gaussian_kl(c(m0), c(v0), c(m1), c(v1 + 0.2), diagonal=True), ref_d)
    # Broadcast: one covariance for all means.
    assert_close(gaussian_kl(m0, cov0, m1, cov1[0]), torch.distributions.kl_divergence(
        MultivariateNormal(m0, cov0), MultivariateNormal(m1, cov1[0])))


def test_gaussian_kl_analytic_vs_monte_carlo():
    g = torch.Generator().manual_seed(3)
    cov0, cov1 = rand_spd(d=3, generator=g), rand_spd(d=3, generator=g)
    m0, m1 = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    p, q = MultivariateNormal(m0, cov0), MultivariateNormal(m1, cov1)
    x = p.sample((200_000,))
    ratio = p.log_prob(x) - q.log_prob(x)
    assert abs(float(gaussian_kl(m0, cov0, m1, cov1) - ratio.mean())) \
        < 5 * float(ratio.std() / math.sqrt(x.shape[0]))


def test_mixture_upper_bound():
    torch.manual_seed(0)
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)
    mix = lambda m, s: MixtureSameFamily(Categorical(w), Normal(m, s))  # noqa: E731
    f = mix(torch.tensor([-1.0, 2.0], dtype=torch.float64),
            torch.tensor([1.0, 0.5], dtype=torch.float64))
    g = mix(torch.tensor([0.0, 1.0], dtype=torch.float64),
            torch.tensor([1.0, 2.0], dtype=torch.float64))
    mc = kl_divergence(f, g, n_samples=200_000, return_stderr=True)
    bound = mixture_kl_upper_bound(f, g)
    matched = mixture_kl_upper_bound(f, g, n_iter=0)
    assert float(bound) >= float(mc.value) - 5 * float(mc.stderr)
    assert float(bound) <= float(matched) + 1e-12
    # Convexity (matched-pair) bound by hand: KL(w||w) + sum_a w_a KL(f_a || g_a).
    comp = torch.distributions.kl_divergence(f.component_distribution,
                                             g.component_distribution)
    pair_bound = (w * comp).sum()
    assert float(bound) <= float(pair_bound) + 1e-12
    # One component each: the bound is the exact KL; MVN components too.
    one = lambda m: MixtureSameFamily(  # noqa: E731
        Categorical(torch.ones(1, dtype=torch.float64)),
        MultivariateNormal(m, rand_spd(1, d=2)))
    a, b = one(torch.zeros(1, 2, dtype=torch.float64)), one(torch.ones(1, 2, dtype=torch.float64))
    exact = torch.distributions.kl_divergence(a.component_distribution,
                                              b.component_distribution)[0]
    assert_close(mixture_kl_upper_bound(a, b), exact)


def test_gradients():
    p, q = rand_simplex(2, 3), rand_simplex(2, 3)
    norm = lambda t: t / t.sum(-1, keepdim=True)  # noqa: E731
    check_gradients(lambda a, b: kl_divergence(p_probs=norm(a), q_probs=norm(b)), p, q)
    check_gradients(lambda a, b: kl_divergence(p_logits=a, q_logits=b), torch.randn(2, 3),
                    torch.randn(2, 3))
    check_gradients(lambda a, b: cross_entropy(p_probs=norm(a), q_logits=b), p,
                    torch.randn(2, 3))
    check_gradients(lambda a, b: js_divergence(p_logits=a, q_logits=b), torch.randn(2, 3),
                    torch.randn(2, 3))
    check_gradients(lambda a, b: f_divergence(p_probs=norm(a), q_probs=norm(b), f="hellinger"),
                    p, q)
    A, B = torch.randn(2, 2, 2, dtype=torch.float64), torch.randn(2, 2, 2, dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    check_gradients(lambda m0, a, m1, b: gaussian_kl(m0, a @ a.mT + eye, m1, b @ b.mT + eye),
                    torch.randn(2, 2), A, torch.randn(2, 2), B)
    check_gradients(lambda m0, a, m1, b: gaussian_kl(m0, a.exp(), m1, b.exp(), diagonal=True),
                    torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3))
    check_gradients(lambda m: mixture_kl_upper_bound(
        MixtureSameFamily(Categorical(torch.ones(2, dtype=m.dtype)), Normal(m, 1.0)),
        MixtureSameFamily(Categorical(torch.ones(2, dtype=m.dtype)),
                          Normal(torch.zeros(2, dtype=m.dtype), 2.0)), n_iter=3),
        torch.randn(2))


def test_bad_input():
    p = torch.tensor([0.5, 0.5])
    assert_raises_naming(ValueError, lambda: kl_divergence(p_probs=p, p_logits=p, q_probs=p),
                         "p_probs", "p_logits")
    assert_raises_naming(ValueError, lambda: kl_divergence(p_probs=p), "q_probs", "q_logits")
    assert_raises_naming(ValueError, lambda: kl_divergence(), "p_probs", "'p'")
    assert_raises_naming(ValueError, lambda: kl_divergence(Normal(0.0, 1.0), Normal(0.0, 1.0),
                                                           p_probs=p), "p_probs")
    assert_raises_naming(ValueError, lambda: kl_divergence(p_probs=torch.tensor([0.2, 0.2]),
                                                           q_probs=p), "p_probs")
    assert_raises_naming(ValueError, lambda: cross_entropy(p_probs=p, q_probs=-p), "q_probs")
    assert_raises_naming(ValueError, lambda: js_divergence(p_probs=p), "q_probs")
    assert_raises_naming(ValueError, lambda: f_divergence(p_probs=p, q_probs=p, f="nope"), "f")
    assert_raises_naming(TypeError, lambda: kl_divergence(Normal(0.0, 1.0), 3.0), "q")
    assert_raises_naming(ValueError, lambda: gaussian_kl(torch.zeros(2), torch.eye(3),
                                                         torch.zeros(2), torch.eye(2)), "cov0")
    assert_raises_naming(ValueError, lambda: gaussian_kl(torch.zeros(2), -torch.eye(2),
                                                         torch.zeros(2), torch.eye(2)),
                         "gaussian_kl", "'cov0'", "positive definite")
    # variance vectors need diagonal=True; with it a negative variance is refused
    assert_raises_naming(ValueError, lambda: gaussian_kl(torch.zeros(2), torch.ones(2),
                                                         torch.zeros(2), torch.ones(2)), "cov0")
    assert_raises_naming(ValueError, lambda: gaussian_kl(
        torch.zeros(2), -torch.ones(2), torch.zeros(2), torch.ones(2), diagonal=True),
        "gaussian_kl", "'cov0'", "positive")


def _dist(draw_weights):
    p = torch.tensor(draw_weights, dtype=torch.float64)
    return p / p.sum()


@settings(derandomize=True, deadline=None, max_examples=50)
@given(st.integers(2, 6).flatmap(lambda k: st.tuples(
    st.lists(st.floats(0.01, 10.0), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 10.0), min_size=k, max_size=k))))
def test_kl_nonnegative_and_zero_on_self_property(pair):
    p, q = _dist(pair[0]), _dist(pair[1])
    kl = float(kl_divergence(p_probs=p, q_probs=q))
    assert kl >= -1e-12
    assert kl == pytest.approx(scipy.special.rel_entr(p.numpy(), q.numpy()).sum(), abs=1e-10)
    assert abs(float(kl_divergence(p_probs=p, q_probs=p))) < 1e-12
    assert 0 <= float(js_divergence(p_probs=p, q_probs=q)) <= math.log(2) + 1e-12


def test_gaussian_kl_batch_of_means_with_one_shared_full_covariance():
    # issue 15: a batch of d means with one (d, d) covariance was read as diagonal.
    d = 3
    cov0, cov1 = rand_spd(d=d), rand_spd(d=d)
    m0, m1 = torch.randn(d, d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(MultivariateNormal(m0, cov0),
                                            MultivariateNormal(m1, cov1))
    assert_close(gaussian_kl(m0, cov0, m1, cov1), ref)
    # and batched covariances against unbatched means
    covs = rand_spd(2, 1, d=d)
    assert_close(gaussian_kl(m0, covs, m1, cov1), torch.distributions.kl_divergence(
        MultivariateNormal(m0, covs), MultivariateNormal(m1, cov1)))


def test_gaussian_kl_compiles_fullgraph(no_validation):
    d = 3
    cov0, cov1 = rand_spd(2, d=d), rand_spd(d=d)
    m0, m1 = torch.randn(2, d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    compiled = torch.compile(gaussian_kl, fullgraph=True, backend="aot_eager")
    assert_close(compiled(m0, cov0, m1, cov1), gaussian_kl(m0, cov0, m1, cov1))
