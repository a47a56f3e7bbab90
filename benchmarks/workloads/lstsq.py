"""Least squares on a rank-deficient system (issue: linear algebra).

torchmath's ``lstsq`` (QR of A, then the SVD of the small triangular factor: a complete
orthogonal decomposition giving the minimum-norm solution on any device) against
``numpy.linalg.lstsq`` (LAPACK gelsd). Both must return the same minimum-norm solution
and the same rank; the residual sum of squares of each is reported in the check.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.linalg import lstsq


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    m, n, r = params["m"], params["n"], params["rank"]
    A = torch.randn(m, r, generator=g, dtype=torch.float64) @ torch.randn(
        r, n, generator=g, dtype=torch.float64)
    b = torch.randn(m, generator=g, dtype=torch.float64)
    return {"A": A.to(device), "b": b.to(device), "rank": r, "method": params["method"]}


def run_torchmath(state):
    out = lstsq(state["A"], state["b"], method=state["method"])
    return {"solution": out.solution, "rank": out.rank, "residual": out.residuals}


def prepare_numpy(state):
    return {"A": to_numpy(state["A"]), "b": to_numpy(state["b"])}


def run_numpy(peer_state):
    x, _, rank, _ = np.linalg.lstsq(peer_state["A"], peer_state["b"], rcond=None)
    residual = float(np.sum((peer_state["b"] - peer_state["A"] @ x) ** 2))
    return {"solution": x, "rank": rank, "residual": residual}


def check(ours, theirs, state):
    """Relative solution gap, plus the residual's relative excess; inf on a wrong rank."""
    if theirs is None:
        return 0.0 if int(ours["rank"]) == state["rank"] else float("inf")
    if int(ours["rank"]) != int(theirs["rank"]):
        return float("inf")
    a, b = to_numpy(ours["solution"]), to_numpy(theirs["solution"])
    gap = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    excess = (float(to_numpy(ours["residual"])) - theirs["residual"]) / theirs["residual"]
    return max(gap, excess)


register(Workload(
    name="lstsq_rank_deficient",
    area="linalg",
    description="minimum-norm least squares, m x n float64 of rank n/2",
    cases={"tiny": [{"m": 60, "n": 10, "rank": 5, "method": "qr"}],
           "quick": [{"m": 10_000, "n": 200, "rank": 100, "method": m}
                     for m in ("qr", "svd")],
           "full": [{"m": m, "n": 200, "rank": 100, "method": "qr"}
                    for m in (2_500, 10_000, 40_000, 160_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("numpy.linalg.lstsq", run_numpy, prepare=prepare_numpy, requires=("numpy",),
                goal=1.0, options="rcond=None (gelsd)")],
    check=check,
    tolerance=1e-8,
    flops=lambda p: 2 * p["m"] * p["n"] ** 2,
    scaling="m",
))
