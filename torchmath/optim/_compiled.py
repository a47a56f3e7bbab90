"""Single-pass optimizer kernels compiled by ``torch.compile`` (private).

Why: torch's fused optimizer kernels read and write each tensor once, but take only
contiguous tensors; the per-parameter and multi-tensor paths run one pass over memory
per arithmetic op. An optimizer's elementwise update written as plain torch ops and
compiled by inductor (a vectorized C++ loop on CPU) reads and writes each tensor once, on
any strided layout, in place and without staging copies.

When a tensor takes this path: a step (one optimizer call) over at least
:data:`MIN_TOTAL` elements of such tensors (the first step compiles, seconds to tens of
seconds on 2 cores, which only large models pay back); CPU float32/float64 tensors with
more than one element, plain tensors or parameters with no internally overlapping
layout; called outside ``torch.compile`` tracing (a user's compiled training step traces
the eager ops itself) and not where eager torch would raise for an in-place update of a
leaf that requires grad. Everything else goes to the caller's eager path, and so does
everything once compiling has failed (no C++ compiler, an inductor error: one
``RuntimeWarning``, then the eager path for the rest of the process);
``TORCHMATH_COMPILE=0`` in the environment switches the compiled kernels off.

Calls: a compiled call costs about 25 us plus 10-20 us per tensor group (dynamo's guards
and size reads, the wrappers' checks; measured on one core of the 2-core machine), so
the groups of a step go :data:`BATCH` to a call, whatever their sizes, each group its
own loop in the call's C++ kernel. Contiguous groups are taken flat; small groups (at
most :data:`PACK_NUMEL` elements, flat or 1-D: biases, norms) are packed into one flat
group (concatenated copies, the written tensors copied back after the call); a batch
short of :data:`BATCH` is filled with small zero groups of its layout (private scratch),
so one compiled kernel per layout serves every step of every model. A group with a strided tensor
is first cut to its fewest dimensions (size-1 dimensions dropped, neighbouring
dimensions merged where every tensor of the group steps through them as one, as
``TensorIterator`` does: every other column of a matrix becomes one dimension of
stride 2); such groups go in batches of groups with the same number of dimensions and
the same tensors contiguous. Groups that
share memory (views of one storage) never share a call (the compiler refuses aliased
in-place inputs) and are updated in their order. Inductor reads and writes a tensor
with no unit-stride dimension element by element (scalar loads into a stack buffer,
then a vector load, and the reverse for stores): on every other column of a matrix the
loop is compute-bound at about 1.7x torch's fused kernel on the contiguous copies, one
core, where the memory traffic alone would allow 1.29x (a half-used cache line costs a
whole one: 36 bytes per element instead of 28).

Variants: sizes and strides are symbolic (``dynamic=True``) and never unified across
tensors (dynamo's duck sizing is off during our calls), so new sizes reuse the compiled
code; a kernel compiles once per flag combination, dtype, number of tensors per group
and layout family.
Each variant gets its own copy of the kernel's code object, because dynamo keeps
compiled graphs (and its recompile limit) per code object; at most :data:`MAX_VARIANTS`
per kernel, past that the eager path. Compilation holds dynamo's own lock; the
bookkeeping here holds ours.
"""

from __future__ import annotations

import os
import threading
import types
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.fx.experimental import _config as _shape_config

__all__: list[str] = []

#: smallest step (elements over all the tensors the path would take) worth compiling for:
#: the first step's compile, seconds to tens of seconds on 2 cores, is paid back only on
#: large models
MIN_TOTAL = 1 << 20
#: tensor groups (a parameter, its gradient and states) handed to one compiled call
BATCH = 8
#: groups of at most this many elements are packed into one group (copied in and out)
PACK_NUMEL = 1 << 12
#: elements of each tensor of a filler group (a batch of contiguous groups short of
#: BATCH is filled with these)
FILL_NUMEL = 64
#: variants (flags, dtype, tensors per group, layout family) compiled per kernel; further ones
#: take the eager path
MAX_VARIANTS = 8
#: the compiled kernels are on (``TORCHMATH_COMPILE=0`` turns them off)
ENABLED = os.environ.get("TORCHMATH_COMPILE", "1") != "0"

_DTYPES = (torch.float32, torch.float64)
_PLAIN = (Tensor, torch.nn.Parameter)
_lock = threading.Lock()
_failed: list[str] = []  # the first failure's message; non-empty = off for this process
_fillers = threading.local()  # per thread: (dtype, family, width, BATCH) -> fillers


def _contiguous_strides(sizes: Sequence[int]) -> list[int]:
    """The strides of a contiguous tensor of these sizes."""
    strides = [1]
    for n in reversed(sizes[1:]):
        strides.insert(0, strides[0] * n)
    return strides


def _distinct(shape: Sequence[int], stride: Sequence[int]) -> bool:
    """Every index of this shape and stride has its own offset (a sufficient test: sorted
    by stride, each dimension steps past everything the smaller ones reach)."""
    reach = 0
    for step, size in sorted((s, n) for s, n in zip(stride, shape, strict=True) if n > 1):
        if step <= reach:
            return False
        reach += step * (size - 1)
    return True


def _layout(shape: tuple[int, ...], strides: tuple[tuple[int, ...], ...]) -> tuple | None:
    """The fewest dimensions that tensors of ``shape`` and these ``strides`` step through
    together: ``(sizes, strides per tensor, contiguous per tensor)``, or ``None`` if a
    tensor overlaps itself. Size-1 dimensions are dropped, and a dimension is merged into
    the next inner one where every tensor's stride steps over the inner one whole (the
    same elements, in the same order)."""
    if not all(_distinct(shape, st) for st in strides):
        return None
    dims = [d for d, n in enumerate(shape) if n != 1]
    sizes = [shape[dims[-1]]]
    merged = [[st[dims[-1]]] for st in strides]
    for d in reversed(dims[:-1]):
        if all(st[d] == m[0] * sizes[0] for st, m in zip(strides, merged, strict=True)):
            sizes[0] *= shape[d]
        else:
            sizes.insert(0, shape[d])
            for st, m in zip(strides, merged, strict=True):
                m.insert(0, st[d])
    dense = _contiguous_strides(sizes)
    return sizes, merged, tuple(m == dense for m in merged)


_layouts: dict[tuple, tuple | None] = {}  # memo of _layout (models repeat a few layouts)


def _layout_of(tensors: Sequence[Tensor]) -> tuple | None:
    """:func:`_layout` of a group of tensors (memoized: models repeat a few layouts)."""
    key = (tuple(tensors[0].shape), tuple(t.stride() for t in tensors))
    layout = _layouts.get(key, _layouts)  # (the dict itself: not memoized yet)
    if layout is _layouts:
        if len(_layouts) > 4096:
            _layouts.clear()
        layout = _layouts[key] = _layout(*key)
    return layout


def _views(tensors: Sequence[Tensor], layout: tuple | None) -> list[Tensor]:
    """The group as the compiled call takes it: plain tensors (a view of a Parameter is
    one, and records no autograd), flat when all are contiguous (``layout`` None), else
    with the fewest dimensions of ``layout``."""
    if layout is None:
        return [t if t.dim() == 1 and type(t) is Tensor and not t.requires_grad
                else t.view(-1) for t in tensors]
    sizes, strides, dense = layout
    return [t.view(sizes) if d else t.as_strided(sizes, st)
            for t, st, d in zip(tensors, strides, dense, strict=True)]


def _filler(dtype: torch.dtype, family: tuple, width: int, count: int) -> list[Tensor]:
    """``count`` groups of ``width`` zero tensors of the layout ``family`` (flat, or a
    number of dimensions and which tensors are contiguous: the others step over every
    other element of their own storage), :data:`FILL_NUMEL` elements each, private to
    this thread (zeros stay zeros, or at worst garbage in scratch nobody reads)."""
    cache = getattr(_fillers, "cache", None)
    if cache is None:
        cache = _fillers.cache = {}
    key = (dtype, family, width, BATCH)
    tensors = cache.get(key)
    if tensors is None:
        ndim, dense = (1, (True,) * width) if family == ("flat",) else family
        sizes = [2] * (ndim - 1) + [FILL_NUMEL >> (ndim - 1)]
        strides = _contiguous_strides(sizes)
        tensors = cache[key] = [
            torch.zeros(sizes, dtype=dtype) if dense[j % width] else
            torch.zeros(2 * FILL_NUMEL, dtype=dtype).as_strided(sizes, [2 * s for s in strides])
            for j in range((BATCH - 1) * width)]
    return tensors[:count * width]


def _fresh_copy(fn: Callable, tag: str) -> Callable:
    """``fn`` with its own code object (dynamo's compiled variants live on the code)."""
    code = fn.__code__.replace(co_name=f"{fn.__code__.co_name}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__,
                              fn.__closure__)


def _batched(fn: Callable, width: int) -> Callable:
    """``fn`` over consecutive groups of ``width`` tensors (one compiled call for all)."""
    def run(hyper, flags, *tensors):
        for k in range(0, len(tensors), width):
            fn(hyper, flags, *tensors[k:k + width])
    return run


class CompiledKernel:
    """``fn(hyper, flags, *tensors)``, an elementwise in-place update of one group of
    tensors (a parameter, its gradient, its states) written in plain torch ops, compiled
    on first use per flag combination, dtype, tensors per group and layout family.

    ``kernel(groups, hyper, flags)`` runs it on every group it takes and returns the
    indices of the groups it left untouched, for the caller's eager path (see the module
    docstring). The tensors of a group have one shape, dtype and device (the caller has
    checked them, as ``check_update_args`` does). Groups go :data:`BATCH` to a compiled
    call. ``hyper`` is a float64 tensor of hyperparameters (new values do not
    recompile); ``flags`` a tuple of bools that select the arithmetic (each combination
    compiles on its own, so the default flags compile to the leanest loop).
    """

    def __init__(self, fn: Callable[..., None], written: Sequence[int]):
        self.fn = fn
        self.written = tuple(written)
        self.variants: dict[tuple, Callable] = {}

    @staticmethod
    def _layout(tensors: Sequence[Tensor], grad_on: bool) -> tuple | None:
        """``(layout family, layout)`` of a group this path may update (its size is judged
        in ``__call__``), else ``None``: the layout is ``None`` for a group taken flat."""
        p = tensors[0]
        if (p.dtype not in _DTYPES or not p.is_cpu or p.numel() < 2
                or (grad_on and any(t.requires_grad for t in tensors))):
            return None
        if not all(type(t) in _PLAIN for t in tensors):
            return None
        if all(t.is_contiguous() for t in tensors):
            return ("flat",), None
        layout = _layout_of(tensors)
        return None if layout is None else ((len(layout[0]), layout[2]), layout)

    def _compiled(self, key: tuple, width: int) -> Callable | None:
        fn = self.variants.get(key)
        if fn is not None:
            return fn
        with _lock:
            if key not in self.variants:
                if len(self.variants) >= MAX_VARIANTS:
                    return None
                tag = str(len(self.variants))
                run = _fresh_copy(_batched(self.fn, width), tag)
                # a parallel loop per group whatever the thread count at compile time
                self.variants[key] = torch.compile(run, dynamic=True, fullgraph=True,
                                                   options={"cpp.dynamic_threads": True})
            return self.variants[key]

    def _run(self, key: tuple, hyper: Tensor, flags: tuple, tensors: list[Tensor],
             width: int) -> bool:
        fn = self._compiled(key, width)
        if fn is None:
            return False
        torch._dynamo.mark_static(hyper)  # its length is no size of the tensors'
        # sizes never unified across groups (a new pattern of equal sizes would recompile);
        # read only when dynamo compiles, and only ever costs a specialization
        duck = _shape_config.use_duck_shape
        _shape_config.use_duck_shape = False
        try:
            fn(hyper, flags, *tensors)
        except Exception as error:  # noqa: BLE001  (compiling failed: inputs untouched)
            _give_up(error)
            return False
        finally:
            _shape_config.use_duck_shape = duck
        return True

    def __call__(self, groups: Sequence[Sequence[Tensor]], hyper: Tensor,
                 flags: tuple = ()) -> list[int]:
        if not ENABLED or _failed or torch.compiler.is_compiling():
            return list(range(len(groups)))
        grad_on = torch.is_grad_enabled()
        left: list[int] = []
        taken: list[tuple] = []
        total = 0
        for i, tensors in enumerate(groups):
            layout = self._layout(tensors, grad_on)
            storages = [t.untyped_storage().data_ptr() for t in tensors]
            if layout is None or len(set(storages)) < len(storages):
                left.append(i)  # (a group sharing memory within itself: the eager path)
                continue
            total += tensors[0].numel()
            # (group indices, tensors, layout family, layout, storages, packed groups)
            taken.append(([i], tensors, *layout, storages, None))
        if total < MIN_TOTAL:
            return list(range(len(groups)))
        pointers = [ptr for member in taken for ptr in member[4]]
        shared = len(set(pointers)) < len(pointers)  # some groups share memory
        families: dict[tuple, list[tuple]] = {}
        for member in _packed(taken, shared):
            tensors, family = member[1], member[2]
            families.setdefault((tensors[0].dtype, len(tensors), family), []).append(member)
        for (dtype, width, family), members in families.items():
            for batch in _batches(members) if shared else \
                    [members[k:k + BATCH] for k in range(0, len(members), BATCH)]:
                # views made just before their call (after earlier calls wrote their bases)
                tensors = [v for member in batch for v in _views(member[1], member[3])]
                count = len(batch)
                if count < BATCH:
                    tensors += _filler(dtype, family, width, BATCH - count)
                    count = BATCH
                if not self._run((flags, dtype, width, family, count), hyper, flags,
                                 tensors, width):
                    left.extend(i for member in batch for i in member[0])
                    continue
                for member in batch:
                    if member[5] is not None:
                        _unpack(member[1], member[5], self.written)
        return sorted(left)


def _packed(taken: list[tuple], shared: bool) -> list[tuple]:
    """``taken`` with its small groups (at most :data:`PACK_NUMEL` elements, flat or
    1-D, sharing no memory with any other group) of one dtype and width packed into one
    flat group each: concatenated copies, written back by :func:`_unpack` after the call.
    A compiled call's cost is mostly per tensor, so a model's biases and norms then cost
    one group."""
    small = [m for m in taken if m[1][0].numel() <= PACK_NUMEL
             and (m[2] == ("flat",) or m[1][0].dim() == 1)]
    if len(small) < 2:
        return taken
    seen: dict[int, int] = {}
    if shared:  # (else every pointer is seen once)
        for member in taken:
            for ptr in member[4]:
                seen[ptr] = seen.get(ptr, 0) + 1
    kinds: dict[tuple, list[tuple]] = {}
    for member in small:
        if not shared or all(seen[ptr] == 1 for ptr in member[4]):
            kinds.setdefault((member[1][0].dtype, len(member[1])), []).append(member)
    packed: list[tuple] = []
    gone: set[int] = set()
    for members in kinds.values():
        if len(members) < 2:
            continue
        # 1-D views of the groups' own elements (1-D tensors as they are)
        flat = [[t if t.dim() == 1 else t.view(-1) for t in member[1]] for member in members]
        tensors = [torch.cat([f[j] for f in flat]) for j in range(len(flat[0]))]
        packed.append(([i for member in members for i in member[0]], tensors, ("flat",),
                       None, [t.untyped_storage().data_ptr() for t in tensors], flat))
        gone.update(id(member) for member in members)
    return [m for m in taken if id(m) not in gone] + packed


def _unpack(tensors: list[Tensor], flat: list[list[Tensor]], written: Sequence[int]) -> None:
    """Copy the pieces of the packed ``tensors`` at positions ``written`` back into the
    1-D views ``flat`` of the groups they were packed from."""
    sizes = [group[0].numel() for group in flat]
    for j in written:
        if j < len(tensors):  # (one op: a split and a copy per piece cost 1.7x as much)
            torch.split_with_sizes_copy(tensors[j], sizes, 0, out=[group[j] for group in flat])


def _batches(members: list[tuple]) -> list[list[tuple]]:
    """``members`` :data:`BATCH` to a batch, no two groups of a batch sharing memory
    (aliased inputs of one compiled call would need autograd's view replay, which the
    compiler refuses for in-place updates): a group that shares memory with the batch
    being filled, or with a group waiting, waits for a later batch, so groups that share
    memory are updated in their order."""
    batches: list[list[tuple]] = []
    while members:
        batch: list[tuple] = []
        used: set[int] = set()
        later: list[tuple] = []
        waiting: set[int] = set()
        for member in members:
            storages = member[4]
            if len(batch) < BATCH and used.isdisjoint(storages) \
                    and waiting.isdisjoint(storages):
                batch.append(member)
                used.update(storages)
                if len(batch) == BATCH and not later:
                    batches.append(batch)
                    batch, used = [], set()
            else:
                later.append(member)
                waiting.update(storages)
        if batch:
            batches.append(batch)
        members = later
    return batches


def _give_up(error: Exception) -> None:
    with _lock:
        if _failed:
            return
        _failed.append(f"{type(error).__name__}: {error}")
    warnings.warn("torchmath.optim: compiling the single-pass optimizer kernel failed "
                  f"({_failed[0].splitlines()[0][:300]}); the eager per-operation path is "
                  "used instead for the rest of this process (set TORCHMATH_COMPILE=0 to "
                  "skip the attempt)", RuntimeWarning, stacklevel=4)
