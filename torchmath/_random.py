"""One convention for random draws: a ``torch.Generator`` on any device works with data
on any device.

The numbers are drawn on the generator's device (so a seeded generator gives the same
numbers whatever the data's device) and then moved to the data's device. Without a
generator they are drawn on the data's device from torch's default generator there.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rand", "randn"]


def _where(generator: torch.Generator | None, device) -> torch.device:
    return torch.device(device) if generator is None else generator.device


def randn(shape, *, generator: torch.Generator | None, dtype: torch.dtype, device) -> Tensor:
    """Standard normals of ``shape`` on ``device``, drawn from ``generator``.

    >>> g = torch.Generator().manual_seed(0)
    >>> randn((2,), generator=g, dtype=torch.float64, device="cpu").shape
    torch.Size([2])
    """
    out = torch.randn(shape, generator=generator, dtype=dtype,
                      device=_where(generator, device))
    return out.to(device)


def rand(shape, *, generator: torch.Generator | None, dtype: torch.dtype, device) -> Tensor:
    """Uniforms on [0, 1) of ``shape`` on ``device``, drawn from ``generator``."""
    out = torch.rand(shape, generator=generator, dtype=dtype, device=_where(generator, device))
    return out.to(device)
