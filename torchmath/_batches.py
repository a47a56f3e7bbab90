"""Turn what a user passes to ``fit`` into a stream of batches.

``fit(data)`` accepts a tensor ``X``, a pair ``(X, y)`` (or any *tuple* of tensors with
the same number of rows), or any iterable of batches: a ``DataLoader``, a *list* of
batches, a generator. A tuple is one batch and a list is many, so ``fit([X1, X2])``
streams two batches of any lengths. Every form becomes an iterable of tuples of tensors,
so estimators only ever see batches and accumulate sufficient statistics from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from torch import Tensor

from torchmath._validation import check_same_size, fail

__all__ = ["Batches", "as_batches", "row_chunks"]


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
