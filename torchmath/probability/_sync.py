"""Agreeing on shapes and dtype across processes before sufficient statistics are summed."""

from __future__ import annotations

import torch

from torchmath.distributed import all_reduce, should_sync

__all__ = ["agree"]

_CODES = {torch.float32: 1, torch.float64: 2, torch.float16: 0, torch.bfloat16: 0}
_DTYPES = {1: torch.float32, 2: torch.float64}


def agree(sizes: list[int], dtype: torch.dtype | None, *, sync: bool | None = None,
          device: torch.device | None = None) -> tuple[list[int], torch.dtype]:
    """The largest of each size and the widest dtype over all ranks (a rank that saw no
    data passes zeros and ``None``, and takes the others' values)."""
    code = _CODES.get(dtype, 0) if dtype is not None else 0
    if not should_sync(sync):
        return sizes, dtype or torch.get_default_dtype()
    meta = torch.tensor([*sizes, code], dtype=torch.float64, device=device)
    meta = all_reduce([meta], "max", sync=sync)[0]
    values = [int(v) for v in meta.tolist()]
    return values[:-1], _DTYPES.get(values[-1], torch.get_default_dtype())
