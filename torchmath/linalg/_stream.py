"""Shared by the linalg estimators: stream batches into a ScatterMatrix and all-reduce it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Batches, as_batches, row_chunks
from torchmath._validation import check_finite, check_floating, check_ndim, fail, validating
from torchmath.distributed import agree_layout, should_sync, world_size
from torchmath.linalg.scatter import ScatterMatrix

__all__ = ["Stream", "accumulate", "batches_xy", "check_features", "check_finite_via"]

#: Rows per chunk are chosen so a centred chunk is about this large: small enough that
#: the allocator reuses the buffer (no fresh page faults per chunk), large enough that
#: each chunk's X^T X still runs at matrix-product speed.
CHUNK_BYTES = 8 * 2**20



@dataclass
class Stream:
    """What one pass over the data found: the merged statistics and the layout."""

    stats: ScatterMatrix
    n_features: int
    n_targets: int  # 0 without y
    y_1d: bool


def check_features(fn: str, name: str, X: Tensor, n_features: int | None) -> Tensor:
    """A floating 2-d batch with the expected number of columns (finiteness is checked
    through a summary with :func:`check_finite_via`)."""
    check_floating(fn, name, X)
    check_ndim(fn, name, X, ndim=2)
    if n_features is not None and X.shape[1] != n_features:
        raise fail(fn, name, f"to have {n_features} features (columns)",
                   f"shape {tuple(X.shape)}")
    return X


def check_finite_via(fn: str, name: str, X: Tensor, summary: Tensor) -> None:
    """Finiteness of ``X`` checked through a reduction of it that was computed anyway
    (a mean, a scatter): NaN and inf propagate into it, so one small check replaces a
    full pass over ``X``. Only when the summary is not finite is ``X`` itself scanned,
    for the precise message (or an overflow is reported)."""
    if validating() and not bool(torch.isfinite(summary).all()):
        check_finite(fn, name, X)
        raise fail(fn, name, "values whose sums do not overflow", "an overflow to inf")


def batches_xy(data: Any, y: Tensor | None, *, fn: str, need_y: bool
               ) -> tuple[Batches, Iterator[tuple[Tensor, Tensor | None]]]:
    """Normalize ``fit(data, y)``; yields ``(X, y or None)`` per batch, validated."""
    batches = as_batches(data, fn=fn, y=y)

    def gen():
        for batch in batches:
            X = batch[0]
            yb = batch[1] if len(batch) > 1 else None
            if need_y and yb is None:
                raise fail(fn, "y", "targets: pass fit(X, y) or batches of (X, y)",
                           "batches without targets")
            if yb is not None and need_y:
                if not yb.is_floating_point():
                    yb = yb.to(X.dtype if X.is_floating_point() else torch.get_default_dtype())
                if yb.dim() not in (1, 2):
                    raise fail(fn, "y", "of shape (n,) or (n, n_targets)", tuple(yb.shape))
                if yb.shape[0] != X.shape[0]:
                    raise ValueError(f"{fn}: expected 'X' and 'y' to have the same size along "
                                     f"dim 0, got 'X' {X.shape[0]} and 'y' {yb.shape[0]}")
                check_finite(fn, "y", yb)
            yield X, (yb if need_y else None)

    return batches, gen()


def accumulate(data: Any, y: Tensor | None = None, *, fn: str, need_y: bool,
               device: torch.device, sync: bool | None = None, process_group=None,
               n_features: int | None = None,
               n_targets: int | None = None) -> Stream:
    """Stream ``data`` (``X`` or ``(X, y)`` batches) into the count/mean/scatter of the
    columns ``[X, y]``, all-reduced across processes when a group exists.

    Large batches are split into row chunks so the centred copy stays small. A rank with
    no rows (an empty tensor or an empty iterable) takes part with zeros. Raises when no
    process saw any row.
    """
    _, stream = batches_xy(data, y, fn=fn, need_y=need_y)
    stats: ScatterMatrix | None = None
    y_1d = False
    cols = None if n_features is None else n_features + (n_targets or 0)
    for X, yb in stream:
        check_features(fn, "X", X, n_features)
        if n_features is None:
            n_features = X.shape[1]
        Y = None
        if yb is not None:
            y_1d = yb.dim() == 1
            Y = (yb.unsqueeze(1) if y_1d else yb).to(X.dtype)
            if n_targets is None:
                n_targets = Y.shape[1]
            elif Y.shape[1] != n_targets:
                raise fail(fn, "y", f"{n_targets} target column(s) in every batch",
                           f"shape {tuple(yb.shape)}")
        cols = X.shape[1] + (0 if Y is None else Y.shape[1])
        if stats is None:
            stats = ScatterMatrix(cols)
        chunk = row_chunks(X.shape[0], cols * X.element_size(), CHUNK_BYTES)
        for start in range(0, max(X.shape[0], 1), chunk):
            # Joint columns [X, y] are formed per chunk, never for the whole batch.
            Z = X[start:start + chunk]
            if Y is not None:
                Z = torch.cat([Z, Y[start:start + chunk]], 1)
            stats.update(Z)
        check_finite_via(fn, "X", X, stats.mean[: X.shape[1]])
    n_targets = n_targets or 0
    if should_sync(sync, process_group) and world_size(process_group) > 1:
        dtype = stats.mean.dtype if stats is not None and stats.mean is not None else None
        # Ranks that saw no data learn the layout (and dtype) from the others.
        (cols_all, n_targets, y_flag), dtype = agree_layout(
            [cols or 0, n_targets, int(y_1d)], dtype, sync=sync, process_group=process_group)
        y_1d = bool(y_flag)
        if cols_all == 0:
            raise fail(fn, "data", "at least one row on some process", "no rows on any")
        if stats is None:
            stats = ScatterMatrix(cols_all, dtype=dtype, device=device)
        n_features = cols_all - n_targets
        stats.all_reduce(sync=sync, process_group=process_group)
    if stats is None or stats.n_rows == 0:
        raise fail(fn, "data", "at least one row", "an empty dataset")
    return Stream(stats, n_features, n_targets, y_1d)
