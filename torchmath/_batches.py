"""The data-intake layer of every estimator: what a user passes to ``fit`` -> checked batches.

``fit(data)`` accepts a tensor ``X``, a pair ``(X, y)`` (or any *tuple* of tensors with
the same number of rows), or any iterable of batches: a ``DataLoader``, a *list* of
batches, a generator. A tuple is one batch and a list is many, so ``fit([X1, X2])``
streams two batches of any lengths.

:class:`Intake` turns that into checked, detached ``(X, y)`` batches, one rule and one
wording for every estimator:

- ``X`` is a floating ``(n, d)`` tensor with ``d >= 1``, the same ``d`` in every batch
  (and as fitted, for ``partial_fit``); its dtype is the first batch's;
- ``y`` is one of three kinds: ``"none"`` (ignored if given), ``"targets"`` (real
  ``(n,)`` or ``(n, t)``, cast to ``X``'s dtype) or ``"labels"`` (integer ``(n,)``);
- NaN or inf in ``X`` or real ``y`` is a ``ValueError`` naming the method and the
  argument while validation is on (``torchmath.set_validate_args``);
- inputs that require grad are fitted as their values (``detach``), so no fitted buffer
  carries a graph;
- after the first pass, :meth:`Intake.agree` lets every process learn the column counts
  and dtype from the others (a rank with no rows or no batches included) before any
  collective, and raises one "no data" error when no process saw a row.

:func:`accumulate` streams an :class:`Intake` into a :class:`~torchmath.linalg.ScatterMatrix`
of the joint columns ``[X, y]`` and all-reduces it: the sufficient statistic of PCA,
linear, ridge, Bayesian and elastic-net regression and ``RunningMoments``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from torchmath._validation import (
    check_finite,
    check_floating,
    check_same_size,
    check_tensor,
    fail,
    validating,
)
from torchmath.distributed import agree_layout, all_gather_rows, should_sync

if TYPE_CHECKING:  # pragma: no cover
    from torchmath.linalg.scatter import ScatterMatrix

__all__ = ["Batches", "Intake", "Stream", "accumulate", "as_batches", "encode_labels",
           "no_data", "row_chunks", "unique_labels"]

Y_KINDS = ("none", "targets", "labels")

def _as_tuple(fn: str, batch: Any) -> tuple[Tensor, ...]:
    if isinstance(batch, Tensor):
        return (batch,)
    if isinstance(batch, tuple | list) and batch and all(isinstance(b, Tensor) for b in batch):
        return tuple(batch)
    if isinstance(batch, dict):
        raise fail(fn, "data", "batches that are tensors or tuples of tensors", "a dict batch "
                   "(pass (batch['x'], batch['y']) pairs instead)", TypeError)
    raise fail(fn, "data", "a tensor, a tuple of tensors, or an iterable of those",
               type(batch).__name__, TypeError)


class Batches:
    """A re-iterable view of ``data`` as tuples of tensors.

    Args:
        data: a tensor, a tuple of tensors sharing their first dimension (one batch), or
            an iterable (list, DataLoader, generator) whose items are tensors or tuples
            (or lists, as DataLoaders yield them) of tensors.
        fn: the calling function's name, for error messages.
        arity: if given, the number of tensors each batch must hold (``2`` for ``(X, y)``).

    A tensor or tuple is one batch. A one-shot iterator (a generator) can be read once;
    :attr:`reiterable` tells whether a multi-pass algorithm may read it again.
    """

    def __init__(self, data: Any, *, fn: str, arity: int | None = None):
        self.fn = fn
        self.arity = arity
        if isinstance(data, Tensor) or (
            isinstance(data, tuple) and data and all(isinstance(d, Tensor) for d in data)
        ):
            single = _as_tuple(fn, data)
            if len(single) > 1:
                names = ["X", "y"] if len(single) == 2 else [f"data[{i}]" for i in
                                                              range(len(single))]
                if all(t.dim() for t in single):
                    check_same_size(fn, names, single)
            self._items: Iterable[Any] = [single]
            self.reiterable = True
            self.single = single
        elif isinstance(data, Iterable) and not isinstance(data, str | bytes | dict):
            self._items = data
            self.reiterable = not isinstance(data, Iterator)
            self.single = None
        else:
            raise fail(fn, "data", "a tensor, an (X, y) pair, or an iterable of batches",
                       type(data).__name__, TypeError)
        self._consumed = False

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        if self._consumed and not self.reiterable:
            raise fail(self.fn, "data", "a re-iterable (a tensor, list or DataLoader) for a "
                       "multi-pass fit", "a one-shot iterator that was already consumed")
        self._consumed = True
        for batch in self._items:
            batch = _as_tuple(self.fn, batch)
            if self.arity is not None and len(batch) != self.arity:
                what = "(X, y) pairs" if self.arity == 2 else f"{self.arity} tensors per batch"
                raise fail(self.fn, "data", what, f"a batch of {len(batch)} tensor(s)")
            yield batch


def as_batches(data: Any, *, fn: str, y: Tensor | None = None,
               arity: int | None = None) -> Batches:
    """Normalize ``fit(data)`` or ``fit(X, y)`` to :class:`Batches`.

    >>> import torch
    >>> [tuple(t.shape) for t in next(iter(as_batches(torch.zeros(4, 2), fn="f")))]
    [(4, 2)]
    """
    if y is not None:
        data = (data, y)
    return Batches(data, fn=fn, arity=arity)


def row_chunks(n_rows: int, row_bytes: int, budget_bytes: int = 32 * 2**20) -> int:
    """Rows per chunk so a temporary of ``row_bytes`` per row stays within ``budget_bytes``.

    Keeping temporaries to a few tens of MB avoids fresh large buffers, which pay their
    page faults on every call (DESIGN.md, "Fast by construction").
    """
    return max(1, min(n_rows, budget_bytes // max(1, row_bytes)))


def no_data(fn: str) -> ValueError:
    """The one "no data" error: no process saw a single row."""
    return fail(fn, "data", "at least one row (over all processes)", "an empty dataset")


def _shape(t: Tensor) -> str:
    return f"shape {tuple(t.shape)}"


class Intake:
    """Checked, detached ``(X, y)`` batches of one ``fit``/``partial_fit`` call.

    Iterating yields ``(X, y)`` with ``y`` ``None`` for ``y_kind="none"``. The first pass
    records the local layout (:attr:`n_features`, :attr:`n_targets`, :attr:`y_1d`,
    :attr:`dtype`, :attr:`n_rows` and, for labels, the label values seen); later passes
    (multi-pass fits such as EM) check the same rules again. Call :meth:`agree` after the
    first pass and before any collective.

    Args:
        data, y: what the user passed to ``fit(data, y=None)``.
        fn: the method's name for messages (``"GaussianMixture.fit"``).
        y_kind: ``"none"``, ``"targets"`` (real) or ``"labels"`` (integer classes).
        n_features, n_targets: the column counts already fitted (``partial_fit``), or
            ``None`` to learn them from the first batch.
        multi_pass: the fit reads the data more than once (a one-shot iterator is refused
            with a ``TypeError``).
        finite_x: check ``X`` for NaN/inf per batch; :func:`accumulate` turns it off and
            checks through the accumulated mean instead (one small check, no extra pass).
    """

    def __init__(self, data: Any, y: Tensor | None = None, *, fn: str, y_kind: str = "none",
                 n_features: int | None = None, n_targets: int | None = None,
                 multi_pass: bool = False, finite_x: bool = True):
        if y_kind not in Y_KINDS:  # pragma: no cover - a programming error
            raise ValueError(f"Intake: unknown y_kind {y_kind!r}")
        self.fn, self.y_kind, self.finite_x = fn, y_kind, finite_x
        self.batches = as_batches(data, fn=fn, y=y)
        if multi_pass and not self.batches.reiterable:
            raise fail(fn, "data", "a re-iterable (a tensor, list or DataLoader): the fit "
                       "reads the data more than once", "a one-shot iterator", TypeError)
        self.n_features, self.n_targets = n_features, n_targets
        self.y_1d: bool | None = None
        self.dtype: torch.dtype | None = None
        self.device: torch.device | None = None
        self.n_rows = 0
        self.n_batches = 0
        self._labels: Tensor | None = None
        self._passes = 0

    # -- checks ----------------------------------------------------------------------
    def _check_x(self, X: Tensor) -> Tensor:
        fn = self.fn
        check_floating(fn, "X", X)
        if X.dim() != 2:
            raise fail(fn, "X", "of shape (n_samples, n_features)", _shape(X))
        if X.shape[1] == 0:
            raise fail(fn, "X", "at least one feature (column)", _shape(X))
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise fail(fn, "X", f"to have {self.n_features} features (columns)", _shape(X))
        if self.dtype is None:
            self.dtype, self.device = X.dtype, X.device
        X = X.detach().to(self.dtype)
        if self.finite_x:
            check_finite(fn, "X", X)
        return X

    def _check_y(self, X: Tensor, batch: tuple[Tensor, ...]) -> Tensor | None:
        fn = self.fn
        if self.y_kind == "none":
            return None
        what = "integer class labels" if self.y_kind == "labels" else "targets"
        if len(batch) < 2:
            raise fail(fn, "y", f"{what}: pass fit(X, y) or batches of (X, y)",
                       "batches without y")
        y = check_tensor(fn, "y", batch[1])
        if y.dim() == 0 or y.shape[0] != X.shape[0]:
            raise ValueError(f"{fn}: expected 'X' and 'y' to have the same size along dim 0, "
                             f"got 'X' {X.shape[0]} and 'y' "
                             f"{y.shape[0] if y.dim() else 'a scalar'}")
        y = y.detach()
        if self.y_kind == "labels":
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise fail(fn, "y", "to hold integer class labels", y.dtype, TypeError)
            if y.dim() != 1:
                raise fail(fn, "y", "of shape (n_samples,)", _shape(y))
            return y.to(device=X.device)
        if y.is_complex() or y.dtype == torch.bool:
            raise fail(fn, "y", "real targets", y.dtype, TypeError)
        if y.dim() not in (1, 2):
            raise fail(fn, "y", "of shape (n_samples,) or (n_samples, n_targets)", _shape(y))
        t = 1 if y.dim() == 1 else y.shape[1]
        if self.n_targets is not None and t != self.n_targets:
            raise fail(fn, "y", f"to have {self.n_targets} target column(s)", _shape(y))
        self.n_targets = t
        if self.y_1d is None:
            self.y_1d = y.dim() == 1
        y = y.to(dtype=X.dtype, device=X.device)
        check_finite(fn, "y", y)
        return y

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        first = self._passes == 0
        self._passes += 1
        for batch in self.batches:
            X = self._check_x(batch[0])
            self.n_features = X.shape[1]
            y = self._check_y(X, batch)
            if first:
                self.n_rows += X.shape[0]
                self.n_batches += 1
                if y is not None and self.y_kind == "labels" and y.numel():
                    seen = unique_labels(y)
                    self._labels = seen if self._labels is None else \
                        unique_labels(torch.cat([self._labels, seen]))
            yield X, y

    def read(self) -> list[tuple[Tensor, Tensor | None]]:
        """All checked batches as a list (for solvers that keep them between passes)."""
        return list(self)

    # -- after the first pass ----------------------------------------------------------
    def agree(self, *, sync: bool | None = None, process_group=None,
              device: torch.device | None = None) -> Intake:
        """Every process learns the column counts, the kind of ``y`` and the dtype.

        One small max-reduction under a process group (every rank must call it, so the
        collectives that follow match); a no-op without one. A rank that saw no batch
        takes the layout of the others, on ``device``. Raises the "no data" ``ValueError``
        when no process saw a row.
        """
        sizes = [self.n_features or 0, self.n_targets or 0, int(bool(self.y_1d)),
                 int(self.n_rows > 0)]
        (d, t, y_1d, any_rows), dtype = agree_layout(sizes, self.dtype, sync=sync,
                                                     process_group=process_group)
        if not any_rows:
            raise no_data(self.fn)
        self.n_features, self.dtype = d, dtype
        if self.y_kind == "targets":
            self.n_targets, self.y_1d = t, bool(y_1d)
        if self.device is None:
            self.device = device if device is not None else torch.device("cpu")
        return self

    def classes(self, *, sync: bool | None = None, process_group=None) -> Tensor:
        """The sorted label values seen by any process (``y_kind="labels"``), int64."""
        local = self._labels if self._labels is not None else \
            torch.zeros(0, dtype=torch.int64, device=self.device)
        local = local.to(torch.int64)
        if should_sync(sync, process_group):
            local = unique_labels(all_gather_rows(local, sync=sync,
                                                  process_group=process_group))
        return local


def unique_labels(y: Tensor) -> Tensor:
    """The sorted distinct values of integer labels, int64 (a host sync).

    Labels in a range not much wider than their number are counted (``bincount``: one
    pass) rather than sorted, which is ~10x faster for the usual ``0..K-1``.
    """
    y = y.reshape(-1).to(torch.int64)
    if y.numel() == 0:
        return y
    lo, hi = (int(v) for v in torch.aminmax(y))
    if hi - lo < 4 * y.numel() + 1024:
        counts = torch.bincount(y - lo, minlength=hi - lo + 1)
        return counts.nonzero().squeeze(1) + lo
    return torch.unique(y)


def encode_labels(fn: str, y: Tensor, classes: Tensor) -> Tensor:
    """Positions of the labels ``y`` in the sorted ``classes`` (``0..K-1``, int64).

    While validation is on, a label that is not one of ``classes`` is a ``ValueError``
    naming ``y`` (a host sync); with validation off it is not checked.
    """
    classes = classes.to(device=y.device, dtype=torch.int64)
    y = y.to(torch.int64)
    K = classes.numel()
    first, last = classes[[0, -1]].tolist() if K else (0, -1)  # one host read
    if K and last - first + 1 == K:  # consecutive labels: a shift
        idx = y - first if first else y
        if validating() and y.numel():
            lo, hi = (int(v) for v in torch.aminmax(idx))
            if lo < 0 or hi >= K:
                bad = y[(idx < 0) | (idx >= K)][:5].tolist()
                raise fail(fn, "y", f"labels among the classes {classes.tolist()}",
                           f"label(s) {bad}")
        return idx
    idx = torch.searchsorted(classes, y).clamp_max(max(K - 1, 0))
    if validating() and y.numel() and not bool((classes[idx] == y).all()):
        unknown = y[classes[idx] != y][:5].tolist()
        raise fail(fn, "y", f"labels among the classes {classes.tolist()}",
                   f"label(s) {unknown}")
    return idx


@dataclass
class Stream:
    """What one pass over the data found: the merged statistics and the layout."""

    stats: ScatterMatrix
    n_features: int
    n_targets: int  # 0 without y
    y_1d: bool


def check_finite_via(fn: str, name: str, X: Tensor, summary: Tensor) -> None:
    """Finiteness of ``X`` checked through a reduction of it that was computed anyway
    (a mean, a scatter): NaN and inf propagate into it, so one small check replaces a
    full pass over ``X``. Only when the summary is not finite is ``X`` itself scanned,
    for the precise message (or an overflow is reported)."""
    if validating() and not bool(torch.isfinite(summary).all()):
        check_finite(fn, name, X)
        raise fail(fn, name, "values whose sums do not overflow", "an overflow to inf")


class _RowGroups:
    r"""Feeds batches' joint columns ``[X, y]`` to a :class:`ScatterMatrix`, small batches
    grouped.

    Why: every update costs a fixed 0.2-0.4 ms whatever its rows (the checks, the batch
    mean, a centring pass, one BLAS call, the exact merge), so 8192-row batches of 16
    columns streamed at 1.6-2x the time of the in-memory fit (one-thread CPU time, 1M
    rows). Here consecutive batches of less than half a row chunk (about
    ``linalg.gram.CHUNK_BYTES``) are written, shifted by :math:`K` (the first batch's
    mean), into one reused buffer ``x - K``: one pass per batch, like the in-memory
    fit's centring. When it fills, its Gram matrix gives
    :math:`A = \sum (x - K)(x - K)^\top` and a column sum :math:`s = \sum (x - K)` (a
    column of ones beside the data would give :math:`s` from the same product, but made
    NumPy's ``syrk`` a third slower: 17 columns instead of 16), so with the group's count
    :math:`c` its mean is :math:`K + s/c` and its scatter :math:`A - s s^\top / c` (accurate:
    :math:`K`, a mean of the same group's rows, lies near the group's mean, the shifted
    data algorithm of Chan, Golub & LeVeque 1983), merged exactly into the accumulator.
    A lone tensor (``group=False``), larger batches, empty ones and batches that carry
    gradients go to :meth:`ScatterMatrix.update` as they are, so a tensor's fit is
    exactly the in-memory update. Finiteness is checked through the
    accumulated mean after each update.
    """

    def __init__(self, fn: str, stats: ScatterMatrix, group: bool = True):
        self.fn, self.stats, self.group = fn, stats, group
        self.buf: Tensor | None = None
        self.shift: Tensor | None = None
        self.filled = self.n_x = 0

    def _check(self, X: Tensor) -> None:
        check_finite_via(self.fn, "X", X, self.stats.mean[: X.shape[1]])

    def add(self, X: Tensor, Y: Tensor | None) -> None:
        from torchmath.linalg.gram import _chunk_rows  # linalg sits above this module

        n, d = X.shape[0], self.stats.dim
        capacity = _chunk_rows(1 << 62, d, X.element_size())
        if (not self.group or n == 0 or 2 * n > capacity or X.requires_grad
                or (Y is not None and Y.requires_grad)):
            self.flush()
            self.stats.update(X if Y is None else (X, Y))
            self._check(X)
            return
        buf = self.buf
        if (buf is None or buf.dtype != X.dtype or buf.device != X.device
                or self.n_x != X.shape[1] or self.filled + n > buf.shape[0]):
            self.flush()
            if buf is None or buf.dtype != X.dtype or buf.device != X.device:
                buf = self.buf = X.new_empty(capacity, d)
            self.n_x = X.shape[1]
        Y = None if Y is None else Y.to(buf.dtype)
        if self.filled == 0:
            self.shift = X.mean(0) if Y is None else torch.cat([X.mean(0), Y.mean(0)])
        rows = buf[self.filled:self.filled + n]
        torch.sub(X, self.shift[:self.n_x], out=rows[:, :self.n_x])
        if Y is not None:
            torch.sub(Y, self.shift[self.n_x:], out=rows[:, self.n_x:d])
        self.filled += n

    def flush(self) -> None:
        if not self.filled:
            return
        from torchmath.linalg.gram import column_gram
        from torchmath.linalg.scatter import ScatterMatrix

        rows = self.buf[:self.filled]
        count = torch.tensor(float(self.filled), dtype=rows.dtype, device=rows.device)
        s = rows.sum(0)
        mean = self.shift + s / count
        scatter = column_gram(rows) - torch.outer(s, s / count)
        self.stats.merge(ScatterMatrix.from_state(count, mean, scatter, n_rows=self.filled))
        self._check(rows[:, :self.n_x])
        self.filled = 0


def accumulate(intake: Intake, *, sync: bool | None = None, process_group=None,
               device: torch.device | None = None,
               weights: Any = None) -> Stream:
    """Stream ``intake`` into the count, mean and scatter of the columns ``[X, y]``
    (``y`` only for real targets), all-reduced across processes.

    Each batch's joint columns are joined and centred by ``column_gram`` one row chunk at
    a time, so no full-size copy is made. A rank with no rows (an empty tensor or no
    batches at all) takes part with zeros. Raises the "no data" error when no process saw
    a row.
    """
    from torchmath.linalg.scatter import ScatterMatrix  # linalg sits above this module

    fn = intake.fn
    intake.finite_x = False  # checked through the accumulated mean below
    stats: ScatterMatrix | None = None
    groups: _RowGroups | None = None
    for X, y in intake:
        Y = None if y is None or intake.y_kind != "targets" else \
            (y.unsqueeze(1) if y.dim() == 1 else y)
        if stats is None:
            stats = ScatterMatrix(X.shape[1] + (0 if Y is None else Y.shape[1]))
            groups = _RowGroups(fn, stats, group=intake.batches.single is None)
        groups.add(X, Y)
    if groups is not None:
        groups.flush()
    intake.agree(sync=sync, process_group=process_group, device=device)
    t = (intake.n_targets or 0) if intake.y_kind == "targets" else 0
    cols = intake.n_features + t
    if stats is None or stats.count is None:  # no batch here: zeros of the agreed layout
        stats = ScatterMatrix(cols, dtype=intake.dtype, device=intake.device)
    elif stats.mean.dtype != intake.dtype:  # another rank holds wider data
        state = {k: v.to(intake.dtype) for k, v in stats.state().items()}
        stats = ScatterMatrix.from_state(**state, n_rows=stats.n_rows)
    stats.all_reduce(sync=sync, process_group=process_group)
    if stats.count is None:
        raise no_data(fn)
    return Stream(stats, intake.n_features, t, bool(intake.y_1d))
