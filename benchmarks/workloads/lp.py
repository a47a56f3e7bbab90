"""A batch of LPs in standard form (issue: optimization): torchmath's batched
interior point against a loop of ``scipy.optimize.linprog`` (HiGHS)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import SolverStatus, solve_lp


def setup(params, device):
    """min c'x s.t. A x = b, x >= 0 with a strictly feasible x0 > 0 and a strictly dual
    feasible c = A'y0 + s0, s0 > 0 (so every problem has a finite optimum)."""
    rng = np.random.default_rng(0)
    B, n, k = params["batch"], params["n"], params["k"]
    A = rng.standard_normal((B, k, n))
    b = np.einsum("bkn,bn->bk", A, rng.random((B, n)) + 0.1)
    c = np.einsum("bkn,bk->bn", A, rng.standard_normal((B, k))) + rng.random((B, n))
    t = lambda a: torch.tensor(a, device=device)
    G = -torch.eye(n, dtype=torch.float64, device=device).expand(B, n, n)
    return {"c": t(c), "A": t(A), "b": t(b), "G": G,
            "h": torch.zeros(B, n, dtype=torch.float64, device=device)}


def run_torchmath(state):
    res = solve_lp(state["c"], state["G"], state["h"], state["A"], state["b"])
    return {"x": res.x, "status": res.status, "iterations": res.iterations}


def flops(params, answer):
    """Nominal arithmetic: per problem and interior-point iteration, one factorization of
    the (n + k) KKT system and four solves with it, (n+k)³/3 + 8 (n+k)²; small batched
    systems are bound by per-call costs, not by the matmul rate."""
    size = params["n"] + params["k"]
    return float(answer["iterations"].sum()) * (size ** 3 / 3 + 8 * size ** 2)


def prepare_scipy(state):
    return {k: to_numpy(state[k]) for k in ("c", "A", "b")}


def run_linprog(s):
    from scipy.optimize import linprog
    return {"x": np.stack([linprog(s["c"][i], A_eq=s["A"][i], b_eq=s["b"][i],
                                   bounds=(0, None), method="highs").x
                           for i in range(len(s["c"]))])}


def check(ours, theirs, state):
    if theirs is None:
        return 0.0 if bool((ours["status"] == SolverStatus.OPTIMAL).all()) else np.inf
    a, b = to_numpy(ours["x"]), theirs["x"]
    return float(np.max(np.abs(a - b)))


def _case(batch):
    return {"batch": batch, "n": 50, "k": 40}


register(Workload(
    name="lp_batch",
    area="optim",
    description="LPs with 50 variables and 40 equality constraints, x >= 0, float64",
    cases={"tiny": [{"batch": 4, "n": 8, "k": 5}], "quick": [_case(64)],
           "full": [_case(b) for b in (16, 64, 256, 1024)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scipy linprog loop", run_linprog, prepare=prepare_scipy,
                requires=("scipy",), options="HiGHS")],
    check=check,
    tolerance=1e-6,
    flops=flops,
    scaling="batch",
))
