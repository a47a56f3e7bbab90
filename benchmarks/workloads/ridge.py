"""Ridge regression and a 50-alpha ridge path (issue: linear algebra).

``ridge``: torchmath's ``RidgeRegression`` (streamed centred XᵀX, one Cholesky) against
scikit-learn's ``Ridge`` (``solver="auto"``, i.e. Cholesky for dense data) and against
scikit-learn in array-API mode fed torch tensors (``solver="svd"``, the only solver that
mode offers). ``ridge_path``: one ``RidgeRegression(alpha=<50 values>)`` fit (one
eigendecomposition serves every alpha) against 50 separate scikit-learn ``Ridge`` fits.
The accuracy check is the relative gap between coefficients (float64).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import ARRAY_API_REASON, ArrayAPIPeer, Peer, Workload, register, to_numpy
from torchmath.linalg import RidgeRegression

N_ALPHAS = 50


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n, d = params["n"], params["d"]
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(
        0.5, 3.0, d, dtype=torch.float64) + 1.0
    w = torch.randn(d, generator=g, dtype=torch.float64)
    y = X @ w + torch.randn(n, generator=g, dtype=torch.float64) + 2.0
    alphas = torch.logspace(-2, 4, N_ALPHAS, dtype=torch.float64)
    alpha = alphas if params.get("path") else 10.0
    return {"X": X.to(device), "y": y.to(device), "alpha": alpha}


def run_torchmath(state):
    alpha = state["alpha"]
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.to(state["X"].device)
    model = RidgeRegression(alpha).fit(state["X"], state["y"])
    return {"coef": model.coef, "intercept": model.intercept}


def prepare_sklearn(state):
    alpha = state["alpha"]
    return {"X": to_numpy(state["X"]), "y": to_numpy(state["y"]),
            "alphas": to_numpy(alpha).tolist() if isinstance(alpha, torch.Tensor) else None,
            "alpha": alpha}


def run_sklearn(peer_state):
    from sklearn.linear_model import Ridge
    X, y = peer_state["X"], peer_state["y"]
    if peer_state["alphas"] is None:
        m = Ridge(peer_state["alpha"]).fit(X, y)
        return {"coef": m.coef_, "intercept": m.intercept_}
    fits = [Ridge(a).fit(X, y) for a in peer_state["alphas"]]
    return {"coef": np.stack([m.coef_ for m in fits]),
            "intercept": np.array([m.intercept_ for m in fits])}


def run_sklearn_array_api(peer_state):
    import sklearn
    from sklearn.linear_model import Ridge
    with sklearn.config_context(array_api_dispatch=True):
        m = Ridge(peer_state["alpha"], solver="svd").fit(peer_state["X"], peer_state["y"])
    return {"coef": m.coef_, "intercept": m.intercept_}


def check(ours, theirs, state):
    if theirs is None:
        ok = all(bool(torch.isfinite(v).all()) for v in ours.values())
        return 0.0 if ok else float("inf")
    a, b = to_numpy(ours["coef"]), to_numpy(theirs["coef"])
    gap = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    ia, ib = to_numpy(ours["intercept"]), to_numpy(theirs["intercept"])
    return max(gap, float(np.max(np.abs(ia - ib)) / max(1.0, float(np.max(np.abs(ib))))))


sklearn_peer = Peer("scikit-learn", run_sklearn, prepare=prepare_sklearn,
                    requires=("sklearn",), goal=1.0, options="Ridge(solver='auto')")
register(Workload(
    name="ridge",
    area="linalg",
    description="ridge regression, n x d float64, one alpha",
    cases={"tiny": [{"n": 200, "d": 8}],
           "quick": [{"n": 100_000, "d": 256}],
           "full": [{"n": n, "d": 256} for n in (6_250, 25_000, 100_000, 400_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[
        sklearn_peer,
        ArrayAPIPeer("scikit-learn array API (torch)", run_sklearn_array_api,
                     requires=(ARRAY_API_REASON,), goal=1.0, cpu_only=False,
                     options="array_api_dispatch=True, solver='svd', torch tensors"),
    ],
    check=check,
    tolerance=1e-8,
    # XᵀX as a symmetric rank-k update (BLAS syrk): one multiply-add per pair j <= k per row
    flops=lambda p: p["n"] * p["d"] ** 2,
    scaling="n",
))

register(Workload(
    name="ridge_path",
    area="linalg",
    description=f"ridge regularization path of {N_ALPHAS} alphas, n x d float64",
    cases={"tiny": [{"n": 200, "d": 8, "path": True}],
           "quick": [{"n": 2_000, "d": 64, "path": True}],
           "full": [{"n": n, "d": 256, "path": True}
                    for n in (6_250, 25_000, 100_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn (50 fits)", run_sklearn, prepare=prepare_sklearn,
                requires=("sklearn",), goal=0.1,
                options=f"{N_ALPHAS} Ridge(solver='auto') fits")],
    check=check,
    tolerance=1e-8,
    flops=lambda p: p["n"] * p["d"] ** 2,
    scaling="n",
))
