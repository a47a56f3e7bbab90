"""Gradients, Hessians, hvp, Jacobians, gradient checks, convexity and Lipschitz constants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import approx_fprime, rosen, rosen_der, rosen_hess

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.optim import (
    check_gradient,
    gradient,
    hessian,
    hvp,
    is_convex,
    jacobian,
    lipschitz_constant,
)


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def test_gradient_and_hessian_match_scipy_rosenbrock(dtype):
    x = torch.tensor([[-1.2, 1.0, 0.5, 0.3], [0.9, 1.1, 1.3, 1.7]], dtype=dtype)
    g, H = gradient(rosenbrock, x), hessian(rosenbrock, x)
    assert g.shape == (2, 4) and H.shape == (2, 4, 4) and g.dtype == dtype
    for i in range(2):
        xi = x[i].double().numpy()
        assert_close(g[i], rosen_der(xi), dtype=dtype, rtol=1e-6 if dtype == torch.float64
                     else 1e-4, atol=1e-3 if dtype == torch.float32 else 1e-9)
        assert_close(H[i], rosen_hess(xi), dtype=dtype, atol=1e-3 if dtype == torch.float32
                     else 1e-9)


def test_hvp_equals_hessian_times_v_batched_and_broadcast():
    x = torch.randn(3, 5, dtype=torch.float64)
    v = torch.randn(5, dtype=torch.float64)
    H = hessian(rosenbrock, x)
    assert_close(hvp(rosenbrock, x, v), (H @ v.unsqueeze(-1)).squeeze(-1))
    # per-point vectors
    V = torch.randn(3, 5, dtype=torch.float64)
    assert_close(hvp(rosenbrock, x, V), torch.einsum("bij,bj->bi", H, V))


def test_jacobian_both_modes():
    A = torch.randn(3, 4, dtype=torch.float64)
    f = lambda x: torch.tanh(A @ x)
    x = torch.randn(2, 4, dtype=torch.float64)
    ref = (1 - torch.tanh(x @ A.T) ** 2).unsqueeze(-1) * A  # diag(1 - tanh^2) A
    assert_close(jacobian(f, x), ref)
    assert_close(jacobian(f, x, mode="forward"), ref)


def test_results_are_differentiable():
    x = torch.randn(2, 3, dtype=torch.float64)
    v = torch.randn(2, 3, dtype=torch.float64)
    f = lambda z: (z.sin() * z.roll(1)).sum()
    check_gradients(lambda a: gradient(f, a), x)
    check_gradients(lambda a, b: hvp(f, a, b), x, v, gradgrad=False)


def test_check_gradient_agrees_with_scipy_and_catches_a_wrong_gradient():
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    res = check_gradient(rosenbrock, x)
    assert res.ok and float(res.max_rel_error) < 1e-6
    ref = approx_fprime(x.numpy(), rosen, 1e-7)
    assert_close(res.numeric, ref, rtol=1e-5, atol=1e-3)

    # a detach() hides half of the second term from autograd: the gradient is wrong
    wrong = check_gradient(lambda z: (z ** 2).sum() + (z.detach() * z).sum() * 0.5, x)
    assert not wrong.ok and float(wrong.max_abs_error) > 0.1


def test_check_gradient_batched_float32():
    x = torch.randn(4, 3)
    res = check_gradient(lambda z: (z.exp() * z).sum(), x)
    assert res.ok and res.numeric.shape == (4, 3)


def test_is_convex_reports_smallest_eigenvalue():
    pts = torch.randn(20, 2, dtype=torch.float64)
    res = is_convex(lambda x: torch.logsumexp(x, 0) + (x ** 2).sum(), pts)
    assert res.convex and float(res.min_eigenvalue) >= 2.0 - 1e-12
    saddle = is_convex(lambda x: x[0] ** 2 - 3 * x[1] ** 2, pts)
    assert not saddle.convex
    assert_close(saddle.min_eigenvalue, -6.0)
    assert saddle.min_eigenvalues.shape == (20,)
    # Rosenbrock is not convex: the Hessian at (0, 1) has eigenvalue 2 - 400 y + ... < 0
    ros = is_convex(rosenbrock, torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=torch.float64))
    ref = np.linalg.eigvalsh(rosen_hess(np.array([0.0, 1.0]))).min()
    assert not ros.convex and abs(float(ros.min_eigenvalue) - ref) < 1e-8
    assert torch.equal(ros.point, torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_lipschitz_constant_is_largest_eigenvalue():
    gen = torch.Generator().manual_seed(3)
    B = torch.randn(40, 40, generator=gen, dtype=torch.float64)
    A = B @ B.T / 40 + 0.1 * torch.eye(40, dtype=torch.float64)
    L = lipschitz_constant(lambda x: 0.5 * x @ A @ x, torch.randn(2, 40, dtype=torch.float64))
    assert L.shape == (2,)
    assert_close(L, np.full(2, np.linalg.eigvalsh(A.numpy()).max()), rtol=1e-8)
    # non-convex: the spectral norm, |most negative eigenvalue| when it dominates
    x0 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    ref = np.abs(np.linalg.eigvalsh(rosen_hess(x0.numpy()))).max()
    assert_close(lipschitz_constant(rosenbrock, x0), ref, rtol=1e-8)


@pytest.mark.parametrize("fn", [gradient, hessian, lambda f, x: hvp(f, x, x),
                                lambda f, x: jacobian(f, x), check_gradient, is_convex,
                                lipschitz_constant])
def test_bad_input(fn):
    f = lambda x: (x ** 2).sum()
    assert_raises_naming(TypeError, lambda: fn(f, torch.arange(3)), "'x'"
                         if fn is not is_convex else "'sample_points'")
    assert_raises_naming(ValueError, lambda: fn(f, torch.tensor(1.0)), "'x'"
                         if fn is not is_convex else "'sample_points'")


def test_non_scalar_f_and_bad_shapes_are_named():
    x = torch.randn(3)
    assert_raises_naming(ValueError, lambda: gradient(lambda z: z * 2, x), "gradient", "'f'")
    assert_raises_naming(ValueError, lambda: hvp(lambda z: z.sum(), x, torch.randn(4)),
                         "hvp", "'v'")
    assert_raises_naming(ValueError, lambda: jacobian(lambda z: z, x, mode="sideways"),
                         "'mode'")


def test_lipschitz_constant_refuses_max_iter_zero():
    from torchmath.optim import lipschitz_constant

    assert_raises_naming(ValueError, lambda: lipschitz_constant(
        lambda x: (x ** 2).sum(), torch.zeros(2), max_iter=0), "lipschitz_constant",
        "'max_iter'")
