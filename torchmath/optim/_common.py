"""Shared plumbing of torchmath's optimizers (private).

Every first-order optimizer here follows the structure of ``torch/optim/adam.py``:
hyperparameters are validated in ``__init__`` with torch's wording, per-parameter state is
created lazily on the first step, the arithmetic lives in a public functional kernel with
a multi-tensor (``torch._foreach_*``) path and a per-parameter path, and ``step`` runs
under ``torch.no_grad()``.

Default path (``foreach=None``): the multi-tensor path on accelerators (CUDA, XPU), where
each kernel launch costs microseconds and batching launches pays; the per-parameter path
on CPU, where ``torch._foreach_*`` ops are loops over the same per-tensor kernels and were
measured slower (benchmarks/workloads/adam.py: wide layers and 128 tensors, 2-core CPU).
This matches torch.optim's own default (``_default_to_fused_or_foreach``). ``Adam`` goes
one step further on CPU: its default there is torch's fused kernel, which measured 3-4x
faster than both of the other paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__: list[str] = []

_FOREACH_DEVICES = ("cuda", "xpu")


def check_lr(lr) -> None:
    """torch's wording: ``Invalid learning rate: {lr}``."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        lr = float(lr)
    if not isinstance(lr, int | float) or isinstance(lr, bool) or not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_nonneg(label: str, value) -> None:
    """torch's wording: ``Invalid {label} value: {value}`` for a value that must be >= 0."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value:
        raise ValueError(f"Invalid {label} value: {value}")


def check_beta(index: int, value) -> None:
    """torch's wording: ``Invalid beta parameter at index {i}: {beta}``; needs 0 <= b < 1."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid beta parameter at index {index}: {value}")


def default_foreach(tensors: Sequence[Tensor]) -> bool:
    """The multi-tensor path on accelerators, the per-parameter loop on CPU."""
    if torch.compiler.is_compiling():
        return False
    return len(tensors) > 0 and all(t.device.type in _FOREACH_DEVICES for t in tensors)


def resolve_foreach(foreach: bool | None, params: Sequence[Tensor]) -> bool:
    return default_foreach(params) if foreach is None else bool(foreach)


def group_by_device_dtype(*lists: Sequence) -> list[tuple[list, ...]]:
    """Split parallel lists into sublists whose first-list tensors share device and dtype
    (``torch._foreach_*`` ops need one device per call)."""
    buckets: dict[tuple, list[int]] = {}
    for i, t in enumerate(lists[0]):
        buckets.setdefault((t.device, t.dtype), []).append(i)
    if len(buckets) == 1:
        return [tuple(list(x) for x in lists)]
    return [tuple([x[i] for i in idx] for x in lists) for idx in buckets.values()]


def effective_grads(params: list[Tensor], grads: list[Tensor], *, weight_decay: float,
                    maximize: bool, foreach: bool) -> list[Tensor]:
    """``-grad`` when maximizing, plus ``weight_decay * param`` (L2); never in place on the
    user's ``.grad``."""
    if foreach:
        if maximize:
            grads = list(torch._foreach_neg(grads))
            if weight_decay != 0:
                torch._foreach_add_(grads, params, alpha=weight_decay)
        elif weight_decay != 0:
            grads = list(torch._foreach_add(grads, params, alpha=weight_decay))
        return grads
    out = []
    for p, g in zip(params, grads, strict=True):
        g = -g if maximize else g
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        out.append(g)
    return out


def new_step() -> Tensor:
    """The step counter, a CPU float32 scalar as torch.optim keeps it (state dicts
    interchange, and reading it is no device sync)."""
    return torch.tensor(0.0, dtype=torch.float32)


class KernelOptimizer(Optimizer):
    """Base of the first-order optimizers: collects parameters with gradients and their
    lazily created state, then hands them to ``self._update``.

    Subclasses define ``_state_names(group)`` (the per-parameter tensors, in kernel order),
    ``_init_state(p, group, state)`` and ``_update(group, params, grads, states, steps)``.
    """

    _setdefaults: dict = {}

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            for key, value in self._setdefaults.items():
                group.setdefault(key, value)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if len(p_state) != 0 and "step" in p_state and not torch.is_tensor(
                        p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]),
                                                   dtype=torch.float32)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ()

    def _init_state(self, p: Tensor, group: dict, state: dict) -> None:
        state["step"] = new_step()

    def _update(self, group, params, grads, states, steps) -> None:  # pragma: no cover
        raise NotImplementedError

    def _collect(self, group: dict):
        params, grads, steps = [], [], []
        names = self._state_names(group)
        states: dict[str, list] = {name: [] for name in names}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            if torch.is_complex(p):
                raise RuntimeError(f"{type(self).__name__} supports real parameters only")
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                self._init_state(p, group, state)
            for name in names:
                states[name].append(state.get(name))
            steps.append(state["step"])
        return params, grads, states, steps

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None):
        """Perform one optimization step.

        Args:
            closure: optional; re-evaluates the model (zero the gradients, compute the loss,
                call ``backward``) and returns the loss.

        Returns:
            The closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, states, steps = self._collect(group)
            if params:
                self._update(group, params, grads, states, steps)
        return loss
