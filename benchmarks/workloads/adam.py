"""One Adam step on a float32 model (issue: optimization).

torchmath's ``Adam`` (default path for the device) against ``torch.optim.Adam``'s
multi-tensor (foreach) and per-parameter (for-loop) paths, goal <= 1.0x each (so <= 1.0x
the faster of the two), and against ``fused=True`` (stretch goal 1.5x). Two model shapes:
``wide`` (a few wide layers: 4 weight matrices and their biases) and ``many`` (64 layers,
128 parameter tensors). Every side starts from the same parameters, gradients and empty
state; the accuracy check compares the parameters after the first step.

A second workload, ``adam_step_own_kernels``, times torchmath's own per-parameter kernel
(``foreach=False``) against the same peers, so the gain of the device default is visible.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import Adam


def _shapes(n_params: int, layout: str) -> list[tuple[int, ...]]:
    if layout == "wide":  # 4 square layers with biases: 8 tensors
        width = int(math.sqrt(n_params / 4))
        return [(width, width), (width,)] * 4
    width = int(math.sqrt(n_params / 64))  # 64 layers with biases: 128 tensors
    return [(width, width), (width,)] * 64


def setup(params, device):
    g = torch.Generator().manual_seed(0)
    shapes = _shapes(params["n_params"], params["layout"])
    values = [torch.randn(s, generator=g).to(device) for s in shapes]
    grads = [torch.randn(s, generator=g).to(device) * 0.1 for s in shapes]
    return {"values": values, "grads": grads, "kind": "torchmath", "foreach": None}


def _side(state, make):
    """Fresh parameters (copies of the shared start) with their gradients and optimizer."""
    params = []
    for v, g in zip(state["values"], state["grads"], strict=True):
        p = torch.nn.Parameter(v.clone())
        p.grad = g.clone()
        params.append(p)
    return {"params": params, "opt": make(params), "first": None}


def _step(side):
    side["opt"].step()
    if side["first"] is None:  # snapshot only after the first (untimed) step
        side["first"] = [p.detach().clone() for p in side["params"]]
    return side["first"]


def run_torchmath(state):
    if "side" not in state:
        state["side"] = _side(state, lambda ps: Adam(ps, lr=1e-3, foreach=state["foreach"]))
    return _step(state["side"])


def setup_own(params, device):
    state = setup(params, device)
    state["foreach"] = False
    return state


def _peer(**kwargs):
    return lambda state: _side(state, lambda ps: torch.optim.Adam(ps, lr=1e-3, **kwargs))


def check(ours, theirs, state):
    """Largest absolute difference of the parameters after one step (relative to 1)."""
    if theirs is None:
        return 0.0 if all(bool(torch.isfinite(p).all()) for p in ours) else float("inf")
    return max(float(np.max(np.abs(to_numpy(a) - to_numpy(b))))
               for a, b in zip(ours, theirs, strict=True))


def _cases(n_params: int) -> list[dict]:
    return [{"n_params": n_params, "layout": layout} for layout in ("wide", "many")]


PEERS = [
    Peer("torch.optim.Adam (foreach)", _step, prepare=_peer(foreach=True), goal=1.0,
         cpu_only=False),
    Peer("torch.optim.Adam (for-loop)", _step, prepare=_peer(foreach=False), goal=1.0,
         cpu_only=False),
    Peer("torch.optim.Adam (fused)", _step, prepare=_peer(fused=True), goal=1.5,
         cpu_only=False, options="stretch goal"),
]

CASES = {"tiny": [{"n_params": 10_000, "layout": "many"}],
         "quick": _cases(10_000_000),
         "full": [c for n in (625_000, 2_500_000, 10_000_000, 40_000_000) for c in _cases(n)]}

for name, setup_fn, what in (("adam_step", setup, "device-default path"),
                             ("adam_step_own_kernels", setup_own, "per-parameter kernel")):
    register(Workload(
        name=name,
        area="optim",
        description=f"one Adam step ({what}) on a float32 model: 'wide' = 8 tensors, "
                    "'many' = 128 tensors",
        cases=CASES if name == "adam_step" else {k: v for k, v in CASES.items()
                                                 if k != "full"},
        setup=setup_fn,
        run=run_torchmath,
        peers=PEERS,
        check=check,
        tolerance=1e-6,
        # read param, grad, exp_avg, exp_avg_sq; write param, exp_avg, exp_avg_sq
        bytes_moved=lambda p: 7 * 4 * p["n_params"],
        scaling="n_params",
    ))
