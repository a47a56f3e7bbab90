"""L2 logistic regression (issue: optimization): torchmath's Newton solver against
scikit-learn's lbfgs, both at tol=1e-6, compared at equal loss (relative objective gap)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import LogisticRegression

C = 1.0


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n, d = params["n"], params["d"]
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, generator=g, dtype=torch.float64) / d ** 0.5
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(X @ w * 3)).long()
    return {"X": X.to(device), "y": y.to(device)}


def run_torchmath(state):
    model = LogisticRegression(penalty="l2", C=C, solver="newton", tol=1e-6)
    model.fit(state["X"], state["y"])
    return {"coef": model.coef[0], "intercept": model.intercept[0], "n_iter": int(model.n_iter)}


def bytes_moved(p, answer):
    """A lower bound: every Newton iteration (and the start) reads X once from memory for
    the loss and gradient (its two products share the cached row chunk); the Hessian's
    sub-sampled passes are not counted."""
    return (answer["n_iter"] + 1) * p["n"] * p["d"] * 8


def prepare_sklearn(state):
    return {"X": to_numpy(state["X"]), "y": to_numpy(state["y"])}


def run_sklearn(s):
    from sklearn.linear_model import LogisticRegression as Sk
    model = Sk(C=C, l1_ratio=0.0, solver="lbfgs", tol=1e-6, max_iter=1000).fit(s["X"], s["y"])
    return {"coef": model.coef_[0], "intercept": model.intercept_[0]}


def objective(coef, intercept, X, y):
    z = X @ coef + intercept
    return C * float(np.sum(np.logaddexp(0, z) - y * z)) + 0.5 * float(coef @ coef)


def check(ours, theirs, state):
    X, y = to_numpy(state["X"]), to_numpy(state["y"])
    f_ours = objective(to_numpy(ours["coef"]), float(ours["intercept"]), X, y)
    if theirs is None:
        return 0.0 if np.isfinite(f_ours) else np.inf
    f_theirs = objective(theirs["coef"], float(theirs["intercept"]), X, y)
    return (f_ours - f_theirs) / abs(f_theirs)  # <= tol: at least as low a loss


register(Workload(
    name="logistic_regression",
    area="optim",
    description="binary L2 logistic regression, d=100, float64",
    cases={"tiny": [{"n": 500, "d": 5}], "quick": [{"n": 25_000, "d": 100}],
           "full": [{"n": n, "d": 100} for n in (6_250, 25_000, 100_000, 400_000)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("scikit-learn lbfgs", run_sklearn, prepare=prepare_sklearn,
                requires=("sklearn",), goal=1.0, options="tol=1e-6")],
    check=check,
    tolerance=1e-7,
    bytes_moved=bytes_moved,
    scaling="n",
))
