"""Mutual information: discrete tables, Gaussians, the KSG estimator from samples, and
per-feature scores with feature selection (scikit-learn's ``mutual_info_regression`` /
``mutual_info_classif`` + ``SelectKBest``, on the device)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from torchmath import _random
from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_matrix_square,
    check_ndim,
    check_positive,
    check_same_size,
    check_tensor,
    fail,
    promote,
    validating,
)
from torchmath.information._forms import log_base, plogq, safe_log
from torchmath.information._ksg import (
    count_within_nd,
    count_within_sorted,
    kth_maxnorm_1d,
    kth_maxnorm_nd,
)
from torchmath.information.entropy import _check_joint

__all__ = [
    "gaussian_mutual_information",
    "ksg_mutual_information",
    "mutual_info_scores",
    "mutual_information",
    "select_features",
]


def mutual_information(joint: Tensor, *, base: float | None = None) -> Tensor:
    r"""Mutual information of two discrete variables from their joint probability table.

    .. math::
        I(X; Y) = \sum_{x,y} p(x,y) \log\frac{p(x,y)}{p(x)\,p(y)} = H(X) + H(Y) - H(X,Y)

    Equal to ``sklearn.metrics.mutual_info_score`` on the table of counts normalized to
    probabilities. Cells with :math:`p(x, y) = 0` contribute 0.

    Args:
        joint: a probability table over the last two dimensions.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``joint``: ``(..., n_x, n_y)``; returns ``(...)``.

    Returns:
        The mutual information, :math:`\ge 0`.

    Raises:
        ValueError: negative entries or a table that does not sum to one.

    Example:
        >>> import torch
        >>> mutual_information(torch.tensor([[0.5, 0.0], [0.0, 0.5]]), base=2)
        tensor(1.)

    Source: Cover & Thomas, *Elements of Information Theory*, §2.4.
    """
    fn = "mutual_information"
    scale = log_base(fn, base)
    _check_joint(fn, joint, 2)
    px = joint.sum(-1, keepdim=True)
    py = joint.sum(-2, keepdim=True)
    log_ratio = safe_log(joint) - safe_log(px) - safe_log(py)
    return plogq(joint, log_ratio).sum((-2, -1)).clamp_min(0) / scale


def _index(fn: str, name: str, idx, d: int) -> list[int]:
    """Indices checked as Python integers (they are configuration, not data: no device
    sync for a list, and torch.compile folds the checks; a tensor is read once)."""
    values = idx.reshape(-1).tolist() if isinstance(idx, Tensor) else list(idx)
    if not values or any(isinstance(i, bool) or not isinstance(i, int) or not -d <= i < d
                         for i in values):
        raise fail(fn, name, f"to be a non-empty list of indices into {d} variables", values)
    return [i % d for i in values]


def _half_logdet(fn: str, cov: Tensor) -> Tensor:
    L, info = torch.linalg.cholesky_ex(cov)
    if validating() and bool((info != 0).any()):
        raise fail(fn, "cov", "to be positive definite", "a matrix whose Cholesky failed")
    return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def gaussian_mutual_information(cov: Tensor, x_idx: Sequence[int] | Tensor,
                                y_idx: Sequence[int] | Tensor, *,
                                base: float | None = None) -> Tensor:
    r"""Mutual information between two blocks of a jointly Gaussian vector.

    .. math::
        I(X; Y) = \tfrac12 \log\frac{\det\Sigma_{XX}\,\det\Sigma_{YY}}{\det\Sigma},
        \qquad \Sigma = \begin{pmatrix}\Sigma_{XX} & \Sigma_{XY}\\ \Sigma_{YX} &
        \Sigma_{YY}\end{pmatrix}

    For two scalars with correlation :math:`\rho` this is :math:`-\tfrac12\log(1-\rho^2)`.
    Log-determinants come from Cholesky factors; differentiable in ``cov``.

    Args:
        cov: covariance matrices of the full vector.
        x_idx: indices of the :math:`X` block.
        y_idx: indices of the :math:`Y` block (disjoint from ``x_idx``).
        base: logarithm base; ``None`` for nats.

    Shape:
        ``cov``: ``(..., d, d)``; returns ``(...)``.

    Returns:
        The mutual information.

    Raises:
        ValueError: bad or overlapping indices, or a covariance that is not positive
            definite.

    Example:
        >>> import torch
        >>> cov = torch.tensor([[1.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
        >>> gaussian_mutual_information(cov, [0], [1])    # -0.5 log(1 - 0.36)
        tensor(0.2231, dtype=torch.float64)

    Source: Cover & Thomas, *Elements of Information Theory*, Theorem 8.4.1 with
    :math:`I = h(X) + h(Y) - h(X, Y)`.
    """
    fn = "gaussian_mutual_information"
    check_floating(fn, "cov", cov)
    check_matrix_square(fn, "cov", cov)
    scale = log_base(fn, base)
    d = cov.shape[-1]
    xi = _index(fn, "x_idx", x_idx, d)
    yi = _index(fn, "y_idx", y_idx, d)
    if set(xi) & set(yi):
        raise fail(fn, "x_idx and y_idx", "to be disjoint", (xi, yi))
    both = xi + yi
    sub = lambda i: cov[..., i, :][..., :, i]  # noqa: E731
    out = _half_logdet(fn, sub(xi)) + _half_logdet(fn, sub(yi)) - _half_logdet(fn, sub(both))
    return out / scale


def _as_samples(fn: str, name: str, v: Tensor) -> Tensor:
    check_floating(fn, name, v)
    if v.dim() == 1:
        v = v.unsqueeze(-1)
    check_ndim(fn, name, v, min_ndim=2)
    return v


def _digamma(v: Tensor | float, like: Tensor) -> Tensor:
    if not isinstance(v, Tensor):
        v = like.new_tensor(float(v))
    return torch.special.digamma(v.to(like.dtype))


def _ksg_batched(x: Tensor, y: Tensor, k: int) -> Tensor:
    """KSG estimator 1 on ``(B, n, dx)``, ``(B, n, dy)``; returns ``(B,)`` (unclipped)."""
    n = x.shape[1]
    if x.shape[-1] == 1 and y.shape[-1] == 1:
        x1, y1 = x[..., 0], y[..., 0]
        xs, order = x1.sort(-1)
        ys = y1.gather(-1, order)
        oy = ys.argsort(dim=-1)
        eps = kth_maxnorm_1d(xs, ys, k, y_order=oy)
        r = torch.nextafter(eps, torch.zeros_like(eps))
        # Centres in sorted order for both counts (the searches run several times faster).
        nx = count_within_sorted(xs, xs, r)
        ysy = ys.gather(-1, oy)
        ny = count_within_sorted(ysy, ysy, r.gather(-1, oy))
    else:
        eps = kth_maxnorm_nd(x, y, k)
        r = torch.nextafter(eps, torch.zeros_like(eps))
        nx = count_within_nd(x, r)
        ny = count_within_nd(y, r)
    # nx, ny include the point itself: psi(n_x + 1) with n_x the count of others.
    return (_digamma(n, x) + _digamma(k, x) - _digamma(nx, x).mean(-1)
            - _digamma(ny, x).mean(-1))


def _check_k(fn: str, k: int, n: int) -> int:
    check_int(fn, "k", k, minimum=1)
    if k >= n:
        raise fail(fn, "k", f"to be smaller than the number of samples ({n})", k)
    return k


def ksg_mutual_information(x: Tensor, y: Tensor, k: int = 3, *, clip: bool = True,
                           base: float | None = None) -> Tensor:
    r"""Kraskov–Stögbauer–Grassberger estimate of mutual information from samples.

    .. math::
        \hat I(X;Y) = \psi(k) + \psi(n) - \frac1n\sum_{i=1}^n
        \big[\psi(n_{x,i} + 1) + \psi(n_{y,i} + 1)\big]

    (estimator 1), where :math:`\varepsilon_i` is the max-norm distance from sample
    :math:`i` to its :math:`k`-th nearest neighbour in the joint space and
    :math:`n_{x,i}` (:math:`n_{y,i}`) counts the other samples strictly closer than
    :math:`\varepsilon_i` in the :math:`x` (:math:`y`) space. With ``clip=True`` negative
    estimates become 0, as in scikit-learn; then for 1-D ``x`` and ``y`` the value equals
    scikit-learn's ``_compute_mi_cc`` (what ``mutual_info_regression`` runs after scaling
    and adding its 1e-10 jitter) to rounding.

    For 1-D variables no :math:`n \times n` matrix is formed: the joint neighbour search
    runs in y-sorted windows of x-sorted strips, certified exact (with an exact sorted-window
    search where a certificate fails), and the marginal counts are searches in sorted
    values, checked exactly (see ``torchmath/information/_ksg.py``).
    Multi-dimensional variables use chunked ``torch.cdist`` with the max-norm. The
    estimate is a step function of the data: it has no useful gradient.

    Args:
        x: samples of :math:`X`.
        y: samples of :math:`Y`, row-aligned with ``x``.
        k: neighbour order, ``1 <= k < n``.
        clip: replace negative estimates by 0.
        base: logarithm base; ``None`` for nats.

    Shape:
        ``x``: ``(..., n, d_x)`` or ``(n,)``; ``y``: ``(..., n, d_y)`` or ``(n,)``; leading
        dimensions broadcast; returns ``(...)``.

    Returns:
        The estimated mutual information.

    Raises:
        ValueError: different numbers of samples, ``k >= n``, or NaN/infinite samples.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(2000, 2, generator=g, dtype=torch.float64)
        >>> x, y = z[:, 0], 0.8 * z[:, 0] + 0.6 * z[:, 1]     # rho = 0.8
        >>> round(float(ksg_mutual_information(x, y)), 1)     # true 0.511
        0.5

    Source: Kraskov, Stögbauer & Grassberger (2004), "Estimating mutual information",
    Phys. Rev. E 69, eq. (8).
    """
    fn = "ksg_mutual_information"
    x = check_finite(fn, "x", _as_samples(fn, "x", x))
    y = check_finite(fn, "y", _as_samples(fn, "y", y))
    check_same_size(fn, ("x", "y"), (x, y), dim=-2)
    scale = log_base(fn, base)
    n = x.shape[-2]
    _check_k(fn, k, n)
    batch = torch.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    dtype = torch.promote_types(x.dtype, y.dtype)
    xb = x.to(dtype).expand(*batch, n, x.shape[-1]).reshape(-1, n, x.shape[-1])
    yb = y.to(dtype).expand(*batch, n, y.shape[-1]).reshape(-1, n, y.shape[-1])
    mi = _ksg_batched(xb, yb, k).reshape(batch)
    if clip:
        mi = mi.clamp_min(0)
    return mi / scale


def _scale_columns(X: Tensor) -> Tensor:
    """Divide columns by their population standard deviation (1 where it is 0), as
    ``sklearn.preprocessing.scale(X, with_mean=False)``."""
    std = X.std(0, correction=0)
    return X / torch.where(std > 0, std, torch.ones_like(std))


def _jitter(X: Tensor, noise: float, generator: torch.Generator | None) -> Tensor:
    """Add ``noise * max(1, mean|X_j|)`` times standard normals to each column."""
    if noise == 0:
        return X
    scale = X.abs().mean(0).clamp_min(1.0)
    eps = _random.randn(X.shape, generator=generator, dtype=X.dtype, device=X.device)
    return X + noise * scale * eps


def _mi_continuous_discrete(c: Tensor, labels: Tensor, k: int) -> Tensor:
    """Ross (2014) estimator for ``c`` ``(B, n)`` continuous and ``labels`` ``(n,)``."""
    _, inv, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    label_count = counts[inv]
    keep = label_count > 1
    c, inv, label_count = c[:, keep], inv[keep], label_count[keep]
    B, n = c.shape
    # Sort by value, then stably by label: each label's values become a sorted segment.
    order = c.argsort(dim=-1, stable=True)
    lab = inv[order]
    order = order.gather(-1, lab.argsort(dim=-1, stable=True))
    cs, ls = c.gather(-1, order), inv[order]
    k_all = torch.clamp(label_count[order] - 1, max=k)
    # In 1-D the k nearest same-label values sit within k places on either side.
    pad_c = torch.nn.functional.pad(cs, (k, k), value=math.inf)
    pad_l = torch.nn.functional.pad(ls, (k, k), value=-1)
    wc = pad_c.unfold(-1, 2 * k + 1, 1)
    wl = pad_l.unfold(-1, 2 * k + 1, 1)
    d = (wc - cs.unsqueeze(-1)).abs().masked_fill(wl != ls.unsqueeze(-1), math.inf)
    d = d.sort(-1).values  # column 0 is the point itself (distance 0)
    eps = d.gather(-1, k_all.unsqueeze(-1)).squeeze(-1)
    r = torch.nextafter(eps, torch.zeros_like(eps))
    m_all = count_within_sorted(c.sort(-1).values, cs, r)
    return (_digamma(n, c) + _digamma(k_all, c).mean(-1)
            - _digamma(label_count[order], c).mean(-1) - _digamma(m_all, c).mean(-1))


def _default_generator(generator: torch.Generator | None) -> torch.Generator:
    """scikit-learn-like seeded jitter: a fixed seed unless a generator is given."""
    return torch.Generator().manual_seed(0) if generator is None else generator


def mutual_info_scores(X: Tensor, y: Tensor, *, discrete_target: bool | None = None,
                       k: int = 3, noise: float = 1e-10,
                       generator: torch.Generator | None = None) -> Tensor:
    r"""Mutual information between each feature (column) of ``X`` and the target ``y``.

    .. math::
        s_j = \hat I(X_{:, j}; y)

    Continuous features are divided by their standard deviation first (as scikit-learn
    does). For a continuous target, :math:`\hat I` is the KSG estimator
    (:func:`ksg_mutual_information`, with ``y`` scaled too) — scikit-learn's
    ``mutual_info_regression``; for a discrete target, Ross's nearest-neighbour
    estimator — scikit-learn's ``mutual_info_classif``. All features are estimated in one
    batched call; negative estimates are clipped to 0. Features are treated as continuous.

    Nearest-neighbour estimators are inflated by tied values (many zero distances), and
    real data is full of ties (every feature of scikit-learn's diabetes and breast-cancer
    sets has some). So, as scikit-learn does, a tie-breaking jitter
    :math:`\text{noise}\cdot\max(1, \overline{|x|})\,\epsilon` is added per scaled column
    (and to a continuous target) by default (``noise=1e-10``), drawn from ``generator``
    — by default a generator seeded with 0, so the scores are reproducible. The scores
    then agree with scikit-learn's within its own seed-to-seed spread; ``noise=0`` turns
    the jitter off (exact, deterministic, equal to scikit-learn's estimator on data
    without ties).

    Args:
        X: features.
        y: target values, or class labels.
        discrete_target: treat ``y`` as class labels; ``None`` (default) decides from the
            dtype: integer (or bool) ``y`` are labels, floating ``y`` a continuous target.
        k: neighbour order.
        noise: relative jitter added to break ties (scikit-learn's ``1e-10``); 0 for none.
        generator: random generator for the jitter (any device; default: seeded with 0).

    Shape:
        ``X``: ``(n, p)``; ``y``: ``(n,)``; returns ``(p,)``.

    Returns:
        The per-feature mutual information in nats.

    Raises:
        ValueError: mismatched rows, ``k`` not smaller than the number of samples, or
            NaN/infinite values.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(300, 3, generator=g, dtype=torch.float64)
        >>> y = (X[:, 1] > 0).long()               # integer labels: a discrete target
        >>> mutual_info_scores(X, y).argmax().item()
        1

    Source: Kraskov et al. (2004); Ross (2014), "Mutual information between discrete and
    continuous data sets", PLoS ONE 9(2); scikit-learn's ``mutual_info_regression``.
    """
    return _scores("mutual_info_scores", X, y, discrete_target, k, noise, generator)


def _scores(fn: str, X: Tensor, y: Tensor, discrete_target: bool | None, k: int,
            noise: float, generator: torch.Generator | None) -> Tensor:
    check_floating(fn, "X", X)
    check_ndim(fn, "X", X, ndim=2)
    check_finite(fn, "X", X)
    check_tensor(fn, "y", y)
    check_finite(fn, "y", y)
    check_ndim(fn, "y", y, ndim=1)
    check_same_size(fn, ("X", "y"), (X, y))
    _check_k(fn, k, X.shape[0])
    check_positive(fn, "noise", noise, strict=False)
    if discrete_target is None:
        discrete_target = not (y.is_floating_point() or y.is_complex())
    generator = _default_generator(generator)
    Xs = _jitter(_scale_columns(X), noise, generator).mT.contiguous()  # (p, n)
    if discrete_target:
        if y.is_floating_point() and validating() and bool((y != y.round()).any()):
            raise fail(fn, "y", "to hold class labels with discrete_target=True",
                       "non-integer values")
        mi = _mi_continuous_discrete(Xs, y, k)
    else:
        check_floating(fn, "y", y)
        (Xs, y), _ = promote(Xs, y)
        ys = _jitter(_scale_columns(y.to(X.dtype).unsqueeze(-1)), noise, generator)
        mi = _ksg_batched(Xs.unsqueeze(-1), ys.expand(Xs.shape[0], -1, 1), k)
    return mi.clamp_min(0)


def select_features(X: Tensor, y: Tensor, k: int, *, method: str = "mi",
                    discrete_target: bool | None = None, n_neighbors: int = 3,
                    noise: float = 1e-10, generator: torch.Generator | None = None) -> Tensor:
    r"""Choose ``k`` features by mutual information with the target.

    .. math::
        \text{mi: } \operatorname{top}_k\, \hat I(X_j; y), \qquad
        \text{mrmr: } j_{t+1} = \arg\max_{j \notin S}\,
        \hat I(X_j; y) - \frac1{|S|}\sum_{s\in S} \hat I(X_j; X_s)

    ``method="mi"`` is scikit-learn's ``SelectKBest(mutual_info_classif)`` (or
    ``mutual_info_regression``); ``method="mrmr"`` is minimum-redundancy
    maximum-relevance, greedy, with the feature–feature terms from the KSG estimator
    (one batched call per chosen feature).

    Args:
        X: features.
        y: target values, or class labels.
        k: number of features to keep, ``1 <= k <= p``.
        method: ``"mi"`` or ``"mrmr"``.
        discrete_target: treat ``y`` as class labels; ``None`` (default): integer ``y``
            are labels, floating ``y`` a continuous target.
        n_neighbors: neighbour order of the estimators.
        noise, generator: tie-breaking jitter, as in :func:`mutual_info_scores`.

    Shape:
        ``X``: ``(n, p)``; ``y``: ``(n,)``; returns ``(k,)`` (int64).

    Returns:
        Column indices, in the order chosen (best first).

    Raises:
        ValueError: ``k`` outside ``[1, p]``, an unknown ``method``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(400, 4, generator=g, dtype=torch.float64)
        >>> y = X[:, 2] + X[:, 0]
        >>> sorted(select_features(X, y, 2).tolist())
        [0, 2]

    Source: Peng, Long & Ding (2005), "Feature selection based on mutual information:
    criteria of max-dependency, max-relevance, and min-redundancy" (mRMR).
    """
    fn = "select_features"
    check_choice(fn, "method", method, ("mi", "mrmr"))
    check_floating(fn, "X", X)
    check_ndim(fn, "X", X, ndim=2)
    p = X.shape[1]
    check_int(fn, "k", k, minimum=1)
    if k > p:
        raise fail(fn, "k", f"to be at most the number of features ({p})", k)
    generator = _default_generator(generator)
    relevance = _scores(fn, X, y, discrete_target, n_neighbors, noise, generator)
    if method == "mi":
        return relevance.topk(k).indices
    Xs = _jitter(_scale_columns(X), noise, generator).mT.contiguous().unsqueeze(-1)
    chosen = [int(relevance.argmax())]
    redundancy = torch.zeros_like(relevance)
    for step in range(1, k):
        last = Xs[chosen[-1]].expand(p, -1, 1)
        redundancy = redundancy + _ksg_batched(Xs, last, n_neighbors).clamp_min(0)
        score = relevance - redundancy / step
        score[chosen] = -math.inf
        chosen.append(int(score.argmax()))
    return torch.tensor(chosen, dtype=torch.long, device=X.device)
