"""Shared plumbing of torchmath's optimizers (private).

Every first-order optimizer here follows the structure of ``torch/optim/adam.py``:
hyperparameters are validated in ``__init__`` with torch's wording (prefixed by the
optimizer's name), per-parameter state is created lazily on the first step, the arithmetic
lives in a public functional kernel with a multi-tensor (``torch._foreach_*``) path and a
per-parameter path, and ``step`` runs under ``torch.no_grad()`` (with grad mode on when
``differentiable=True``, as torch does).

Memory safety: every kernel checks its arguments first (:func:`check_update_args`: one
gradient and one state tensor per parameter, each of the parameter's shape, dtype and
device), and torch's fused kernels, which index raw memory, only ever see contiguous
tensors (:func:`run_fused`): a parameter, gradient or state that is a strided view (a
column of a larger tensor, a transposed weight) is staged through contiguous scratch
chunks and written back, so only its own elements change.

Default path (``foreach=None``): the multi-tensor path on accelerators (CUDA, XPU), where
each kernel launch costs microseconds and batching launches pays; the per-parameter path
on CPU, where ``torch._foreach_*`` ops are loops over the same per-tensor kernels and were
measured slower (benchmarks/workloads/optimizers.py). This matches torch.optim's own
default. Where torch ships a fused CPU kernel (Adam, SGD, Adagrad) the default on CPU
goes one step further and uses it (:func:`default_fused`), measured 1.5-4x faster than
both of the other paths there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.optim import Optimizer

from torchmath._validation import fail

__all__: list[str] = []

_FOREACH_DEVICES = ("cuda", "xpu")
#: devices with torch's fused optimizer kernels (CPU from torch 2.4 on)
_FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")
#: elements per staged chunk of a non-contiguous tensor (1 MB of float32: stays in the
#: last-level cache; 1 << 16 measured several times slower on a 10M-parameter step)
STAGE_CHUNK = 1 << 18


def _number(value) -> float:
    return float(value) if isinstance(value, Tensor) else value


def _prefix(opt: str | None) -> str:
    return f"{opt}: " if opt else ""


def _check_scalar(value, tensor_name: str, invalid: str, in_range, opt: str | None) -> None:
    """One hyperparameter in torch's wording: a number, or a 1-element Tensor judged by its
    value (``Tensor {tensor_name} must be 1-element``); ``invalid`` when it is neither or
    ``in_range`` refuses it."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{_prefix(opt)}Tensor {tensor_name} must be 1-element")
        number = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"{_prefix(opt)}{invalid}")
    if not in_range(number):
        raise ValueError(f"{_prefix(opt)}{invalid}")


def check_lr(lr, opt: str | None = None) -> None:
    """torch's checks and wording (``Invalid learning rate: {lr}``), prefixed by the
    optimizer's name; a Tensor ``lr`` must have one element."""
    _check_scalar(lr, "lr", f"Invalid learning rate: {lr}", lambda v: 0.0 <= v, opt)


def check_nonneg(label: str, value, opt: str | None = None) -> None:
    """torch's wording, ``Invalid {label} value: {value}``, for a value that must be >= 0
    (a 1-element Tensor is judged by its value)."""
    _check_scalar(value, label, f"Invalid {label} value: {value}", lambda v: 0.0 <= v, opt)


def check_beta(index: int, value, opt: str | None = None) -> None:
    """torch's wording: ``Invalid beta parameter at index {i}: {beta}``; 0 <= b < 1."""
    _check_scalar(value, f"betas[{index}]", f"Invalid beta parameter at index {index}: {value}",
                  lambda v: 0.0 <= v < 1.0, opt)


def check_fused_foreach(opt: str, fused, foreach, differentiable) -> None:
    """torch's errors for ``fused`` with ``differentiable`` or with ``foreach``."""
    if fused:
        if differentiable:
            raise RuntimeError(f"{opt}: `fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError(f"{opt}: `fused` and `foreach` cannot be `True` together.")


def check_fused_param(opt: str, p: Tensor) -> None:
    """torch's error for ``fused=True`` with a parameter its fused kernels cannot take."""
    if not (p.device.type in _FUSED_DEVICES and torch.is_floating_point(p)):
        raise RuntimeError(
            f"{opt}: `fused=True` requires all the params to be floating point Tensors of "
            f"supported devices: {list(_FUSED_DEVICES)} but {p.dtype} and {p.device.type}")


def capturable_devices(supports_xla: bool = True) -> list[str]:
    """Devices on which ``capturable=True`` is honoured (torch's list)."""
    devices = ["cuda", "xpu", "hpu", torch._C._get_privateuse1_backend_name()]
    return devices + ["xla"] if supports_xla else devices


def check_capturable(fn: str, params: Sequence[Tensor], steps: Sequence[Tensor], *,
                     supports_xla: bool = True) -> None:
    """torch's error (an ``AssertionError``) for ``capturable=True`` off its devices."""
    if torch.compiler.is_compiling():
        return
    supported = capturable_devices(supports_xla)
    for p, t in zip(params, steps, strict=True):
        if not (p.device.type == t.device.type and p.device.type in supported):
            raise AssertionError(f"{fn}: If capturable=True, params and state_steps must be "
                                 f"on supported devices: {supported}.")


def check_update_args(fn: str, params: Sequence[Tensor], grads: Sequence[Tensor],
                      states: dict[str, Sequence[Tensor | None] | None],
                      steps: Sequence[Tensor] | None = None, *,
                      allow_sparse: bool = False) -> None:
    """Every gradient and state tensor matches its parameter in shape, dtype and device.

    Raises ``ValueError`` naming the function and the argument (``'grads[1]'``), so no
    kernel ever reads or writes past a tensor's end. ``None`` state entries (a momentum
    buffer before its first step) are allowed.
    """
    n = len(params)
    lists = {"grads": grads, **states}
    if steps is not None:
        lists["steps"] = steps
    for name, values in lists.items():
        if values is not None and len(values) != n:
            raise fail(fn, name, f"to hold one tensor per parameter ({n})",
                       f"{len(values)} entries")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise fail(fn, f"params[{i}]", "to be a torch.Tensor", type(p).__name__, TypeError)
        shape, dtype, device = p.shape, p.dtype, p.device
        for name, values in lists.items():
            if values is None or name == "steps":
                continue
            t = values[i]
            if t is None:
                if name == "grads":
                    raise fail(fn, f"grads[{i}]", "to be a tensor", None)
                continue
            if not isinstance(t, Tensor):
                raise fail(fn, f"{name}[{i}]", "to be a torch.Tensor", type(t).__name__,
                           TypeError)
            if t.shape != shape:
                raise fail(fn, f"{name}[{i}]", f"of shape {tuple(shape)} (that of "
                           f"params[{i}])", tuple(t.shape))
            if t.dtype != dtype or t.device != device:
                raise fail(fn, f"{name}[{i}]", f"dtype {dtype} on {device} (that of "
                           f"params[{i}])", f"{t.dtype} on {t.device}")
            if t.is_sparse and not allow_sparse:
                raise fail(fn, f"{name}[{i}]", "to be a dense (strided) tensor",
                           "a sparse tensor")


def default_foreach(tensors: Sequence[Tensor]) -> bool:
    """The multi-tensor path on accelerators, the per-parameter loop on CPU."""
    if torch.compiler.is_compiling():
        return False
    return len(tensors) > 0 and all(t.device.type in _FOREACH_DEVICES for t in tensors)


def resolve_foreach(foreach: bool | None, params: Sequence[Tensor]) -> bool:
    return default_foreach(params) if foreach is None else bool(foreach)


def fused_available(params: Sequence[Tensor]) -> bool:
    """torch ships a fused kernel for every parameter (device and floating dtype)."""
    return (not torch.compiler.is_compiling() and len(params) > 0
            and all(p.device.type in _FUSED_DEVICES and torch.is_floating_point(p)
                    and not torch.is_complex(p) for p in params))


def default_fused(params: Sequence[Tensor], grads: Sequence[Tensor], *hyper) -> bool:
    """The default path on CPU is torch's fused kernel where it can run (measured 1.5-3x
    faster than the per-parameter and multi-tensor paths there, benchmarks/workloads/
    optimizers.py): real floating parameters, dense gradients, and float hyperparameters
    (with a Tensor ``lr`` the default follows torch's default path and its rounding)."""
    return (fused_available(params) and all(p.device.type == "cpu" for p in params)
            and not any(g.is_sparse for g in grads)
            and not any(isinstance(h, Tensor) for h in hyper))


def group_by_device_dtype(*lists: Sequence) -> list[tuple[list, ...]]:
    """Split parallel lists into sublists whose first-list tensors share device and dtype
    (``torch._foreach_*`` ops need one device per call)."""
    buckets: dict[tuple, list[int]] = {}
    for i, t in enumerate(lists[0]):
        buckets.setdefault((t.device, t.dtype), []).append(i)
    if len(buckets) == 1:
        return [tuple(list(x) for x in lists)]
    return [tuple([x[i] for i in idx] for x in lists) for idx in buckets.values()]


def as_real(*lists: list) -> None:
    """Replace complex tensors (and the matching entries of the other lists) by their
    real views, in place on the lists, as torch's optimizers treat complex parameters."""
    for i, p in enumerate(lists[0]):
        if torch.is_complex(p):
            for values in lists:
                if values is not None and values[i] is not None:
                    values[i] = torch.view_as_real(values[i])


def run_fused(kernel: Callable[..., None], lists: Sequence[Sequence[Tensor | None] | None],
              written: Sequence[int], whole: Sequence[int] = ()) -> None:
    """Call ``kernel(*sublists)`` (a torch fused kernel on parallel tensor lists) on
    contiguous tensors only.

    Indices whose tensors are all contiguous go in one call per (device, dtype). Any other
    index (a strided view sharing storage with a neighbour, a transposed weight, a strided
    gradient) is cut along its first dimension into chunks of about :data:`STAGE_CHUNK`
    elements; the non-contiguous pieces are copied into contiguous scratch tensors, the
    kernel runs on the chunk, and the pieces in ``written`` (positions in ``lists``) are
    copied back. The kernel thus reads and writes exactly the tensors' own elements; an
    internally overlapping tensor (an expanded view) raises torch's error on the copy back.
    ``None`` lists (absent optional state) are passed as empty lists; the lists at
    positions ``whole`` (step counters) are passed per index, never cut.
    """
    lists = [[None] * len(lists[0]) if values is None else values for values in lists]
    n = len(lists[0])
    flat, staged = [], []
    for i in range(n):
        if all(values[i] is None or values[i].is_contiguous()
               for j, values in enumerate(lists) if j not in whole):
            flat.append(i)
        else:
            staged.append(i)
    if flat:
        picked = [[values[i] for i in flat] for values in lists]
        for sub in group_by_device_dtype(*picked):
            kernel(*[[] if values[0] is None else values for values in sub])
    scratch = [Scratch() for _ in lists]  # shared by every staged tensor of this call
    for i in staged:
        tensors = [values[i] for values in lists]
        p = tensors[0]
        row = max(1, p[0].numel()) if p.dim() > 0 else 1
        rows = max(1, STAGE_CHUNK // row)
        for start in range(0, p.shape[0], rows):
            k = min(rows, p.shape[0] - start)
            pieces, calls = [], []
            for j, t in enumerate(tensors):
                if t is None or j in whole:
                    pieces.append(t)
                    calls.append(t)
                    continue
                piece = t.narrow(0, start, k)
                pieces.append(piece)
                if piece.is_contiguous():
                    calls.append(piece)
                    continue
                buffer = _contiguous_like(scratch[j], piece)
                buffer.copy_(piece)
                calls.append(buffer)
            kernel(*[[] if c is None else [c] for c in calls])
            for j in written:
                if calls[j] is not None and calls[j] is not pieces[j]:
                    pieces[j].copy_(calls[j])


#: elements per piece of the per-parameter paths: each op of a step then streams a piece
#: that stays in the last-level cache, so the step reads and writes each tensor from
#: memory about once (a whole-tensor op per line reads and writes it once per line)
CHUNK = 1 << 18


def pieces(*tensors: Tensor | None):
    """Aligned flat pieces of about :data:`CHUNK` elements of tensors of one shape, or
    the tensors themselves when they are small or not all contiguous. ``None`` passes."""
    present = [t for t in tensors if t is not None]
    if present[0].numel() <= CHUNK or not all(t.is_contiguous() for t in present):
        return [tensors]
    split = [t.view(-1).split(CHUNK) if t is not None else None for t in tensors]
    count = len(split[tensors.index(present[0])])
    return zip(*[s if s is not None else [None] * count for s in split], strict=True)


class Scratch:
    """A reusable buffer for the per-parameter paths (no fresh allocation, and so no
    page faults, per tensor and step): ``like(t)`` is an uninitialized tensor shaped as
    ``t``."""

    def __init__(self):
        self.buffer: Tensor | None = None

    def like(self, t: Tensor) -> Tensor:
        if not t.is_contiguous():
            return torch.empty_like(t)
        n, b = t.numel(), self.buffer
        if b is None or b.numel() < n or b.dtype != t.dtype or b.device != t.device:
            self.buffer = b = torch.empty(max(n, 1), dtype=t.dtype, device=t.device)
        return b[:n].view(t.shape)


def effective_grad(p: Tensor, g: Tensor, weight_decay, maximize: bool,
                   scratch: Scratch) -> Tensor:
    """``-g`` when maximizing, plus ``weight_decay * p``, in ``scratch`` (never in place
    on the user's gradient); ``g`` itself when neither applies."""
    if not maximize and weight_decay == 0:
        return g
    out = scratch.like(g)
    if maximize:
        torch.neg(g, out=out)
        if weight_decay != 0:
            out.add_(p, alpha=_number(weight_decay))
        return out
    return torch.add(g, p, alpha=_number(weight_decay), out=out)


def _contiguous_like(scratch: Scratch, t: Tensor) -> Tensor:
    """A contiguous tensor shaped as ``t`` (which may be strided) from ``scratch``."""
    n, b = t.numel(), scratch.buffer
    if b is None or b.numel() < n or b.dtype != t.dtype or b.device != t.device:
        scratch.buffer = b = torch.empty(max(n, 1), dtype=t.dtype, device=t.device)
    return b[:n].view(t.shape)


def effective_grads(params: list[Tensor], grads: list[Tensor], *, weight_decay,
                    maximize: bool, foreach: bool) -> list[Tensor]:
    """``-grad`` when maximizing, plus ``weight_decay * param`` (L2); never in place on the
    user's ``.grad``. A ``weight_decay`` Tensor that requires grad (``differentiable``)
    enters through ``addcmul`` so its gradient flows."""
    if foreach:
        wd = _number(weight_decay)
        if maximize:
            grads = list(torch._foreach_neg(grads))
            if wd != 0:
                torch._foreach_add_(grads, params, alpha=wd)
        elif wd != 0:
            grads = list(torch._foreach_add(grads, params, alpha=wd))
        return grads
    out = []
    for p, g in zip(params, grads, strict=True):
        g = -g if maximize else g
        if isinstance(weight_decay, Tensor) and weight_decay.requires_grad:
            g = g.addcmul(p.clone(), weight_decay)
        elif weight_decay != 0:
            g = g.add(p, alpha=_number(weight_decay))
        out.append(g)
    return out


def scalar_dtype(fused: bool = False) -> torch.dtype:
    """The step counter's dtype, torch's rule: float32 for fused kernels, else the default
    dtype's precision."""
    if fused:
        return torch.float32
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def new_step(p: Tensor | None = None, *, on_device: bool = False,
             fused: bool = False) -> Tensor:
    """The step counter, a scalar tensor as torch.optim keeps it (so state dicts
    interchange): on the parameter's device for ``capturable``/``fused``, else on the CPU
    (reading it is then no device sync)."""
    if on_device and p is not None:
        return torch.zeros((), dtype=scalar_dtype(fused), device=p.device)
    return torch.tensor(0.0, dtype=scalar_dtype())


class KernelOptimizer(Optimizer):
    """Base of the first-order optimizers: collects parameters with gradients and their
    lazily created state, then hands them to ``self._update``.

    Subclasses define ``_state_names(group)`` (the per-parameter tensors, in kernel order),
    ``_init_state(p, group, state)`` and ``_update(group, params, grads, states, steps)``;
    ``_sparse_ok`` says whether sparse gradients are accepted (else torch's error).
    """

    _setdefaults: dict = {}
    _sparse_ok = False
    _sparse_message = "{name} does not support sparse gradients"

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            for key, value in self._setdefaults.items():
                group.setdefault(key, value)
            on_device = bool(group.get("capturable") or group.get("fused"))
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if len(p_state) != 0 and "step" in p_state and not torch.is_tensor(
                        p_state["step"]):
                    value = float(p_state["step"])
                    p_state["step"] = new_step(p, on_device=on_device,
                                               fused=bool(group.get("fused")))
                    p_state["step"].fill_(value)

    def _state_names(self, group: dict) -> tuple[str, ...]:
        return ()

    def _init_state(self, p: Tensor, group: dict, state: dict) -> None:
        state["step"] = new_step()

    def _check_param(self, p: Tensor, group: dict) -> None:
        """Hook for a check on the first step of a parameter (torch's fused check)."""
        if group.get("fused"):
            check_fused_param(type(self).__name__, p)

    def _update(self, group, params, grads, states, steps) -> None:  # pragma: no cover
        raise NotImplementedError

    def _collect(self, group: dict):
        params, grads, steps = [], [], []
        names = self._state_names(group)
        states: dict[str, list] = {name: [] for name in names}
        name = type(self).__name__
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse and not self._sparse_ok:
                raise RuntimeError(self._sparse_message.format(name=name))
            if group.get("differentiable") and torch.is_tensor(
                    self.state[p].get("step")) and self.state[p]["step"].requires_grad:
                raise RuntimeError(f"{name}: `requires_grad` is not supported for `step` "
                                   "in differentiable mode")
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                self._check_param(p, group)
                self._init_state(p, group, state)
            for key in names:
                states[key].append(state.get(key))
            steps.append(state.get("step"))
        return params, grads, states, steps

    def _step(self, closure):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, states, steps = self._collect(group)
            if params:
                self._update(group, params, grads, states, steps)
        return loss

    def step(self, closure: Callable[[], Tensor] | None = None):
        """Perform one optimization step.

        Args:
            closure: optional; re-evaluates the model (zero the gradients, compute the loss,
                call ``backward``) and returns the loss.

        Returns:
            The closure's loss, or ``None``.
        """
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable", False))):
            return self._step(closure)
