"""KL and ELBO losses, IWAE bound, reductions, and the linear-Gaussian sanity check."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, MultivariateNormal, Normal

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.information import (
    ELBOLoss,
    GaussianKLLoss,
    elbo_loss,
    gaussian_kl_loss,
    iwae_bound,
    reconstruction_nll,
)


def test_gaussian_kl_loss_vs_torch_distributions(dtype):
    mean = torch.randn(5, 3, dtype=torch.float64)
    log_var = torch.randn(5, 3, dtype=torch.float64)
    pm, plv = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(Normal(mean, (0.5 * log_var).exp()),
                                            Normal(pm, (0.5 * plv).exp()))
    c = lambda t: t.to(dtype)  # noqa: E731
    out = gaussian_kl_loss(c(mean), c(log_var), prior_mean=c(pm), prior_log_var=c(plv),
                           reduction="none")
    assert_close(out, ref)
    std = torch.distributions.kl_divergence(Normal(mean, (0.5 * log_var).exp()),
                                            Normal(0.0, 1.0))
    assert_close(gaussian_kl_loss(mean, log_var), std.sum() / 5)
    assert_close(gaussian_kl_loss(mean, log_var, reduction="mean"), std.mean())
    assert_close(gaussian_kl_loss(mean, log_var, reduction="sum"), std.sum())
    assert_close(GaussianKLLoss(reduction="none")(mean, log_var), std)
    # batchmean = torch's KLDivLoss convention (sum / batch size).
    assert_close(gaussian_kl_loss(mean, log_var, free_bits=0.5, reduction="none"),
                 std.clamp_min(0.5))


def test_reconstruction_nll_uses_torch_losses():
    x = torch.rand(4, 6, dtype=torch.float64)
    mu = torch.randn(4, 6, dtype=torch.float64)
    ref = -Independent(Normal(mu, math.sqrt(0.3)), 1).log_prob(x)
    assert_close(reconstruction_nll(x, mu, obs_var=0.3), ref)
    xb = (x > 0.5).double()
    ref_b = -torch.distributions.Bernoulli(logits=mu).log_prob(xb).sum(-1)
    assert_close(reconstruction_nll(xb, mu, likelihood="bernoulli"), ref_b)
    classes = torch.randint(0, 5, (4, 6))
    logits = torch.randn(4, 6, 5, dtype=torch.float64)
    ref_c = -torch.distributions.Categorical(logits=logits).log_prob(classes).sum(-1)
    assert_close(reconstruction_nll(classes, logits, likelihood="categorical"), ref_c)


def test_elbo_loss_analytic_vs_mc_and_reductions():
    torch.manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64)
    mean, log_var = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    recon = torch.randn(3, 4, dtype=torch.float64)
    per = elbo_loss(x, recon, mean, log_var, beta=0.5, reduction="none")
    kl = gaussian_kl_loss(mean, log_var, reduction="none").sum(-1)
    assert_close(per, reconstruction_nll(x, recon) + 0.5 * kl)
    assert_close(elbo_loss(x, recon, mean, log_var, beta=0.5), per.mean())
    assert_close(elbo_loss(x, recon, mean, log_var, beta=0.5, reduction="sum"), per.sum())
    # MC KL averages to the analytic KL.
    z = mean + (0.5 * log_var).exp() * torch.randn(100_000, 3, 2, dtype=torch.float64)
    mc = torch.stack([elbo_loss(x, recon, mean, log_var, kl="mc", z=zi, reduction="none")
                      for zi in z[:2000]])
    mc_kl = mc.mean(0) - reconstruction_nll(x, recon)
    assert_close(mc_kl, kl, rtol=0, atol=0.12)
    q = Independent(Normal(mean, (0.5 * log_var).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mean), torch.ones_like(mean)), 1)
    one = elbo_loss(x, recon, mean, log_var, kl="mc", z=z[0], reduction="none")
    assert_close(one - reconstruction_nll(x, recon), q.log_prob(z[0]) - p.log_prob(z[0]))
    assert_close(ELBOLoss(beta=0.5, reduction="none")(x, recon, mean, log_var), per)


def _linear_gaussian(n=4, dx=3, dz=2, seed=0):
    """x = W z + b + noise: log p(x) is exact, q is a deliberately imperfect posterior."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(dx, dz, generator=g, dtype=torch.float64)
    b = torch.randn(dx, generator=g, dtype=torch.float64)
    s2 = 0.5
    x = torch.randn(n, dx, generator=g, dtype=torch.float64)
    marginal = MultivariateNormal(b, W @ W.T + s2 * torch.eye(dx, dtype=torch.float64))
    # Exact posterior, then perturbed (diagonal, shifted) so the bound is not tight.
    prec = torch.eye(dz, dtype=torch.float64) + W.T @ W / s2
    post_cov = torch.linalg.inv(prec)
    post_mean = (x - b) @ W @ post_cov / s2
    mean = post_mean + 0.3
    log_var = post_cov.diagonal().log().expand(n, dz) + 0.4
    return W, b, s2, x, marginal.log_prob(x), mean, log_var


def test_elbo_below_log_likelihood_and_iwae_rises_with_k():
    torch.manual_seed(0)
    W, b, s2, x, log_px, mean, log_var = _linear_gaussian()
    K = 20_000
    eps = torch.randn(K, *mean.shape, dtype=torch.float64)
    z = mean + (0.5 * log_var).exp() * eps
    recon = z @ W.T + b
    log_lik = -reconstruction_nll(x.expand(K, -1, -1).reshape(-1, 3), recon.reshape(-1, 3),
                                  obs_var=s2).reshape(K, -1)
    log_prior = Independent(Normal(torch.zeros_like(z), 1.0), 1).log_prob(z)
    log_post = Independent(Normal(mean, (0.5 * log_var).exp()), 1).log_prob(z)
    # Analytic-KL ELBO averaged over samples is below log p(x).
    elbo = -torch.stack([elbo_loss(x, recon[i], mean, log_var, obs_var=s2, reduction="none")
                         for i in range(200)]).mean(0)
    assert (elbo < log_px).all()
    bounds = [iwae_bound(log_lik[: (K // k) * k].reshape(K // k, k, -1).transpose(0, 1),
                         log_prior[: (K // k) * k].reshape(K // k, k, -1).transpose(0, 1),
                         log_post[: (K // k) * k].reshape(K // k, k, -1).transpose(0, 1)
                         ).mean(0) for k in (1, 5, 50, 1000)]
    # Each bound is averaged over K / k replicates: the Monte Carlo error is ~0.01.
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        assert (lo <= hi + 0.03).all()
    assert (bounds[-1] <= log_px + 0.03).all()
    assert (log_px - bounds[-1]).abs().max() < 0.05 < (log_px - bounds[0]).abs().max()


def test_gradients():
    check_gradients(lambda m, v: gaussian_kl_loss(m, v, reduction="none"),
                    torch.randn(2, 3), torch.randn(2, 3))
    check_gradients(lambda m, v, pm: gaussian_kl_loss(m, v, prior_mean=pm), torch.randn(2, 3),
                    torch.randn(2, 3), torch.randn(3))
    x = torch.rand(2, 3, dtype=torch.float64)
    check_gradients(lambda r, m, v: elbo_loss(x, r, m, v), torch.randn(2, 3),
                    torch.randn(2, 2), torch.randn(2, 2))
    check_gradients(lambda r, m, v: elbo_loss((x > 0.5).double(), r, m, v,
                                              likelihood="bernoulli", reduction="none"),
                    torch.randn(2, 3), torch.randn(2, 2), torch.randn(2, 2))
    check_gradients(lambda r, m, v, z: elbo_loss(x, r, m, v, kl="mc", z=z),
                    torch.randn(2, 3), torch.randn(2, 2), torch.randn(2, 2), torch.randn(2, 2))
    check_gradients(iwae_bound, torch.randn(4, 2), torch.randn(4, 2), torch.randn(4, 2))


def test_bad_input():
    m = torch.zeros(2, 3)
    assert_raises_naming(ValueError, lambda: gaussian_kl_loss(m, m, reduction="avg"),
                         "reduction")
    assert_raises_naming(ValueError, lambda: gaussian_kl_loss(m, m[:, :2]), "log_var")
    assert_raises_naming(ValueError, lambda: gaussian_kl_loss(m, m, free_bits=-1.0),
                         "free_bits")
    assert_raises_naming(ValueError, lambda: elbo_loss(m, m, m, m, kl="mc"), "z")
    assert_raises_naming(ValueError, lambda: elbo_loss(m, m, m, m, likelihood="poisson"),
                         "likelihood")
    assert_raises_naming(ValueError, lambda: reconstruction_nll(m, m[:, :2]), "recon")
    assert_raises_naming(TypeError, lambda: reconstruction_nll(
        m, torch.zeros(2, 3, 4), likelihood="categorical"), "x")
    assert_raises_naming(ValueError, lambda: iwae_bound(torch.zeros(0, 2), torch.zeros(0, 2),
                                                        torch.zeros(0, 2)), "log_likelihood")
    with pytest.raises(ValueError, match="reduction"):
        GaussianKLLoss(reduction="x")


def test_cross_entropy_loss_mapping():
    """nn.CrossEntropyLoss is the cross-entropy H(onehot, softmax(logits)) (documented)."""
    from torchmath.information import cross_entropy
    logits, y = torch.randn(6, 4, dtype=torch.float64), torch.randint(0, 4, (6,))
    assert_close(torch.nn.CrossEntropyLoss()(logits, y),
                 cross_entropy(p_probs=F.one_hot(y, 4).double(), q_logits=logits).mean())


def test_elbo_loss_errors_name_elbo_loss():
    x, mean = torch.randn(4, 3), torch.zeros(4, 2)
    assert_raises_naming(ValueError, lambda: elbo_loss(x, torch.randn(4, 5), mean, mean),
                         "elbo_loss:", "'recon'")
    assert_raises_naming(ValueError, lambda: elbo_loss(x, x, mean, mean, obs_var=-1.0),
                         "elbo_loss:", "'obs_var'")
    assert_raises_naming(ValueError, lambda: elbo_loss(x, x, mean, torch.zeros(4, 3)),
                         "elbo_loss:", "'log_var'")


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_elbo_loss_compiles_fullgraph_without_host_sync(likelihood, kl, no_validation):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, generator=g, dtype=torch.float64)
    recon, mean = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 2)
    mean, log_var, z = (torch.randn(4, 2, generator=g, dtype=torch.float64) for _ in range(3))
    obs_var = torch.full((3,), 0.7, dtype=torch.float64)

    def loss(x, recon, mean, log_var, z):
        return elbo_loss(x, recon, mean, log_var, likelihood=likelihood, kl=kl, z=z,
                         obs_var=obs_var)

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    assert_close(compiled(x, recon, mean, log_var, z), loss(x, recon, mean, log_var, z))


def test_gaussian_reconstruction_equals_torch_gaussian_nll_loss():
    x, recon = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    var = torch.rand(3, dtype=torch.float64) + 0.1
    ref = torch.nn.functional.gaussian_nll_loss(recon, x, var.expand(4, 3), full=True, eps=0.0,
                                                reduction="none").sum(-1)
    assert_close(reconstruction_nll(x, recon, obs_var=var), ref)
    assert_close(reconstruction_nll(x, recon, obs_var=0.3), torch.nn.functional.gaussian_nll_loss(
        recon, x, torch.full((4, 3), 0.3, dtype=torch.float64), full=True, eps=0.0,
        reduction="none").sum(-1))
