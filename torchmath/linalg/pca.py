"""Principal component analysis: four solvers, streaming and distributed fits."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchmath import _cpu_blas
from torchmath._batches import Intake, accumulate, check_finite_via, no_data, row_chunks
from torchmath._estimator import Estimator
from torchmath._memory import empty_large
from torchmath._validation import check_choice, check_in_range, check_int, fail
from torchmath.distributed import should_sync, world_size
from torchmath.linalg.eigen import lanczos_eigsh
from torchmath.linalg.scatter import ScatterMatrix
from torchmath.linalg.svd import randomized_svd, svd_flip

__all__ = ["PCA"]


def _check_generator(fn: str, generator):
    if isinstance(generator, torch.Generator):
        return generator
    return check_int(fn, "generator", generator)

_SOLVERS = ("full", "randomized", "covariance", "lanczos")


class PCA(Estimator):
    r"""Principal component analysis: the orthogonal directions of largest variance.

    .. math::
        \bar X = X - \mathbf 1 \mu^\top = U \Sigma V^\top, \qquad
        \text{components} = V_{:k}^\top, \quad
        \lambda_i = \frac{\sigma_i^2}{n-1} = \operatorname{eig}_i\Big(\frac{\bar X^\top
        \bar X}{n-1}\Big), \quad
        z = V_{:k}^\top (x - \mu) \; [\,/\sqrt{\lambda} \text{ if whiten}]

    Solvers (the same numbers, different costs):

    - ``"full"``: the exact SVD of the centred data, :math:`O(nd^2)` (for :math:`n \ge d`
      through a Householder QR and the SVD of its :math:`d \times d` factor);
    - ``"covariance"``: streams the data once through a
      :class:`~torchmath.linalg.ScatterMatrix` (exact Chan merges), all-reduces it across
      processes, then ``eigh`` of the :math:`d \times d` covariance — the solver for
      DataLoaders, data that does not fit in memory, and multi-process fits;
    - ``"randomized"``: :func:`~torchmath.linalg.randomized_svd` of the centred data
      (Halko et al.; ``n_oversamples`` extra directions and ``n_iter`` power iterations
      with QR re-orthonormalization; ``n_iter=None`` picks 7 when
      :math:`k < 0.1\min(n, d)`, else 4, as scikit-learn does);
    - ``"lanczos"``: :func:`~torchmath.linalg.lanczos_eigsh` on
      :math:`v \mapsto \bar X^\top \bar X v/(n-1)`, never forming :math:`d \times d`.

    Sign rule (deterministic, scikit-learn's ``svd_flip(u_based_decision=False)``): each
    component's entry of largest absolute value is positive, so components equal
    scikit-learn's ``PCA`` (any solver) exactly, not only up to sign.

    ``fit`` takes a tensor ``X``, an ``(X, y)`` pair (``y`` ignored) or an iterable of
    batches. The non-covariance solvers concatenate the batches (they need all rows at
    once) and cannot fit across processes. ``partial_fit`` adds batches to the stored
    count, mean and scatter and re-solves by ``eigh`` of the covariance, whatever the
    solver (so it continues a ``"covariance"`` or ``"full"`` fit, or starts fresh).

    Args:
        n_components: ``k``; an int in :math:`[1, \min(n, d)]`, a float in (0, 1) (the
            fewest components explaining that fraction of variance; ``"full"`` and
            ``"covariance"`` only), or ``None`` for :math:`\min(n, d)`.
        solver: ``"full"``, ``"randomized"``, ``"covariance"`` or ``"lanczos"``.
        whiten: divide the scores by :math:`\sqrt{\lambda_i}` (unit variance).
        n_oversamples, n_iter: randomized solver settings.
        generator: the randomized and Lanczos solvers' random start: an int seeds a
            fresh ``torch.Generator`` per fit (reproducible), a ``torch.Generator`` is
            drawn from as it is.

    Attributes (buffers, after ``fit``):
        components ``(k, d)``, explained_variance ``(k,)``, explained_variance_ratio
        ``(k,)``, singular_values ``(k,)``, mean ``(d,)``, noise_variance ``()``,
        n_samples_seen ``()``, scatter ``(d, d)`` (for ``partial_fit``; empty after a
        truncated solver).

    Shape:
        ``transform``: ``(..., d) -> (..., k)``; ``inverse_transform``: ``(..., k) ->
        (..., d)``.

    Raises:
        ValueError: ``n_components`` outside what the data allows, NaN/inf entries, an
            empty dataset, inputs with the wrong number of features, a multi-process fit
            with a solver other than ``"covariance"``.

    Example:
        >>> X = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-2.0, 0.0], [0.0, -1.0]])
        >>> pca = PCA(1).fit(X)
        >>> pca.components, pca.explained_variance
        (tensor([[1., 0.]]), tensor([2.6667]))

    Source: Jolliffe, *Principal Component Analysis* (2002); Halko, Martinsson and Tropp
    (2011) for the randomized solver; scikit-learn's ``PCA`` for conventions.
    """

    _fitted_buffers = ("components", "explained_variance", "explained_variance_ratio",
                       "singular_values", "mean", "noise_variance", "n_samples_seen",
                       "scatter")
    _state_settings = ("n_components", "whiten")

    def __init__(self, n_components: int | float | None = None, *, solver: str = "full",
                 whiten: bool = False, n_oversamples: int = 10, n_iter: int | None = None,
                 generator: int | torch.Generator = 0):
        super().__init__()
        fn = "PCA"
        check_choice(fn, "solver", solver, _SOLVERS)
        if n_components is not None:
            if isinstance(n_components, float):
                check_in_range(fn, "n_components", n_components, 0.0, 1.0, low_open=True,
                               high_open=True)
                if solver in ("randomized", "lanczos"):
                    raise fail(fn, "n_components", f"an int with solver={solver!r}",
                               n_components)
            else:
                check_int(fn, "n_components", n_components, minimum=1)
        check_int(fn, "n_oversamples", n_oversamples, minimum=0)
        if n_iter is not None:
            check_int(fn, "n_iter", n_iter, minimum=0)
        self.n_components = n_components
        self.solver = solver
        self.whiten = whiten
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.generator = _check_generator(fn, generator)

    # ----------------------------------------------------------------- fitting
    def _n_features(self) -> int:
        return self.mean.shape[-1]

    def _device(self) -> torch.device:
        return self.mean.device

    def _generator(self) -> torch.Generator:
        g = self.generator
        return g if isinstance(g, torch.Generator) else torch.Generator().manual_seed(g)

    def _n_keep(self, n: int, d: int, ratio_all: Tensor | None) -> int:
        k = self.n_components
        limit = min(n, d)
        if k is None:
            return limit
        if isinstance(k, float):
            cum = ratio_all.cumsum(0)
            return min(int((cum <= k).sum()) + 1, len(cum))
        if k > limit:
            raise fail("PCA.fit", "n_components", f"to be at most min(n_samples, n_features) "
                       f"= {limit}", k)
        return k

    def _set(self, components, ev, ratio, S, mean, noise, n, scatter=None) -> None:
        self.components = components.detach().contiguous()
        self.explained_variance = ev.detach().contiguous()
        self.explained_variance_ratio = ratio.detach().contiguous()
        self.singular_values = S.detach().contiguous()
        self.mean = mean.detach()
        self.noise_variance = noise.detach().reshape(())
        self.n_samples_seen = mean.new_tensor(float(n))
        self.scatter = scatter.detach() if scatter is not None else mean.new_empty(0)
        self._mark_fitted()

    def _solve_covariance(self, stats: ScatterMatrix) -> None:
        n, d = stats.n_rows, stats.dim
        if n < 2:
            raise fail("PCA.fit", "data", "at least 2 samples", n)
        C = stats.scatter / (stats.count - 1)
        w, V = torch.linalg.eigh(0.5 * (C + C.mT))
        ev = w.flip(0).clamp_min(0)
        _, Vh = svd_flip(None, V.flip(1).mT)
        ratio = ev / ev.sum()
        k = self._n_keep(n, d, ratio)
        noise = ev[k:].mean() if k < min(n, d) else ev.new_zeros(())
        S = (ev * (stats.count - 1)).sqrt()
        self._set(Vh[:k], ev[:k], ratio[:k], S[:k], stats.mean, noise, n, stats.scatter)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None) -> PCA:
        """Fit the components to ``data`` (a tensor, an ``(X, y)`` pair or batches)."""
        fn = "PCA.fit"
        intake = Intake(data, y, fn=fn)
        if self.solver == "covariance":
            stream = accumulate(intake, device=self._device(), sync=sync,
                                process_group=process_group)
            self._solve_covariance(stream.stats)
            return self
        if should_sync(sync, process_group) and world_size(process_group) > 1:
            raise fail(fn, "solver", "'covariance' for a fit across processes (the other "
                       "solvers need all rows at once); or pass sync=False", self.solver)
        intake.finite_x = False  # checked through the mean below
        parts = [X for X, _ in intake]
        if sum(p.shape[0] for p in parts) == 0:
            raise no_data(fn)
        X = parts[0] if len(parts) == 1 else torch.cat(parts)
        n, d = X.shape
        if n < 2:
            raise fail(fn, "data", "at least 2 samples", n)
        mean = X.mean(0)
        check_finite_via(fn, "X", X, mean)
        if self.solver == "full":
            self._fit_full(X, mean)
        else:
            self._fit_truncated(X, mean)
        return self

    def _fit_full(self, X: Tensor, mean: Tensor) -> None:
        n, d = X.shape
        Xc = X - mean
        if n >= d:
            # The singular values and right vectors of Xc are those of R in Xc = QR, and
            # LAPACK's geqrf leaves Q as reflectors, never formed: about half the work of
            # an SVD that also builds the n x d left vectors, which PCA does not need.
            R = torch.geqrf(Xc)[0][:d].triu()
            _, S, Vh = torch.linalg.svd(R, full_matrices=False)
        else:
            _, S, Vh = torch.linalg.svd(Xc, full_matrices=False)
        _, Vh = svd_flip(None, Vh)
        ev = S.square() / (n - 1)
        ratio = ev / ev.sum()
        k = self._n_keep(n, d, ratio)
        noise = ev[k:].mean() if k < min(n, d) else ev.new_zeros(())
        scatter = (Vh.mT * S.square()) @ Vh  # exact X_c^T X_c, for partial_fit
        self._set(Vh[:k], ev[:k], ratio[:k], S[:k], mean, noise, n, scatter)

    def _fit_truncated(self, X: Tensor, mean: Tensor) -> None:
        n, d = X.shape
        k = self._n_keep(n, d, None)
        if _cpu_blas.plain(X) and _cpu_blas.plain(mean) and not torch.compiler.is_compiling():
            # a fresh centred copy of tens of MB pays a page fault per 4 KiB (see _memory)
            Xc = torch.sub(X, mean, out=empty_large(X, n, d))
        else:
            Xc = X - mean
        # the sum of squares by row chunks: no full-size temporary (13 of the 18 ms of the
        # one-pass sum of a 20000x512 float32 matrix went to its fresh square)
        rows = row_chunks(n, d * Xc.element_size(), 8 * 2**20)
        total_var = torch.stack([c.square().sum() for c in Xc.split(rows)]).sum() / (n - 1)
        if self.solver == "randomized":
            n_iter = self.n_iter if self.n_iter is not None else \
                (7 if k < 0.1 * min(n, d) else 4)
            g = self._generator()
            _, S, Vh = randomized_svd(Xc, k, n_oversamples=self.n_oversamples,
                                      n_iter=n_iter, generator=g)
            ev = S.square() / (n - 1)
        else:
            g = self._generator()

            def matvec(v: Tensor) -> Tensor:
                return Xc.mT @ (Xc @ v) / (n - 1)

            ev, V = lanczos_eigsh(matvec, d, k, which="LA", generator=g, dtype=X.dtype,
                                  device=X.device, tol=torch.finfo(X.dtype).eps ** 0.75)
            ev = ev.clamp_min(0)
            _, Vh = svd_flip(None, V.mT)
            S = (ev * (n - 1)).sqrt()
        ratio = ev / total_var
        rest = min(n, d) - k
        noise = (total_var - ev.sum()) / rest if rest > 0 else ev.new_zeros(())
        self._set(Vh, ev, ratio, S, mean, noise, n)

    def partial_fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
                    process_group=None) -> PCA:
        """Add batches to the stored statistics and re-solve (covariance ``eigh``).

        Until the running count reaches ``max(2, n_components)`` the statistics are only
        stored and the model stays unfitted, so batches of any size (one row too) work.
        """
        fn = "PCA.partial_fit"
        d = None
        stored = None
        if self.n_samples_seen.numel():
            if self.scatter.numel() == 0:
                raise fail(fn, "solver", "a model fitted with 'covariance' or 'full' to "
                           "continue (a truncated fit keeps no scatter)", self.solver)
            d = self.mean.shape[0]
            stored = ScatterMatrix.from_state(self.n_samples_seen, self.mean, self.scatter)
        stream = accumulate(Intake(data, y, fn=fn, n_features=d), device=self._device(),
                            sync=sync, process_group=process_group)
        stats = stored.merge(stream.stats) if stored is not None else stream.stats
        k = self.n_components if isinstance(self.n_components, int) else 1
        if stats.n_rows < max(2, k):
            self.mean = stats.mean.detach()
            self.scatter = stats.scatter.detach()
            self.n_samples_seen = stats.count.detach().clone()
            return self
        self._solve_covariance(stats)
        return self

    # ----------------------------------------------------------------- using
    def transform(self, X: Tensor) -> Tensor:
        """Scores :math:`V_{:k}^\\top (x - \\mu)` (whitened if asked); differentiable in X."""
        X = self._input("transform", X)
        Z = (X - self.mean) @ self.components.mT
        if self.whiten:
            Z = Z / self.explained_variance.clamp_min(torch.finfo(Z.dtype).tiny).sqrt()
        return Z

    def forward(self, X: Tensor) -> Tensor:
        """Same as :meth:`transform`."""
        return self.transform(X)

    def inverse_transform(self, Z: Tensor) -> Tensor:
        """Map scores back to the data space: :math:`\\mu + V_{:k} z`."""
        self._check_fitted("inverse_transform")
        Z = self._input("inverse_transform", Z, self.components.shape[0], "Z")
        if self.whiten:
            Z = Z * self.explained_variance.sqrt()
        return Z @ self.components + self.mean

    def reconstruction_error(self, X: Tensor) -> Tensor:
        r"""Mean squared reconstruction error over all entries,
        :math:`\frac{1}{nd}\sum_i \|x_i - \hat x_i\|^2`."""
        X = self._input("reconstruction_error", X)
        return (X - self.inverse_transform(self.transform(X))).square().mean()

    def fit_transform(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
                      process_group=None) -> Tensor:
        """Fit to ``data`` (a tensor ``X``) and return its scores, ``(n, k)``."""
        X = data[0] if isinstance(data, tuple) else data
        if not isinstance(X, Tensor):
            raise fail("PCA.fit_transform", "data", "a tensor X (the scores of batches are "
                       "fit(data).transform(X) per batch)", type(X).__name__, TypeError)
        return self.fit(data, y, sync=sync, process_group=process_group).transform(X)

    def score_samples(self, X: Tensor) -> Tensor:
        r"""Log-likelihood of each sample under the probabilistic PCA model
        :math:`\mathcal N(\mu, V_k \operatorname{diag}(\lambda - \sigma^2) V_k^\top +
        \sigma^2 I)` (Tipping and Bishop 1999; scikit-learn's ``PCA.score_samples``)."""
        X = self._input("score_samples", X)
        d = X.shape[-1]
        noise = self.noise_variance
        V, ev = self.components, self.explained_variance
        cov = (V.mT * (ev - noise)) @ V + noise * torch.eye(d, dtype=X.dtype, device=X.device)
        return torch.distributions.MultivariateNormal(
            self.mean, covariance_matrix=cov, validate_args=False).log_prob(X)

    def score(self, X: Tensor) -> Tensor:
        """Mean log-likelihood of the samples (:meth:`score_samples`)."""
        return self.score_samples(X).mean()
