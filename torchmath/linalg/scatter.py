"""Streaming count, mean and scatter matrix, mergeable exactly across batches and ranks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from torchmath._validation import check_floating, check_ndim, check_shape, fail
from torchmath.distributed import all_reduce_sum, should_sync
from torchmath.linalg.gram import column_gram

__all__ = ["ScatterMatrix"]


class ScatterMatrix:
    r"""Running weighted count, mean and scatter of vectors, merged exactly (Chan et al.).

    .. math::
        W = \sum_i w_i, \quad \mu = \frac1W \sum_i w_i x_i, \quad
        S = \sum_i w_i (x_i-\mu)(x_i-\mu)^\top

    Each batch is centred at its own mean before it is merged, and two partial results
    combine by the parallel update of Chan, Golub and LeVeque (1979):

    .. math::
        S = S_a + S_b + \frac{W_a W_b}{W_a+W_b}(\mu_a-\mu_b)(\mu_a-\mu_b)^\top

    so any split of the data, merged in any order, gives the whole-data result to
    rounding, even for features of scale 1e6 where :math:`\sum x x^\top - W\mu\mu^\top`
    would cancel catastrophically. This is the sufficient statistic behind streaming
    PCA, linear and ridge regression and ``RunningMoments``.

    Args:
        dim: the vector length ``d``.
        diagonal: keep only the diagonal of :math:`S` (per-feature sums of squares).
        dtype, device: of the accumulators (default: those of the first batch).

    Shape:
        ``update(x, weights)``: ``x`` is ``(n, d)``, ``weights`` is ``(n,)``. ``count``
        is ``()``, ``mean`` ``(d,)``, ``scatter`` ``(d, d)`` or ``(d,)`` when diagonal.

    Example:
        >>> import torch
        >>> s = ScatterMatrix(2)
        >>> s.update(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
        >>> s.update(torch.tensor([[4.0, 1.0]]))
        >>> s.mean, s.covariance(correction=1)
        (tensor([2., 1.]), tensor([[4., 1.],
                [1., 1.]]))

    Source: Chan, Golub and LeVeque (1979), "Updating formulae and a pairwise algorithm
    for computing sample variances".
    """

    def __init__(self, dim: int, *, diagonal: bool = False, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None):
        self.dim = dim
        self.diagonal = diagonal
        self.count: Tensor | None = None
        self.mean: Tensor | None = None
        self.scatter: Tensor | None = None
        self._dtype, self._device = dtype, device
        self.n_rows = 0  # rows seen (unweighted), for the "enough samples" checks

    def _init(self, like: Tensor) -> None:
        dtype = self._dtype or like.dtype
        device = self._device or like.device
        d = self.dim
        self.count = torch.zeros((), dtype=dtype, device=device)
        self.mean = torch.zeros(d, dtype=dtype, device=device)
        self.scatter = torch.zeros((d,) if self.diagonal else (d, d), dtype=dtype,
                                   device=device)

    @staticmethod
    def batch_stats(x: Tensor | Sequence[Tensor], weights: Tensor | None = None,
                    diagonal: bool = False):
        """Count, mean and scatter of one batch, centred at the batch mean (``x`` may be
        column blocks with the same rows, joined without a copy)."""
        blocks = [x] if isinstance(x, Tensor) else list(x)
        n = blocks[0].shape[0]
        if weights is None:
            count = blocks[0].new_tensor(float(n))
            mean = torch.cat([b.mean(0) if n else b.new_zeros(b.shape[1]) for b in blocks])
        else:
            count = weights.sum()
            tiny = torch.finfo(blocks[0].dtype).tiny
            mean = torch.cat([weights @ b for b in blocks]) / count.clamp_min(tiny)
        if diagonal:
            centred = torch.cat(blocks, 1) - mean
            scatter = centred.square().sum(0) if weights is None else weights @ centred.square()
        else:
            scatter = column_gram(blocks, weights, center=mean)
        return count, mean, scatter

    def _merge_stats(self, count: Tensor, mean: Tensor, scatter: Tensor) -> None:
        total = self.count + count
        safe = total.clamp_min(torch.finfo(total.dtype).tiny)
        delta = mean - self.mean
        weight = self.count * count / safe
        correction = weight * (delta.square() if self.diagonal else torch.outer(delta, delta))
        self.mean = self.mean + delta * (count / safe)
        self.scatter = self.scatter + scatter + correction
        self.count = total

    def update(self, x: Tensor | Sequence[Tensor], weights: Tensor | None = None) -> None:
        """Add a batch of rows (optionally weighted). ``x`` is ``(n, d)``, or a sequence of
        ``(n, d_i)`` column blocks (for example features and targets) that together make
        the ``d`` columns, joined without a copy."""
        fn = "ScatterMatrix.update"
        blocks = [x] if isinstance(x, Tensor) or not isinstance(x, Sequence) else list(x)
        for b in blocks:
            check_floating(fn, "x", b)
            check_ndim(fn, "x", b, ndim=2)
        if len(blocks) == 1:
            check_shape(fn, "x", blocks[0], (self.dim,))
        elif (sum(b.shape[1] for b in blocks) != self.dim
              or any(b.shape[0] != blocks[0].shape[0] for b in blocks)):
            raise fail(fn, "x", f"blocks with the same rows and {self.dim} columns in all",
                       [tuple(b.shape) for b in blocks])
        n = blocks[0].shape[0]
        if weights is not None and weights.shape != (n,):
            raise fail(fn, "weights", f"of shape ({n},)", tuple(weights.shape))
        if self.count is None:
            self._init(blocks[0])
        blocks = [b.to(self.mean.dtype) for b in blocks]
        if weights is not None:
            weights = weights.to(self.mean.dtype)
        self.n_rows += n
        if n == 0:
            return
        self._merge_stats(*self.batch_stats(blocks, weights, self.diagonal))

    def merge(self, other: ScatterMatrix) -> ScatterMatrix:
        """Fold another accumulator's data into this one (either may be empty)."""
        if other.dim != self.dim or other.diagonal != self.diagonal:
            raise fail("ScatterMatrix.merge", "other", f"an accumulator of dim {self.dim} "
                       f"(diagonal={self.diagonal})", f"dim {other.dim} "
                       f"(diagonal={other.diagonal})")
        if other.count is None:
            return self
        if self.count is None:
            self._init(other.mean)
        self.n_rows += other.n_rows
        self._merge_stats(other.count.to(self.mean), other.mean.to(self.mean),
                          other.scatter.to(self.mean))
        return self

    def all_reduce(self, *, sync: bool | None = None, process_group=None) -> ScatterMatrix:
        """Merge the accumulators of every process (exact Chan merge in two collectives).

        Every rank must call it; a rank that saw no data takes part with zeros. The
        dtype and device must be set (``dtype=``/``device=`` or a batch) on every rank.
        """
        if not should_sync(sync, process_group):
            return self
        if self.count is None:
            if self._dtype is None:
                raise fail("ScatterMatrix.all_reduce", "dtype", "to be set on a rank that "
                           "saw no data", None)
            self._init(torch.empty(0, dtype=self._dtype, device=self._device))
        n_rows = self.mean.new_tensor(float(self.n_rows))
        total, weighted_sum, n_rows = all_reduce_sum(self.count, self.count * self.mean,
                                                     n_rows, sync=sync,
                                                     process_group=process_group)
        mean = weighted_sum / total.clamp_min(torch.finfo(total.dtype).tiny)
        delta = self.mean - mean
        spread = self.count * (delta.square() if self.diagonal else torch.outer(delta, delta))
        scatter = all_reduce_sum(self.scatter + spread, sync=sync, process_group=process_group)
        self.count, self.mean, self.scatter = total, mean, scatter
        self.n_rows = int(n_rows)
        return self

    def state(self) -> dict[str, Tensor]:
        """The accumulators ``{"count", "mean", "scatter"}`` (to store in buffers).

        Raises ``ValueError`` while nothing has been added.
        """
        if self.count is None:
            raise fail("ScatterMatrix.state", "data", "at least one batch", "none")
        return {"count": self.count, "mean": self.mean, "scatter": self.scatter}

    @classmethod
    def from_state(cls, count: Tensor, mean: Tensor, scatter: Tensor, *,
                   n_rows: int | None = None) -> ScatterMatrix:
        """An accumulator holding a stored :meth:`state` (the tensors are not copied).

        ``n_rows`` is the number of rows behind the state; by default the count rounded
        (right for unweighted data; a host sync).
        """
        fn = "ScatterMatrix.from_state"
        check_ndim(fn, "mean", mean, ndim=1)
        d = mean.shape[0]
        diagonal = scatter.dim() == 1
        check_shape(fn, "scatter", scatter, (d,) if diagonal else (d, d))
        out = cls(d, diagonal=diagonal, dtype=mean.dtype, device=mean.device)
        out.count, out.mean, out.scatter = count.reshape(()), mean, scatter
        out.n_rows = int(round(float(count))) if n_rows is None else int(n_rows)
        return out

    def covariance(self, correction: int = 1) -> Tensor:
        """``scatter / (count - correction)``; NaN-free only when count > correction."""
        if self.count is None:
            raise fail("ScatterMatrix.covariance", "data", "at least one batch", "none")
        return self.scatter / (self.count - correction)
