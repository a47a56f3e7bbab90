"""Bias-variance decomposition of a small MLP by bootstrap (issue: learning theory).

torchmath trains the ``n_rounds`` bootstrap models together (``stack_module_state`` +
``vmap``, one batched Adam); the peer is the same computation one model after another
(``TorchModel(vectorize=False)``), the way it is usually written. Both give the same models
to rounding, so the speed-up is the whole difference.
"""

from __future__ import annotations

import torch

from benchmarks.harness import Peer, Workload, register
from torchmath.learning_theory import TorchModel, bias_variance_decomposition


def _mlp(width):
    return lambda: torch.nn.Sequential(torch.nn.Linear(1, width), torch.nn.Tanh(),
                                       torch.nn.Linear(width, 1)).double()


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n = params["n"]
    X = torch.rand(n, 1, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(3 * X[:, 0]) + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    Xt = torch.linspace(-1, 1, 100, dtype=torch.float64).unsqueeze(-1)
    yt = torch.sin(3 * Xt[:, 0])
    return {"X": X.to(device), "y": y.to(device), "Xt": Xt.to(device), "yt": yt.to(device),
            "params": params}


def _run(state, vectorize):
    p = state["params"]
    spec = TorchModel(_mlp(p["width"]), lr=0.02, epochs=p["epochs"], vectorize=vectorize)
    return bias_variance_decomposition(spec, state["X"], state["y"], state["Xt"], state["yt"],
                                       n_rounds=p["rounds"])


def check(ours, theirs, state):
    if theirs is None:
        gap = float((ours.expected_loss - ours.bias_squared - ours.variance).abs())
        return gap / max(1.0, float(ours.expected_loss))
    return max(float((a - b).abs()) for a, b in zip(ours[:4], theirs[:4], strict=True))


def flops(p):
    """Nominal arithmetic: per sample and full-batch step, the 1-w-1 MLP's two products
    (2w multiply-adds, 4w flops) forward and twice that backward."""
    return p["rounds"] * p["epochs"] * p["n"] * 12 * p["width"]


def _case(rounds, epochs, n=200, width=32):
    return {"rounds": rounds, "epochs": epochs, "n": n, "width": width}


register(Workload(
    name="bias_variance_vmap",
    area="learning_theory",
    description="bootstrap bias-variance of a 1-32-1 MLP, models trained together with vmap",
    cases={"tiny": [_case(4, 3, n=20, width=4)],
           "quick": [_case(100, 30)],
           "full": [_case(r, 100) for r in (25, 100, 400, 1600)]},
    setup=setup,
    run=lambda s: _run(s, True),
    peers=[Peer("sequential loop", lambda s: _run(s, False), goal=None, cpu_only=False,
                options="same models, one after another")],
    check=check,
    tolerance=1e-8,
    flops=flops,
    scaling="rounds",
))
