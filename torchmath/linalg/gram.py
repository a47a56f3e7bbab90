"""The symmetric Gram matrix of columns, XᵀX: BLAS syrk through NumPy on the CPU, else
the upper blocks of a blocked torch product."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate, pairwise

import torch
from torch import Tensor

from torchmath import _cpu_blas
from torchmath._validation import check_floating, check_ndim, fail, promote

__all__ = ["column_gram"]

#: Columns per block. Measured on the 2-core CPU (MKL, torch 2.13, one thread, CPU time,
#: median of 9): for 20000x512 float32 the plain product took 129 ms and blocks of
#: 128 columns 96 ms (256: 106 ms, 64: 105 ms); for 100000x256 float64 397 ms against
#: 346 ms (blocks of 64), 351 ms (128). Smaller blocks save arithmetic but make thin
#: products that run slower, so the gain is 15-30%, not the 2x of a true ``syrk``.
BLOCK_COLUMNS = 128


#: Bytes per row chunk when blocks are joined or centred (at least 256 rows): the buffer
#: stays in cache and is reused, and each chunk's update still runs at product speed.
CHUNK_BYTES = 8 * 2**20


def _block_edges(d: int, block: int) -> list[int]:
    nb = max(1, d // block)
    return [round(i * d / nb) for i in range(nb + 1)]


#: Widest Gram whose chunks torch builds on the NumPy route. Narrower, NumPy's BLAS ran
#: ``syrk`` on one thread (OpenBLAS in NumPy 1.26 on the 2-core CPU: one thread below
#: 128 columns, two from 128), and torch's centring was 3x faster than NumPy's broadcast
#: subtraction of short rows (1M x 16 float64: 28 against 52 ms per Gram). From 128
#: columns the BLAS call is threaded, and alternating it with torch's thread pool chunk
#: by chunk took twice as long as NumPy building the chunks (100000 x 256: 295 against
#: 152 ms), so NumPy builds them.
TORCH_CHUNK_MAX_COLUMNS = 96


def _chunk_rows(n: int, d: int, itemsize: int) -> int:
    """Rows per centred chunk: about :data:`CHUNK_BYTES`, and at least 256 rows so each
    rank-k update still runs at matrix-product speed."""
    return max(1, min(n, max(CHUNK_BYTES // max(1, d * itemsize), 256)))


def _syrk_gram(blocks: list[Tensor], weights: Tensor | None,
               center: Tensor | None) -> Tensor | None:
    r"""The Gram matrix by NumPy's BLAS ``syrk`` (through :mod:`torchmath._cpu_blas`: its
    policy, torch's thread count, NaN/inf propagated silently), or ``None`` where that path
    does not apply (the caller then uses torch's product).

    NumPy recognises ``a.T @ a`` (one buffer, transposed strides), calls ``?syrk`` and
    mirrors the upper triangle, so the result is exactly symmetric. Joined blocks, a
    centre or weights (``w >= 0``, as :math:`(\sqrt{w} X)^\top(\sqrt{w} X)`) are formed
    chunk by chunk, by torch or by NumPy (:data:`TORCH_CHUNK_MAX_COLUMNS`), in one small
    reused buffer (it stays in cache), so each chunk costs one pass over its rows and one
    BLAS call, and no full-size copy is made.
    """
    tensors = [*blocks, *(t for t in (weights, center) if t is not None)]
    if (any(b.dim() != 2 for b in blocks) or (center is not None and center.dim() != 1)
            or (weights is not None and weights.dim() != 1)
            or not _cpu_blas.uses_numpy(*tensors)):
        return None
    if weights is not None and not bool((weights >= 0).all()):
        return None  # any sign: (√w X)ᵀ(√w X) does not apply
    return torch.from_numpy(_cpu_blas.call(lambda np: _numpy_gram(np, blocks, weights,
                                                                  center)))


def _numpy_gram(np, blocks: list[Tensor], weights: Tensor | None, center: Tensor | None):
    a = blocks[0]
    if len(blocks) == 1 and center is None and weights is None:
        view = _cpu_blas.numpy_view(a)
        if _cpu_blas.blas_ready(view):
            return view.T @ view
    n, d = a.shape[0], sum(b.shape[1] for b in blocks)
    edges = list(accumulate((b.shape[1] for b in blocks), initial=0))
    step = _chunk_rows(n, d, a.element_size())
    buf = a.new_empty(min(step, max(n, 1)), d)
    rows_np = _cpu_blas.numpy_view(buf)
    gram = np.zeros((d, d), dtype=rows_np.dtype)
    # The same loop on torch tensors or on NumPy views of them: which library runs the
    # centring and weighting (and so which thread pool) is the only difference.
    if d <= TORCH_CHUNK_MAX_COLUMNS:  # torch builds the chunks (see the constant)
        parts, centre, subtract, chunk = blocks, center, torch.sub, buf
        root = None if weights is None else weights.sqrt()
    else:
        parts = [_cpu_blas.numpy_view(b) for b in blocks]
        centre = None if center is None else _cpu_blas.numpy_view(center)
        root = None if weights is None else np.sqrt(_cpu_blas.numpy_view(weights))
        subtract, chunk = np.subtract, rows_np
    for s in range(0, n, step):
        c = min(step, n - s)
        z = chunk[:c]
        for x, lo, hi in zip(parts, edges[:-1], edges[1:], strict=True):
            if centre is None:
                z[:, lo:hi] = x[s:s + c]
            else:
                subtract(x[s:s + c], centre[lo:hi], out=z[:, lo:hi])
        if root is not None:
            z *= root[s:s + c, None]
        zn = rows_np[:c]
        gram += zn.T @ zn
    return gram


def _torch_gram(x: Tensor, weights: Tensor | None, block: int) -> Tensor:
    """Torch's product, from the diagonal and upper column blocks only, mirrored."""
    if weights is not None:
        weights = weights.unsqueeze(-1)
    edges = _block_edges(x.shape[-1], block)
    if len(edges) <= 2:
        left = x if weights is None else x * weights
        return left.mT @ x
    rows = []
    for a, b in pairwise(edges):
        panel = x[..., a:b] if weights is None else x[..., a:b] * weights
        # (b - a, d - a): the diagonal block and every block to its right, padded on the
        # left with zeros to the full width.
        rows.append(torch.nn.functional.pad(panel.mT @ x[..., a:], (a, 0)))
    upper = torch.cat(rows, -2)
    return upper.triu() + upper.triu(1).mT


def _torch_gram_chunked(blocks: list[Tensor], weights: Tensor | None, center: Tensor | None,
                        block: int) -> Tensor:
    """Joined and centred row chunk by row chunk (no full-size temporary), then summed.

    Plain tensors (no graph recorded, no ``torch.func`` transform, no compiling) are
    joined and centred straight into one reused chunk buffer: a fresh joined copy and a
    fresh centred one per chunk cost 16 of the 100 ms of a 20000x512 float32 PCA fit."""
    if len(blocks) == 1 and center is None:
        return _torch_gram(blocks[0], weights, block)
    n, d = blocks[0].shape[-2], sum(b.shape[-1] for b in blocks)
    step = _chunk_rows(n, d, blocks[0].element_size())
    batch = blocks[0].shape[:-2]
    pieces = [*blocks, *(t for t in (center,) if t is not None)]
    buffer = None
    if (not torch.compiler.is_compiling() and all(_cpu_blas.plain(t) for t in pieces)
            and (center is None or torch.broadcast_shapes(batch, center.shape[:-1]) == batch)):
        buffer = blocks[0].new_empty(*batch, min(step, max(n, 1)), d)
    c = None if center is None else center.unsqueeze(-2)
    total = None
    for s in range(0, max(n, 1), step):
        parts = [b[..., s:s + step, :] for b in blocks]
        out = None if buffer is None else buffer[..., :parts[0].shape[-2], :]
        if len(parts) == 1:  # (a lone block without a centre returned above)
            z = torch.sub(parts[0], c, out=out)
        else:
            z = torch.cat(parts, -1, out=out)
            if c is not None:  # (in place only into the buffer: a fresh z may record)
                z = z - c if out is None else z.sub_(c)
        part = _torch_gram(z, None if weights is None else weights[..., s:s + step], block)
        total = part if total is None else total + part
    return total


def column_gram(x: Tensor | Sequence[Tensor], weights: Tensor | None = None, *,
                center: Tensor | None = None, block_columns: int | None = None) -> Tensor:
    r"""The Gram matrix of the columns of ``x``, optionally about a centre and with row
    weights: a scatter matrix.

    .. math::
        G = (X - \mathbf 1 c^\top)^\top \operatorname{diag}(w)\, (X - \mathbf 1 c^\top),
        \qquad G_{jk} = \sum_i w_i (x_{ij} - c_j)(x_{ik} - c_k)

    ``x`` may be a sequence of tensors with the same rows, read as their columns side by
    side (for example features and targets, :math:`X = [X_1, Y]`), and ``center`` a point
    to subtract from every row (the mean, for a scatter matrix); both are applied row chunk
    by row chunk, so no full-size joined or centred copy is made.

    :math:`G` is symmetric, and a BLAS ``syrk`` (symmetric rank-k update) computes only
    its upper triangle: half the arithmetic of the general product. torch exposes no
    ``syrk`` (its ``X.mT @ X`` is a full GEMM), so on the CPU, for plain 2-D float64
    tensors with no autograd graph, no ``torch.func`` transform and no ``torch.compile``
    tracing, the product is handed to NumPy (a dependency already) on a zero-copy view,
    with torch's thread count (:mod:`torchmath._cpu_blas`; :func:`torchmath.set_cpu_blas`
    chooses the policy, ``"numpy"`` sends float32 too): NumPy recognises ``a.T @ a`` and
    calls its BLAS ``syrk``, faster than torch's product on the 2-core CPU at two threads
    (100000x256 float64: 115 ms against 193 ms; in float32 torch's blocked product was as
    fast, 75 against 103 ms, so float32 stays in torch by default). C order, Fortran order and
    column slices are read in place; other layouts, joined blocks, a centre and
    non-negative weights (as :math:`(\sqrt{w} X)^\top (\sqrt{w} X)`) go through one small
    buffer that NumPy fills per row chunk.

    Everywhere else (GPU, batches, gradients, vmap, compile, weights of any sign), only
    the diagonal blocks of :math:`G` and the blocks above them are computed, each as one
    matrix product of a column panel with the columns to its right
    (:math:`X_{:,J}^\top X_{:,J:}`), and the lower triangle is mirrored from the upper.
    This does :math:`\tfrac12(1 + 1/n_b)` of the arithmetic of :math:`X^\top X` for
    :math:`n_b` blocks, with every piece still a large product. Either way the result is
    exactly symmetric; the torch path is differentiable (in ``x``, ``weights`` and
    ``center``), batched, and the same on every device (the NumPy path is taken only when
    no gradient is recorded). For the Gram matrix of *rows* (a kernel matrix) see
    :func:`torchmath.linalg.gram_matrix`.

    Source: the blocked symmetric rank-k update, Golub & Van Loan, *Matrix
    Computations* (4th ed.), §1.3 and §3.2.

    Args:
        x: the data, rows are samples; or a sequence of such tensors with the same rows
            and leading dimensions, whose columns are joined.
        weights: one weight per row (any sign); ``None`` for all ones.
        center: the point :math:`c` subtracted from every row; ``None`` for zero.
        block_columns: columns per block of torch's blocked product (default
            :data:`BLOCK_COLUMNS`); when ``d`` is below twice this, one plain product is
            used. Giving it selects the blocked torch product even where NumPy's ``syrk``
            would apply.

    Shape:
        ``x``: ``(..., n, d)`` (or blocks ``(..., n, d_i)`` with :math:`\sum_i d_i = d`);
        ``weights``: ``(..., n)`` and ``center``: ``(..., d)`` (broadcast with the batch
        dimensions of ``x``); returns ``(..., d, d)``.

    Returns:
        The symmetric :math:`d \times d` matrix :math:`G`, on the device of ``x``, in the
        promoted dtype of ``x``, ``weights`` and ``center`` (torch's type promotion).

    Raises:
        ValueError: ``x`` (or a block) is not floating or has fewer than 2 dimensions,
            blocks differ in their leading dimensions, ``weights`` or ``center`` has the
            wrong length, or ``block_columns`` is not a positive integer.

    Example:
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> column_gram(x)
        tensor([[35., 44.],
                [44., 56.]])
        >>> column_gram(x, torch.tensor([1.0, 0.0, 2.0]))
        tensor([[51., 62.],
                [62., 76.]])
        >>> column_gram((x[:, :1], x[:, 1:]), center=x.mean(0))  # joined, centred
        tensor([[8., 8.],
                [8., 8.]])
    """
    fn = "column_gram"
    blocks = [x] if isinstance(x, Tensor) else list(x) if isinstance(x, Sequence) else [x]
    if not blocks:
        raise fail(fn, "x", "a tensor or a non-empty sequence of tensors", "an empty sequence")
    for b in blocks:
        check_floating(fn, "x", b)
        check_ndim(fn, "x", b, min_ndim=2)
        if b.shape[:-1] != blocks[0].shape[:-1]:
            raise fail(fn, "x", f"blocks of shape {tuple(blocks[0].shape[:-1])} + (d_i,)",
                       [tuple(t.shape) for t in blocks])
    n, d = blocks[0].shape[-2], sum(b.shape[-1] for b in blocks)
    if weights is not None:
        check_floating(fn, "weights", weights)
        if weights.dim() < 1 or weights.shape[-1] != n:
            raise fail(fn, "weights", f"of shape (..., {n})", tuple(weights.shape))
    if center is not None:
        check_floating(fn, "center", center)
        if center.dim() < 1 or center.shape[-1] != d:
            raise fail(fn, "center", f"of shape (..., {d})", tuple(center.shape))
    (*blocks, weights, center), out_dtype = promote(*blocks, weights, center)
    block = BLOCK_COLUMNS if block_columns is None else block_columns
    if not isinstance(block, int) or isinstance(block, bool) or block < 1:
        raise fail(fn, "block_columns", "a positive integer", block)
    gram = _syrk_gram(blocks, weights, center) if block_columns is None else None
    if gram is None:
        gram = _torch_gram_chunked(blocks, weights, center, block)
    return gram.to(out_dtype)
