"""Linear and ridge regression from streamed sufficient statistics, a ridge path, RidgeCV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from torchmath._batches import Intake, Stream, accumulate
from torchmath._estimator import Estimator, r2_score
from torchmath._validation import check_ndim, check_positive, fail
from torchmath.distributed import all_reduce_sum

__all__ = ["LinearRegression", "RidgeCV", "RidgeRegression"]


def _normal_equations(stream: Stream, fit_intercept: bool) -> tuple[Tensor, ...]:
    """``(G, B, x_mean, y_mean)``: centred (or raw) ``XᵀX`` and ``XᵀY`` from the joint
    scatter of ``[X, Y]``."""
    s, d = stream.stats, stream.n_features
    S, mean, n = s.scatter, s.mean, s.count
    G, B = S[:d, :d], S[:d, d:]
    x_mean, y_mean = mean[:d], mean[d:]
    if not fit_intercept:  # raw moments: add back n * outer(mean, mean)
        G = G + n * torch.outer(x_mean, x_mean)
        B = B + n * torch.outer(x_mean, y_mean)
        x_mean, y_mean = torch.zeros_like(x_mean), torch.zeros_like(y_mean)
    return 0.5 * (G + G.mT), B, x_mean, y_mean


class _LinearModel(Estimator):
    """Shared shell: buffers ``coef`` and ``intercept``, ``predict``/``forward``/``score``."""

    _fitted_buffers: tuple[str, ...] = ("coef", "intercept")
    _state_settings: tuple[str, ...] = ("fit_intercept",)

    def __init__(self, fit_intercept: bool) -> None:
        super().__init__()
        self.fit_intercept = fit_intercept
        self._y_1d = True

    def _n_features(self) -> int:
        return self.coef.shape[-1]

    def _stream(self, fn: str, intake: Intake, sync, process_group) -> Stream:
        stream = accumulate(intake, sync=sync, process_group=process_group,
                            device=self.coef.device)
        self._y_1d = stream.y_1d
        return stream

    def _store(self, W: Tensor, x_mean: Tensor, y_mean: Tensor) -> None:
        # W: (..., d, t) -> coef (..., t, d) like scikit-learn, squeezed for 1-d y.
        coef = W.mT
        intercept = y_mean - (coef @ x_mean.unsqueeze(-1)).squeeze(-1)
        if self._y_1d:
            coef, intercept = coef.squeeze(-2), intercept.squeeze(-1)
        self.coef = coef.detach().contiguous()
        self.intercept = intercept.detach().contiguous()
        self._mark_fitted()

    def predict(self, X: Tensor) -> Tensor:
        r""":math:`\hat y = X w + b`; ``(..., d) -> (...)`` or ``(..., t)``, with a leading
        ``(n_alphas,)`` dimension for a ridge path."""
        X = self._input("predict", X)
        W = self.coef.unsqueeze(-2) if self._y_1d else self.coef  # ([A,] t, d)
        b = self.intercept.unsqueeze(-1) if self._y_1d else self.intercept  # ([A,] t)
        if W.dim() == 3:  # a path: (A, ..., n, t)
            W = W.reshape(W.shape[0], *([1] * max(X.dim() - 2, 0)), *W.shape[1:])
            b = b.reshape(b.shape[0], *([1] * max(X.dim() - 1, 0)), b.shape[-1])
        out = X @ W.mT + b
        return out.squeeze(-1) if self._y_1d else out

    def _path(self) -> bool:
        return False

    def forward(self, X: Tensor) -> Tensor:
        """Same as :meth:`predict`."""
        return self.predict(X)

    def score(self, X: Tensor, y: Tensor) -> Tensor:
        r"""Coefficient of determination :math:`R^2` of :meth:`predict` on ``(X, y)``
        (averaged over targets; one per alpha for a path)."""
        return r2_score(self.predict(X), y)

    def _after_load(self) -> None:
        self._y_1d = self.coef.dim() == (2 if self._path() else 1)


def _pinv_solve(G: Tensor, B: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Minimum-norm solution of ``G W = B`` for symmetric PSD ``G`` (an eigendecomposition
    with eigenvalues below ``max(d, 10) * eps * max`` treated as zero); also the rank and
    the singular values ``sqrt(eig)``."""
    w, V = torch.linalg.eigh(G)
    cutoff = max(G.shape[-1], 10) * torch.finfo(G.dtype).eps * w.abs().amax(-1, keepdim=True)
    keep = w > cutoff
    inv = torch.where(keep, 1 / torch.where(keep, w, torch.ones_like(w)), torch.zeros_like(w))
    W = V @ (inv.unsqueeze(-1) * (V.mT @ B))
    return W, keep.sum(-1), w.clamp_min(0).sqrt().flip(-1)


class LinearRegression(_LinearModel):
    r"""Ordinary least squares from streamed sufficient statistics.

    .. math::
        (\hat w, \hat b) = \arg\min_{w, b} \sum_i \|y_i - w^\top x_i - b\|^2
        \;\Rightarrow\; \bar X^\top \bar X\, w = \bar X^\top \bar y, \quad
        b = \bar y - w^\top \bar x

    ``fit`` streams the batches once into the count, mean and scatter of the joint
    columns ``[X, y]`` (a :class:`~torchmath.linalg.ScatterMatrix`, exact Chan merges),
    all-reduces them across processes, then solves the centred normal equations by a
    symmetric eigendecomposition with a rank cutoff, so a rank-deficient design gets the
    minimum-norm solution (what scikit-learn's ``LinearRegression`` returns) and the
    rank is reported. Solving the normal equations squares the condition number: for a
    design with :math:`\kappa(X) \gtrsim 10^{6}` in float64 use :func:`lstsq`.

    Args:
        fit_intercept: fit :math:`b` (centre the data) or force :math:`b = 0`.

    Attributes (buffers):
        coef ``(d,)`` or ``(t, d)``, intercept ``()`` or ``(t,)``, rank ``()``,
        singular_values ``(d,)`` of the (centred) design.

    Shape:
        ``fit(X, y)``: ``X`` ``(n, d)``, ``y`` ``(n,)`` or ``(n, t)``; ``predict``:
        ``(..., d) -> (...)`` or ``(..., t)``.

    Raises:
        ValueError: NaN/inf entries, an empty dataset, mismatched ``X``/``y`` rows or
            feature counts.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
        >>> model = LinearRegression().fit(X, 3 * X[:, 0] + 1)
        >>> model.coef, model.intercept
        (tensor([3.], dtype=torch.float64), tensor(1., dtype=torch.float64))

    Source: Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*,
    sec. 3.2.
    """

    _fitted_buffers = _LinearModel._fitted_buffers + ("rank", "singular_values")

    def __init__(self, fit_intercept: bool = True):
        super().__init__(fit_intercept)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None) -> LinearRegression:
        """Fit from ``(X, y)``, a tensor pair, or batches of ``(X, y)``."""
        fn = "LinearRegression.fit"
        stream = self._stream(fn, Intake(data, y, fn=fn, y_kind="targets"), sync,
                              process_group)
        G, B, x_mean, y_mean = _normal_equations(stream, self.fit_intercept)
        W, rank, sv = _pinv_solve(G, B)
        self.rank = rank.to(W.dtype)
        self.singular_values = sv
        self._store(W, x_mean, y_mean)
        return self


def _as_alphas(fn: str, name: str, alpha, strict: bool = False) -> Tensor | float:
    """A number, or a 1-d tensor of values (a sequence becomes a float64 tensor); NaN is
    refused by name (a comparison with NaN is false, so it is tested explicitly)."""
    if isinstance(alpha, Tensor) or (isinstance(alpha, Sequence) and not isinstance(alpha, str)):
        if not isinstance(alpha, Tensor):
            if not all(isinstance(a, int | float) and not isinstance(a, bool) for a in alpha):
                raise fail(fn, name, "numbers", repr(alpha), TypeError)
            alpha = torch.tensor([float(a) for a in alpha], dtype=torch.float64)
        if alpha.dim() > 1:
            raise fail(fn, name, "a number or a 1-d tensor", f"shape {tuple(alpha.shape)}")
        check_ndim(fn, name, alpha, ndim=1) if alpha.dim() else None
        if not alpha.is_floating_point():
            alpha = alpha.to(torch.float64)
        if bool(torch.isnan(alpha).any()):
            raise fail(fn, name, "numbers, not NaN", alpha.tolist())
        check_positive(fn, name, alpha, strict=strict)
        return alpha
    check_positive(fn, name, alpha, strict=strict)
    return float(alpha)


class RidgeRegression(_LinearModel):
    r"""Ridge regression (L2-penalized least squares), one alpha or a whole path at once.

    .. math::
        \hat w_\alpha = \arg\min_w \|\bar y - \bar X w\|^2 + \alpha \|w\|^2
        = (\bar X^\top \bar X + \alpha I)^{-1} \bar X^\top \bar y
        = V \operatorname{diag}\Big(\frac{1}{\lambda_j + \alpha}\Big) V^\top
        \bar X^\top \bar y

    The intercept is not penalized (the data are centred, as scikit-learn's ``Ridge``
    does). Sufficient statistics are streamed and all-reduced as for
    :class:`LinearRegression`. A scalar ``alpha`` is solved by one Cholesky
    factorization of :math:`\bar X^\top \bar X + \alpha I`. A 1-d tensor of alphas is a
    regularization path: one eigendecomposition
    :math:`\bar X^\top \bar X = V \Lambda V^\top` serves every alpha, each costing only
    :math:`O(d^2)`; then ``coef`` gains a leading ``(n_alphas,)`` dimension and so does
    ``predict``'s output. (scikit-learn's ``Ridge`` reads an array ``alpha`` as one value
    per target; here it is a path.)

    Args:
        alpha: :math:`\alpha \ge 0`, a number or a 1-d tensor (a path).
        fit_intercept: fit an unpenalized intercept.

    Attributes (buffers):
        coef ``([A,] [t,] d)``, intercept ``([A,] [t])``.

    Shape:
        ``predict``: ``(n, d) -> ([A,] n [, t])``.

    Raises:
        ValueError: negative ``alpha``, NaN/inf, an empty dataset, mismatched shapes.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
        >>> RidgeRegression(alpha=2.0).fit(X, 3 * X[:, 0]).coef
        tensor([1.5000], dtype=torch.float64)

    Source: Hoerl and Kennard (1970), "Ridge regression: biased estimation for
    nonorthogonal problems"; Hastie et al., *ESL*, sec. 3.4.1.
    """

    _state_settings = ("alpha", "fit_intercept")

    def __init__(self, alpha: float | Tensor = 1.0, fit_intercept: bool = True):
        super().__init__(fit_intercept)
        _as_alphas("RidgeRegression", "alpha", alpha)
        self.alpha = alpha

    def _path(self) -> bool:
        return isinstance(self.alpha, Tensor | Sequence)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None) -> RidgeRegression:
        """Fit from ``(X, y)``, a tensor pair, or batches of ``(X, y)``."""
        fn = "RidgeRegression.fit"
        stream = self._stream(fn, Intake(data, y, fn=fn, y_kind="targets"), sync,
                              process_group)
        G, B, x_mean, y_mean = _normal_equations(stream, self.fit_intercept)
        alpha = _as_alphas(fn, "alpha", self.alpha)
        if isinstance(alpha, Tensor):
            W = _ridge_path(G, B, alpha.to(G))
            self._store(W, x_mean, y_mean)
            return self
        eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
        L, info = torch.linalg.cholesky_ex(G + alpha * eye)
        if bool(info != 0) or alpha <= float(_cutoff(G).max()):
            # alpha below the rounding level of G: the eigenvalue cutoff decides, so
            # alpha -> 0 gives the minimum-norm least-squares solution
            W = _ridge_path(G, B, G.new_tensor([alpha]))[0]
        else:
            W = torch.cholesky_solve(B, L)
        self._store(W, x_mean, y_mean)
        return self


def _cutoff(G: Tensor, w: Tensor | None = None) -> Tensor:
    """Eigenvalues of the PSD ``G`` at or below ``max(d, 10) * eps * max|eig|`` are
    rounding noise (the LAPACK/NumPy ``pinv`` rule); from the diagonal if ``w`` is None."""
    top = w.abs().amax(-1, keepdim=True) if w is not None else \
        G.diagonal(dim1=-2, dim2=-1).abs().sum(-1, keepdim=True)
    return max(G.shape[-1], 10) * torch.finfo(G.dtype).eps * top


def _ridge_filter(w: Tensor, alphas: Tensor, G: Tensor) -> Tensor:
    """``(A, d)`` filter factors ``1 / (lambda_j + alpha)``, zero for the eigenvalues
    below the cutoff (as scikit-learn's SVD solver drops tiny singular values): alpha -> 0
    then gives the minimum-norm least-squares solution instead of amplifying noise."""
    keep = w > _cutoff(G, w)
    denom = w.unsqueeze(0) + alphas.unsqueeze(-1)
    safe = keep & (denom > 0)
    return torch.where(safe, 1 / torch.where(safe, denom, torch.ones_like(denom)),
                       torch.zeros_like(denom))


def _ridge_path(G: Tensor, B: Tensor, alphas: Tensor) -> Tensor:
    """``(A, d, t)`` ridge solutions for every alpha from one eigendecomposition."""
    w, V = torch.linalg.eigh(G)
    c = V.mT @ B  # (d, t)
    return V @ (_ridge_filter(w, alphas, G).unsqueeze(-1) * c)


class RidgeCV(_LinearModel):
    r"""Ridge regression with alpha chosen by exact leave-one-out cross-validation.

    .. math::
        e_i^{(-i)}(\alpha) = \frac{y_i - \hat y_i(\alpha)}{1 - h_{ii}(\alpha)}, \quad
        h_{ii}(\alpha) = \frac1n + \sum_j \frac{z_{ij}^2}{\lambda_j + \alpha}, \quad
        z_i = V^\top (x_i - \bar x)

    For a linear smoother the leave-one-out residual is the ordinary residual divided by
    :math:`1 - h_{ii}` (no refits); with the eigendecomposition
    :math:`\bar X^\top \bar X = V \Lambda V^\top` of the first pass, a second pass over
    the data gives every sample's residual and leverage for all alphas at once
    (:math:`1/n` is the unpenalized intercept's leverage). The mean squared LOO error is
    a sum over samples, so it is all-reduced across processes like the statistics. This
    is the exact LOO that scikit-learn's ``RidgeCV`` (``cv=None``, GCV mode) computes.
    The data must be re-iterable (a tensor, a list, a DataLoader).

    Args:
        alphas: candidate :math:`\alpha > 0` values.
        fit_intercept: fit an unpenalized intercept.

    Shape:
        ``X``: ``(n, d)``; ``y``: ``(n,)`` or ``(n, k)``; ``predict`` returns ``(n,)`` or
        ``(n, k)``.

    Attributes (buffers):
        alpha ``()`` (chosen), loo_errors ``(A,)`` (mean squared LOO error per alpha),
        best_score ``()`` (its negative minimum, scikit-learn's ``best_score_``), coef,
        intercept (of the chosen alpha).

    Raises:
        ValueError: non-positive alphas, NaN/inf, an empty dataset, a one-shot iterator.

    Example:
        >>> X = torch.linspace(0, 1, 20, dtype=torch.float64).unsqueeze(1)
        >>> y = 2 * X[:, 0] + 0.1 * torch.sin(40 * X[:, 0])
        >>> float(RidgeCV(alphas=[1e-3, 1.0, 10.0]).fit(X, y).alpha)
        0.001

    Source: Golub, Heath and Wahba (1979), "Generalized cross-validation as a method
    for choosing a good ridge parameter"; Hastie et al., *ESL*, eq. 7.52.
    """

    _fitted_buffers = _LinearModel._fitted_buffers + ("alpha", "loo_errors", "best_score")
    _state_settings = ("alphas", "fit_intercept")

    def __init__(self, alphas: Sequence[float] | Tensor = (0.1, 1.0, 10.0),
                 fit_intercept: bool = True):
        super().__init__(fit_intercept)
        self._alphas("RidgeCV", alphas)
        self.alphas = alphas

    @staticmethod
    def _alphas(fn: str, alphas) -> Tensor:
        values = _as_alphas(fn, "alphas", alphas, strict=True)
        if not isinstance(values, Tensor):
            values = torch.tensor([values], dtype=torch.float64)
        if values.numel() == 0:
            raise fail(fn, "alphas", "at least one value", "none")
        return values.reshape(-1)

    def fit(self, data: Any, y: Tensor | None = None, *, sync: bool | None = None,
            process_group=None) -> RidgeCV:
        """Two passes: statistics, then leave-one-out errors for every alpha."""
        fn = "RidgeCV.fit"
        intake = Intake(data, y, fn=fn, y_kind="targets", multi_pass=True)
        stream = self._stream(fn, intake, sync, process_group)
        G, B, x_mean, y_mean = _normal_equations(stream, self.fit_intercept)
        n = stream.stats.count
        alphas = self._alphas(fn, self.alphas).to(G)
        lam, V = torch.linalg.eigh(G)
        c = V.mT @ B  # (d, t)
        inv = _ridge_filter(lam, alphas, G)  # (A, d)
        coefs_rot = inv.unsqueeze(-1) * c  # (A, d, t) in the eigenbasis
        lev0 = 1 / n if self.fit_intercept else torch.zeros_like(n)
        sq = torch.zeros_like(alphas)
        for X, yb in intake:
            Y = (yb.unsqueeze(1) if yb.dim() == 1 else yb).to(G)
            Z = (X.to(G) - x_mean) @ V  # (m, d)
            resid = (Y - y_mean).unsqueeze(0) - Z.unsqueeze(0) @ coefs_rot  # (A, m, t)
            lev = lev0 + Z.square() @ inv.mT  # (m, A)
            loo = resid / (1 - lev.mT).unsqueeze(-1)
            sq = sq + loo.square().sum((-2, -1))
        sq = all_reduce_sum(sq, sync=sync, process_group=process_group)
        mse = sq / (n * stream.n_targets)
        best = int(mse.argmin())
        self.alpha = alphas[best].detach().clone()
        self.loo_errors = mse.detach()
        self.best_score = -mse[best].detach()
        self._store(V @ coefs_rot[best], x_mean, y_mean)
        return self
