"""Gaussian mixtures fitted by EM, batched over components and restarts, from batches."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, row_chunks
from torchmath._estimator import Estimator
from torchmath._validation import (
    check_choice,
    check_int,
    check_min_rows,
    check_positive,
    check_shape,
    fail,
)
from torchmath.distributed import all_gather_rows, all_reduce_sum

__all__ = ["GaussianMixture"]

_LOG_2PI = math.log(2 * math.pi)
_CHUNK_BYTES = 4 * 2**20
_TYPES = ("full", "diag", "spherical", "tied")


def _full_cov(cov: Tensor, ctype: str, K: int, d: int) -> Tensor:
    """Covariances of any type as ``(..., K, d, d)`` matrices."""
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    if ctype == "full":
        return cov
    if ctype == "diag":
        return torch.diag_embed(cov)
    if ctype == "spherical":
        return cov[..., None, None] * eye
    return cov.unsqueeze(-3).expand(*cov.shape[:-2], K, d, d)


def _pairs(m: int, device=None) -> tuple[Tensor, Tensor]:
    """The ``m (m + 1) / 2`` unordered index pairs ``(a, b)`` in cyclic-diagonal order:
    shift ``s = 0, 1, ...`` pairs every ``a`` with ``b = (a + s) mod m`` (the last shift,
    for even ``m``, only its first ``m / 2`` rows). This is the column order of
    :func:`_features`'s products, which builds all of them in one strided product."""
    a = torch.arange(m, device=device)
    i = torch.cat([a] * ((m + 1) // 2) + ([a[: m // 2]] if m % 2 == 0 else []))
    s = torch.arange(i.numel(), device=device) // m
    return i, (i + s) % m


def _width(ctype: str, d: int) -> int:
    """Rows of :func:`_features`' output."""
    if ctype in ("full", "tied"):
        return (d + 1) * (d + 2) // 2
    return (d if ctype == "diag" else 1) + d + 1


def _features(X: Tensor, ctype: str, shift: Tensor | None = None, out: Tensor | None = None,
              work: Tensor | None = None) -> Tensor:
    """``F`` ``(width, c)``, one column per row of ``X``: every E-step logit and M-step
    moment of ``x - shift`` is linear in ``F``'s column.

    Full and tied: with :math:`x' = (x, 1)`, a column holds every product
    :math:`x'_a x'_b`, each unordered pair once, in :func:`_pairs` order: :math:`x x^\top`,
    ``x`` and ``1`` in ``(d + 1)(d + 2) / 2`` entries. They come from one multiplication: ``work``
    ``(2 (d + 1), >= c)`` holds ``[x'; x']`` (its ones rows already set), and its strided
    view whose block ``s`` starts at row ``s`` is :math:`x'` rotated by ``s``. Diag and
    spherical: ``[x^2; x; 1]`` or ``[|x|^2; x; 1]``. So the E-step is the single product
    ``A^T F`` over all components and restarts, and the M-step's moments the single
    product ``resp F^T``. The transposed layout keeps every elementwise loop long and
    contiguous (the row-major ``(c, width)`` layout, built in slices of 17, was measured
    3x slower to build and its M-step product 2x slower on one core). ``out`` and ``work``,
    reused buffers (slices of wider ones allowed), save the page faults of fresh
    multi-MB tensors per row block.
    """
    c, d = X.shape
    width = _width(ctype, d)
    F = X.new_empty(width, c) if out is None else out
    shift = X.new_zeros(d) if shift is None else shift
    if ctype in ("full", "tied"):
        m = d + 1
        if work is None:
            work = X.new_ones(2 * m, c)
        ld = work.stride(0)
        torch.sub(X.T, shift[:, None], out=work[:d, :c])
        work[m:m + d, :c] = work[:d, :c]
        full = (m + 1) // 2  # rotations with all m products
        torch.mul(work[None, :m, :c], work.as_strided((full, m, c), (ld, ld, 1)),
                  out=F[:full * m].view(full, m, c))
        if m % 2 == 0:
            torch.mul(work[: m // 2, :c], work[m // 2: m, :c], out=F[full * m:])
        return F
    o = width - d - 1
    Xc = torch.sub(X.T, shift[:, None], out=F[o:o + d])
    if ctype == "diag":
        torch.square(Xc, out=F[:d])
    else:
        torch.linalg.vecdot(Xc, Xc, dim=0, out=F[0])
    F[-1] = 1
    return F


def _unpack(M: Tensor, ctype: str, d: int) -> dict[str, Tensor]:
    """``resp @ F``, ``(..., width)``, as the masses ``N``, first moments ``Sx`` and second
    moments (``S`` ``(..., d, d)`` for full/tied, ``Q`` (squares) for diag/spherical)."""
    if ctype in ("full", "tied"):
        i, j = _pairs(d + 1, M.device)
        S = M.new_empty(*M.shape[:-1], d + 1, d + 1)
        S[..., i, j] = M
        S[..., j, i] = M
        return {"N": S[..., d, d], "Sx": S[..., :d, d], "S": S[..., :d, :d]}
    nq = M.shape[-1] - d - 1
    return {"N": M[..., -1], "Sx": M[..., nq:nq + d], "Q": M[..., :nq]}


class _Detached:
    """A re-iterable view of the batches' first tensors, detached (the EM passes)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        for batch in self.batches:
            yield batch[0].detach()


class _Params:
    """Mixture parameters of ``R`` restarts in lockstep (in a shifted frame), and the
    coefficient matrix ``A`` with ``F @ A`` = the weighted component log-densities."""

    def __init__(self, ctype: str, log_w: Tensor, means: Tensor, cov: Tensor):
        self.ctype, self.log_w, self.means, self.cov = ctype, log_w, means, cov
        R, K, d = means.shape
        if ctype in ("full", "tied"):
            L = torch.linalg.cholesky(cov)  # (R, K, d, d) or (R, d, d)
            eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
            W = torch.linalg.solve_triangular(L, eye, upper=False)
            P = W.mT @ W
            half = -L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            if ctype == "tied":
                P = P.unsqueeze(1).expand(R, K, d, d)
                half = half[:, None].expand(R, K)
            Pm = (P @ means.unsqueeze(-1)).squeeze(-1)
            const = log_w + half - 0.5 * d * _LOG_2PI - 0.5 * (Pm * means).sum(-1)
            # the logit is x'^T G x' with x' = (x, 1): G = [[-P/2, Pm/2], [Pm^T/2, const]]
            G = P.new_empty(R, K, d + 1, d + 1)
            G[..., :d, :d] = -0.5 * P
            G[..., :d, d] = 0.5 * Pm
            G[..., d, :d] = 0.5 * Pm
            G[..., d, d] = const
            i, j = _pairs(d + 1, means.device)
            A = G[..., i, j] * torch.where(i == j, 1.0, 2.0).to(G)  # (R, K, width)
        else:
            prec = 1.0 / cov
            if ctype == "diag":
                half = -0.5 * cov.log().sum(-1)
                a_q, Pm = prec, prec * means
            else:
                half = -0.5 * d * cov.log()
                a_q, Pm = prec.unsqueeze(-1), prec.unsqueeze(-1) * means
            c0 = (Pm * means).sum(-1)
            const = log_w + half - 0.5 * d * _LOG_2PI
            A = torch.cat([-0.5 * a_q, Pm, (const - 0.5 * c0).unsqueeze(-1)], -1)
        # (width, R K), a transposed view of a contiguous (R K, width): the E-step uses
        # A.T directly (see GaussianMixture._em_pass).
        self.A = A.reshape(R * K, -1).T


class _RowBlock:
    """The reused buffers of one block of rows in an EM pass (fresh multi-MB tensors per
    block would pay their page faults every time), and their views for ``c`` rows."""

    def __init__(self, like: Tensor, ctype: str, R: int, K: int, rows: int,
                 previous: _RowBlock | None = None):
        d = like.shape[1]
        self.rows, self.R, self.K = rows, R, K
        self.F = like.new_empty(_width(ctype, d), rows)
        self.work = like.new_ones(2 * d + 2, rows) if ctype in ("full", "tied") else None
        self.logits = like.new_empty(R * K * rows)
        self.top, self.total = like.new_empty(R * rows), like.new_empty(R * rows)
        # per-row log-likelihoods of each restart, summed over the blocks of the pass
        self.lse = like.new_zeros(R, rows)
        if previous is not None:
            self.lse[:, :previous.rows] = previous.lse
        self._c, self._views = None, None

    def views(self, c: int) -> tuple[Tensor, ...]:
        """``F`` ``(width, c)``, logits ``(R, K, c)``, max and sum ``(R, 1, c)``, lse."""
        if c != self._c:
            R, K = self.R, self.K
            self._c, self._views = c, (
                self.F[:, :c], self.logits[:R * K * c].view(R, K, c),
                self.top[:R * c].view(R, 1, c), self.total[:R * c].view(R, 1, c),
                self.lse[:, :c].unsqueeze(1))
        return self._views


class GaussianMixture(Estimator):
    r"""Gaussian mixture model fitted by expectation-maximization.

    .. math::
        p(x) = \sum_{k=1}^K \pi_k\, \mathcal N(x \mid \mu_k, \Sigma_k), \qquad
        r_{ik} = \frac{\pi_k \mathcal N(x_i\mid\mu_k,\Sigma_k)}{p(x_i)}, \quad
        \mu_k = \frac{\sum_i r_{ik} x_i}{\sum_i r_{ik}}, \quad
        \Sigma_k = \frac{\sum_i r_{ik}(x_i-\mu_k)(x_i-\mu_k)^\top}{\sum_i r_{ik}}
        + \epsilon I

    Every E- and M-step runs over all components and all ``n_init`` restarts at once, as
    batched matrix products over cache-sized blocks of rows (no Python loop over
    components). Each EM iteration is one pass over ``data`` (a tensor or any re-iterable
    of batches) that accumulates the responsibilities' moments, centred at the previous
    means for accuracy; under ``torch.distributed`` these sufficient statistics are
    all-reduced, so every rank follows the whole-data trajectory. The initialization
    draws a bounded uniform sample (``init_size`` rows, by random keys merged across
    batches and ranks), places centres by k-means++ (or assigns random
    responsibilities), and takes one M-step on the sample. As in scikit-learn,
    ``10 * eps`` is added to every component's mass, so a component that loses all its
    points keeps a finite mean and ``reg_covar`` covariance and the fit goes on.

    Args:
        n_components: number of components ``K``.
        covariance_type: ``"full"``, ``"diag"``, ``"spherical"`` or ``"tied"``.
        init: ``"kmeans++"`` or ``"random"``.
        n_init: restarts, run together; the one with the best final bound is kept.
            Restart ``r`` draws from its own generator, so the restarts are nested:
            restart 0 of ``n_init=10`` is the ``n_init=1`` fit, and the best of ten never
            ends below it.
        max_iter, tol: EM iteration limit; stop when the mean log-likelihood changes
            less than ``tol``.
        reg_covar: added to the diagonal of every covariance (``0`` allowed; a component
            that collapses onto fewer than ``d + 1`` distinct points is then a
            ``ValueError`` naming ``reg_covar``).
        generator: the initialization's randomness: an int seeds it (the default, so fits
            are reproducible and every process starts alike), a ``torch.Generator`` is
            drawn from (one draw per fit).
        init_size: rows in the initialization sample.
        weights_init, means_init, precisions_init: fixed starting parameters (as in
            scikit-learn; ``precisions_init`` follows ``covariance_type``'s shape).

    Attributes (buffers, after ``fit``):
        weights, means, covariances; converged ``()`` and n_iter ``()`` of the kept
        restart; lower_bound ``()`` (its final mean log-likelihood) and lower_bounds
        ``(n_iter,)`` (its trajectory). A fit that stops at ``max_iter`` warns with
        :class:`torchmath.ConvergenceWarning`.

    Shape:
        ``X``: ``(n, d)`` to fit, ``(..., d)`` for scores; ``weights`` ``(K,)``; ``means``
        ``(K, d)``; ``covariances`` ``(K, d, d)``, ``(K, d)``, ``(K,)`` or ``(d, d)``.

    Raises:
        ValueError: bad options, fewer samples than components, non-finite data.
        NotFittedError: use before ``fit``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.cat([torch.randn(50, 2, generator=g) - 4,
        ...                torch.randn(50, 2, generator=g) + 4]).double()
        >>> gm = GaussianMixture(2, generator=0).fit(X)
        >>> sorted(gm.means[:, 0].round().tolist())
        [-4.0, 4.0]

    Source: Dempster, Laird and Rubin (1977); Bishop (2006), sec. 9.2; k-means++ by
    Arthur and Vassilvitskii (2007).
    """

    _fitted_buffers = ("weights", "means", "covariances", "converged", "n_iter", "lower_bound",
                       "lower_bounds")
    _state_settings = ("n_components", "covariance_type")

    def __init__(self, n_components: int, covariance_type: str = "full", init: str = "kmeans++",
                 n_init: int = 1, max_iter: int = 100, tol: float = 1e-3,
                 reg_covar: float = 1e-6, *, generator: int | torch.Generator = 0,
                 init_size: int = 100_000, weights_init: Tensor | None = None,
                 means_init: Tensor | None = None, precisions_init: Tensor | None = None):
        super().__init__()
        fn = "GaussianMixture"
        self.n_components = check_int(fn, "n_components", n_components, minimum=1)
        self.covariance_type = check_choice(fn, "covariance_type", covariance_type, _TYPES)
        self.init = check_choice(fn, "init", init, ("kmeans++", "random"))
        self.n_init = check_int(fn, "n_init", n_init, minimum=1)
        self.max_iter = check_int(fn, "max_iter", max_iter, minimum=1)
        self.tol = check_positive(fn, "tol", tol, strict=False)
        self.reg_covar = check_positive(fn, "reg_covar", reg_covar, strict=False)
        if not isinstance(generator, torch.Generator):
            check_int(fn, "generator", generator)
        self.generator = generator
        self.init_size = check_int(fn, "init_size", init_size, minimum=1)
        self.weights_init, self.means_init = weights_init, means_init
        self.precisions_init = precisions_init

    def _n_features(self) -> int:
        return self.means.shape[-1]

    def _seed(self) -> int:
        """This fit's base seed: the int given, or one draw from the given generator."""
        g = self.generator
        if isinstance(g, torch.Generator):
            return int(torch.randint(2**62, (), generator=g))
        return g

    @staticmethod
    def _restart_generators(seed: int, R: int) -> list[torch.Generator]:
        """One generator per restart, restart ``r`` seeded from ``(seed, r)`` alone."""
        return [torch.Generator().manual_seed((seed + 7919 * r) % 2**63) for r in range(R)]

    # -- initialization --------------------------------------------------------------
    def _sample(self, batches) -> tuple[Tensor | None, Tensor | None, int]:
        """A uniform sample of ``init_size`` rows, and the number of rows seen.

        Each row gets a pseudo-random key computed from its own values and the seed
        (a hash, not a draw), and the rows with the smallest keys are kept, merged over
        batches and ranks. The sample is therefore the same set however the data are
        split into batches or shards, which keeps distributed fits equal to one-process
        fits.
        """
        rows = keys = None
        n = 0
        for batch in batches:
            X = batch[0]
            n += X.shape[0]
            k = self._keys(X)
            rows = X if rows is None else torch.cat([rows, X])
            keys = k if keys is None else torch.cat([keys, k])
            if rows.shape[0] > 2 * self.init_size:  # trimmed now and then, not per batch
                rows, keys = self._smallest(rows, keys)
        if rows is not None and rows.shape[0] > self.init_size:
            rows, keys = self._smallest(rows, keys)
        return rows, keys, n

    def _smallest(self, rows: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """The ``init_size`` rows with the smallest keys (a row dropped here has that many
        smaller keys, so it is never among the final sample)."""
        keys, idx = torch.topk(keys, self.init_size, largest=False)
        return rows[idx], keys

    def _keys(self, X: Tensor) -> Tensor:
        d = X.shape[1]
        v = torch.arange(1, d + 1, dtype=torch.float64, device=X.device).sqrt() * 0.7548776662
        t = X.double() @ v + 0.5698402909 * (self._key_seed % 2**20 + 1)
        return torch.frac(torch.sin(t) * 43758.5453123).abs()

    def _initial_params(self, S: Tensor, R: int, g: list[torch.Generator]) -> _Params:
        K, (m, d) = self.n_components, S.shape
        if self.init == "random":
            resp = torch.stack([torch.rand(m, K, generator=gr, dtype=torch.float64)
                                for gr in g]).to(S)
            resp = resp / resp.sum(-1, keepdim=True)
        else:
            resp = self._kmeanspp_resp(S, R, g)
        F = _features(S, self.covariance_type)
        return self._m_step(self._moments(F, resp.permute(1, 0, 2).reshape(m, R * K), R, K,
                                          d), float(m))

    def _kmeanspp_resp(self, S: Tensor, R: int, g: list[torch.Generator]) -> Tensor:
        """k-means++ centres on the sample (batched over restarts); hard responsibilities.

        Each restart's uniforms are drawn up front from its own generator (on the CPU,
        one copy to the device); candidates are found by inverse-CDF search on the device,
        so no centre costs a device-to-host copy."""
        K, m = self.n_components, S.shape[0]
        trials = 2 + int(math.log(K))
        sq = S.square().sum(-1)
        first = torch.cat([torch.randint(m, (1,), generator=gr) for gr in g]).to(S.device)
        U = torch.stack([torch.rand(max(K - 1, 1), trials, generator=gr, dtype=torch.float64)
                         for gr in g], 1).to(S.device)  # (K-1, R, t)
        centres = [S[first]]  # K sequential choices; each is batched over restarts
        closest = (sq - 2 * S[first] @ S.T + sq[first][:, None]).clamp_min(0)  # (R, m)
        for c in range(1, K):
            p = (closest + torch.finfo(S.dtype).tiny).double()
            cdf = p.cumsum(-1)
            cand = torch.searchsorted(cdf, U[c - 1] * cdf[:, -1:]).clamp_max(m - 1)  # (R, t)
            cs = S[cand]  # (R, t, d)
            dist = (sq + cs.square().sum(-1, keepdim=True) - 2 * cs @ S.T).clamp_min(0)
            new = torch.minimum(closest.unsqueeze(1), dist)  # (R, t, m)
            best = new.sum(-1).argmin(-1)
            ar = torch.arange(R, device=S.device)
            closest = new[ar, best]
            centres.append(cs[ar, best])
        C = torch.stack(centres, 1)  # (R, K, d)
        d2 = sq + C.square().sum(-1, keepdim=True) - 2 * C @ S.T  # (R, K, m)
        return torch.nn.functional.one_hot(d2.argmin(1), K).to(S.dtype)  # (R, m, K)

    def _given_params(self, S: Tensor, R: int, shift: Tensor) -> _Params:
        fn, K, d = "GaussianMixture.fit", self.n_components, S.shape[1]
        like = dict(dtype=S.dtype, device=S.device)
        w = torch.full((K,), 1.0 / K, **like) if self.weights_init is None else \
            self.weights_init.to(**like)
        check_shape(fn, "weights_init", w, (K,))
        if self.means_init is None:
            raise fail(fn, "means_init", "to be given with weights_init/precisions_init",
                       None)
        mu = self.means_init.to(**like)
        check_shape(fn, "means_init", mu, (K, d))
        mu = mu - shift
        if self.precisions_init is None:
            cov = {"full": torch.eye(d, **like).expand(K, d, d), "diag": torch.ones(K, d, **like),
                   "spherical": torch.ones(K, **like), "tied": torch.eye(d, **like)}[
                self.covariance_type]
        else:
            P = self.precisions_init.to(**like)
            cov = torch.linalg.inv(P) if self.covariance_type in ("full", "tied") else 1.0 / P
        rep = lambda t: t.unsqueeze(0).expand(R, *t.shape).contiguous()  # noqa: E731
        return _Params(self.covariance_type, rep(w.log()), rep(mu), rep(cov))

    # -- EM --------------------------------------------------------------------------
    def _moments(self, F: Tensor, resp: Tensor, R: int, K: int, d: int) -> dict[str, Tensor]:
        """``resp.T @ F`` split into the masses, first and second moments, per (r, k)."""
        return _unpack((resp.T @ F.T).reshape(R, K, -1), self.covariance_type, d)

    def _m_step(self, st: dict[str, Tensor], n: float) -> _Params:
        N = st["N"] + 10 * torch.finfo(st["N"].dtype).eps  # scikit-learn's guard
        mu = st["Sx"] / N.unsqueeze(-1)
        ctype = self.covariance_type
        R, K, d = mu.shape
        eye = torch.eye(d, dtype=N.dtype, device=N.device)
        if ctype in ("full", "tied"):
            S = st["S"]
            cross = mu.unsqueeze(-1) * st["Sx"].unsqueeze(-2)
            # sum_i r_i (x_i - mu)(x_i - mu)^T = S - mu Sx^T - Sx mu^T + N mu mu^T
            scat = S - cross - cross.mT + st["N"][..., None, None] * \
                (mu.unsqueeze(-1) * mu.unsqueeze(-2))
            if ctype == "full":
                cov = scat / N[..., None, None] + self.reg_covar * eye
            else:
                cov = scat.sum(1) / n + self.reg_covar * eye
        elif ctype == "diag":
            scat = st["Q"] - 2 * (mu * st["Sx"]) + st["N"].unsqueeze(-1) * mu.square()
            cov = scat / N.unsqueeze(-1) + self.reg_covar
        else:
            scat = st["Q"][..., 0] - 2 * (mu * st["Sx"]).sum(-1) + st["N"] * mu.square().sum(-1)
            cov = scat / (N * d) + self.reg_covar
        log_w = N.log() - N.sum(-1, keepdim=True).log()
        return _Params(ctype, log_w, mu, cov)

    def _em_pass(self, batches, params: _Params, shift: Tensor, sync, process_group=None
                 ) -> tuple[dict[str, Tensor], Tensor]:
        """One pass: E-step and the M-step's sufficient statistics, all-reduced."""
        R, K, d = params.means.shape
        width = params.A.shape[0]
        M = params.means.new_zeros(R * K, width)
        AT = params.A.T
        block = None  # one set of row-block buffers reused over the pass
        for X in batches:
            X = X.to(shift.dtype)
            step = row_chunks(X.shape[0], (width + 2 * d + 2 + 3 * R * K) * X.element_size(),
                              _CHUNK_BYTES)
            blocks = max(1, -(-X.shape[0] // step))  # equal blocks, no short last one
            step = max(1, -(-X.shape[0] // blocks))
            if block is None or block.rows < step:
                block = _RowBlock(X, self.covariance_type, R, K, step, block)
            for s in range(0, X.shape[0], step):
                c = min(step, X.shape[0] - s)
                F, logp, top, total, lse = block.views(c)
                _features(X[s:s + c], self.covariance_type, shift, out=F, work=block.work)
                torch.mm(AT, F, out=logp.view(R * K, c))
                # logsumexp and the responsibilities in place, with one exp: the logits
                # are finite (finite data, positive-definite covariances).
                torch.amax(logp, 1, keepdim=True, out=top)
                torch.sum(logp.sub_(top).exp_(), 1, keepdim=True, out=total)
                M.addmm_(logp.div_(total).view(R * K, c), F.T)
                lse.add_(total.log_()).add_(top)
        lse = None if block is None else block.lse
        ll = params.means.new_zeros(R) if lse is None else lse.sum(1)
        M, ll = all_reduce_sum(M, ll, sync=sync, process_group=process_group)
        return _unpack(M.reshape(R, K, width), self.covariance_type, d), ll

    def fit(self, data: Any, y: Any = None, *, sync: bool | None = None,
            process_group=None) -> GaussianMixture:
        """Fit by EM from a tensor ``(n, d)`` or an iterable of batches; returns self."""
        fn = "GaussianMixture.fit"
        pg = process_group
        intake = Intake(data, y, fn=fn, multi_pass=True)
        seed = self._seed()
        self._key_seed = seed
        gens = self._restart_generators(seed, self.n_init)
        rows, keys, _ = self._sample(intake)
        intake.agree(sync=sync, process_group=pg, device=self.weights.device)
        d, dtype, device = intake.n_features, intake.dtype, intake.device
        if rows is None:
            rows = torch.zeros(0, d, dtype=dtype, device=device)
            keys = torch.zeros(0, dtype=torch.float64, device=device)
        rows = rows.to(dtype)
        n_rows = int(all_reduce_sum(torch.tensor([float(intake.n_rows)], dtype=torch.float64),
                                    sync=sync, process_group=pg))
        check_min_rows(fn, "data", n_rows, max(self.n_components, 2))
        R = self.n_init
        rows = all_gather_rows(rows, sync=sync, process_group=pg)
        if self.means_init is not None or self.weights_init is not None or \
                self.precisions_init is not None:
            # a given start: the sample only sets the frame (its mean, in any order), which
            # keeps the moments accurate
            shift = rows.mean(0)
            params = self._guard(fn, lambda: self._given_params(rows, R, shift))
        else:
            # the shared initialization sample: the smallest keys over all ranks, in key order
            keys = all_gather_rows(keys.to(rows.device), sync=sync, process_group=pg)
            keys, idx = torch.sort(keys)
            rows = rows[idx[: self.init_size]]
            shift = rows.mean(0)
            params = self._guard(fn, lambda: self._initial_params(rows - shift, R, gens))
        # later passes: batches were checked (and their layout agreed) in the first one
        stream = [b[0].detach() for b in intake.batches] if intake.batches.single else \
            _Detached(intake.batches)
        lower = torch.full((R,), -math.inf, dtype=torch.float64)
        converged = torch.zeros(R, dtype=torch.bool)
        n_iter = torch.zeros(R, dtype=torch.long)
        history = []
        best_params = params
        for it in range(1, self.max_iter + 1):
            st, ll = self._em_pass(stream, params, shift, sync, process_group=pg)
            new = self._guard(fn, lambda st=st: self._m_step(st, float(n_rows)))
            bound = (ll / n_rows).double().cpu()
            active = ~converged
            change = (bound - lower).abs()
            lower = torch.where(active, bound, lower)
            n_iter = torch.where(active, torch.full_like(n_iter, it), n_iter)
            history.append(lower.clone())
            params = self._select(active, new, params)
            converged = converged | (active & (change < self.tol))
            best_params = params
            if bool(converged.all()):
                break
        best = int(torch.argmax(lower))
        self._store(best_params, best, converged, n_iter, lower, torch.stack(history), shift)
        if not bool(converged[best]):
            self._warn_not_converged(fn, detail=" (the best restart)")
        return self

    def _guard(self, fn: str, step):
        """Run an M-step; a covariance that is not positive definite (only possible with
        ``reg_covar=0``: a component collapsed onto too few distinct points) is a named
        error instead of a raw ``LinAlgError`` or NaN."""
        try:
            params = step()
        except torch.linalg.LinAlgError:
            params = None
        if params is not None and self.reg_covar > 0:
            return params
        if params is None or not bool((params.cov.diagonal(dim1=-2, dim2=-1) if
                                       params.cov.dim() > 3 or self.covariance_type == "tied"
                                       else params.cov).gt(0).all()):
            raise fail(fn, "reg_covar", "a positive value for data on which a component "
                       "collapses (a singular covariance)", self.reg_covar)
        return params

    def fit_predict(self, data: Any, y: Any = None, *, sync: bool | None = None,
                    process_group=None) -> Tensor:
        """Fit to ``data`` (a tensor ``X``) and return the components of its rows."""
        X = data[0] if isinstance(data, tuple) else data
        if not isinstance(X, Tensor):
            raise fail("GaussianMixture.fit_predict", "data", "a tensor X", type(X).__name__,
                       TypeError)
        return self.fit(data, y, sync=sync, process_group=process_group).predict(X)

    @staticmethod
    def _select(active: Tensor, new: _Params, old: _Params) -> _Params:
        """Freeze the restarts that have converged (their parameters stop changing)."""
        if bool(active.all()):
            return new
        a = active.to(new.means.device)
        pick = lambda x, y: torch.where(a.reshape(-1, *[1] * (x.dim() - 1)), x, y)  # noqa
        return _Params(new.ctype, pick(new.log_w, old.log_w), pick(new.means, old.means),
                       pick(new.cov, old.cov))

    def _store(self, params: _Params, best: int, converged, n_iter, lower, history,
               shift: Tensor) -> None:
        self.weights = params.log_w[best].exp()
        self.means = params.means[best] + shift
        self.covariances = params.cov[best].contiguous()
        self.converged = converged[best].to(self.means.device)
        self.n_iter = n_iter[best].to(self.means.device)
        self.lower_bound = lower[best].to(self.means)
        self.lower_bounds = history[: int(n_iter[best]), best].to(self.means)
        self._mark_fitted()

    # -- the fitted model ------------------------------------------------------------
    def _component_log_prob(self, X: Tensor, method: str) -> Tensor:
        """``log pi_k + log N(x | mu_k, Sigma_k)``, ``(..., K)``, differentiable."""
        X = self._input(method, X)
        d = self.means.shape[-1]
        K = self.n_components
        cov = _full_cov(self.covariances, self.covariance_type, K, d)
        L = torch.linalg.cholesky(cov)
        diff = X.unsqueeze(-2) - self.means  # (..., K, d)
        flat = diff.reshape(-1, K, d).permute(1, 2, 0)  # (K, d, m)
        z = torch.linalg.solve_triangular(L, flat, upper=False)
        maha = z.square().sum(-2).T.reshape(*X.shape[:-1], K)
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return self.weights.log() - half_log_det - 0.5 * (d * _LOG_2PI + maha)

    def score_samples(self, X: Tensor) -> Tensor:
        r"""Per-sample log-likelihood :math:`\log p(x)`, ``(...)``; differentiable in ``X``
        and in the parameters (so it can serve as a density loss)."""
        return torch.logsumexp(self._component_log_prob(X, "score_samples"), -1)

    def forward(self, X: Tensor) -> Tensor:
        """Per-sample log-likelihood (as :meth:`score_samples`)."""
        return self.score_samples(X)

    def score(self, X: Tensor) -> Tensor:
        """Mean per-sample log-likelihood."""
        return self.score_samples(X).mean()

    def predict_proba(self, X: Tensor) -> Tensor:
        """Responsibilities :math:`p(k \\mid x)`, ``(..., K)``."""
        return torch.softmax(self._component_log_prob(X, "predict_proba"), -1)

    def predict(self, X: Tensor) -> Tensor:
        """The most probable component, ``(...)``."""
        return self._component_log_prob(X, "predict").argmax(-1)

    def n_parameters(self) -> int:
        """Free parameters: weights, means and covariances (as scikit-learn counts them)."""
        self._check_fitted("n_parameters")
        K, d = self.means.shape
        cov = {"full": K * d * (d + 1) // 2, "diag": K * d, "spherical": K,
               "tied": d * (d + 1) // 2}[self.covariance_type]
        return cov + K * d + K - 1

    def bic(self, X: Tensor) -> Tensor:
        r"""Bayesian information criterion :math:`-2\log L + p\log n` (lower is better)."""
        n = X.reshape(-1, X.shape[-1]).shape[0]
        return -2 * self.score(X) * n + self.n_parameters() * math.log(n)

    def aic(self, X: Tensor) -> Tensor:
        r"""Akaike information criterion :math:`-2\log L + 2p` (lower is better)."""
        n = X.reshape(-1, X.shape[-1]).shape[0]
        return -2 * self.score(X) * n + 2 * self.n_parameters()

    def to_distribution(self) -> torch.distributions.MixtureSameFamily:
        """The fitted mixture as ``torch.distributions.MixtureSameFamily``."""
        self._check_fitted("to_distribution")
        K, d = self.means.shape
        cov = _full_cov(self.covariances, self.covariance_type, K, d)
        return torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(probs=self.weights),
            torch.distributions.MultivariateNormal(self.means, covariance_matrix=cov))

    def sample(self, n: int, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """``n`` draws ``(n, d)`` and their component labels ``(n,)`` (reparameterized in
        the means and covariances given the labels)."""
        self._check_fitted("sample")
        check_int("GaussianMixture.sample", "n", n, minimum=1)
        K, d = self.means.shape
        labels = torch.multinomial(self.weights.detach().cpu(), n, replacement=True,
                                   generator=generator).to(self.means.device)
        L = torch.linalg.cholesky(_full_cov(self.covariances, self.covariance_type, K, d))
        eps = torch.randn(n, d, dtype=self.means.dtype, generator=generator).to(
            self.means.device)
        x = self.means[labels] + (L[labels] @ eps.unsqueeze(-1)).squeeze(-1)
        return x, labels
