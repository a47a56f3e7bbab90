"""XᵀX of CPU float64 tensors through NumPy's BLAS ``syrk``, which torch does not have.

Why this exists rather than ``x.mT @ x`` (measured on the 2-core AMD EPYC this project is
tested on, torch 2.13 CPU wheel, NumPy 1.26 with its bundled OpenBLAS, both at two
threads): torch has no symmetric rank-k update (BLAS ``syrk``), which forms XᵀX at half
the arithmetic of a general product; NumPy calls it for ``a.T @ a`` (100000×256 float64:
115 ms against torch's 193). In float32 torch's product was as fast or faster (75 ms
against 103), so float32 stays in torch. CPU tensors share their memory with NumPy
(:meth:`torch.Tensor.numpy`, :func:`torch.from_numpy`), so the route costs no copy.

General products stay in torch: torch's MKL also ran float64 GEMM slower on this AMD CPU
(71 against 95 GFLOP/s), but torchmath's products sit in loops over row chunks between
torch kernels, and there the two thread pools handing the cores back and forth cost more
than the faster kernel saves (logistic regression and ``mvn_log_prob`` measured 1.4-3x
slower at two threads through NumPy).

The route is taken only where it is safe and exact in meaning: plain CPU tensors (not
inside ``torch.func`` transforms, not while ``torch.compile`` traces) that need no
autograd graph. NumPy's BLAS runs with torch's thread count (:func:`torch.get_num_threads`),
set for the call and restored after it, so a process that limits torch's threads (one per
rank, a DataLoader worker) is not oversubscribed.

Policy, set with the environment variable ``TORCHMATH_CPU_BLAS`` or
:func:`set_cpu_blas`: ``"auto"`` (default) routes float64; ``"numpy"`` float32 too;
``"torch"`` nothing.
"""

from __future__ import annotations

import os
from functools import cache

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

__all__ = ["blas_ready", "call", "get_cpu_blas", "numpy_view", "set_cpu_blas", "uses_numpy"]

_CHOICES = ("auto", "numpy", "torch")
_POLICY = os.environ.get("TORCHMATH_CPU_BLAS", "auto").lower()
if _POLICY not in _CHOICES:
    _POLICY = "auto"


def set_cpu_blas(policy: str) -> None:
    """Choose where torchmath forms XᵀX (Gram and scatter matrices) on the CPU.

    torch has no symmetric rank-k update (BLAS ``syrk``), NumPy does: it forms XᵀX at
    half the arithmetic of torch's general product. ``"auto"`` (the default, or the
    environment variable ``TORCHMATH_CPU_BLAS``): NumPy's ``syrk`` for float64 (in
    float32 torch's product measured as fast); ``"numpy"``: for float32 too; ``"torch"``:
    torch's product everywhere (bitwise the same results on every machine with the same
    torch build). Only plain CPU tensors without an autograd graph are ever routed to
    NumPy; gradients, ``torch.func`` transforms, ``torch.compile`` and other devices
    always use torch.

    Args:
        policy: ``"auto"``, ``"numpy"`` or ``"torch"``.

    Raises:
        ValueError: ``policy`` is none of these.

    Example:
        >>> import torchmath
        >>> torchmath.set_cpu_blas("torch")
        >>> torchmath.get_cpu_blas()
        'torch'
        >>> torchmath.set_cpu_blas("auto")
    """
    global _POLICY
    if policy not in _CHOICES:
        raise ValueError(f"set_cpu_blas: expected 'policy' one of {_CHOICES}, got {policy!r}")
    _POLICY = policy


def get_cpu_blas() -> str:
    """Where torchmath forms XᵀX on the CPU.

    Returns:
        The policy last given to :func:`set_cpu_blas` (``"auto"`` by default, or the
        environment variable ``TORCHMATH_CPU_BLAS``).

    Example:
        >>> import torchmath
        >>> torchmath.get_cpu_blas() in ("auto", "numpy", "torch")
        True
    """
    return _POLICY


@cache
def _numpy_blas():
    """NumPy and the thread controls of its BLAS (``None`` when NumPy is missing)."""
    try:
        import numpy
    except ImportError:  # torch runs without NumPy; then every product stays in torch
        return None
    try:
        from threadpoolctl import ThreadpoolController
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
    except Exception:  # threadpoolctl missing or unable to read a library: leave threads
        libs = []
    # NumPy's own BLAS (its wheels ship it beside the package, in numpy.libs or
    # numpy/.dylibs); other loaded BLAS libraries (SciPy's, say) are not ours to set.
    home = os.path.dirname(numpy.__file__)
    own = [lib for lib in libs if str(lib.filepath).startswith(home)]
    return numpy, own or libs


_FLOATS = (torch.float32, torch.float64)
_functorch_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor",
                             lambda t: False)


def plain(t: Tensor) -> bool:
    """A plain tensor, on any device, that may be read as raw memory and written into
    reused buffers: no subclass (fake, functional), no ``torch.func`` wrapper (vmap,
    grad, jvp), no graph being recorded (autograd or a forward-mode tangent)."""
    return (type(t) is Tensor and not _functorch_wrapped(t)
            and not (t.requires_grad and torch.is_grad_enabled())
            and fwAD.unpack_dual(t).tangent is None)


def _plain_cpu(t: Tensor) -> bool:
    """A plain CPU float32/float64 tensor NumPy may read as it is (see :func:`plain`)."""
    return t.device.type == "cpu" and t.dtype in _FLOATS and plain(t)


def numpy_view(t: Tensor):
    """The NumPy array sharing ``t``'s memory (a negative-bit view is resolved first)."""
    return t.detach().resolve_neg().numpy()


def blas_ready(a) -> bool:
    """BLAS reads the 2-D array ``a`` in place: one unit stride, the other at least the
    matrix's extent (C order, Fortran order, a column slice). NumPy would run other
    layouts through its slow non-BLAS loop, so callers copy them first."""
    rows, cols = (stride // a.itemsize for stride in a.strides)
    n, d = a.shape
    return (cols == 1 and rows >= max(d, 1)) or (rows == 1 and cols >= max(n, 1))


def uses_numpy(*tensors: Tensor) -> bool:
    """Whether a Gram matrix of ``tensors`` is formed by NumPy under the current policy."""
    if _POLICY == "torch" or torch.compiler.is_compiling():
        return False
    if _POLICY == "auto" and any(t.dtype != torch.float64 for t in tensors):
        return False
    if _numpy_blas() is None:
        return False
    return all(_plain_cpu(t) for t in tensors)


def call(fn):
    """``fn(numpy)`` with NumPy's BLAS on torch's thread count and NumPy's floating-point
    warnings off (inf and NaN propagate silently, as in torch)."""
    numpy, libs = _numpy_blas()
    want = torch.get_num_threads()
    before = [lib.get_num_threads() for lib in libs]
    for lib, n in zip(libs, before, strict=True):
        if n != want:
            lib.set_num_threads(want)
    try:
        with numpy.errstate(all="ignore"):  # inf and NaN propagate silently, as in torch
            return fn(numpy)
    finally:
        for lib, n in zip(libs, before, strict=True):
            if n != want:
                lib.set_num_threads(n)
