"""Gaussian mixture EM, full covariance (issue: probability).

torchmath's ``GaussianMixture`` against scikit-learn's ``GaussianMixture``, both started
from the same parameters (means drawn from the data, equal weights, identity
precisions) and run for the same number of EM iterations with ``tol=0``, so both follow
the same trajectory: the accuracy check compares the final mean log-likelihood bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from benchmarks.harness import ARRAY_API_REASON, ArrayAPIPeer, Peer, Workload, register, to_numpy
from torchmath import ConvergenceWarning
from torchmath.probability import GaussianMixture


def _case(n: int, d: int = 16, k: int = 16, iters: int = 50) -> dict:
    return {"n": n, "d": d, "k": k, "iters": iters, "dtype": "float64"}


def setup(params, device):
    rng = np.random.default_rng(0)
    n, d, k = params["n"], params["d"], params["k"]
    centres = rng.normal(size=(k, d)) * 3
    X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, d)
    means = X[rng.choice(n, k, replace=False)]
    start = {"weights_init": np.full(k, 1.0 / k), "means_init": means,
             "precisions_init": np.stack([np.eye(d)] * k)}
    return {"X": torch.from_numpy(X).to(device), "X_np": X, "start": start, "params": params}


def run_torchmath(state):
    p = state["params"]
    device = state["X"].device
    start = {key: torch.from_numpy(v).to(device) for key, v in state["start"].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed iteration count: no tol
        gm = GaussianMixture(p["k"], "full", max_iter=p["iters"], tol=0.0, **start)
        gm.fit(state["X"])
    return gm.lower_bound


def run_sklearn(state):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGMM
    p = state["params"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = SkGMM(p["k"], covariance_type="full", max_iter=p["iters"], tol=0.0,
                   **state["start"]).fit(state["X_np"])
    return gm.lower_bound_


def prepare_array_api(state):
    start = {key: torch.from_numpy(v) for key, v in state["start"].items()}
    return {"X": torch.from_numpy(state["X_np"]), "start": start, "params": state["params"]}


def run_sklearn_array_api(peer_state):
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGMM
    p = peer_state["params"]
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        # init_params must be array-API capable; the given start overrides it anyway.
        gm = SkGMM(p["k"], covariance_type="full", max_iter=p["iters"], tol=0.0,
                   init_params="random_from_data", **peer_state["start"]).fit(peer_state["X"])
    return gm.lower_bound_


def check(ours, theirs, state):
    """Relative gap between the final mean log-likelihood bounds."""
    ours = float(to_numpy(ours))
    if theirs is None:
        return 0.0 if np.isfinite(ours) else float("inf")
    return abs(ours - float(theirs)) / max(1.0, abs(float(theirs)))


def flops(p):
    """The two products per EM iteration over the (d+1)(d+2)/2 distinct products of
    x' = (x, 1) (x x^T's upper triangle, x and 1: every logit and moment is linear in
    them), each 2 n width k: the E-step's logits and the M-step's weighted moments. This
    is the least arithmetic of a full-covariance EM pass (scikit-learn's per-component
    whitening and scatter products do 4 n d^2 k, 1.7x more at d=16); the elementwise
    work (building the products, exp, log) is not counted."""
    width = (p["d"] + 1) * (p["d"] + 2) // 2
    return p["iters"] * 4.0 * p["n"] * width * p["k"]


register(Workload(
    name="gmm_full",
    area="probability",
    description="Gaussian mixture EM, full covariances, fixed iterations from a shared start",
    cases={"tiny": [_case(400, d=2, k=3, iters=5)],
           "quick": [_case(100_000, iters=5)],
           "full": [_case(n) for n in (6_250, 25_000, 100_000, 400_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn", run_sklearn, requires=("sklearn",), goal=0.1,
                options="same start, tol=0, same iteration count"),
           ArrayAPIPeer("scikit-learn array API (torch)", run_sklearn_array_api,
                        prepare=prepare_array_api, requires=("sklearn", "scipy"),
                        options="array_api_dispatch=True, torch CPU tensors; needs "
                                + ARRAY_API_REASON)],
    check=check,
    tolerance=1e-8,
    flops=flops,
    scaling="n",
))
