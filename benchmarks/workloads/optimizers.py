"""One optimizer step on a float32 model, for each of torchmath's four optimizers
(issue: optimization).

For every optimizer, torchmath's default path for the device against ``torch.optim``'s
multi-tensor (foreach) and per-parameter (for-loop) paths, goal <= 1.0x each (so <= 1.0x
the faster of the two), and against torch's fused kernel where torch has one (Adam: goal
1.5x; SGD and Adagrad: reported). Two model shapes: ``wide`` (4 square weight matrices
and their biases: 8 tensors) and ``many`` (64 layers, 128 tensors). Every side starts
from the same parameters, gradients and empty state; the accuracy check compares the
parameters after the first step.

``adam_step_strided`` times Adam where torch's fused kernel cannot take the tensors:
every parameter is a strided view into a larger storage (every other column), as a
weight tied to a slice of another tensor is. torchmath's default runs its compiled single
pass (torch.compile, torchmath/optim/_compiled.py) on the views themselves; the peers are
torch's foreach and for-loop paths on the same views, and torch's fused kernel on
contiguous copies (the ceiling; torch's fused kernel given the views themselves writes
outside them). ``adam_step_own_kernels`` times torchmath's per-parameter path
(``foreach=False``: the compiled single pass on CPU) against the same peers. The compile
happens in the untimed first step.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks.harness import Peer, Workload, register, to_numpy
from torchmath.optim import AdaGrad, Adam, Momentum, RMSProp

#: name -> (torchmath's optimizer, torch's, shared keywords, has a fused torch kernel,
#: tensors read + written per element by one step)
OPTIMIZERS = {
    "adam": (Adam, torch.optim.Adam, {"lr": 1e-3}, True, 7),
    "momentum": (Momentum, torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}, True, 5),
    "rmsprop": (RMSProp, torch.optim.RMSprop, {"lr": 1e-3}, False, 5),
    "adagrad": (AdaGrad, torch.optim.Adagrad, {"lr": 1e-2}, True, 5),
}


def _shapes(n_params: int, layout: str) -> list[tuple[int, ...]]:
    if layout == "wide":  # 4 square layers with biases: 8 tensors
        width = int(math.sqrt(n_params / 4))
        return [(width, width), (width,)] * 4
    width = int(math.sqrt(n_params / 64))  # 64 layers with biases: 128 tensors
    return [(width, width), (width,)] * 64


def _setup(optimizer: str, kwargs: dict | None = None, strided: bool = False):
    def setup(params, device):
        g = torch.Generator().manual_seed(0)
        shapes = _shapes(params["n_params"], params["layout"])
        values = [torch.randn(s, generator=g).to(device) for s in shapes]
        grads = [torch.randn(s, generator=g).to(device) * 0.1 for s in shapes]
        return {"values": values, "grads": grads, "optimizer": optimizer,
                "kwargs": kwargs or {}, "strided": strided}
    return setup


def _view(v: torch.Tensor, strided: bool) -> torch.Tensor:
    """A copy of ``v``, contiguous or as every other column of a twice-as-wide storage."""
    if not strided:
        return v.clone()
    storage = torch.zeros(*v.shape[:-1], 2 * v.shape[-1], dtype=v.dtype, device=v.device)
    view = storage[..., ::2]
    view.copy_(v)
    return view


def _side(state, make, strided):
    """Fresh parameters (copies of the shared start) with their gradients and optimizer."""
    params = []
    for v, g in zip(state["values"], state["grads"], strict=True):
        p = torch.nn.Parameter(_view(v, strided))
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
        ours, _, kw, _, _ = OPTIMIZERS[state["optimizer"]]
        state["side"] = _side(state, lambda ps: ours(ps, **kw, **state["kwargs"]),
                              state["strided"])
    return _step(state["side"])


def _peer(optimizer: str, strided: bool, **path):
    _, theirs, kw, _, _ = OPTIMIZERS[optimizer]
    return lambda state: _side(state, lambda ps: theirs(ps, **kw, **path), strided)


def check(ours, theirs, state):
    """Largest absolute difference of the parameters after one step (values are O(1))."""
    if theirs is None:
        return 0.0 if all(bool(torch.isfinite(p).all()) for p in ours) else float("inf")
    return max(float(np.max(np.abs(to_numpy(a) - to_numpy(b))))
               for a, b in zip(ours, theirs, strict=True))


def _peers(optimizer: str, strided: bool = False) -> list[Peer]:
    name = {"adam": "Adam", "momentum": "SGD", "rmsprop": "RMSprop",
            "adagrad": "Adagrad"}[optimizer]
    peers = [Peer(f"torch.optim.{name} (foreach)", _step,
                  prepare=_peer(optimizer, strided, foreach=True), goal=1.0, cpu_only=False),
             Peer(f"torch.optim.{name} (for-loop)", _step,
                  prepare=_peer(optimizer, strided, foreach=False), goal=1.0, cpu_only=False)]
    if OPTIMIZERS[optimizer][3]:
        goal = 1.5 if optimizer == "adam" else None
        peers.append(Peer(f"torch.optim.{name} (fused)", _step,
                          prepare=_peer(optimizer, False, fused=True), goal=goal,
                          cpu_only=False, options="contiguous copies" if strided else ""))
    return peers


def _cases(n_params: int) -> list[dict]:
    return [{"n_params": n_params, "layout": layout} for layout in ("wide", "many")]


CASES = {"tiny": [{"n_params": 10_000, "layout": "many"}],
         "quick": _cases(10_000_000),
         "full": [c for n in (625_000, 2_500_000, 10_000_000, 40_000_000) for c in _cases(n)]}
QUICK = {k: v for k, v in CASES.items() if k != "full"}

def _bytes_moved(tensors: int):
    """float32 bytes read and written by one step (one argument: the harness passes the
    answer too to a count of two)."""
    return lambda p: tensors * 4 * p["n_params"]


WORKLOADS = [(f"{opt}_step", _setup(opt), _peers(opt), CASES, "device-default path")
             for opt in OPTIMIZERS]
WORKLOADS += [
    ("adam_step_strided", _setup("adam", strided=True), _peers("adam", strided=True), QUICK,
     "device-default path, every parameter a strided view"),
    ("adam_step_own_kernels", _setup("adam", {"foreach": False}), _peers("adam"), QUICK,
     "per-parameter kernel"),
]

for name, setup_fn, peers, cases, what in WORKLOADS:
    opt = name.split("_")[0]
    register(Workload(
        name=name,
        area="optim",
        description=f"one {opt} step ({what}) on a float32 model: 'wide' = 8 tensors, "
                    "'many' = 128 tensors",
        cases=cases,
        setup=setup_fn,
        run=run_torchmath,
        peers=peers,
        check=check,
        tolerance=1e-6,
        # e.g. Adam: read param, grad, exp_avg, exp_avg_sq; write param, exp_avg, exp_avg_sq
        bytes_moved=_bytes_moved(OPTIMIZERS[opt][4]),
        scaling="n_params",
    ))
