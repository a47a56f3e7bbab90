"""Helpers shared by the tests: gradient checks, references, tolerances, round trips."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch
from torch import Tensor

__all__ = [
    "assert_close",
    "assert_raises_naming",
    "check_gradients",
    "rand_simplex",
    "rand_spd",
    "state_dict_round_trip",
    "tolerance",
    "to_numpy",
    "uneven_batches",
]

#: (rtol, atol) by dtype for results that are exact in exact arithmetic.
TOLERANCES = {
    torch.float64: (1e-7, 1e-10),
    torch.float32: (1e-4, 1e-5),
}


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """``rtol``/``atol`` keywords for ``dtype`` (float64: 1e-7 relative; float32: 1e-4)."""
    rtol, atol = TOLERANCES[dtype]
    return {"rtol": rtol, "atol": atol}


def to_numpy(x) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a float64 NumPy array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        return x.numpy() if not x.is_floating_point() else x.double().numpy()
    return np.asarray(x)


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                 dtype: torch.dtype | None = None, msg: str = "") -> None:
    """Compare a torch result with a reference (tensor, array or number).

    Tolerances default to :func:`tolerance` of ``dtype`` (or of ``actual``'s dtype).
    """
    if dtype is None:
        dtype = actual.dtype if isinstance(actual, Tensor) and actual.is_floating_point() \
            else torch.float64
    default = TOLERANCES.get(dtype, TOLERANCES[torch.float64])
    rtol = default[0] if rtol is None else rtol
    atol = default[1] if atol is None else atol
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape or e.shape == (), f"shape {a.shape} != reference {e.shape} {msg}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)


def check_gradients(fn: Callable[..., Tensor], *inputs: Tensor, gradgrad: bool = True,
                    **kwargs) -> None:
    """``gradcheck`` and ``gradgradcheck`` of ``fn`` in float64.

    Floating inputs are cast to float64 and marked ``requires_grad``; other inputs pass
    through untouched. Extra keyword arguments go to ``fn``.
    """
    prepared = tuple(
        t.detach().to(torch.float64).requires_grad_(True)
        if isinstance(t, Tensor) and t.is_floating_point() else t
        for t in inputs
    )
    wrapped = lambda *xs: fn(*xs, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(wrapped, prepared, eps=1e-6, atol=1e-6, rtol=1e-5)
    if gradgrad:
        assert torch.autograd.gradgradcheck(wrapped, prepared, eps=1e-6, atol=1e-5, rtol=1e-4)


def rand_spd(*shape: int, d: int, dtype=torch.float64, device="cpu", ridge: float = 0.5,
             generator: torch.Generator | None = None) -> Tensor:
    """Random symmetric positive-definite matrices of shape ``(*shape, d, d)``."""
    A = torch.randn(*shape, d, d, dtype=dtype, generator=generator).to(device)
    return A @ A.mT / d + ridge * torch.eye(d, dtype=dtype, device=device)


def rand_simplex(*shape: int, dtype=torch.float64) -> Tensor:
    """Random probability vectors along the last dimension, every entry >= ~0.05 / d."""
    p = torch.rand(*shape, dtype=torch.float64) + 0.05
    return (p / p.sum(-1, keepdim=True)).to(dtype)


def uneven_batches(*tensors: Tensor, n_batches: int = 7) -> list[tuple[Tensor, ...]]:
    """Split tensors along dim 0 into ``n_batches`` batches of uneven sizes (a size-1 one
    included), as a DataLoader with a ragged last batch would."""
    n = tensors[0].shape[0]
    assert n >= n_batches * 2, "need at least two rows per batch"
    cuts = np.linspace(0, n, n_batches + 1).astype(int)
    cuts[1] = 1  # one batch of a single row
    cuts[2:-1] += np.arange(1, n_batches - 1) % 3  # uneven middle sizes
    cuts = np.clip(cuts, 0, n)
    return [tuple(t[a:b] for t in tensors) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
            if b > a]


def state_dict_round_trip(fitted: torch.nn.Module, fresh: torch.nn.Module) -> torch.nn.Module:
    """Save ``fitted``'s state through ``torch.save``, load it with ``weights_only=True``
    into the unfitted ``fresh`` estimator, and return ``fresh``."""
    buffer = io.BytesIO()
    torch.save(fitted.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh.load_state_dict(state)
    return fresh


def assert_raises_naming(exc: type[Exception] | Sequence[type[Exception]], fn: Callable,
                         *names: str):
    """``fn()`` raises ``exc`` and the message names every string in ``names``."""
    exc = tuple(exc) if isinstance(exc, Sequence) else exc
    with pytest.raises(exc) as info:
        fn()
    text = str(info.value)
    for name in names:
        assert name in text, f"{name!r} not in error message {text!r}"
    return info.value


def _distributed_entry(rank: int, world: int, port: int, fn, args, out) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        out[rank] = fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable, *args, world_size: int = 2) -> list:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes joined by a
    gloo process group; return each rank's return value (which must be picklable).

    ``fn`` must be a module-level function (spawn pickles it). Do several checks in one
    call where you can: starting the processes costs a few seconds.
    """
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.get_context("spawn").Manager()
    out = manager.dict()
    mp.start_processes(_distributed_entry, args=(world_size, port, fn, args, out),
                       nprocs=world_size, start_method="spawn")
    results = [out[r] for r in range(world_size)]
    manager.shutdown()
    return results
