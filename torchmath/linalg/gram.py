"""The symmetric Gram matrix of columns, XᵀX: BLAS syrk through NumPy on the CPU, else
the upper blocks of a blocked torch product."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

from torchmath._validation import check_floating, check_ndim, fail, promote

__all__ = ["column_gram"]

#: Columns per block. Measured on the 2-core CPU (MKL, torch 2.13, one thread, CPU time,
#: median of 9): for 20000x512 float32 the plain product took 129 ms and blocks of
#: 128 columns 96 ms (256: 106 ms, 64: 105 ms); for 100000x256 float64 397 ms against
#: 346 ms (blocks of 64), 351 ms (128). Smaller blocks save arithmetic but make thin
#: products that run slower, so the gain is 15-30%, not the 2x of a true ``syrk``.
BLOCK_COLUMNS = 128


def _block_edges(d: int, block: int) -> list[int]:
    nb = max(1, d // block)
    return [round(i * d / nb) for i in range(nb + 1)]


def _plain_cpu(t: Tensor) -> bool:
    """A plain CPU float32/float64 tensor that NumPy may read as it is: no tensor subclass
    (fake, functional), no torch.func wrapper (vmap, grad, jvp), no graph being recorded
    (autograd, forward-mode tangent, ``torch.compile`` tracing)."""
    return (type(t) is Tensor and t.device.type == "cpu"
            and t.dtype in (torch.float32, torch.float64)
            and not (t.requires_grad and torch.is_grad_enabled())
            and not torch._C._functorch.is_functorch_wrapped_tensor(t)
            and fwAD.unpack_dual(t).tangent is None)


def _blas_ready(a: np.ndarray) -> np.ndarray:
    """``a`` itself when BLAS can read it in place (one unit stride, the other at least the
    matrix's extent: C order, Fortran order, a column slice), else a C-ordered copy (NumPy
    would otherwise fall back to its slow non-BLAS loop)."""
    s0, s1 = (s // a.itemsize for s in a.strides)
    n, d = a.shape
    if (s1 == 1 and s0 >= max(d, 1)) or (s0 == 1 and s1 >= max(n, 1)):
        return a
    return np.ascontiguousarray(a)


def _syrk_gram(x: Tensor, weights: Tensor | None) -> Tensor | None:
    """``XᵀX`` (or ``Xᵀ diag(w) X`` for ``w >= 0``, as ``(√w X)ᵀ(√w X)``) by NumPy's BLAS
    ``syrk``, or ``None`` where that path does not apply (the caller then uses torch)."""
    if torch.compiler.is_compiling() or x.dim() != 2 or not _plain_cpu(x):
        return None
    if weights is not None:
        if weights.dim() != 1 or not _plain_cpu(weights) or not bool((weights >= 0).all()):
            return None  # any-sign weights: (√w X)ᵀ(√w X) does not apply
        x = x * weights.sqrt().unsqueeze(-1)
    a = _blas_ready(x.detach().resolve_neg().numpy())
    # NumPy recognises a.T @ a (one buffer, transposed strides) and calls ?syrk, then
    # mirrors the upper triangle, so the result is exactly symmetric.
    return torch.from_numpy(a.T @ a)


def column_gram(x: Tensor, weights: Tensor | None = None, *,
                block_columns: int | None = None) -> Tensor:
    r"""The Gram matrix of the columns of ``x``, optionally with row weights.

    .. math::
        G = X^\top \operatorname{diag}(w)\, X, \qquad G_{jk} = \sum_i w_i x_{ij} x_{ik}

    :math:`G` is symmetric, and a BLAS ``syrk`` (symmetric rank-k update) computes only
    its upper triangle: half the arithmetic of the general product. torch exposes no
    ``syrk`` (its ``X.mT @ X`` is a full GEMM), so on the CPU, for a plain 2-D float32 or
    float64 tensor with no autograd graph, no ``torch.func`` transform and no
    ``torch.compile`` tracing, the product is handed to NumPy (a dependency already) on a
    zero-copy view: NumPy recognises ``a.T @ a`` and calls its BLAS ``syrk``, about twice
    as fast as torch's product on the 2-core CPU (100000x256 float64: 122 ms against
    221 ms). C order, Fortran order and column slices are read in place; other strides
    are copied once. Non-negative weights take the same path as
    :math:`(\sqrt{w} X)^\top (\sqrt{w} X)`.

    Everywhere else (GPU, batches, gradients, vmap, compile, weights of any sign), only
    the diagonal blocks of :math:`G` and the blocks above them are computed, each as one
    matrix product of a column panel with the columns to its right
    (:math:`X_{:,J}^\top X_{:,J:}`), and the lower triangle is mirrored from the upper.
    This does :math:`\tfrac12(1 + 1/n_b)` of the arithmetic of :math:`X^\top X` for
    :math:`n_b` blocks, with every piece still a large product. Either way the result is
    exactly symmetric; the blocked path is differentiable, batched, and the same on every
    device (the NumPy path is taken only when no gradient is recorded). For the Gram
    matrix of *rows* (a kernel matrix) see :func:`torchmath.linalg.gram_matrix`.

    Source: the blocked symmetric rank-k update, Golub & Van Loan, *Matrix
    Computations* (4th ed.), §1.3 and §3.2.

    Args:
        x: the data, rows are samples.
        weights: one weight per row (any sign); ``None`` for all ones.
        block_columns: columns per block of torch's blocked product (default
            :data:`BLOCK_COLUMNS`); when ``d`` is below twice this, one plain product is
            used. Giving it selects the blocked torch product even where NumPy's ``syrk``
            would apply.

    Shape:
        ``x``: ``(..., n, d)``; ``weights``: ``(..., n)`` (broadcast with the batch
        dimensions of ``x``); returns ``(..., d, d)``.

    Returns:
        The symmetric :math:`d \times d` matrix :math:`G`, on the device of ``x``, in the
        promoted dtype of ``x`` and ``weights`` (torch's type promotion).

    Raises:
        ValueError: ``x`` is not floating or has fewer than 2 dimensions, ``weights``
            has the wrong length, or ``block_columns`` is not a positive integer.

    Example:
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> column_gram(x)
        tensor([[35., 44.],
                [44., 56.]])
        >>> column_gram(x, torch.tensor([1.0, 0.0, 2.0]))
        tensor([[51., 62.],
                [62., 76.]])
    """
    fn = "column_gram"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=2)
    if weights is not None:
        check_floating(fn, "weights", weights)
        if weights.dim() < 1 or weights.shape[-1] != x.shape[-2]:
            raise fail(fn, "weights", f"of shape (..., {x.shape[-2]})", tuple(weights.shape))
    (x, weights), out_dtype = promote(x, weights)
    block = BLOCK_COLUMNS if block_columns is None else block_columns
    if not isinstance(block, int) or isinstance(block, bool) or block < 1:
        raise fail(fn, "block_columns", "a positive integer", block)
    if block_columns is None:
        gram = _syrk_gram(x, weights)
        if gram is not None:
            return gram.to(out_dtype)
    if weights is not None:
        weights = weights.unsqueeze(-1)
    edges = _block_edges(x.shape[-1], block)
    if len(edges) <= 2:
        left = x if weights is None else x * weights
        return (left.mT @ x).to(out_dtype)
    rows = []
    for a, b in pairwise(edges):
        panel = x[..., a:b] if weights is None else x[..., a:b] * weights
        # (b - a, d - a): the diagonal block and every block to its right, padded on the
        # left with zeros to the full width.
        rows.append(torch.nn.functional.pad(panel.mT @ x[..., a:], (a, 0)))
    upper = torch.cat(rows, -2)
    return (upper.triu() + upper.triu(1).mT).to(out_dtype)
