"""Small helpers shared by the learning-theory files (not public)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchmath._validation import compute_dtype, fail

__all__ = ["as_float_tensors", "model_parameters"]


def as_float_tensors(fn: str, **values: Any) -> tuple[Tensor, ...]:
    """Numbers and tensors -> floating tensors on one dtype/device (those of the first
    floating tensor given; float64 on the CPU otherwise), broadcast together.

    ``None`` values pass through as ``None``.
    """
    # torch's type promotion over the floating tensors given (issue 15's dtype rule)
    floating = [v for v in values.values() if isinstance(v, Tensor) and v.is_floating_point()]
    like = floating[0] if floating else None
    dtype = compute_dtype(*floating)[1] if floating else torch.float64
    device = like.device if like is not None else next(
        (v.device for v in values.values() if isinstance(v, Tensor)), torch.device("cpu"))
    out = []
    for name, v in values.items():
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | Tensor):
            raise fail(fn, name, "to be a number or a tensor", type(v).__name__, TypeError)
        out.append(torch.as_tensor(v, dtype=dtype, device=device))
    given = [t for t in out if t is not None]
    if given:
        try:
            given = list(torch.broadcast_tensors(*given))
        except RuntimeError as exc:
            shapes = ", ".join(f"'{k}' {tuple(torch.as_tensor(v).shape)}"
                               for k, v in values.items() if v is not None)
            raise ValueError(f"{fn}: expected arguments that broadcast together, got "
                             f"{shapes}") from exc
    it = iter(given)
    return tuple(None if t is None else next(it) for t in out)


def model_parameters(fn: str, params: Any) -> list[Tensor]:
    """A tensor, an ``nn.Module`` or an iterable of tensors -> a list of tensors."""
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, torch.nn.Module):
        return list(params.parameters())
    try:
        items = list(params)
    except TypeError:
        raise fail(fn, "params", "a tensor, an nn.Module or an iterable of tensors",
                   type(params).__name__, TypeError) from None
    for p in items:
        if not isinstance(p, Tensor):
            raise fail(fn, "params", "an iterable of tensors",
                       f"an item of type {type(p).__name__}", TypeError)
    return items
