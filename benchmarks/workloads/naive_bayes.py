"""Gaussian Naive Bayes fit and predict (issue: probability).

torchmath's ``GaussianNaiveBayes`` against scikit-learn's ``GaussianNB`` on the same
data: fit on all rows, then class probabilities of all rows. The accuracy check is the
largest difference of the predicted probabilities.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.probability import GaussianNaiveBayes


def _case(n: int, d: int = 32, k: int = 4) -> dict:
    return {"n": n, "d": d, "k": k, "dtype": "float64"}


def setup(params, device):
    rng = np.random.default_rng(0)
    n, d, k = params["n"], params["d"], params["k"]
    y = rng.integers(0, k, n)
    X = rng.normal(size=(n, d)) + rng.normal(size=(k, d))[y]
    return {"X": torch.from_numpy(X).to(device), "y": torch.from_numpy(y).to(device),
            "X_np": X, "y_np": y}


def run_torchmath(state):
    nb = GaussianNaiveBayes().fit(state["X"], state["y"])
    return nb.predict_proba(state["X"])


def run_sklearn(state):
    from sklearn.naive_bayes import GaussianNB
    return GaussianNB().fit(state["X_np"], state["y_np"]).predict_proba(state["X_np"])


def check(ours, theirs, state):
    """Largest absolute difference of the class probabilities."""
    a = to_numpy(ours)
    if theirs is None:
        ok = np.isfinite(a).all() and np.allclose(a.sum(1), 1.0)
        return 0.0 if ok else float("inf")
    return float(np.max(np.abs(a - theirs)))


register(Workload(
    name="gaussian_naive_bayes",
    area="probability",
    description="Gaussian Naive Bayes: fit, then predict_proba on the training rows",
    cases={"tiny": [_case(500, d=4, k=3)],
           "quick": [_case(200_000)],
           "full": [_case(n) for n in (15_625, 62_500, 250_000, 1_000_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn", run_sklearn, requires=("sklearn",), goal=1.0)],
    check=check,
    tolerance=1e-6,
    bytes_moved=lambda p: 3.0 * p["n"] * p["d"] * 8,
    scaling="n",
))
