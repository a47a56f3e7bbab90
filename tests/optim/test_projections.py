"""Projections onto the simplex, box, l2 and l1 balls, against cvxpy and worked examples."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.optim import project_box, project_l1_ball, project_l2_ball, project_simplex


def _cvx_project(v, constraint):
    z = cp.Variable(v.shape[0])
    cp.Problem(cp.Minimize(cp.sum_squares(z - v)), constraint(z)).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return z.value


def test_simplex_worked_by_hand():
    # sorted u = (1.5, 0.5, -1); prefix test keeps two entries; tau = (1.5 + 0.5 - 1) / 2
    assert_close(project_simplex(torch.tensor([0.5, 1.5, -1.0], dtype=torch.float64)),
                 [0.0, 1.0, 0.0])
    assert_close(project_simplex(torch.tensor([0.2, 0.3, 0.1], dtype=torch.float64)),
                 [0.2 + 0.4 / 3, 0.3 + 0.4 / 3, 0.1 + 0.4 / 3])


def test_simplex_and_l1_ball_against_cvxpy(rng):
    X = rng.normal(size=(6, 5)) * 2
    out = project_simplex(torch.from_numpy(X), radius=2.0)
    l1 = project_l1_ball(torch.from_numpy(X), radius=1.5)
    for i in range(6):
        ref = _cvx_project(X[i], lambda z: [z >= 0, cp.sum(z) == 2.0])
        assert_close(out[i], ref, rtol=1e-6, atol=1e-6)
        ref1 = _cvx_project(X[i], lambda z: [cp.norm1(z) <= 1.5])
        assert_close(l1[i], ref1, rtol=1e-6, atol=1e-6)
    assert_close(out.sum(-1), np.full(6, 2.0))
    assert (out >= 0).all() and (l1 == 0).any()  # exact zeros


def test_l1_ball_leaves_inside_points_and_batches(dtype):
    x = torch.tensor([[0.2, -0.3], [3.0, -1.0]], dtype=dtype)
    out = project_l1_ball(x)
    assert torch.equal(out[0], x[0])
    assert_close(out[1], [1.0, 0.0], dtype=dtype)
    assert out.dtype == dtype
    batched = torch.randn(2, 3, 4, dtype=dtype)
    assert_close(project_l1_ball(batched)[1, 2], project_l1_ball(batched[1, 2]), dtype=dtype)


def test_l2_ball(dtype):
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=dtype)
    assert_close(project_l2_ball(x, radius=2.5), [[1.5, 2.0], [0.3, 0.4]], dtype=dtype)
    c = torch.tensor([1.0, 1.0], dtype=dtype)
    assert_close(project_l2_ball(x, radius=1.0, center=c),
                 [[1 + 2 / np.sqrt(13), 1 + 3 / np.sqrt(13)], [0.3, 0.4]], dtype=dtype)
    radii = torch.tensor([10.0, 0.1], dtype=dtype)
    assert_close(project_l2_ball(x, radius=radii), [[3.0, 4.0], [0.06, 0.08]], dtype=dtype)


def test_box():
    x = torch.tensor([[-2.0, 0.5, 3.0]], dtype=torch.float64)
    assert_close(project_box(x, 0.0, 1.0), [[0.0, 0.5, 1.0]])
    lo = torch.tensor([-3.0, 0.6, 0.0], dtype=torch.float64)
    assert_close(project_box(x, lo, None), [[-2.0, 0.6, 3.0]])
    assert_close(project_box(x, None, 2.0), [[-2.0, 0.5, 2.0]])


def test_gradients():
    x = torch.tensor([[0.9, 0.25, -0.3], [0.1, 0.5, 0.3]], dtype=torch.float64)
    check_gradients(project_simplex, x)
    check_gradients(lambda z: project_l2_ball(z, 0.5), x)
    check_gradients(lambda z: project_l1_ball(z, 0.5), x)


def test_input_unchanged():
    x = torch.randn(3, 4, dtype=torch.float64)
    copy = x.clone()
    project_simplex(x), project_l1_ball(x), project_l2_ball(x), project_box(x, 0.0, 1.0)
    assert torch.equal(x, copy)


@pytest.mark.parametrize("fn", [project_simplex, project_l1_ball, project_l2_ball])
def test_bad_input(fn):
    assert_raises_naming(ValueError, lambda: fn(torch.randn(3), radius=0.0), fn.__name__,
                         "radius")
    assert_raises_naming(TypeError, lambda: fn(torch.arange(3)), "'x'")
    assert_raises_naming(ValueError, lambda: fn(torch.tensor(1.0)), "'x'")


def test_box_bad_bounds():
    assert_raises_naming(ValueError, lambda: project_box(torch.randn(3), 1.0, 0.0),
                         "project_box", "lower")
