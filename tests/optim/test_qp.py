"""solve_qp and QPLayer against cvxpy (Clarabel) and SciPy; gradients by gradcheck and
finite differences of independent reference solutions; statuses; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.optim import QPLayer, SolverStatus, solve_lp, solve_qp

cp = pytest.importorskip("cvxpy")


def random_qp(rng, n, m, k, *, psd_rank=None):
    """A feasible convex QP: x0 is strictly feasible for G x <= h and satisfies A x = b."""
    L = rng.standard_normal((n, psd_rank or n))
    Q = L @ L.T / n + (0.1 * np.eye(n) if psd_rank is None else 0)
    p = rng.standard_normal(n)
    G = rng.standard_normal((m, n))
    x0 = rng.standard_normal(n)
    h = G @ x0 + rng.random(m)
    A = rng.standard_normal((k, n))
    b = A @ x0
    return Q, p, G, h, A, b


def cvxpy_solve(Q, p, G, h, A, b):
    x = cp.Variable(len(p))
    cons = ([G @ x <= h] if len(h) else []) + ([A @ x == b] if len(b) else [])
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(Q)) + p @ x), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status == "optimal"
    return x.value, prob.value


def stack(problems, i, dtype=torch.float64):
    return torch.tensor(np.stack([q[i] for q in problems]), dtype=dtype)


@pytest.mark.parametrize("m,k", [(8, 0), (0, 3), (8, 3)], ids=["ineq", "eq", "mixed"])
def test_matches_cvxpy_with_small_kkt_residuals(rng, m, k):
    problems = [random_qp(rng, 10, m, k) for _ in range(6)]
    Q, p, G, h, A, b = (stack(problems, i) for i in range(6))
    res = solve_qp(Q, p, G if m else None, h if m else None, A if k else None,
                   b if k else None)
    assert (res.status == SolverStatus.OPTIMAL).all()
    for i, prob in enumerate(problems):
        x_ref, f_ref = cvxpy_solve(*prob)
        assert_close(res.x[i], x_ref, rtol=0, atol=1e-6)
        assert_close(res.objective[i], f_ref, rtol=1e-7, atol=1e-7)
    # KKT conditions at the returned primal-dual point, all below 1e-8.
    x, lam, nu = res.x, res.ineq_dual, res.eq_dual
    mv = lambda M, v: (M @ v[..., None]).squeeze(-1)
    stationarity = mv(Q, x) + p + mv(G.mT, lam) + mv(A.mT, nu)
    assert stationarity.abs().max() < 1e-8
    if m:
        assert (mv(G, x) - h).max() < 1e-8 and (lam >= 0).all()
        assert (lam * (h - mv(G, x))).abs().max() < 1e-8
        assert res.gap.abs().max() < 1e-8
    if k:
        assert (mv(A, x) - b).abs().max() < 1e-8


def test_singular_psd_q_and_scipy_reference(rng):
    # A rank-2 Q in 5 dimensions with box constraints: bounded, but not strictly convex in x.
    from scipy.optimize import minimize
    Q, p, _, _, _, _ = random_qp(rng, 5, 0, 0, psd_rank=2)
    G = np.vstack([np.eye(5), -np.eye(5)])
    h = np.ones(10)
    res = solve_qp(*(torch.tensor(t) for t in (Q, p, G, h)))
    assert res.status == SolverStatus.OPTIMAL
    ref = minimize(lambda x: 0.5 * x @ Q @ x + p @ x, np.zeros(5), jac=lambda x: Q @ x + p,
                   bounds=[(-1, 1)] * 5, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    assert float(res.objective) == pytest.approx(ref.fun, abs=1e-8)
    assert float(res.objective) == pytest.approx(cvxpy_solve(Q, p, G, h, np.zeros((0, 5)),
                                                             np.zeros(0))[1], abs=1e-8)


def test_float32(rng):
    problems = [random_qp(rng, 6, 4, 1) for _ in range(4)]
    res = solve_qp(*(stack(problems, i, torch.float32) for i in range(6)))
    assert res.x.dtype == torch.float32 and (res.status == SolverStatus.OPTIMAL).all()
    for i, prob in enumerate(problems):
        assert_close(res.x[i], cvxpy_solve(*prob)[0], rtol=0, atol=1e-3)


def test_batched_equals_stacked_and_broadcasting(rng):
    problems = [random_qp(rng, 5, 4, 1) for _ in range(3)]
    Q, p, G, h, A, b = (stack(problems, i) for i in range(6))
    res = solve_qp(Q, p, G, h, A, b)
    for i in range(3):
        single = solve_qp(Q[i], p[i], G[i], h[i], A[i], b[i])
        assert_close(single.x, res.x[i], rtol=0, atol=1e-10)
    # One Q and constraint set for a (2, 3) batch of linear terms.
    ps = torch.randn(2, 3, 5, dtype=torch.float64)
    shared = solve_qp(Q[0], ps, G[0], h[0], A[0], b[0])
    assert shared.x.shape == (2, 3, 5)
    assert_close(shared.x[1, 0], solve_qp(Q[0], ps[1, 0], G[0], h[0], A[0], b[0]).x,
                 rtol=0, atol=1e-10)


def test_infeasible_unbounded_and_iteration_limit(rng):
    n = 4
    Q, p, G, h, _, _ = random_qp(rng, n, 3, 0)
    a = rng.standard_normal(n)
    G_inf, h_inf = np.vstack([G, a, -a]), np.concatenate([h, [-1.0, -1.0]])
    G_ok, h_ok = np.vstack([G, np.zeros((2, n))]), np.concatenate([h, [1.0, 1.0]])
    # Unbounded: Q = e0 e0^T is singular, p pushes along e1 where nothing constrains x.
    Q_unb = np.zeros((n, n))
    Q_unb[0, 0] = 1.0
    p_unb = np.array([0.0, -1.0, 0.0, 0.0])
    G_unb, h_unb = np.zeros((5, n)), np.ones(5)
    G_unb[:, 2:] = rng.standard_normal((5, n - 2))
    t = lambda *xs: torch.tensor(np.stack(xs))
    res = solve_qp(t(Q, Q, Q_unb), t(p, p, p_unb), t(G_ok, G_inf, G_unb), t(h_ok, h_inf, h_unb))
    assert res.status.tolist() == [SolverStatus.OPTIMAL, SolverStatus.INFEASIBLE,
                                   SolverStatus.UNBOUNDED]
    assert torch.isnan(res.x[1:]).all()
    assert res.objective[1] == torch.inf and res.objective[2] == -torch.inf
    assert_close(res.x[0], cvxpy_solve(Q, p, G, h, np.zeros((0, n)), np.zeros(0))[0],
                 rtol=0, atol=1e-6)
    limited = solve_qp(torch.tensor(Q), torch.tensor(p), torch.tensor(G), torch.tensor(h),
                       max_iter=1)
    assert limited.status == SolverStatus.ITERATION_LIMIT


def test_unconstrained_is_a_linear_solve(rng):
    Q, p, _, _, _, _ = random_qp(rng, 6, 0, 0)
    res = solve_qp(torch.tensor(Q), torch.tensor(p))
    assert_close(res.x, np.linalg.solve(Q, -p), rtol=1e-9, atol=1e-10)


def test_gradcheck_every_input_batched():
    torch.manual_seed(1)
    B, n, m, k = 2, 3, 2, 1
    L = torch.randn(B, n, n, dtype=torch.float64)
    inputs = [L @ L.mT / n + 0.5 * torch.eye(n, dtype=torch.float64),
              torch.randn(B, n, dtype=torch.float64), torch.randn(B, m, n, dtype=torch.float64),
              torch.rand(B, m, dtype=torch.float64) * 0.1,
              torch.randn(B, k, n, dtype=torch.float64), torch.randn(B, k, dtype=torch.float64)]
    inputs = [t.requires_grad_() for t in inputs]
    # Both inequality constraints active and inactive ones occur in this draw.
    res = solve_qp(*inputs, tol=1e-13)
    assert ((res.slack < 1e-8).any() and (res.slack > 1e-3).any())

    def solution_and_duals(*args):
        r = solve_qp(*args, tol=1e-13)
        return r.x, r.eq_dual, r.ineq_dual

    assert torch.autograd.gradcheck(solution_and_duals, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    # The backward is differentiable too (random-projection mode keeps this fast).
    assert torch.autograd.gradgradcheck(lambda *a: solve_qp(*a, tol=1e-13).x, inputs,
                                        eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_gradient_matches_finite_differences_of_cvxpy(rng):
    Q, p, G, h, A, b = random_qp(rng, 5, 6, 1)
    tensors = [torch.tensor(t, requires_grad=True) for t in (Q, p, G, h, A, b)]
    w = rng.standard_normal(5)
    x = solve_qp(*tensors, tol=1e-12).x
    grads = torch.autograd.grad(x @ torch.tensor(w), tensors)
    eps = 1e-5
    for idx in (1, 3, 5):  # p, h, b: every entry by central differences of cvxpy solutions
        base = [Q, p, G, h, A, b]
        fd = np.zeros_like(base[idx])
        for j in range(base[idx].size):
            e = np.zeros(base[idx].size)
            e[j] = eps
            plus, minus = list(base), list(base)
            plus[idx] = base[idx] + e
            minus[idx] = base[idx] - e
            fd.flat[j] = (cvxpy_solve(*plus)[0] - cvxpy_solve(*minus)[0]) @ w / (2 * eps)
        assert_close(grads[idx], fd, rtol=1e-4, atol=1e-5, msg=f"input {idx}")


def test_qplayer_wraps_solve_qp_and_refuses_failures(rng):
    Q, p, G, h, A, b = (torch.tensor(t) for t in random_qp(rng, 4, 3, 1))
    layer = QPLayer()
    assert_close(layer(Q, p, G, h, A, b), solve_qp(Q, p, G, h, A, b).x, rtol=0, atol=0)
    assert layer.last_status == SolverStatus.OPTIMAL
    pr = p.clone().requires_grad_()
    layer(Q, pr, G, h).sum().backward()
    assert pr.grad is not None and torch.isfinite(pr.grad).all()
    G_bad = torch.cat([G, G[:1], -G[:1]])
    h_bad = torch.cat([h, torch.tensor([-1.0, -1.0], dtype=torch.float64)])
    with pytest.raises(RuntimeError, match="INFEASIBLE"):
        layer(Q, p, G_bad, h_bad)
    assert torch.isnan(QPLayer(check_status=False)(Q, p, G_bad, h_bad)).all()


def test_bad_input_names_the_argument():
    f64 = dict(dtype=torch.float64)
    Q, p = torch.eye(3, **f64), torch.zeros(3, **f64)
    G, h = torch.zeros(2, 3, **f64), torch.ones(2, **f64)
    nonconvex = torch.diag(torch.tensor([1.0, -0.5, 1.0], **f64))
    assert_raises_naming(ValueError, lambda: solve_qp(nonconvex, p, G, h), "solve_qp", "'Q'",
                         "semidefinite")
    assert_raises_naming(ValueError, lambda: solve_qp(Q[:2], p), "'Q'")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, G[:, :2], h), "'G'")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, G, h[:1]), "'h'")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, G), "'h'")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, A=G), "'b'")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, A=G, b=h[:1]), "'b'")
    assert_raises_naming(TypeError, lambda: solve_qp(Q.long(), p), "'Q'")
    assert_raises_naming(ValueError, lambda: solve_qp(torch.eye(3, **f64).expand(2, 3, 3),
                                                      torch.zeros(3, 3, **f64)), "'p'", "'Q'")
    assert_raises_naming(ValueError, lambda: QPLayer(max_iter=0), "'max_iter'")


def test_nan_or_inf_input_is_refused_by_name():
    Q = torch.eye(2, dtype=torch.float64)
    p, G, h = (torch.ones(2, dtype=Q.dtype), torch.eye(2, dtype=Q.dtype),
               torch.ones(2, dtype=Q.dtype))
    Qn = Q.clone()
    Qn[0, 0] = float("nan")
    assert_raises_naming(ValueError, lambda: solve_qp(Qn, p, G, h), "solve_qp", "'Q'", "NaN")
    hi = h.clone()
    hi[1] = float("inf")
    assert_raises_naming(ValueError, lambda: solve_qp(Q, p, G, hi), "solve_qp", "'h'")


def test_mixed_float32_float64_promotes_as_torch_does():
    Q = torch.eye(2, dtype=torch.float64)
    p = torch.tensor([-1.0, -1.0])  # float32
    G, h = torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([1.0])
    res = solve_qp(Q, p, G, h)
    assert res.x.dtype == torch.float64
    # by hand: x1 = x2 = 1/2 on the constraint x1 + x2 = 1
    assert_close(res.x, torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-8, rtol=0)


def _paths(Q, p, G, h, A, b, tol=1e-11):
    """Both interior-point paths on the same flattened batch (the reduced path needs a
    well-conditioned positive definite Q)."""
    from torchmath.optim import _interior_point as ip
    _, tol_inf, reg = ip._defaults(Q.dtype)
    sc = ip._Scales(tol, tol_inf, ip._inf_norm(p), torch.maximum(ip._inf_norm(b),
                                                                 ip._inf_norm(h)))
    kw = dict(max_iter=100, sc=sc, reg=reg)
    reduced = ip._reduced_interior_point(torch.linalg.cholesky(Q), p, G, h, A, b, **kw)
    augmented = ip._augmented_interior_point(Q, p, G, h, A, b, **kw)
    return reduced, augmented


@pytest.mark.parametrize("m,k", [(8, 0), (0, 3), (8, 3)], ids=["ineq", "eq", "mixed"])
def test_reduced_and_augmented_paths_agree(rng, m, k):
    # The x-eliminated iteration reaches the augmented one's solution (from its own
    # start: kappa = mean(s z), see _centred_kappa).
    problems = [random_qp(rng, 10, m, k) for _ in range(12)]
    Q, p, G, h, A, b = (stack(problems, i) for i in range(6))
    reduced, augmented = _paths(Q, p, G, h, A, b)
    assert (reduced[4] == SolverStatus.OPTIMAL).all() and (augmented[4] == 0).all()
    for r, a in zip(reduced[:4], augmented[:4], strict=True):  # x, y, z, s
        assert_close(r, a, rtol=0, atol=1e-8)
    assert_close(reduced[5], augmented[5], rtol=1e-9, atol=1e-9)  # objective


def test_batch_matches_polished_osqp_at_the_benchmark_accuracy(rng):
    # A batch like the benchmark's (x = 0 strictly feasible), whose problems finish after
    # different numbers of iterations (so finished ones leave the loop's tensors).
    B, n, m = 40, 12, 8
    L = rng.standard_normal((B, n, n))
    Q = L @ L.transpose(0, 2, 1) / n + 0.1 * np.eye(n)
    p, G, h = rng.standard_normal((B, n)), rng.standard_normal((B, m, n)), rng.random((B, m)) + 0.1
    res = solve_qp(*(torch.tensor(t) for t in (Q, p, G, h)))
    assert (res.status == SolverStatus.OPTIMAL).all()
    assert len(res.iterations.unique()) > 2
    osqp = pytest.importorskip("osqp")
    import scipy.sparse as sp
    for i in range(B):
        # OSQP with polishing solves the final active set's KKT system exactly.
        solver = osqp.OSQP()
        solver.setup(sp.csc_matrix(np.triu(Q[i])), p[i], sp.csc_matrix(G[i]),
                     np.full(m, -np.inf), h[i], eps_abs=1e-10, eps_rel=1e-10, polishing=True,
                     verbose=False, max_iter=200_000)
        x_ref = solver.solve(raise_error=True).x
        assert_close(res.x[i], x_ref, rtol=0, atol=1e-7)
        f_ref = 0.5 * x_ref @ Q[i] @ x_ref + p[i] @ x_ref
        assert_close(res.objective[i], f_ref, rtol=1e-9, atol=1e-9)


def test_batch_gradients_match_central_differences_of_cvxpy(rng):
    # Directional derivatives of w'x along a random direction in p and one in h, for
    # every problem of a batch, against central differences of independent solutions.
    B, n, m = 6, 5, 6
    problems = [random_qp(rng, n, m, 0) for _ in range(B)]
    Q, p, G, h = (stack(problems, i).requires_grad_() for i in range(4))
    w = torch.tensor(rng.standard_normal((B, n)))
    x = solve_qp(Q, p, G, h).x
    grads = torch.autograd.grad((x * w).sum(), (p, h))
    eps = 1e-6
    for idx, grad in ((1, grads[0]), (3, grads[1])):
        for i, prob in enumerate(problems):
            v = rng.standard_normal(prob[idx].shape)
            xs = [cvxpy_solve(*[a + t * v if j == idx else a for j, a in enumerate(prob)])[0]
                  for t in (eps, -eps)]
            fd = (xs[0] - xs[1]) @ w[i].numpy() / (2 * eps)
            assert float(grad[i] @ torch.tensor(v)) == pytest.approx(fd, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("k", [0, 2])
def test_backward_reusing_the_forward_factors_equals_the_dense_solve(rng, k):
    # The first-order backward uses the forward's P^-1 and Schur complement; under
    # create_graph it solves the dense KKT matrix instead: the same gradients.
    problems = [random_qp(rng, 7, 6, k) for _ in range(5)]
    inputs = [stack(problems, i).requires_grad_() for i in range(6)]
    if not k:
        inputs[4:] = [None, None]
    w = torch.randn(5, 7, dtype=torch.float64)
    diff = [t for t in inputs if t is not None]
    res = solve_qp(*inputs)
    loss = (res.x * w).sum() + res.ineq_dual.sum() + res.eq_dual.sum()
    fast = torch.autograd.grad(loss, diff, retain_graph=True)
    dense = torch.autograd.grad(loss, diff, create_graph=True)
    for f, d in zip(fast, dense, strict=True):
        assert_close(f, d.detach(), rtol=1e-8, atol=1e-9)


def test_dependent_active_constraints_fall_back_to_the_augmented_path(rng):
    # A constraint and its negation with h = -1 (a x <= -1 and -a x <= -1): infeasible,
    # and the rows active in the certificate are linearly dependent, which can break the
    # reduced path's Schur complement before it certifies (it certifies 4 of these 6
    # draws itself); those problems are solved again on the augmented path, so solve_qp
    # reports what that path finds (it certifies most such draws; on the others its
    # iteration stalls short of the 1e-8 certificate, ITERATION_LIMIT).
    from torchmath.optim._interior_point import _FALLBACK
    problems = []
    for _ in range(6):
        Q, p, G, h, _, _ = random_qp(rng, 4, 3, 0)
        problems.append((Q, p, np.vstack([G, G[:1], -G[:1]]), np.concatenate([h, [-1, -1]])))
    # A feasible one with a duplicated active row: degenerate, still solved.
    Q, p, G, h, _, _ = random_qp(rng, 4, 3, 0)
    h = G @ np.linalg.solve(Q, -p) - np.array([0.5, -1.0, -1.0])  # row 0 is active
    problems.append((Q, p, np.vstack([G, G[:1], G[:1]]), np.concatenate([h, h[:1], h[:1]])))
    Q, p, G, h = (stack(problems, i) for i in range(4))
    res = solve_qp(Q, p, G, h)
    reduced, augmented = _paths(Q, p, G, h, Q.new_zeros(7, 0, 4), Q.new_zeros(7, 0))
    fell_back = reduced[4] == _FALLBACK
    assert fell_back.any()
    # The reduced path's own certificate test (run where its necessary conditions hold).
    assert (reduced[4][:-1] == SolverStatus.INFEASIBLE).any()
    assert_close(res.status, torch.where(fell_back, augmented[4], reduced[4]), rtol=0, atol=0)
    assert (res.status[:-1] == SolverStatus.INFEASIBLE).sum() >= 4
    assert (res.status[:-1] != SolverStatus.OPTIMAL).all()
    assert torch.isnan(res.x[:-1][res.status[:-1] == SolverStatus.INFEASIBLE]).all()
    assert res.status[-1] == SolverStatus.OPTIMAL
    x_ref, _ = cvxpy_solve(*problems[-1], np.zeros((0, 4)), np.zeros(0))
    assert_close(res.x[-1], x_ref, rtol=0, atol=1e-6)


def test_empty_batch_returns_empty_answers_like_torch_batched_ops():
    """A batch of zero problems (as ``torch.linalg.solve`` takes) gives empty results
    of the documented shapes and dtypes, and a backward pass through them."""
    f64 = torch.float64
    p = torch.zeros(2, 0, 3, dtype=f64, requires_grad=True)
    G, h = torch.ones(0, 2, 3, dtype=f64), torch.ones(0, 2, dtype=f64)
    A, b = torch.ones(0, 1, 3, dtype=f64), torch.ones(0, 1, dtype=f64)
    r = solve_qp(torch.eye(3, dtype=f64), p, G, h, A, b)
    assert r.x.shape == (2, 0, 3) and r.eq_dual.shape == (2, 0, 1)
    assert r.ineq_dual.shape == r.slack.shape == (2, 0, 2)
    assert r.status.shape == r.objective.shape == r.gap.shape == r.iterations.shape == (2, 0)
    assert r.status.dtype == r.iterations.dtype == torch.int64
    r.x.sum().backward()
    assert p.grad.shape == p.shape
    lp = solve_lp(torch.zeros(0, 3, dtype=f64), G, h)
    assert lp.x.shape == (0, 3) and lp.ineq_dual.shape == (0, 2)
