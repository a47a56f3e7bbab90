"""Multivariate normal log-likelihood of many points (issue: probability).

torchmath's ``mvn_log_prob`` against ``torch.distributions.MultivariateNormal`` (same
device, factorizing per call as ours does) and a frozen ``scipy.stats.multivariate_normal``
(factorized once when frozen, untimed), forward and forward+backward. SciPy has no
gradients, so in the backward case it is the forward-only reference time.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.probability import mvn_log_prob

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _cases(n: int, d: int, backward: bool) -> list[dict]:
    return [{"n": n, "d": d, "dtype": dt, "backward": backward} for dt in DTYPES]


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    dtype = DTYPES[params["dtype"]]
    n, d = params["n"], params["d"]
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = (A @ A.T / d + torch.eye(d, dtype=torch.float64)).to(dtype)
    mean = torch.randn(d, generator=g, dtype=torch.float64).to(dtype)
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    return {"x": x.to(device), "mean": mean.to(device), "cov": cov.to(device),
            "backward": params["backward"], "dtype": dtype}


def _with_grad(state, log_prob):
    if not state["backward"]:
        with torch.no_grad():
            return {"logp": log_prob(state["x"], state["mean"], state["cov"])}
    x = state["x"].detach().requires_grad_(True)
    cov = state["cov"].detach().requires_grad_(True)
    logp = log_prob(x, state["mean"], cov)
    gx, gcov = torch.autograd.grad(logp.sum(), (x, cov))
    return {"logp": logp.detach(), "grad_x": gx, "grad_cov": gcov}


def run_torchmath(state):
    return _with_grad(state, lambda x, m, c: mvn_log_prob(x, m, cov=c))


def run_torch_distributions(state):
    return _with_grad(state, lambda x, m, c: torch.distributions.MultivariateNormal(
        m, covariance_matrix=c, validate_args=False).log_prob(x))


def prepare_scipy(state):
    from scipy.stats import multivariate_normal
    return {"frozen": multivariate_normal(to_numpy(state["mean"]), to_numpy(state["cov"])),
            "x": to_numpy(state["x"])}


def run_scipy(peer_state):
    return {"logp": peer_state["frozen"].logpdf(peer_state["x"])}


def check(ours, theirs, state):
    """Largest relative difference over the quantities both computed."""
    if theirs is None:  # torchmath alone: finite, and the right shape
        logp = ours["logp"]
        ok = logp.shape == state["x"].shape[:-1] and bool(torch.isfinite(logp).all())
        return 0.0 if ok else float("inf")
    gap = 0.0
    for key in ours.keys() & theirs.keys():
        a, b = to_numpy(ours[key]), to_numpy(theirs[key])
        gap = max(gap, float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))))
    return gap


def tolerance(params):
    return 2e-4 if params["dtype"] == "float32" else 1e-9


for backward in (False, True):
    name = "mvn_log_prob" + ("_backward" if backward else "")
    register(Workload(
        name=name,
        area="probability",
        description="log N(x; mean, cov) of n points in d dimensions"
                    + (", with gradients w.r.t. x and cov" if backward else ""),
        cases={"tiny": _cases(64, 4, backward)[1:],
               "quick": _cases(100_000, 64, backward),
               "full": [c for n in (1_000, 10_000, 100_000, 1_000_000)
                        for c in _cases(n, 64, backward)]},
        setup=setup,
        run=run_torchmath,
        peers=[
            Peer("torch.distributions", run_torch_distributions, requires=(), goal=0.5,
                 cpu_only=False),
            Peer("scipy.stats (frozen)", run_scipy, prepare=prepare_scipy,
                 requires=("scipy",), goal=1.0,
                 options="forward only" if backward else ""),
        ],
        check=check,
        tolerance=tolerance,
        flops=lambda p: (3 if p["backward"] else 1) * p["n"] * p["d"] ** 2 + p["d"] ** 3 / 3,
        scaling="n",
    ))
