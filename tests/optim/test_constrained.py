"""Lagrangian, KKT residuals and the augmented Lagrangian against SciPy's SLSQP and
solutions worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize as scipy_minimize

from tests.helpers import assert_close, assert_raises_naming
from torchmath.optim import augmented_lagrangian, kkt_residuals, lagrangian

F64 = torch.float64


def test_lagrangian_value_and_gradient():
    L = lagrangian(lambda x: (x ** 2).sum(), eq=lambda x: x.sum() - 1,
                   ineq=lambda x: torch.stack([-x[0], x[1] - 2]))
    x = torch.tensor([0.5, 1.0], dtype=F64)
    lam, mu = torch.tensor([2.0], dtype=F64), torch.tensor([0.5, 1.5], dtype=F64)
    # 1.25 + 2 * 0.5 + 0.5 * (-0.5) + 1.5 * (-1)
    assert_close(L(x, lam, mu), 1.25 + 1.0 - 0.25 - 1.5)
    assert_close(torch.func.grad(L)(x, lam, mu), [1.0 + 2 - 0.5, 2.0 + 2 + 1.5])


def test_kkt_residuals_by_hand_and_batched():
    # min x + y on the unit disc: x* = -(1,1)/sqrt2, mu* = 1/sqrt2
    f = lambda x: x.sum()
    g = lambda x: (x ** 2).sum() - 1
    s = 1 / np.sqrt(2)
    xs = torch.tensor([[-s, -s], [0.0, 0.0]], dtype=F64)
    mus = torch.tensor([[s], [0.0]], dtype=F64)
    r = kkt_residuals(f, xs, ineq=g, mu=mus)
    assert r.stationarity.shape == (2,)
    assert float(r.max()[0]) < 1e-15
    # at the origin: gradient (1, 1) not cancelled; g = -1 feasible; comp 0
    assert_close(r.stationarity[1], 1.0)
    assert_close(r.primal_feasibility[1], 0.0)
    bad = kkt_residuals(f, torch.tensor([1.0, 1.0], dtype=F64), ineq=g,
                        mu=torch.tensor([-1.0], dtype=F64))
    assert_close(bad.primal_feasibility, 1.0)
    assert_close(bad.dual_feasibility, 1.0)
    assert_close(bad.complementary_slackness, 1.0)


def test_augmented_lagrangian_equality_worked_by_hand():
    res = augmented_lagrangian(lambda x: x.sum(), torch.tensor([1.0, 0.0], dtype=F64),
                               eq=lambda x: (x ** 2).sum() - 1)
    s = 1 / np.sqrt(2)
    assert res.converged
    assert_close(res.x, [-s, -s], rtol=1e-8)
    assert_close(res.lam, [s], rtol=1e-8)
    assert float(res.kkt.max()) < 1e-8


def test_augmented_lagrangian_matches_slsqp_with_inequalities():
    # SciPy's tutorial problem: min (x-1)^2 + (y-2.5)^2 over a polygon (answer (1.4, 1.7))
    A = np.array([[1.0, -2.0], [-1.0, -2.0], [-1.0, 2.0]])
    b = np.array([2.0, 6.0, 2.0])  # A x + b >= 0
    fun = lambda x: (x[0] - 1) ** 2 + (x[1] - 2.5) ** 2
    ref = scipy_minimize(fun, np.array([2.0, 0.0]), method="SLSQP",
                         constraints=[{"type": "ineq", "fun": lambda x: A @ x + b}],
                         bounds=[(0, None), (0, None)], options={"ftol": 1e-14})
    At, bt = torch.from_numpy(A), torch.from_numpy(b)
    ineq = lambda x: torch.cat([-(At @ x + bt), -x])  # g(x) <= 0
    res = augmented_lagrangian(fun, torch.tensor([2.0, 0.0], dtype=F64), ineq=ineq)
    assert res.converged and float(res.kkt.max()) < 1e-8
    assert_close(res.x, ref.x, rtol=1e-7, atol=1e-9)
    assert_close(res.x, [1.4, 1.7], rtol=1e-8)
    # only the first constraint is active, with multiplier 2 * 0.4 / 1 = 0.8
    assert_close(res.mu, [0.8, 0, 0, 0, 0], atol=1e-8)


def test_augmented_lagrangian_nonlinear_mixed_vs_slsqp():
    # min exp(x0) + x1^2 + x2^2  s.t.  x0 + x1 + x2 = 1,  x0 * x1 >= 0.1
    fun = lambda x: torch.exp(x[0]) + x[1] ** 2 + x[2] ** 2
    eq = lambda x: x.sum() - 1
    ineq = lambda x: 0.1 - x[0] * x[1]
    res = augmented_lagrangian(fun, torch.tensor([0.5, 0.5, 0.0], dtype=F64), eq=eq,
                               ineq=ineq)
    ref = scipy_minimize(lambda z: np.exp(z[0]) + z[1] ** 2 + z[2] ** 2,
                         np.array([0.5, 0.5, 0.0]), method="SLSQP", options={"ftol": 1e-14},
                         constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1},
                                      {"type": "ineq", "fun": lambda z: z[0] * z[1] - 0.1}])
    assert res.converged and float(res.kkt.max()) < 1e-8
    assert_close(res.x, ref.x, rtol=1e-6, atol=1e-7)
    assert_close(res.fun, ref.fun, rtol=1e-8)


def test_float32():
    res = augmented_lagrangian(lambda x: (x ** 2).sum(), torch.tensor([3.0, -1.0]),
                               eq=lambda x: x[0] + x[1] - 1)
    assert res.x.dtype == torch.float32 and res.converged
    assert_close(res.x, [0.5, 0.5], rtol=1e-4, atol=1e-4)


def test_bad_input():
    f = lambda x: x.sum()
    x = torch.zeros(2, dtype=F64)
    assert_raises_naming(ValueError, lambda: kkt_residuals(f, x, eq=lambda z: z), "'lam'")
    assert_raises_naming(ValueError, lambda: kkt_residuals(f, x, ineq=lambda z: z,
                                                           mu=torch.zeros(3, dtype=F64)),
                         "kkt_residuals", "'mu'")
    assert_raises_naming(TypeError, lambda: augmented_lagrangian(f, torch.arange(2)), "'x0'")
    assert_raises_naming(ValueError, lambda: augmented_lagrangian(f, x, rho=0.0), "'rho'")
    assert_raises_naming(ValueError, lambda: augmented_lagrangian(f, x.reshape(1, 2)),
                         "'x0'")
    with pytest.raises(ValueError, match="'lam'"):
        lagrangian(f, eq=lambda z: z)(x)
