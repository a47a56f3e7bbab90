"""Single-pass optimizer kernels compiled by ``torch.compile`` (private).

Why: torch's fused optimizer kernels read and write each tensor once, but take only
contiguous tensors; the per-parameter and multi-tensor paths run one pass over memory
per arithmetic op. An optimizer's elementwise update written as plain torch ops and
compiled by inductor (a vectorized C++ loop on CPU) reads and writes each tensor once, on
any strided layout, in place and without staging copies.

When a tensor takes this path: a step (one optimizer call) over at least
:data:`MIN_TOTAL` elements of such tensors (the first step's compile, measured 7-11 s
with inductor's on-disk cache warm and 35-45 s cold on 2 busy cores, is paid back only on
large models); CPU float32/float64 tensors with more than one element, plain tensors or
parameters with no internally overlapping layout; tensors of one shape go
:data:`BATCH` to a compiled call (its fixed cost, about 25-30 us, paid once per batch),
the rest one per call if they have at least :data:`MIN_NUMEL` elements; called outside
``torch.compile`` tracing (a user's compiled training step traces the eager ops itself)
and not where eager torch would raise for an in-place update of a leaf that requires
grad. Everything else goes to the caller's eager path, and so does everything once
compiling has failed (no C++ compiler, an inductor error: one ``RuntimeWarning``, then
the eager path for the rest of the process); ``TORCHMATH_COMPILE=0`` in the environment
switches the compiled kernels off.

Variants: shapes are symbolic (``dynamic=True``), so new sizes reuse the compiled code; a
kernel compiles once per layout family (all tensors contiguous, taken flat; or the
tensors' own ranks and contiguity), batch size, size class and flag combination. Each
variant gets its own copy of the kernel's code object, because dynamo keeps compiled
graphs (and its recompile limit) per code object; at most :data:`MAX_VARIANTS` per
kernel, past that the eager path. Compilation holds dynamo's own lock; the bookkeeping
here holds ours.
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

#: smallest tensor (elements) given alone to a compiled call (smaller ones only in batches)
MIN_NUMEL = 1 << 14
#: smallest step (elements over all the tensors the path would take) worth compiling for:
#: the first step's compile, 7-45 s on 2 cores, is paid back only on large models
MIN_TOTAL = 1 << 20
#: groups of one shape handed to one compiled call
BATCH = 4
#: variants (layout family, batch, size class, flags) compiled per kernel; further ones
#: take the eager path
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
    return (type(t) in _PLAIN and t.dtype == like.dtype and t.device == like.device
            and _no_internal_overlap(t))


def _fresh_copy(fn: Callable, tag: str) -> Callable:
    """``fn`` with its own code object (dynamo's compiled variants live on the code)."""
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__,
                              fn.__closure__)


def _batched(fn: Callable, size: int) -> Callable:
    """``fn`` over consecutive groups of ``size`` tensors (one compiled call for all)."""
    def run(hyper, flags, *tensors):
        for k in range(0, len(tensors), size):
            fn(hyper, flags, *tensors[k:k + size])
    return run


class CompiledKernel:
    """``fn(hyper, flags, *tensors)``, an elementwise in-place update of one group of
    tensors (a parameter, its gradient, its states) written in plain torch ops, compiled
    on first use per layout family, size class and ``flags``.

    ``kernel(groups, hyper, flags)`` runs it on every group it takes and returns the
    indices of the groups it left untouched, for the caller's eager path (see the module
    docstring). Groups of one shape (and strides) go :data:`BATCH` to a compiled call, so
    the call's fixed cost is paid once per batch; the rest go one per call if they have
    at least :data:`MIN_NUMEL` elements. ``hyper`` is a float64 tensor of
    hyperparameters (new values do not recompile); ``flags`` a tuple of bools that
    select the arithmetic (each combination compiles on its own, so the default flags
    compile to the leanest loop).
    """

    def __init__(self, fn: Callable[..., None]):
        self.fn = fn
        self.variants: dict[tuple, Callable] = {}

    def takes(self, tensors: Sequence[Tensor]) -> bool:
        """This path may update the group (its size is judged in ``__call__``)."""
        p = tensors[0]
        return (ENABLED and not _failed and p.dtype in _DTYPES and p.numel() > 1
                and p.device.type == "cpu" and not torch.compiler.is_compiling()
                and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
                and all(_takes(t, p) for t in tensors))

    def _compiled(self, key: tuple, size: int) -> Callable | None:
        fn = self.variants.get(key)
        if fn is not None:
            return fn
        with _lock:
            if key not in self.variants:
                if len(self.variants) >= MAX_VARIANTS:
                    return None
                tag = str(len(self.variants))
                run = _fresh_copy(_batched(self.fn, size), tag)
                # a parallel loop whatever the thread count at compile time
                options = {"cpp.dynamic_threads": True} if key[-1] == "big" else {}
                self.variants[key] = torch.compile(run, dynamic=True, fullgraph=True,
                                                   options=options)
            return self.variants[key]

    def _run(self, key: tuple, hyper: Tensor, flags: tuple, groups: list[list[Tensor]],
             size: int) -> bool:
        fn = self._compiled(key, size)
        if fn is None:
            return False
        torch._dynamo.mark_static(hyper)  # its length is no size of the tensors'
        try:
            fn(hyper, flags, *(a for args in groups for a in args))
        except Exception as error:  # noqa: BLE001  (compiling failed: inputs untouched)
            _give_up(error)
            return False
        return True

    def __call__(self, groups: Sequence[Sequence[Tensor]], hyper: Tensor,
                 flags: tuple = ()) -> list[int]:
        left: list[int] = []
        buckets: dict[tuple, list[tuple[int, list[Tensor]]]] = {}
        for i, tensors in enumerate(groups):
            if not self.takes(tensors):
                left.append(i)
                continue
            args = [t.detach() if t.requires_grad or type(t) is not Tensor else t
                    for t in tensors]
            if all(a.is_contiguous() for a in args):
                args = [a.view(-1) for a in args]
                layout: tuple = ("flat", len(args))
                shape: tuple = (args[0].numel(),)
            else:
                layout = tuple((a.dim(), a.is_contiguous()) for a in args)
                shape = tuple((a.shape, a.stride()) for a in args)
            buckets.setdefault((layout, shape), []).append((i, args))
        if sum(len(m) * m[0][1][0].numel() for m in buckets.values()) < MIN_TOTAL:
            return list(range(len(groups)))
        for (layout, _), members in buckets.items():
            size = len(members[0][1])
            big = "big" if members[0][1][0].numel() >= MIN_NUMEL else "small"
            full = len(members) - len(members) % BATCH
            for start in range(0, full, BATCH):
                batch = members[start:start + BATCH]
                if not self._run((flags, layout, BATCH, big), hyper, flags,
                                 [args for _, args in batch], size):
                    left.extend(i for i, _ in batch)
            for i, args in members[full:]:
                if big != "big" or not self._run((flags, layout, 1, big), hyper, flags,
                                                 [args], size):
                    left.append(i)
        return sorted(left)


def _give_up(error: Exception) -> None:
    with _lock:
        if _failed:
            return
        _failed.append(f"{type(error).__name__}: {error}")
    warnings.warn("torchmath.optim: compiling the single-pass optimizer kernel failed "
                  f"({_failed[0].splitlines()[0][:300]}); the eager per-operation path is "
                  "used instead for the rest of this process (set TORCHMATH_COMPILE=0 to "
                  "skip the attempt)", RuntimeWarning, stacklevel=4)
