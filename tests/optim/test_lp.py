"""solve_lp against scipy.optimize.linprog (HiGHS): solutions, statuses, batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from tests.helpers import assert_close, assert_raises_naming
from torchmath.optim import SolverStatus, solve_lp


def random_lp(rng, n, m, k=0):
    """A feasible, bounded LP: x0 is strictly feasible and c = -(G'z0 + A'y0), z0 > 0."""
    G = rng.standard_normal((m, n))
    x0 = rng.standard_normal(n)
    h = G @ x0 + rng.random(m)
    A = rng.standard_normal((k, n))
    b = A @ x0
    c = -(G.T @ rng.random(m) + A.T @ rng.standard_normal(k))
    return c, G, h, A, b


def linprog_x(c, G, h, A, b):
    res = linprog(c, A_ub=G, b_ub=h, A_eq=A if len(b) else None, b_eq=b if len(b) else None,
                  bounds=(None, None), method="highs")
    assert res.status == 0
    return res.x, res.fun


def stack(problems, i, dtype=torch.float64):
    return torch.tensor(np.stack([p[i] for p in problems]), dtype=dtype)


@pytest.mark.parametrize("k", [0, 4])
def test_batch_matches_linprog(rng, k):
    problems = [random_lp(rng, 12, 20, k) for _ in range(8)]
    c, G, h, A, b = (stack(problems, i) for i in range(5))
    res = solve_lp(c, G, h, A, b) if k else solve_lp(c, G, h)
    assert (res.status == SolverStatus.OPTIMAL).all()
    for i, p in enumerate(problems):
        x_ref, f_ref = linprog_x(*p)
        assert_close(res.x[i], x_ref, rtol=0, atol=1e-6)
        assert_close(res.objective[i], f_ref, rtol=1e-8, atol=1e-8)
    # KKT residuals at the returned primal-dual point are below 1e-8.
    stat = c + (G.mT @ res.ineq_dual[..., None]).squeeze(-1) \
        + (A.mT @ res.eq_dual[..., None]).squeeze(-1)
    assert stat.abs().max() < 1e-8
    assert (G @ res.x[..., None]).squeeze(-1).sub(h).max() < 1e-8
    assert (res.ineq_dual >= 0).all() and (res.slack >= 0).all()
    assert (res.ineq_dual * res.slack).abs().max() < 1e-8
    assert res.gap.abs().max() < 1e-8


def test_float32_close_to_float64(rng):
    problems = [random_lp(rng, 10, 16, 2) for _ in range(4)]
    res = solve_lp(*(stack(problems, i, torch.float32) for i in range(5)))
    assert res.x.dtype == torch.float32
    assert (res.status == SolverStatus.OPTIMAL).all()
    for i, p in enumerate(problems):
        assert_close(res.x[i], linprog_x(*p)[0], rtol=0, atol=2e-3)


def test_batched_equals_stacked_and_broadcasts(rng):
    problems = [random_lp(rng, 6, 9) for _ in range(3)]
    c, G, h = (stack(problems, i) for i in range(3))
    res = solve_lp(c, G, h)
    for i in range(3):
        assert_close(solve_lp(c[i], G[i], h[i]).x, res.x[i], rtol=0, atol=1e-9)
    # One constraint set shared by a (2, 3) batch of costs.
    costs = -torch.rand(2, 3, 9, dtype=torch.float64) @ G[0]  # dual feasible: bounded
    shared = solve_lp(costs, G[0], h[0])
    assert shared.x.shape == (2, 3, 6) and shared.status.shape == (2, 3)
    assert_close(shared.x[1, 2], linprog_x(costs[1, 2].numpy(), G[0].numpy(), h[0].numpy(),
                                           np.zeros((0, 6)), np.zeros(0))[0], rtol=0, atol=1e-6)


def test_infeasible_and_unbounded_are_reported_per_element(rng):
    n = 5
    c, G, h, A, b = random_lp(rng, n, 8)
    a = rng.standard_normal(n)
    # infeasible: a'x <= -1 and a'x >= 1
    G_inf = np.vstack([G, a, -a])
    h_inf = np.concatenate([h, [-1.0, -1.0]])
    assert linprog(c, A_ub=G_inf, b_ub=h_inf, bounds=(None, None)).status == 2
    # unbounded: x >= 0, c_0 < 0 and nothing bounds x_0
    c_unb = np.abs(rng.standard_normal(n))
    c_unb[0] = -1.0
    G_unb = np.vstack([-np.eye(n), np.hstack([np.zeros((3, 1)), rng.standard_normal((3, n - 1))])])
    G_unb = np.vstack([G_unb, np.zeros((2, n))])
    h_unb = np.concatenate([np.zeros(n), np.ones(5)])
    assert linprog(c_unb, A_ub=G_unb, b_ub=h_unb, bounds=(None, None)).status == 3
    G_ok = np.vstack([G, np.zeros((2, n))])
    h_ok = np.concatenate([h, [1.0, 1.0]])
    cs = torch.tensor(np.stack([c, c, c_unb]))
    Gs = torch.tensor(np.stack([G_ok, G_inf, G_unb[:10]]))
    hs = torch.tensor(np.stack([h_ok, h_inf, h_unb[:10]]))
    res = solve_lp(cs, Gs, hs)
    assert res.status.tolist() == [SolverStatus.OPTIMAL, SolverStatus.INFEASIBLE,
                                   SolverStatus.UNBOUNDED]
    assert torch.isnan(res.x[1:]).all() and torch.isfinite(res.x[0]).all()
    assert res.objective[1] == torch.inf and res.objective[2] == -torch.inf
    assert_close(res.x[0], linprog_x(c, G, h, A, b)[0], rtol=0, atol=1e-6)


def test_infeasible_equalities_and_feasibility_problem(rng):
    # x1 + x2 = 1 and x1 + x2 = 2 cannot both hold.
    A = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0], dtype=torch.float64)
    G = -torch.eye(2, dtype=torch.float64)
    h = torch.zeros(2, dtype=torch.float64)
    c = torch.zeros(2, dtype=torch.float64)
    assert solve_lp(c, G, h, A, b).status == SolverStatus.INFEASIBLE
    # A pure feasibility problem (c = 0) that is feasible is OPTIMAL with objective 0.
    res = solve_lp(c, G, h, A[:1], b[:1])
    assert res.status == SolverStatus.OPTIMAL and float(res.objective) == pytest.approx(0.0)
    assert float(res.x.sum()) == pytest.approx(1.0) and (res.x > -1e-9).all()


def test_iteration_limit_is_reported(rng):
    c, G, h, _, _ = random_lp(rng, 8, 12)
    res = solve_lp(torch.tensor(c), torch.tensor(G), torch.tensor(h), max_iter=2)
    assert res.status == SolverStatus.ITERATION_LIMIT and int(res.iterations) == 2


def test_gradient_in_h_matches_finite_differences(rng):
    # At a non-degenerate vertex x*(h) is locally linear in h: compare with linprog.
    c, G, h, _, _ = random_lp(rng, 4, 7)
    ht = torch.tensor(h, requires_grad=True)
    x = solve_lp(torch.tensor(c), torch.tensor(G), ht).x
    w = torch.tensor(rng.standard_normal(4))
    (grad,) = torch.autograd.grad((x * w).sum(), ht)
    eps = 1e-6
    fd = np.array([(linprog_x(c, G, h + eps * e, np.zeros((0, 4)), np.zeros(0))[0]
                    - linprog_x(c, G, h - eps * e, np.zeros((0, 4)), np.zeros(0))[0]) @ w.numpy()
                   / (2 * eps) for e in np.eye(7)])
    assert_close(grad, fd, rtol=1e-4, atol=1e-5)


def test_bad_input_names_the_argument():
    c = torch.zeros(3, dtype=torch.float64)
    G = torch.zeros(4, 3, dtype=torch.float64)
    h = torch.zeros(4, dtype=torch.float64)
    assert_raises_naming(ValueError, lambda: solve_lp(c, G[:, :2], h), "solve_lp", "'G'")
    assert_raises_naming(ValueError, lambda: solve_lp(c, G, h[:3]), "solve_lp", "'h'")
    assert_raises_naming(ValueError, lambda: solve_lp(c, G, h, torch.zeros(2, 3,
                                                                           dtype=torch.float64)),
                         "'b'")
    assert_raises_naming(ValueError, lambda: solve_lp(
        c, G, h, torch.zeros(2, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)),
        "'b'")
    assert_raises_naming(ValueError, lambda: solve_lp(c, G, h, torch.zeros(2, 2,
                                                                           dtype=torch.float64),
                                                      torch.zeros(2, dtype=torch.float64)), "'A'")
    assert_raises_naming(TypeError, lambda: solve_lp(c, G.long(), h), "'G'")
    assert_raises_naming(TypeError, lambda: solve_lp(c.long(), G, h), "'c'")
    assert_raises_naming(ValueError, lambda: solve_lp(torch.zeros(2, 3, dtype=torch.float64),
                                                      torch.zeros(5, 4, 3, dtype=torch.float64),
                                                      torch.zeros(5, 4, dtype=torch.float64)),
                         "'c'", "'G'")
    assert_raises_naming(ValueError, lambda: solve_lp(c, G, h, max_iter=0), "'max_iter'")
