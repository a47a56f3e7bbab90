"""Newton's method: exact on quadratics, quadratic convergence, agreement with
scikit-learn's L2 logistic regression, CG vs full Hessian, and its guard rails."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from tests.helpers import assert_close, rand_spd
from torchmath.optim import Newton, conjugate_gradient


def test_one_step_solves_a_quadratic(dtype):
    A = rand_spd(d=6, dtype=dtype)
    b = torch.randn(6, dtype=dtype)
    w = torch.zeros(6, dtype=dtype, requires_grad=True)
    Newton([w]).step(lambda: 0.5 * w @ A @ w - b @ w)
    assert_close(w.detach(), np.linalg.solve(A.double().numpy(), b.double().numpy()),
                 dtype=dtype, rtol=1e-6 if dtype == torch.float64 else 1e-3)


def _logistic(seed=0, n=300, d=6):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = (X[:, 0] - X[:, 1] + 0.8 * torch.randn(n, generator=gen, dtype=torch.float64) > 0)
    return X, y.double()


@pytest.mark.parametrize("hessian", ["full", "cg"])
def test_l2_logistic_regression_matches_sklearn(hessian):
    X, y = _logistic()
    lam = 0.05
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = Newton([w], weight_decay=lam, hessian=hessian)
    loss = lambda: torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y)
    for _ in range(10):
        opt.step(loss)
    # sklearn minimizes 1/2 |w|^2 + C sum(loss): C = 1 / (n lam) gives the same minimizer
    ref = LogisticRegression(C=1 / (len(y) * lam), fit_intercept=False, tol=1e-12,
                             max_iter=10_000).fit(X.numpy(), y.numpy())
    assert_close(w.detach(), ref.coef_[0], rtol=1e-6, atol=1e-8)


def test_quadratic_convergence():
    X, y = _logistic(seed=1)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = Newton([w], weight_decay=0.01)
    loss = lambda: torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y)
    iterates = []
    for _ in range(10):
        opt.step(loss)
        iterates.append(w.detach().clone())
    err = [float((it - iterates[-1]).norm()) for it in iterates[:6]]
    # e_{k+1} <= C e_k^2 once close: the ratio e_{k+1} / e_k^2 stays bounded while e_k -> 0
    assert err[4] < 1e-6 and err[5] < 1e-12
    assert err[4] <= 10 * err[3] ** 2 and err[3] <= 10 * err[2] ** 2


def test_cg_equals_full_step_and_conjugate_gradient_solves():
    A = rand_spd(d=30, dtype=torch.float64)
    b = torch.randn(30, dtype=torch.float64)
    x, k = conjugate_gradient(lambda v: A @ v, b, max_iter=100, tol=1e-12)
    assert_close(x, np.linalg.solve(A.numpy(), b.numpy()), rtol=1e-9)
    assert k <= 30
    X, y = _logistic(seed=2)
    out = []
    for mode in ("full", "cg"):
        w = torch.full((X.shape[1],), 0.1, dtype=torch.float64, requires_grad=True)
        Newton([w], hessian=mode, damping=0.1).step(
            lambda w=w: torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y))
        out.append(w.detach())
    assert_close(out[0], out[1], rtol=1e-9)


def test_nonconvex_modified_newton_descends_to_minimizers():
    x = torch.tensor([0.1, -0.3, 2.0], dtype=torch.float64, requires_grad=True)
    opt = Newton([x])
    f = lambda: (x ** 4 - x ** 2).sum()
    for _ in range(25):
        opt.step(f)
    # a saddle-free step never stalls at the local maximum x = 0
    assert_close(f().detach(), -0.75, rtol=1e-12)
    assert_close(x.detach().abs(), np.full(3, 1 / np.sqrt(2)), rtol=1e-10)


def test_maximize_and_param_groups():
    a = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = Newton([{"params": [a]}, {"params": [b], "lr": 0.5}], maximize=True)
    opt.step(lambda: -((a - 1) ** 2).sum() - ((b + 2) ** 2).sum())
    assert_close(a.detach(), [1.0, 1.0])
    assert_close(b.detach(), [-1.0, -1.0, -1.0])  # half of the full step


def test_lr_scheduler_damps_the_steps():
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Newton([w], lr=0.5)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    target = torch.tensor([1.0, -2.0], dtype=torch.float64)
    expected = torch.zeros(2, dtype=torch.float64)
    for k in range(4):
        opt.step(lambda: ((w - target) ** 2).sum())
        expected = expected + 0.5 * 0.5 ** k * (target - expected)  # x += lr_k (x* - x)
        sched.step()
    assert_close(w.detach(), expected)


def test_state_dict_round_trip():
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Newton([w], lr=0.3, damping=0.1, hessian="cg")
    opt.step(lambda: ((w - 1) ** 4).sum())
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    fresh = Newton([w])
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.param_groups[0]["lr"] == 0.3 and fresh.param_groups[0]["hessian"] == "cg"
    assert float(fresh.state[w]["step"]) == 1.0


def test_errors():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        Newton([w], lr=-1.0)
    with pytest.raises(ValueError, match="Invalid damping value"):
        Newton([w], damping=-1.0)
    with pytest.raises(ValueError, match="'hessian'"):
        Newton([w], hessian="bfgs")
    with pytest.raises(RuntimeError, match="closure"):
        Newton([w]).step()

    def calls_backward():
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="without calling backward"):
        Newton([w]).step(calls_backward)
    with pytest.raises(ValueError, match="'closure'"):
        Newton([w]).step(lambda: torch.tensor(1.0))
