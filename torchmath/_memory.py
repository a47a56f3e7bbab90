"""Large fresh CPU buffers that ask the kernel for transparent huge pages.

Why this exists (measured on the 2-core AMD EPYC VM this project is tested on, Linux
6.18, transparent huge pages in ``madvise`` mode, torch 2.13): a fresh tensor of tens of
MB comes from a new ``mmap``, and the first write to it takes one page fault per 4 KiB
page. Filling a fresh 100000×64 float64 buffer (51 MB) took 23 ms at one thread and
38-42 ms at two (the faults contend), against 3 ms for a buffer already in use; with
``madvise(MADV_HUGEPAGE)`` on the fresh range before the first write it took 5 ms at
one thread and 10-12 ms at two. An output of that size (the gradient with respect to
the points of ``mvn_log_prob``) otherwise spends more time in page faults than in its
matrix product.

torch has the same switch for every allocation (the environment variable
``THP_MEM_ALLOC_ENABLE=1``, read once at start-up); this helper applies it only to the
large outputs torchmath writes itself, whatever the environment. It is a hint: the
tensor is an ordinary torch tensor from torch's allocator, only its pages are advised,
and where the hint cannot be given (not Linux, not a plain CPU tensor, a kernel without
huge pages, a fake tensor while ``torch.compile`` traces) nothing else changes.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

import torch
from torch import Tensor

__all__ = ["empty_large"]

_HUGE_PAGE = 2 * 2**20
_MADV_HUGEPAGE = 14  # <linux/mman.h>
#: glibc serves allocations of at least 32 MiB (its largest ``mmap`` threshold) from a
#: fresh mapping of their own every time, so advising one touches no memory that other
#: buffers share. Smaller ones, once one of their size has been freed, come from the heap,
#: whose pages are already faulted in: there the advice would gain nothing.
_MIN_BYTES = 32 * 2**20


@cache
def _madvise():
    """libc's ``madvise``, or ``None`` off Linux or where it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    fn.restype = ctypes.c_int
    return fn


def empty_large(like: Tensor, *shape: int) -> Tensor:
    """``like.new_empty(shape)``; on Linux, for a plain CPU buffer of at least 32 MiB, its
    2 MiB-aligned interior is advised to transparent huge pages before anything writes
    to it, so its first touch costs one fault per 2 MiB instead of one per 4 KiB."""
    out = like.new_empty(shape)
    nbytes = out.numel() * out.element_size()
    if (nbytes < _MIN_BYTES or out.device.type != "cpu" or type(out) is not Tensor
            or torch.compiler.is_compiling()):
        return out
    madvise = _madvise()
    if madvise is None:
        return out
    try:
        start = out.data_ptr()
    except RuntimeError:  # no storage of its own (a torch.func wrapper, a functional view)
        return out
    lo = -(-start // _HUGE_PAGE) * _HUGE_PAGE
    hi = (start + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    if hi > lo:
        madvise(lo, hi - lo, _MADV_HUGEPAGE)  # a refusal (no THP) leaves 4 KiB pages
    return out
