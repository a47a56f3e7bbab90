"""All-reduce of sufficient statistics; a no-op without a process group.

Estimators accumulate additive statistics (counts, sums, XᵀX, ...) on each process and
call :func:`all_reduce_sum` once before solving, so every rank ends with the model of
all the data. When ``torch.distributed`` is not initialized, or the caller passes
``sync=False``, nothing is communicated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["agree_layout", "all_gather_rows", "all_reduce", "all_reduce_sum", "should_sync",
           "world_size"]

#: Floating dtypes from narrow to wide: a max-reduction of the index picks the widest.
_DTYPE_ORDER = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def should_sync(sync: bool | None = None, process_group=None) -> bool:
    """Whether to communicate: a process group exists and the caller did not opt out.

    ``sync=None`` means "sync when a process group is initialized" (the default of every
    ``fit``, as in torchmetrics); ``sync=False`` fits per rank.

    Args:
        sync: ``None`` (sync when a process group exists), ``True`` or ``False``.
        process_group: the group to communicate in (``None``: the default group).

    Returns:
        ``True`` when a collective call should be made.

    Example:
        >>> should_sync()  # no process group initialized here
        False
    """
    if sync is False:
        return False
    return dist.is_available() and dist.is_initialized()


def world_size(process_group=None) -> int:
    """Number of processes in the group, 1 without one.

    Args:
        process_group: the group (``None``: the default group).

    Returns:
        The number of processes, as an ``int``.

    Example:
        >>> world_size()
        1
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(process_group)
    return 1


def _backend_device(t: Tensor, process_group) -> torch.device:
    backend = dist.get_backend(process_group)
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" \
        else torch.device("cpu")


def all_reduce(tensors: Sequence[Tensor], op: str = "sum", *, sync: bool | None = None,
               process_group=None) -> list[Tensor]:
    """Reduce a list of tensors across processes in one collective call.

    The tensors are flattened into one buffer per dtype (one message instead of many),
    reduced with ``op`` (``"sum"``, ``"max"`` or ``"min"``), and split back. Inputs are not
    modified; new tensors are returned on the inputs' devices.

    Args:
        tensors: the tensors to reduce (any shapes and dtypes).
        op: ``"sum"``, ``"max"`` or ``"min"``.
        sync: ``False`` returns the inputs unchanged; ``None`` syncs when a process group
            is initialized.
        process_group: the group (``None``: the default group).

    Shape:
        each result has its input's shape, dtype and device.

    Returns:
        A list of the reduced tensors, in the input order.

    Example:
        >>> import torch
        >>> all_reduce([torch.ones(2), torch.zeros(1, dtype=torch.int64)])  # no group
        [tensor([1., 1.]), tensor([0])]
    """
    tensors = list(tensors)
    if not should_sync(sync, process_group):
        return tensors
    reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX,
                 "min": dist.ReduceOp.MIN}[op]
    out: list[Tensor | None] = [None] * len(tensors)
    by_dtype: dict[torch.dtype, list[int]] = {}
    for i, t in enumerate(tensors):
        by_dtype.setdefault(t.dtype, []).append(i)
    for _, idx in by_dtype.items():
        parts = [tensors[i] for i in idx]
        comm_device = _backend_device(parts[0], process_group)
        flat = torch.cat([p.detach().reshape(-1).to(comm_device) for p in parts])
        dist.all_reduce(flat, op=reduce_op, group=process_group)
        offset = 0
        for i, p in zip(idx, parts, strict=True):
            out[i] = flat[offset:offset + p.numel()].view_as(p).to(p.device)
            offset += p.numel()
    return out  # type: ignore[return-value]


def all_reduce_sum(*tensors: Tensor, sync: bool | None = None, process_group=None):
    """Sum each tensor over all processes; returns one tensor or a tuple, like the input.

    Args:
        tensors: the tensors to sum.
        sync: ``False`` returns the inputs unchanged; ``None`` syncs when a process group
            is initialized.
        process_group: the group (``None``: the default group).

    Shape:
        each result has its input's shape.

    Returns:
        The summed tensor, or a tuple of them when several were given.

    Example:
        >>> import torch
        >>> all_reduce_sum(torch.ones(2))  # no process group: unchanged
        tensor([1., 1.])
    """
    out = all_reduce(tensors, "sum", sync=sync, process_group=process_group)
    return out[0] if len(out) == 1 else tuple(out)


def agree_layout(sizes: Sequence[int], dtype: torch.dtype | None, *, sync: bool | None = None,
                 process_group=None) -> tuple[list[int], torch.dtype | None]:
    """The largest of each size and the widest floating dtype over all processes.

    A process that saw no data passes the sizes it cannot know as 0 (or -1) and ``dtype``
    ``None``, and learns them from the others; every process must call it, so the
    collectives that follow match. One small max-reduction. Without a process group (or
    with ``sync=False``) the inputs come back unchanged.

    Args:
        sizes: this process's sizes (``0`` or ``-1`` where unknown).
        dtype: this process's floating dtype, or ``None`` if it saw no data.
        sync: ``False`` returns the inputs unchanged; ``None`` syncs when a process group
            is initialized.
        process_group: the group (``None``: the default group).

    Returns:
        ``(sizes, dtype)`` agreed by all processes.

    Example:
        >>> import torch
        >>> agree_layout([3, 2], torch.float64)
        ([3, 2], torch.float64)
    """
    if not should_sync(sync, process_group):
        return list(sizes), dtype
    code = _DTYPE_ORDER.index(dtype) + 1 if dtype in _DTYPE_ORDER else 0
    meta = torch.tensor([*sizes, code], dtype=torch.int64)
    (meta,) = all_reduce([meta], "max", sync=sync, process_group=process_group)
    *values, code = (int(v) for v in meta.tolist())
    return values, _DTYPE_ORDER[code - 1] if code else None


def all_gather_rows(x: Tensor, *, sync: bool | None = None, process_group=None) -> Tensor:
    """Concatenate the rows of ``x`` from every process (ranks may hold different counts).

    Used where an algorithm needs a shared sample (for example, a mixture's
    initialization), never for the data itself.

    Args:
        x: this process's rows.
        sync: ``False`` returns ``x`` unchanged; ``None`` syncs when a process group is
            initialized.
        process_group: the group (``None``: the default group).

    Shape:
        ``x``: ``(n_rank, *rest)``; returns ``(sum of n_rank over ranks, *rest)``.

    Returns:
        The rows of every process, in rank order, on ``x``'s device.

    Example:
        >>> import torch
        >>> all_gather_rows(torch.arange(4.0).reshape(2, 2)).shape  # one process: itself
        torch.Size([2, 2])
    """
    if not should_sync(sync, process_group):
        return x
    comm_device = _backend_device(x, process_group)
    n = torch.tensor([x.shape[0]], device=comm_device)
    counts = [torch.zeros_like(n) for _ in range(world_size(process_group))]
    dist.all_gather(counts, n, group=process_group)
    counts_list = [int(c) for c in counts]
    width = max(counts_list)
    padded = x.new_zeros((width, *x.shape[1:]), device=comm_device)
    padded[: x.shape[0]] = x.detach().to(comm_device)
    gathered = [torch.zeros_like(padded) for _ in counts_list]
    dist.all_gather(gathered, padded, group=process_group)
    rows = [g[:c] for g, c in zip(gathered, counts_list, strict=True)]
    return torch.cat(rows).to(x.device)
