"""KSG mutual information of every feature with a target (issue: information theory).

torchmath's ``mutual_info_scores`` (batched KSG over all features: certified neighbour
search in y-sorted windows of x-sorted strips + sorted counts with exact boundary checks)
against scikit-learn's ``mutual_info_regression`` estimator with the same ``k`` and no
jitter: the columns scaled as scikit-learn scales them, then its ``_compute_mi_cc`` per
feature — exactly what ``mutual_info_regression`` runs, minus the 1e-10 noise it adds
(which would make the two answers differ by chance, not by method). Goal: at most 0.5x
scikit-learn's time at equal estimates (1e-6).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.information import mutual_info_scores


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n, p = params["n"], params["p"]
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    X[:, 1] = X[:, 1] ** 3
    y = X[:, 0] + 0.5 * X[:, 2] ** 2 + torch.randn(n, generator=g, dtype=torch.float64)
    return {"X": X.to(device), "y": y.to(device), "k": params["k"]}


def run_torchmath(state):
    return mutual_info_scores(state["X"], state["y"], k=state["k"], noise=0.0)


def prepare_sklearn(state):
    from sklearn.preprocessing import scale
    X, y = to_numpy(state["X"]), to_numpy(state["y"])
    return {"X": scale(X, with_mean=False), "y": scale(y, with_mean=False), "k": state["k"]}


def run_sklearn(s):
    from sklearn.feature_selection._mutual_info import _compute_mi_cc
    return np.array([_compute_mi_cc(s["X"][:, j], s["y"], s["k"])
                     for j in range(s["X"].shape[1])])


def check(ours, theirs, state):
    ours = to_numpy(ours)
    if theirs is None:
        ok = ours.shape == (state["X"].shape[1],) and np.all(np.isfinite(ours)) \
            and np.all(ours >= 0)
        return 0.0 if ok else float("inf")
    return float(np.max(np.abs(ours - theirs)))


def flops(p):
    """Nominal arithmetic of the exact neighbour search: for each feature, all n² pairs in
    the joint space (two differences, two magnitudes, one max) and the two marginal
    counts (one comparison each): 7 operations per pair. Comparisons, not a matrix
    product, so the fraction of the matmul ceiling is low by nature."""
    return p["p"] * p["n"] ** 2 * 7


register(Workload(
    name="ksg_mutual_information",
    area="information",
    description="KSG mutual information of p features with a target (k=3), n samples",
    cases={"tiny": [{"n": 300, "p": 3, "k": 3}],
           "quick": [{"n": 5000, "p": 10, "k": 3}],
           "full": [{"n": n, "p": 10, "k": 3} for n in (1250, 5000, 20000, 80000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn mutual_info_regression (no jitter)", run_sklearn,
                prepare=prepare_sklearn, requires=("sklearn",), goal=0.5,
                options="same k, no noise: scale + _compute_mi_cc per feature")],
    check=check,
    tolerance=1e-6,
    flops=flops,
    scaling="n",
))
