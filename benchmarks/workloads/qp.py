"""A batch of small convex QPs (issue: optimization), forward and forward+backward.

torchmath's ``solve_qp`` against qpth (OptNet's batched interior point; its accurate
settings ``eps=1e-12, maxIter=50``; a source-only release on PyPI, so it may be
unavailable), proxsuite's ``QPFunction`` (the proximal augmented-Lagrangian QP layer, at
``eps=1e-10``: its default 1e-9 leaves ``x`` up to 2e-7 from the reference) and a loop of
OSQP solves at ``eps=1e-9`` with polishing (forward only).

The comparison is at equal accuracy, over the whole batch, for every side (a side that
misses the bar makes the row an accuracy failure, not a speed result): every problem's
``x`` within ``X_TOL = 1e-7`` of a tight reference (OSQP at ``eps=1e-10`` with
polishing, which solves the final active set's KKT system exactly) and, with gradients,
every problem's directional derivative of ``sum(x)`` along a random direction in ``p``
and one in ``h`` within ``GRAD_TOL = 1e-4`` (relative, floor 1) of central differences
of ``solve_qp`` at ``tol=1e-13``. The reported gap is the worst of these errors as a
fraction of its bar, so the tolerance is 1.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import solve_qp

X_TOL = 1e-7
GRAD_TOL = 1e-4


def _cases(batch: int, backward: bool) -> dict:
    return {"batch": batch, "n": 20, "m": 10, "backward": backward}


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    B, n, m = params["batch"], params["n"], params["m"]
    f64 = dict(dtype=torch.float64)
    L = torch.randn(B, n, n, generator=g, **f64)
    Q = L @ L.mT / n + 0.1 * torch.eye(n, **f64)
    p = torch.randn(B, n, generator=g, **f64)
    G = torch.randn(B, m, n, generator=g, **f64)
    h = torch.rand(B, m, generator=g, **f64) + 0.1  # x = 0 is strictly feasible
    return {"Q": Q.to(device), "p": p.to(device), "G": G.to(device), "h": h.to(device),
            "backward": params["backward"]}


def _run(state, solve):
    inputs = [state[k] for k in ("Q", "p", "G", "h")]
    if not state["backward"]:
        with torch.no_grad():
            return {"x": solve(*inputs)}
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    x = solve(*inputs)
    grads = torch.autograd.grad(x.sum(), inputs)
    return {"x": x.detach(), **{f"grad_{k}": gr for k, gr in zip("QpGh", grads, strict=True)}}


def run_torchmath(state):
    iterations = []

    def solve(*args):
        result = solve_qp(*args)
        iterations.append(result.iterations)
        return result.x

    return {**_run(state, solve), "iterations": iterations[0]}


def flops(params, answer):
    """Nominal arithmetic: per problem and interior-point iteration, one factorization of
    the (n + m) KKT system and four solves with it, (n+m)³/3 + 8 (n+m)². The solver works
    on smaller systems where it can (x eliminated), so this overstates its arithmetic;
    small batched systems are bound by per-call costs, not by the matmul rate."""
    k = params["n"] + params["m"]
    return float(answer["iterations"].sum()) * (k ** 3 / 3 + 8 * k ** 2)


def _on_cpu(state):
    return {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def run_qpth(state):
    from qpth.qp import QPFunction
    empty = state["Q"].new_zeros(0)
    return _run(state, lambda *a: QPFunction(verbose=-1, eps=1e-12, maxIter=50)(
        *a, empty, empty))


def run_proxsuite(state):
    from proxsuite.torch.qplayer import QPFunction
    B, _, n = state["G"].shape

    def solve(Q, p, G, h):
        no_equalities = Q.new_zeros(B, 0, n), Q.new_zeros(B, 0)
        lower = torch.full_like(h, -1e20)  # proxsuite's "no lower bound"
        return QPFunction(eps=1e-10)(Q, p, *no_equalities, G, lower, h)[0]

    return _run(state, solve)


def prepare_osqp(state):
    import scipy.sparse as sp
    Q, p, G, h = (to_numpy(state[k]) for k in ("Q", "p", "G", "h"))
    return [(sp.csc_matrix(np.triu(Q[i])), p[i], sp.csc_matrix(G[i]), h[i])
            for i in range(len(p))]


def _osqp_solve(problems, eps: float):
    import osqp
    xs = []
    for P, q, A, u in problems:
        solver = osqp.OSQP()
        solver.setup(P, q, A, -np.inf * np.ones_like(u), u, eps_abs=eps, eps_rel=eps,
                     polishing=True, verbose=False, max_iter=200_000)
        xs.append(solver.solve(raise_error=True).x)
    return np.stack(xs)


def run_osqp(problems):
    return {"x": _osqp_solve(problems, 1e-9)}


def _reference(state) -> torch.Tensor:
    """Tight reference solutions: OSQP at 1e-10 with polishing (cached in ``state``)."""
    if "x_ref" not in state:
        state["x_ref"] = torch.from_numpy(_osqp_solve(prepare_osqp(state), 1e-10))
    return state["x_ref"]


def _finite_differences(state, eps: float = 1e-6) -> dict:
    """Central differences of ``sum(x)`` along one random direction per problem in ``p``
    and one in ``h``, over the whole batch (cached in ``state``)."""
    if "fd" not in state:
        g = torch.Generator().manual_seed(1)
        Q, p, G, h = (state[key].detach().cpu().double() for key in ("Q", "p", "G", "h"))
        state["fd"] = {}
        for name in ("p", "h"):
            v = torch.randn({"p": p, "h": h}[name].shape, generator=g, dtype=torch.float64)

            def value(t, name=name, v=v):
                pp, hh = (p + t * v, h) if name == "p" else (p, h + t * v)
                return solve_qp(Q, pp, G, hh, tol=1e-13, max_iter=300).x.sum(-1)

            state["fd"][name] = (v, (value(eps) - value(-eps)) / (2 * eps))
    return state["fd"]


def _accuracy(answer, state) -> float:
    """Worst error of one side's answer as a fraction of its bar (<= 1 passes)."""
    x = torch.as_tensor(to_numpy(answer["x"]))
    if not bool(torch.isfinite(x).all()):
        return float("inf")
    gap = float((x - _reference(state)).abs().max()) / X_TOL
    if state["backward"]:
        for name, (v, fd) in _finite_differences(state).items():
            analytic = (torch.as_tensor(to_numpy(answer[f"grad_{name}"])) * v).sum(-1)
            err = float(((fd - analytic).abs() / fd.abs().clamp_min(1.0)).max())
            gap = max(gap, err / GRAD_TOL)
    return gap


def check(ours, theirs, state):
    if theirs is None:
        return _accuracy(ours, state)
    return max(_accuracy(ours, state), _accuracy(theirs, state))


for backward in (False, True):
    peers = [Peer("qpth", run_qpth, requires=("qpth",), goal=0.5, cpu_only=False,
                  options="eps=1e-12, maxIter=50"),
             Peer("proxsuite", run_proxsuite, prepare=_on_cpu, requires=("proxsuite",),
                  goal=1.0, options="QPFunction(eps=1e-10)")]
    if not backward:
        peers.append(Peer("OSQP loop", run_osqp, prepare=prepare_osqp, requires=("osqp",),
                          options="eps_abs=eps_rel=1e-9, polish"))
    register(Workload(
        name="qp_batch" + ("_backward" if backward else ""),
        area="optim",
        description="256 QPs, 20 variables, 10 inequalities, float64"
                    + ("; gradients w.r.t. Q, p, G, h" if backward else "")
                    + "; gap = worst error over the batch / its bar (x 1e-7"
                    + (", gradients 1e-4 vs central differences)" if backward else ")"),
        cases={"tiny": [_cases(8, backward)],
               "quick": [_cases(256, backward)],
               "full": [_cases(b, backward) for b in (64, 256, 1024, 4096)]},
        setup=setup,
        run=run_torchmath,
        peers=peers,
        check=check,
        tolerance=1.0,
        flops=flops,
        scaling="batch",
    ))
