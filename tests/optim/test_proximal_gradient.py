"""ISTA/FISTA and projected gradient against scikit-learn, SciPy and the O(1/k), O(1/k^2)
bounds."""

from __future__ import annotations

import functools

import pytest
import torch
from scipy.optimize import nnls
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet, Lasso

from tests.helpers import assert_close
from tests.optim._trajectory import assert_resume_equals_uninterrupted, assert_same_trajectory
from torchmath.optim import (
    ProjectedGradient,
    ProximalGradient,
    project_box,
    project_simplex,
    proximal_gradient_update,
    soft_threshold,
)


def _problem(n=80, d=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64)
    w[:4] = torch.tensor([2.0, -1.5, 1.0, 0.5], dtype=torch.float64)
    y = X @ w + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
    L = float(torch.linalg.eigvalsh(X.T @ X / n)[-1])
    return X, y, L


def _fit(X, y, lr, steps, **kw):
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = ProximalGradient([w], lr=lr, **kw)
    losses = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((y - X @ w) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
        losses.append(opt.iterate(w))
    return opt.iterate(w), losses


@pytest.mark.parametrize("accelerated", [False, True])
def test_lasso_matches_sklearn_with_exact_zeros(accelerated):
    X, y, L = _problem()
    alpha = 0.1
    ref = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X.numpy(),
                                                                                     y.numpy())
    w, _ = _fit(X, y, 1 / L, 300 if accelerated else 1500, prox="l1", alpha=alpha,
                accelerated=accelerated)
    assert_close(w, ref.coef_, rtol=1e-6, atol=1e-8)
    assert torch.equal(w == 0, torch.from_numpy(ref.coef_ == 0))
    assert (w == 0).sum() >= 4


def test_elastic_net_matches_sklearn():
    X, y, L = _problem(seed=1)
    ref = ElasticNet(alpha=0.2, l1_ratio=0.6, fit_intercept=False, tol=1e-12,
                     max_iter=100_000).fit(X.numpy(), y.numpy())
    w, _ = _fit(X, y, 1 / L, 400, prox="elastic_net", alpha=0.2, l1_ratio=0.6,
                accelerated=True)
    assert_close(w, ref.coef_, rtol=1e-6, atol=1e-8)
    assert torch.equal(w == 0, torch.from_numpy(ref.coef_ == 0))


def test_rates_ista_one_over_k_fista_one_over_k_squared():
    X, y, L = _problem(seed=2)
    X = X * torch.logspace(0, -1.5, X.shape[1], dtype=torch.float64)  # ill-conditioned
    L = float(torch.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])
    alpha = 0.01
    F = lambda w: float(0.5 * ((y - X @ w) ** 2).mean() + alpha * w.abs().sum())
    w_star = torch.from_numpy(Lasso(alpha=alpha, fit_intercept=False, tol=1e-14,
                                    max_iter=1_000_000).fit(X.numpy(), y.numpy()).coef_)
    f_star, r0 = F(w_star), float(w_star.norm() ** 2)
    _, ista = _fit(X, y, 1 / L, 60, prox="l1", alpha=alpha)
    _, fista = _fit(X, y, 1 / L, 60, prox="l1", alpha=alpha, accelerated=True)
    for k in (5, 20, 60):
        assert F(ista[k - 1]) - f_star <= L * r0 / (2 * k) + 1e-12  # Beck–Teboulle thm 3.1
        assert F(fista[k - 1]) - f_star <= 2 * L * r0 / (k + 1) ** 2 + 1e-12  # thm 4.4
    assert F(fista[59]) - f_star < F(ista[59]) - f_star


def test_no_prox_equals_sgd_with_scheduler():
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    assert_same_trajectory(
        lambda m, fe: ProximalGradient(m.parameters(), lr=0.1, prox=None, weight_decay=0.01,
                                       foreach=fe),
        lambda m: torch.optim.SGD(m.parameters(), lr=0.1, weight_decay=0.01),
        scheduler=sched, foreach=(True, False))


def test_param_groups_penalize_weights_only():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 1).double()
    X = torch.randn(50, 6, dtype=torch.float64)
    y = X[:, :1] * 2 + 5.0
    opt = ProximalGradient([{"params": [lin.weight], "alpha": 0.5},
                            {"params": [lin.bias], "alpha": 0.0}], lr=0.1, prox="l1")
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.mse_loss(lin(X), y).backward()
        opt.step()
    assert (lin.weight[0, 1:] == 0).all() and lin.weight[0, 0] != 0
    assert abs(float(lin.bias.detach()) - 5.0) < 0.5


def test_accelerated_state_dict_resume():
    assert_resume_equals_uninterrupted(
        lambda m: ProximalGradient(m.parameters(), lr=0.05, prox="l1", alpha=0.01,
                                   accelerated=True), closure_step=True)


def test_projected_gradient_nonneg_least_squares_matches_scipy_nnls():
    X, y, L = _problem(seed=3)
    y = y - 2 * X[:, 4]  # a negative true coefficient the constraint must clip
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = ProjectedGradient([w], lr=1 / L, projection=functools.partial(project_box, lower=0.0),
                            accelerated=True)

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((y - X @ w) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(500):
        opt.step(closure)
    ref, _ = nnls(X.numpy(), y.numpy())
    assert_close(opt.iterate(w), ref, rtol=1e-6, atol=1e-8)
    assert (opt.iterate(w) >= 0).all()


def test_projected_gradient_on_the_simplex():
    target = torch.tensor([[1.0, 0.5, -1.0], [0.1, 0.2, 0.3]], dtype=torch.float64)
    W = torch.nn.Parameter(torch.full((2, 3), 1 / 3, dtype=torch.float64))
    opt = ProjectedGradient([W], lr=0.2, projection=project_simplex)
    for _ in range(100):
        opt.zero_grad()
        ((W - target) ** 2).sum().backward()
        opt.step()
    assert_close(W.detach(), project_simplex(target), atol=1e-10)


def test_kernel_with_callable_prox():
    p = torch.tensor([1.0, 0.05], dtype=torch.float64)
    proximal_gradient_update([p], [torch.tensor([0.5, 0.0], dtype=torch.float64)], lr=0.5,
                             prox=soft_threshold, alpha=0.2)
    # soft(1 - 0.25, 0.1) = 0.65; soft(0.05, 0.1) = 0
    assert_close(p, [0.65, 0.0])


def test_errors():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="Invalid learning rate"):
        ProximalGradient(p, lr=-1.0)
    with pytest.raises(ValueError, match="Invalid alpha value"):
        ProximalGradient(p, lr=0.1, alpha=-1.0)
    with pytest.raises(ValueError, match="'prox'"):
        ProximalGradient(p, lr=0.1, prox="l3")
    with pytest.raises(ValueError, match="'l1_ratio'"):
        ProximalGradient(p, lr=0.1, prox="elastic_net")
    with pytest.raises(ValueError, match="'l1_ratio'"):
        ProximalGradient(p, lr=0.1, prox="elastic_net", l1_ratio=2.0)
    with pytest.raises(TypeError, match="'projection'"):
        ProjectedGradient(p, lr=0.1, projection=None)


def _diabetes_lasso(alpha, steps, closure_step):
    """FISTA on scikit-learn's diabetes data (standardized features, raw target), with an
    unpenalized intercept in its own param group: exactly Lasso's objective
    (1/(2n))||y - Xw - b||^2 + alpha ||w||_1."""
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(y)
    design = torch.cat([Xt, torch.ones(n, 1, dtype=torch.float64)], 1)
    L = float(torch.linalg.eigvalsh(design.T @ design / n)[-1])  # smoothness constant
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = ProximalGradient([{"params": [w], "alpha": alpha}, {"params": [b], "alpha": 0.0}],
                           lr=1 / L, prox="l1", accelerated=True)

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((yt - Xt @ w - b) ** 2).mean()
        loss.backward()
        return loss

    points = []
    for _ in range(steps):
        if closure_step:
            opt.step(closure)
        else:  # the ordinary training loop
            closure()
            opt.step()
        points.append(torch.cat([w.detach(), b.detach()]))
    return opt, w, b, X, y, torch.stack(points)


def test_fista_plain_loop_equals_sklearn_lasso_on_diabetes():
    alpha = 1.0  # 7 of the 10 coefficients nonzero
    opt, w, b, X, y, _ = _diabetes_lasso(alpha, 1500, closure_step=False)
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(X, y)
    coef = opt.iterate(w)
    assert (ref.coef_ == 0).sum() >= 2
    assert torch.equal(coef == 0, torch.from_numpy(ref.coef_ == 0))  # exactly its zeros
    nonzero = torch.from_numpy(ref.coef_ != 0)
    assert_close(coef[nonzero], ref.coef_[ref.coef_ != 0], rtol=1e-6, atol=0)
    assert_close(opt.iterate(b), [ref.intercept_], rtol=1e-6, atol=0)


def test_fista_parameters_hold_the_extrapolated_point_and_closure_agrees():
    """The plain loop and the closure form run the same iterations; the parameters hold
    y_{k+1} = x_k + (t_k - 1)/t_{k+1} (x_k - x_{k-1}), the iterate x_k is opt.iterate(p)."""
    opt, w, b, *_, plain = _diabetes_lasso(0.5, 30, closure_step=False)
    opt2, *_, closure = _diabetes_lasso(0.5, 30, closure_step=True)
    assert torch.equal(plain, closure)
    x_prev = torch.cat([opt.iterate(w), opt.iterate(b)])
    t = opt.state[w]["t"]
    opt.zero_grad()
    X, y = load_diabetes(return_X_y=True)
    # one more step by hand: x = prox(y - lr grad(y)), then the extrapolation
    Xt = torch.from_numpy((X - X.mean(0)) / X.std(0))
    (0.5 * ((torch.from_numpy(y) - Xt @ w - b) ** 2).mean()).backward()
    lr = opt.param_groups[0]["lr"]
    x_w = soft_threshold(w.detach() - lr * w.grad, lr * 0.5)
    x_b = b.detach() - lr * b.grad
    opt.step()
    x = torch.cat([x_w, x_b])
    t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
    assert_close(torch.cat([opt.iterate(w), opt.iterate(b)]), x, rtol=0, atol=1e-12)
    assert_close(torch.cat([w.detach(), b.detach()]), x + (t - 1) / t_next * (x - x_prev),
                 rtol=0, atol=1e-12)


def test_ista_iterate_is_the_parameter():
    w = torch.nn.Parameter(torch.tensor([1.0, 0.05], dtype=torch.float64))
    opt = ProximalGradient([w], lr=0.5, prox="l1", alpha=0.2)
    w.grad = torch.zeros(2, dtype=torch.float64)
    opt.step()
    assert torch.equal(opt.iterate(w), w.detach())
