"""Single-pass optimizer kernels compiled by ``torch.compile`` (private).

Why: torch's fused optimizer kernels read and write each tensor once, but take only
contiguous tensors; the per-parameter and multi-tensor paths run one pass over memory
per arithmetic op. An optimizer's elementwise update written as plain torch ops and
compiled by inductor (a vectorized C++ loop on CPU) reads and writes each tensor once, on
any strided layout, in place and without staging copies.

When a tensor takes this path (:meth:`CompiledKernel.__call__` says ``True``): CPU
float32/float64 tensors of at least :data:`MIN_NUMEL` elements (below that the compiled
call's fixed cost, about 25 us, is not paid back), plain tensors or parameters with no
internally overlapping layout, called outside ``torch.compile`` tracing (a user's
compiled training step traces the eager ops itself) and not where eager torch would
raise for an in-place update of a leaf that requires grad. Anything else, and
everything once compiling has failed (no C++ compiler, an inductor error: one
``RuntimeWarning``, then the eager path for the rest of the process) goes to the
caller's eager path; ``TORCHMATH_COMPILE=0`` in the environment switches the compiled
kernels off.

Cost: a kernel compiles on its first use for each layout family (all tensors contiguous,
taken flat; or the tensors' own ranks and contiguity), a few seconds each
(benchmarks/workloads/optimizers.py reports it); shapes are symbolic
(``dynamic=True``), so new sizes reuse the compiled code. Each family gets its own copy
of the kernel's code object, because dynamo keeps compiled variants (and its recompile
limit) per code object; at most :data:`MAX_VARIANTS` families per kernel, past that the
eager path. Compilation holds dynamo's own lock; the bookkeeping here holds ours.
"""

from __future__ import annotations

import os
import threading
import types
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__: list[str] = []

#: smallest tensor (elements) given to a compiled kernel
MIN_NUMEL = 1 << 14
#: layout families compiled per kernel; further ones take the eager path
MAX_VARIANTS = 8
#: the compiled kernels are on (``TORCHMATH_COMPILE=0`` turns them off)
ENABLED = os.environ.get("TORCHMATH_COMPILE", "1") != "0"

_DTYPES = (torch.float32, torch.float64)
_PLAIN = (Tensor, torch.nn.Parameter)
_lock = threading.Lock()
_failed: list[str] = []  # the first failure's message; non-empty = off for this process


def _no_internal_overlap(t: Tensor) -> bool:
    """Every element of ``t`` has its own address (a sufficient test: sorted by stride,
    each dimension steps past everything the smaller ones reach)."""
    if t.is_contiguous():
        return True
    reach = 0
    for stride, size in sorted((s, n) for s, n in zip(t.stride(), t.shape, strict=True)
                               if n > 1):
        if stride <= reach:
            return False
        reach += stride * (size - 1)
    return True


def _takes(t: Tensor, like: Tensor) -> bool:
    return (type(t) in _PLAIN and t.device.type == "cpu" and t.dtype == like.dtype
            and _no_internal_overlap(t))


def _fresh_copy(fn: Callable, tag: str) -> Callable:
    """``fn`` with its own code object (dynamo's compiled variants live on the code)."""
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__,
                              fn.__closure__)


class CompiledKernel:
    """``fn(hyper, flags, *tensors)``, an elementwise in-place update of ``tensors``
    written in plain torch ops, compiled per layout family and ``flags`` on first use.

    ``kernel(tensors, hyper, flags)`` runs it and returns ``True``, or returns ``False``
    without touching anything when this path does not take the tensors (see the module
    docstring); the caller then runs its eager path. ``hyper`` is a float64 tensor of
    hyperparameters (values change without recompiling); ``flags`` a tuple of bools that
    select the arithmetic (each combination is compiled on its own, so the default
    flags compile to the leanest loop).
    """

    def __init__(self, fn: Callable[..., None]):
        self.fn = fn
        self.variants: dict[tuple, Callable] = {}

    def takes(self, tensors: Sequence[Tensor]) -> bool:
        p = tensors[0]
        return (ENABLED and not _failed and p.numel() >= MIN_NUMEL and p.dtype in _DTYPES
                and not torch.compiler.is_compiling()
                and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
                and all(_takes(t, p) for t in tensors))

    def _compiled(self, key: tuple) -> Callable | None:
        fn = self.variants.get(key)
        if fn is not None:
            return fn
        with _lock:
            if key not in self.variants:
                if len(self.variants) >= MAX_VARIANTS:
                    return None
                tag = str(len(self.variants))
                self.variants[key] = torch.compile(_fresh_copy(self.fn, tag), dynamic=True,
                                                   fullgraph=True)
            return self.variants[key]

    def __call__(self, tensors: Sequence[Tensor], hyper: Tensor, flags: tuple = ()) -> bool:
        if not self.takes(tensors):
            return False
        args = [t.detach() for t in tensors]
        if all(a.is_contiguous() for a in args):
            args = [a.view(-1) for a in args]
            key: tuple = (flags, "flat", len(args))
        else:
            key = (flags, *((a.dim(), a.is_contiguous()) for a in args))
        fn = self._compiled(key)
        if fn is None:
            return False
        try:
            fn(hyper, flags, *args)
        except Exception as error:  # noqa: BLE001  (compiling failed: inputs untouched)
            _give_up(error)
            return False
        return True


def _give_up(error: Exception) -> None:
    with _lock:
        if _failed:
            return
        _failed.append(f"{type(error).__name__}: {error}")
    warnings.warn("torchmath.optim: compiling the single-pass optimizer kernel failed "
                  f"({_failed[0].splitlines()[0][:300]}); the eager per-operation path is "
                  "used instead for the rest of this process (set TORCHMATH_COMPILE=0 to "
                  "skip the attempt)", RuntimeWarning, stacklevel=4)
