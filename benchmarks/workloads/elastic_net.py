"""Elastic-net regularization path (issue: learning theory).

torchmath's ``ElasticNet`` with a tensor of 20 alphas (the whole path solved together from
the Gram matrix, exact KKT polish) against scikit-learn's ``enet_path`` (coordinate descent
with warm starts on the precomputed Gram matrix) at a tight duality-gap tolerance, on the
same centred data without intercept. Both compute the Gram matrix inside the timed call.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.learning_theory import ElasticNet

L1_RATIO = 0.5


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n, d, n_alphas = params["n"], params["d"], params["n_alphas"]
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    X = X - X.mean(0)
    w = torch.zeros(d, dtype=torch.float64)
    w[: max(1, d // 10)] = torch.randn(max(1, d // 10), generator=g, dtype=torch.float64) * 3
    y = X @ w + torch.randn(n, generator=g, dtype=torch.float64)
    y = y - y.mean()
    alpha_max = float((X.T @ y).abs().max()) / (n * L1_RATIO)
    alphas = torch.logspace(0, -3, n_alphas, dtype=torch.float64) * alpha_max
    return {"X": X.to(device), "y": y.to(device), "alphas": alphas.to(device)}


def run_torchmath(state):
    model = ElasticNet(state["alphas"], L1_RATIO, fit_intercept=False)
    return model.fit(state["X"], state["y"]).coef


def prepare_sklearn(state):
    return {k: to_numpy(v) for k, v in state.items()}


def run_sklearn(s):
    from sklearn.linear_model import enet_path

    _, coefs, _ = enet_path(s["X"], s["y"], l1_ratio=L1_RATIO, alphas=s["alphas"],
                            precompute=True, tol=1e-10, max_iter=100_000)
    return coefs.T  # (n_alphas, d)


def check(ours, theirs, state):
    if theirs is None:
        return 0.0 if bool(torch.isfinite(ours).all()) else float("inf")
    a, b = to_numpy(ours), np.asarray(theirs)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _case(n, d):
    return {"n": n, "d": d, "n_alphas": 20}


register(Workload(
    name="elastic_net_path",
    area="learning_theory",
    description="elastic-net path of 20 alphas (l1_ratio=0.5), coefficients of every alpha",
    cases={"tiny": [_case(200, 10)],
           "quick": [_case(20_000, 500)],
           "full": [_case(n, 500) for n in (2_500, 10_000, 40_000, 160_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn enet_path", run_sklearn, prepare=prepare_sklearn,
                requires=("sklearn",), goal=1.0, options="precompute=True, tol=1e-10")],
    check=check,
    tolerance=1e-6,
    # XᵀX as a symmetric rank-k update (BLAS syrk): one multiply-add per pair j <= k per row
    flops=lambda p: p["n"] * p["d"] ** 2,
    scaling="n",
    devices=("cpu", "cuda"),
))
