"""Normal and multivariate normal densities and samplers against SciPy and torch."""

import numpy as np
import pytest
import scipy.stats as st
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients, rand_spd
from torchmath.probability import distributions, mvn_log_prob, mvn_sample, normal_log_prob


def test_normal_log_prob_matches_scipy(rng, dtype):
    x, m, s = rng.normal(size=(4, 5)), rng.normal(size=5), rng.random(5) + 0.1
    out = normal_log_prob(torch.tensor(x, dtype=dtype), torch.tensor(m, dtype=dtype),
                          torch.tensor(s, dtype=dtype))
    assert out.dtype == dtype
    assert_close(out, st.norm(m, s).logpdf(x), dtype=dtype)
    check_gradients(normal_log_prob, torch.randn(3, 2), torch.randn(2), torch.rand(2) + 0.5)


@pytest.mark.parametrize("n", [3, 50])  # below and above d: both code paths
@pytest.mark.parametrize("form", ["cov", "precision", "scale_tril"])
def test_mvn_log_prob_matches_scipy(rng, n, form, dtype):
    d = 4
    cov = rand_spd(d=d)
    mean, x = torch.randn(d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    ref = st.multivariate_normal(mean.numpy(), cov.numpy()).logpdf(x.numpy())
    matrix = {"cov": cov, "precision": torch.linalg.inv(cov),
              "scale_tril": torch.linalg.cholesky(cov)}[form]
    out = mvn_log_prob(x.to(dtype), mean.to(dtype), **{form: matrix.to(dtype)})
    assert out.dtype == dtype and out.shape == (n,)
    assert_close(out, ref, dtype=dtype, rtol=1e-7 if dtype == torch.float64 else 1e-4)


@pytest.mark.parametrize("form", ["cov", "precision", "scale_tril"])
def test_mvn_batched_matches_torch_distributions(form):
    d = 3
    cov = rand_spd(2, 1, d=d)
    mean = torch.randn(1, 5, d, dtype=torch.float64)
    x = torch.randn(7, 2, 5, d, dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    matrix = {"cov": cov, "precision": dist.precision_matrix, "scale_tril": dist.scale_tril}
    out = mvn_log_prob(x, mean, **{form: matrix[form]})
    assert_close(out, dist.log_prob(x))
    # stacked per-item results
    assert_close(out[:, 1, 3], mvn_log_prob(x[:, 1, 3], mean[0, 3], **{form: matrix[form][1, 0]}))


@pytest.mark.parametrize("n", [2, 4])  # general path and the blocked shared-factor path
def test_mvn_gradients(n):
    d = 3
    x, mean = torch.randn(n, d), torch.randn(d)
    A = torch.randn(d, d) + 2 * torch.eye(d)
    check_gradients(lambda x, m, A: mvn_log_prob(x, m, cov=A @ A.mT + torch.eye(d,
                    dtype=A.dtype)), x, mean, A)
    check_gradients(lambda x, m, A: mvn_log_prob(x, m, precision=A @ A.mT + torch.eye(
                    d, dtype=A.dtype)), x, mean, A)
    check_gradients(lambda x, m, A: mvn_log_prob(x, m, scale_tril=A.tril()), x, mean, A)
    # batched factors and means (the broadcast path)
    check_gradients(lambda x, m, A: mvn_log_prob(x, m, scale_tril=A.tril()),
                    torch.randn(2, 1, d), torch.randn(3, d), torch.randn(2, 1, d, d) + 3 *
                    torch.eye(d), gradgrad=False)


def test_mvn_blocked_gradients_match_torch_distributions():
    d, n = 5, 300
    cov = rand_spd(d=d).requires_grad_()
    x = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    mean = torch.randn(d, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(mvn_log_prob(x, mean, cov=cov).square().sum(), (x, mean, cov))
    ref = torch.autograd.grad(torch.distributions.MultivariateNormal(
        mean, covariance_matrix=cov).log_prob(x).square().sum(), (x, mean, cov))
    for a, b in zip(ours, ref, strict=True):
        assert_close(a, b, rtol=1e-9)
    # only the covariance needs a gradient
    x2 = x.detach()
    g = torch.autograd.grad(mvn_log_prob(x2, mean.detach(), cov=cov).sum(), cov)[0]
    g_ref = torch.autograd.grad(torch.distributions.MultivariateNormal(
        mean.detach(), covariance_matrix=cov).log_prob(x2).sum(), cov)[0]
    assert_close(g, g_ref, rtol=1e-9)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("form", ["cov", "precision"])
def test_mvn_blocked_path_over_several_ragged_blocks(monkeypatch, form, threads):
    # 1600 rows per block, the last one 300 (the reused buffers are sliced); with 3
    # threads the backward's blocks are 1599 rows in 3 row groups, the last one (302
    # rows) not split
    monkeypatch.setattr(distributions, "_CHUNK_BYTES", 2 * 5 * 8 * 1600)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    d, n = 5, 3500
    cov = rand_spd(d=d).requires_grad_()
    x = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    mean = torch.randn(d, dtype=torch.float64, requires_grad=True)
    matrix = cov if form == "cov" else torch.linalg.inv(cov)
    ref_dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)
    ours, ref = mvn_log_prob(x, mean, **{form: matrix}), ref_dist.log_prob(x)
    assert_close(ours, ref, rtol=1e-10)
    w = torch.randn(n, dtype=torch.float64)  # per-row weights of both signs
    for wrt in ((x, mean, cov), (x,), (mean, cov), (cov,)):
        got = torch.autograd.grad((ours * w).sum(), wrt, retain_graph=True)
        want = torch.autograd.grad((ref * w).sum(), wrt, retain_graph=True)
        for a, b in zip(got, want, strict=True):
            assert_close(a, b, rtol=1e-9)


def test_mvn_extremes():
    d = 3
    scale = 1e6
    cov = rand_spd(d=d) * scale**2
    mean = torch.full((d,), 3 * scale, dtype=torch.float64)
    x = mean + torch.randn(20, d, dtype=torch.float64) * scale
    ref = st.multivariate_normal(mean.numpy(), cov.numpy()).logpdf(x.numpy())
    assert_close(mvn_log_prob(x, mean, cov=cov), ref)
    # nearly singular, still positive definite
    v = torch.randn(d, 1, dtype=torch.float64)
    near = v @ v.T + 1e-9 * torch.eye(d, dtype=torch.float64)
    out = mvn_log_prob(torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64),
                       cov=near)
    assert torch.isfinite(out)


def test_mvn_sample_moments_and_reparameterization(generator):
    d = 3
    cov = rand_spd(d=d)
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    s = mvn_sample(mean, cov=cov, n=200_000, generator=generator)
    assert s.shape == (200_000, d)
    # standard errors ~ 1/sqrt(n) = 0.0022; tolerance 0.02 is ~9 standard errors
    assert_close(s.mean(0), mean, atol=0.02, rtol=0)
    assert_close(torch.cov(s.T), cov, atol=0.03, rtol=0)
    batched = mvn_sample(torch.zeros(2, d, dtype=torch.float64),
                         scale_tril=torch.linalg.cholesky(rand_spd(2, d=d)), n=4)
    assert batched.shape == (4, 2, d)
    m = mean.clone().requires_grad_()
    mvn_sample(m, cov=cov, n=10).sum().backward()
    assert_close(m.grad, torch.full((d,), 10.0, dtype=torch.float64))


def test_bad_input():
    x, m, c = torch.randn(5, 3), torch.zeros(3), torch.eye(3)
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, m), "'cov'", "'precision'")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, m, cov=c, precision=c), "'cov'")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, torch.zeros(2), cov=c), "'mean'",
                         "(..., 3)")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(torch.randn(5, 2), m, cov=c), "'x'")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, m, cov=torch.ones(3, 2)), "'cov'")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, m, cov=-c), "'cov'",
                         "positive definite")
    assert_raises_naming(ValueError, lambda: mvn_log_prob(x, m, scale_tril=-c), "scale_tril")
    assert_raises_naming(TypeError, lambda: mvn_log_prob(x.long(), m, cov=c), "'x'")
    assert_raises_naming(ValueError, lambda: normal_log_prob(x, 0.0, -1.0), "'std'")
    assert_raises_naming(ValueError, lambda: normal_log_prob(x, 0.0, torch.zeros(3)), "'std'")
    assert_raises_naming(ValueError, lambda: mvn_sample(m, cov=c, n=0), "'n'")
    assert_raises_naming(ValueError, lambda: mvn_sample(m, cov=-c, n=2), "'cov'")
    assert_raises_naming(ValueError, lambda: mvn_sample(torch.full((3,), np.nan), cov=c, n=2),
                         "'mean'")


@pytest.mark.parametrize("n", [2, 30])  # both code paths (broadcast solve, blocked product)
def test_mvn_infinite_point_or_mean_has_log_density_minus_inf(n):
    d = 3
    cov = rand_spd(d=d)
    x = torch.randn(n, d, dtype=torch.float64)
    x[0] = torch.tensor([np.inf, np.inf, np.inf])
    x[1, 1] = np.inf
    out = mvn_log_prob(x, torch.zeros(d, dtype=torch.float64), cov=cov)
    assert out[0] == -np.inf and out[1] == -np.inf
    assert torch.isfinite(out[2:]).all()
    far_mean = torch.tensor([-np.inf, 0.0, -np.inf], dtype=torch.float64)
    assert (mvn_log_prob(x[2:], far_mean, cov=cov) == -np.inf).all()


def test_mvn_nan_is_never_masked(no_validation):
    d, c = 3, torch.eye(3)
    x = torch.randn(5, d)
    x[0, 1] = np.nan
    out = mvn_log_prob(x, torch.zeros(d), cov=c)
    assert torch.isnan(out[0]) and torch.isfinite(out[1:]).all()
    # a covariance that is not positive definite gives NaN, not a number, with checks off
    assert torch.isnan(mvn_log_prob(x[1:], torch.zeros(d), cov=-c)).all()


def test_mvn_nan_covariance_error_names_the_argument():
    c = torch.eye(3)
    c[0, 1] = c[1, 0] = np.nan
    assert_raises_naming(ValueError, lambda: mvn_log_prob(torch.zeros(3), torch.zeros(3), cov=c),
                         "mvn_log_prob", "'cov'", "NaN")


def test_mvn_dtype_rule():
    cov = rand_spd(d=3)
    x = torch.randn(4, 3)
    ref = st.multivariate_normal(np.zeros(3), cov.numpy()).logpdf(x.double().numpy())
    out = mvn_log_prob(x, torch.zeros(3, dtype=torch.float64), cov=cov)  # promotion
    assert out.dtype == torch.float64
    assert_close(out, ref)
    for half in (torch.float16, torch.bfloat16):
        out = mvn_log_prob(x.to(half), torch.zeros(3, dtype=half), cov=cov.to(half))
        assert out.dtype == half
        assert_close(out.float(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("n", [2, 30])
def test_mvn_torch_func_transforms(n):
    d = 3
    cov, mean = rand_spd(d=d), torch.randn(d, dtype=torch.float64)
    x = torch.randn(n, d, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(mean, cov)

    def ours(x, mean, cov):
        return mvn_log_prob(x, mean, cov=cov).sum()

    def theirs(x, mean, cov):
        return torch.distributions.MultivariateNormal(
            mean, cov, validate_args=False).log_prob(x).sum()

    for argnum in range(3):
        for transform in (torch.func.jacrev, torch.func.jacfwd, torch.func.hessian):
            assert_close(transform(ours, argnums=argnum)(x, mean, cov),
                         transform(theirs, argnums=argnum)(x, mean, cov))
    xs = torch.randn(4, n, d, dtype=torch.float64)
    assert_close(torch.func.vmap(lambda x: mvn_log_prob(x, mean, cov=cov))(xs), ref.log_prob(xs))
    covs = cov + torch.rand(4, 1, 1, dtype=torch.float64) * torch.eye(d, dtype=torch.float64)
    assert_close(torch.func.vmap(lambda c: mvn_log_prob(x, mean, cov=c))(covs),
                 torch.distributions.MultivariateNormal(mean, covs.unsqueeze(1)).log_prob(x))
