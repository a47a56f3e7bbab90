"""A batch of small convex QPs (issue: optimization), forward and forward+backward.

torchmath's ``solve_qp`` against qpth (OptNet's batched interior point; its accurate
settings ``eps=1e-12, maxIter=50``) and a loop of OSQP solves at ``eps=1e-9`` with
polishing (forward only). Beyond agreeing with the peers on ``x``, torchmath's own check
compares its gradients with central finite differences of its forward solution, because
qpth and cvxpylayers disagree with each other on this problem's gradients.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import solve_qp


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
    return _run(state, lambda *a: solve_qp(*a).x)


def run_qpth(state):
    from qpth.qp import QPFunction
    empty = state["Q"].new_zeros(0)
    return _run(state, lambda *a: QPFunction(verbose=-1, eps=1e-12, maxIter=50)(
        *a, empty, empty))


def prepare_osqp(state):
    import scipy.sparse as sp
    Q, p, G, h = (to_numpy(state[k]) for k in ("Q", "p", "G", "h"))
    return [(sp.csc_matrix(np.triu(Q[i])), p[i], sp.csc_matrix(G[i]), h[i])
            for i in range(len(p))]


def run_osqp(problems):
    import osqp
    xs = []
    for P, q, A, u in problems:
        solver = osqp.OSQP()
        solver.setup(P, q, A, -np.inf * np.ones_like(u), u, eps_abs=1e-9, eps_rel=1e-9,
                     polishing=True, verbose=False, max_iter=100_000)
        xs.append(solver.solve(raise_error=True).x)
    return {"x": np.stack(xs)}


def _finite_difference_gap(ours, state, k: int = 4, eps: float = 1e-6) -> float:
    """Directional derivatives of sum(x) along random directions in p and h (first ``k``
    problems), by central differences of the forward solve, against the gradients."""
    g = torch.Generator().manual_seed(1)
    sl = slice(0, k)
    Q, p, G, h = (state[key][sl].double() for key in ("Q", "p", "G", "h"))
    gap = 0.0
    for name in ("p", "h"):
        v = torch.randn({"p": p, "h": h}[name].shape, generator=g,
                        dtype=torch.float64).to(p.device)

        def value(t, name=name, v=v):
            pp, hh = (p + t * v, h) if name == "p" else (p, h + t * v)
            return solve_qp(Q, pp, G, hh, tol=1e-12).x.sum(-1)

        fd = (value(eps) - value(-eps)) / (2 * eps)
        analytic = (ours[f"grad_{name}"][sl].double() * v).sum(-1)
        gap = max(gap, float(((fd - analytic).abs() / fd.abs().clamp_min(1.0)).max()))
    return gap


def check(ours, theirs, state):
    if theirs is None:
        if not state["backward"]:
            x = ours["x"]
            viol = (state["G"] @ x.unsqueeze(-1)).squeeze(-1) - state["h"]
            return float(viol.clamp_min(0).max()) if bool(torch.isfinite(x).all()) else np.inf
        return _finite_difference_gap(ours, state)
    a, b = to_numpy(ours["x"]), to_numpy(theirs["x"])
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


for backward in (False, True):
    peers = [Peer("qpth", run_qpth, requires=("qpth",), goal=1.0, cpu_only=False,
                  options="eps=1e-12, maxIter=50")]
    if not backward:
        peers.append(Peer("OSQP loop", run_osqp, prepare=prepare_osqp, requires=("osqp",),
                          options="eps_abs=eps_rel=1e-9, polish"))
    register(Workload(
        name="qp_batch" + ("_backward" if backward else ""),
        area="optim",
        description="256 QPs, 20 variables, 10 inequalities, float64"
                    + ("; gradients w.r.t. Q, p, G, h (checked by finite differences)"
                       if backward else ""),
        cases={"tiny": [_cases(8, backward)],
               "quick": [_cases(256, backward)],
               "full": [_cases(b, backward) for b in (64, 256, 1024, 4096)]},
        setup=setup,
        run=run_torchmath,
        peers=peers,
        check=check,
        tolerance=1e-5,
        scaling="batch",
    ))
