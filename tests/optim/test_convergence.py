"""minimize and its trace; measured linear rates on quadratics against the theory."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.optim import (
    Adam,
    GradientDescent,
    Momentum,
    Newton,
    NonFiniteError,
    ProximalGradient,
    heavy_ball_parameters,
    linear_rate,
    measured_rate,
    minimize,
    smoothness_constants,
    step_size_bound,
)

F64 = torch.float64


def _quadratic(kappa=50.0, d=10):
    """f(x) = 1/2 (x - c)^T A (x - c) with eigenvalues from 1 to kappa in a random basis."""
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=F64))
    eig = torch.logspace(0, math.log10(kappa), d, dtype=F64)
    A = Q @ torch.diag(eig) @ Q.T
    c = torch.randn(d, generator=gen, dtype=F64)
    return (lambda x: 0.5 * (x - c) @ A @ (x - c)), A, c


def test_smoothness_constants_and_bounds():
    f, A, c = _quadratic()
    m, L = smoothness_constants(f, torch.zeros(10, dtype=F64))
    eig = np.linalg.eigvalsh(A.numpy())
    assert_close(m, eig.min())
    assert_close(L, eig.max())
    assert step_size_bound(L) == 1 / L
    assert linear_rate(4.0, 1.0, "gd") == 0.75
    assert linear_rate(4.0, 1.0, "gd_optimal") == 0.6
    assert linear_rate(4.0, 1.0, "nesterov") == 0.5
    assert abs(linear_rate(4.0, 1.0, "heavy_ball") - 1 / 3) < 1e-15
    lr, mom = heavy_ball_parameters(4.0, 1.0)
    assert abs(lr - 4 / 9) < 1e-15 and abs(mom - 1 / 9) < 1e-15


@pytest.mark.parametrize("method", ["gd", "gd_optimal", "heavy_ball"])
def test_measured_rate_meets_theory_on_a_quadratic(method):
    f, A, c = _quadratic(kappa=50.0)
    m, L = (float(v) for v in smoothness_constants(f, c))
    if method == "gd":
        opt = functools.partial(GradientDescent, lr=step_size_bound(L))
    elif method == "gd_optimal":
        opt = functools.partial(GradientDescent, lr=2 / (L + m))
    else:
        lr, mom = heavy_ball_parameters(L, m)
        opt = functools.partial(Momentum, lr=lr, momentum=mom)
    res = minimize(f, torch.zeros(10, dtype=F64), opt, max_iter=150, tol=0.0)
    rho = linear_rate(L, m, method)
    measured = float(measured_rate(res.trace.grad_norm, skip=30))
    # the bound holds, and is tight: a generic start excites the slowest eigendirection
    assert measured <= rho * 1.02
    assert measured >= rho * 0.9
    assert res.trace.loss.shape == (151,) and res.trace.step_size.shape == (150,)
    assert (res.trace.loss[1:] <= res.trace.loss[:-1] + 1e-12).all() or method == "heavy_ball"


def test_sublinear_rate_of_gd_on_a_convex_quadratic():
    # f - f* <= L |x0 - x*|^2 / (2k) for GD with 1/L (Nesterov thm 2.1.14)
    f, A, c = _quadratic(kappa=1e4)
    L = float(smoothness_constants(f, c)[1])
    res = minimize(f, torch.zeros(10, dtype=F64), functools.partial(GradientDescent, lr=1 / L),
                   max_iter=200, tol=0.0)
    k = torch.arange(1, 201, dtype=F64)
    assert (res.trace.loss[1:] <= L * float(c @ c) / (2 * k)).all()


def test_minimize_converges_with_various_optimizers():
    f, A, c = _quadratic(kappa=10.0)
    for opt, iters in [(functools.partial(Adam, lr=0.05), 3000),
                       (functools.partial(Newton), 5),
                       (functools.partial(ProximalGradient, lr=0.1, prox=None,
                                          accelerated=True), 500),
                       (functools.partial(torch.optim.LBFGS, line_search_fn="strong_wolfe",
                                          tolerance_grad=1e-12, tolerance_change=0.0),
                        20)]:
        res = minimize(f, torch.zeros(10, dtype=F64), opt, max_iter=iters, tol=1e-7)
        assert res.converged, opt
        assert_close(res.x, c, rtol=1e-6, atol=1e-6)
        assert res.n_iter == len(res.trace.step_size) and res.n_iter < iters


def test_minimize_records_lr_schedule_and_leaves_x0():
    x0 = torch.ones(3, dtype=F64)
    res = minimize(lambda x: (x ** 2).sum(), x0, functools.partial(GradientDescent, lr=0.1),
                   max_iter=5, tol=0.0)
    assert not res.converged and res.n_iter == 5
    assert_close(res.trace.lr, [0.1] * 5)
    assert_close(res.trace.step_size, [0.2 * 0.8 ** k * math.sqrt(3) for k in range(5)])
    assert torch.equal(x0, torch.ones(3, dtype=F64))


def test_nan_gradient_is_reported_with_its_iteration():
    # x0 = 1, lr = 1: x1 = 1 - (2 + 0.05) < 0 and sqrt'(x1) is NaN at iteration 1
    f = lambda x: (x ** 2 + 0.1 * torch.sqrt(x)).sum()
    with pytest.raises(NonFiniteError, match="iteration 1") as info:
        minimize(f, torch.ones(1, dtype=F64), functools.partial(GradientDescent, lr=1.0))
    assert info.value.iteration == 1
    assert info.value.result.trace.loss.shape == (1,)
    assert isinstance(info.value, FloatingPointError)


def test_measured_rate_exact_on_geometric_sequences():
    e = 0.3 * 0.9 ** torch.arange(40, dtype=F64)
    assert_close(measured_rate(e), 0.9)
    assert_close(measured_rate(torch.cat([e, torch.zeros(3, dtype=F64)])), 0.9)


def test_bad_input():
    f = lambda x: (x ** 2).sum()
    gd = functools.partial(GradientDescent, lr=0.1)
    assert_raises_naming(TypeError, lambda: minimize(f, torch.arange(3), gd), "'x0'")
    assert_raises_naming(ValueError, lambda: minimize(f, torch.ones(3), gd, max_iter=0),
                         "'max_iter'")
    assert_raises_naming(ValueError, lambda: minimize(f, torch.ones(3), gd, tol=-1.0), "'tol'")
    assert_raises_naming(TypeError, lambda: minimize(f, torch.ones(3), lambda p: p),
                         "'optimizer'")
    assert_raises_naming(ValueError, lambda: linear_rate(1.0, 2.0), "'m'")
    assert_raises_naming(ValueError, lambda: linear_rate(2.0, 1.0, "adam"), "'method'")
    assert_raises_naming(ValueError, lambda: step_size_bound(0.0), "'L'")
    assert_raises_naming(ValueError, lambda: measured_rate(torch.ones(1)), "'errors'")
