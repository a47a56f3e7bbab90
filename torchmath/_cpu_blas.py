"""Dense products of CPU tensors through NumPy's BLAS, where it is faster than torch's.

Why this exists rather than plain ``a @ b`` (measured on the 2-core AMD EPYC this project
is tested on, torch 2.13 CPU wheel, NumPy 1.26 with its bundled OpenBLAS, both at two
threads): torch's CPU wheels link Intel MKL, which dispatches slower kernels on non-Intel
CPUs. There float64 GEMM (2048²) ran at 71 GFLOP/s through torch and 95 through NumPy, a
skinny float64 product (100000×16 @ 16×256) 1.75x slower through torch, a row-major
float64 matrix-vector product 3x slower. torch also has no symmetric rank-k update (BLAS
``syrk``), which forms XᵀX at half the arithmetic of a general product; NumPy calls it
for ``a.T @ a`` (100000×256 float64: 115 ms against torch's 193). In float32 torch was as
fast or faster on the same shapes (XᵀX 100000×256: 75 ms against 103), so float32 stays
in torch. CPU tensors share their memory with NumPy (:meth:`torch.Tensor.numpy`,
:func:`torch.from_numpy`), so routing a product through NumPy costs no copy.

The route is taken only where it is safe and exact in meaning: CPU float32/float64 tensors
that are plain tensors (not inside ``torch.func`` transforms, not while ``torch.compile``
traces) and need no autograd graph. Everything else (other devices, dtypes, gradients,
``vmap``) stays in torch. NumPy's BLAS runs with torch's thread count
(:func:`torch.get_num_threads`), set for the call and restored after it, so a process
that limits torch's threads (one per rank, a DataLoader worker) is not oversubscribed.

Route large products only: a loop that alternates small torch kernels with NumPy BLAS
calls (row chunks of a few MB) pays for two thread pools handing the cores back and
forth, so such loops stay in torch.

Policy, set with the environment variable ``TORCHMATH_CPU_BLAS`` or
:func:`set_cpu_blas`: ``"auto"`` (default) uses NumPy for float64 ``XᵀX`` (``syrk``
halves the work on any CPU) and for general float64 products when the CPU is not an Intel
one (MKL's fast kernels are Intel-only); ``"numpy"`` for every eligible product;
``"torch"`` never.
"""

from __future__ import annotations

import os
import platform
from functools import cache

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

__all__ = ["blas_ready", "call", "get_cpu_blas", "gram", "matmul", "numpy_view", "set_cpu_blas",
           "uses_numpy"]

_CHOICES = ("auto", "numpy", "torch")
_POLICY = os.environ.get("TORCHMATH_CPU_BLAS", "auto").lower()
if _POLICY not in _CHOICES:
    _POLICY = "auto"


def set_cpu_blas(policy: str) -> None:
    """Choose where torchmath's dense CPU float products run.

    ``"auto"`` (the default, or the environment variable ``TORCHMATH_CPU_BLAS``): NumPy's
    BLAS for float64 ``XᵀX`` (its ``syrk`` does half the arithmetic) and, on CPUs that
    are not Intel's, for other float64 products (torch's MKL runs slower kernels there);
    ``"numpy"``: NumPy's BLAS for every eligible product; ``"torch"``: torch's product
    everywhere (bitwise the same results on every machine with the same torch build).
    Only plain CPU float32/float64 tensors without an autograd graph are ever routed to
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
    """Where torchmath's dense CPU float products run.

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
def _intel_cpu() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    return "intel" in platform.processor().lower()


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


def _plain_cpu(t: Tensor) -> bool:
    """A plain CPU float32/float64 tensor NumPy may read as it is: no subclass (fake,
    functional), no ``torch.func`` wrapper (vmap, grad, jvp), no graph being recorded
    (autograd or a forward-mode tangent)."""
    return (t.device.type == "cpu" and t.dtype in _FLOATS and type(t) is Tensor
            and not _functorch_wrapped(t)
            and not (t.requires_grad and torch.is_grad_enabled())
            and fwAD.unpack_dual(t).tangent is None)


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


def uses_numpy(*tensors: Tensor, symmetric: bool = False) -> bool:
    """Whether a product of ``tensors`` runs through NumPy under the current policy."""
    if _POLICY == "torch" or torch.compiler.is_compiling():
        return False
    if _POLICY == "auto" and (any(t.dtype != torch.float64 for t in tensors)
                              or (not symmetric and _intel_cpu())):
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


def matmul(a: Tensor, b: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``a @ b`` (with ``out=`` as :func:`torch.matmul`), through NumPy where faster.

    ``a`` and ``b`` have the same dtype; ``out`` is a contiguous tensor of the result's
    shape and dtype.
    """
    if out is not None and not (out.is_contiguous() and uses_numpy(out)):
        return torch.matmul(a, b, out=out)
    if not uses_numpy(a, b):
        return torch.matmul(a, b, out=out)
    an, bn = numpy_view(a), numpy_view(b)
    if out is None:
        return torch.from_numpy(call(lambda np: np.asarray(np.matmul(an, bn))))
    outn = numpy_view(out)
    call(lambda np: np.matmul(an, bn, out=outn))
    return out


def gram(x: Tensor) -> Tensor:
    """``x.mT @ x`` for 2-D ``x``: through NumPy's ``syrk`` where allowed (then exactly
    symmetric), else torch's general product."""
    if x.dim() != 2 or not uses_numpy(x, symmetric=True):
        return x.mT @ x
    xn = numpy_view(x)
    if not blas_ready(xn):
        xn = xn.copy(order="C")  # copied once: NumPy's non-BLAS loop is far slower
    # NumPy recognises ``a.T @ a`` (one buffer, transposed strides), calls ?syrk and
    # mirrors the upper triangle: the result is exactly symmetric.
    return torch.from_numpy(call(lambda np: xn.T @ xn))
