r"""VC dimension: growth functions, VC bounds, shattering, Rademacher complexity.

A class :math:`H` *shatters* a set of :math:`n` points when it realizes all
:math:`2^n` labellings of them; the VC dimension is the size of the largest shattered set.
:func:`can_shatter` decides it exactly for the built-in classes, all labellings at once:
by order statistics for thresholds, intervals and boxes, and by one batched linear
program (:func:`torchmath.optim.solve_lp`) for halfspaces and balls.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_ndim,
    fail,
    validating,
)
from torchmath.learning_theory._common import as_float_tensors
from torchmath.learning_theory.pac import (
    _check_at_least,
    _check_open_unit,
    vc_generalization_bound_,
)

__all__ = ["HYPOTHESIS_CLASSES", "all_labellings", "can_shatter",
           "empirical_rademacher_complexity", "growth_function_bound", "realizable_labellings",
           "vc_dimension", "vc_generalization_bound"]

#: The built-in hypothesis classes of :func:`can_shatter`, with their dimension rule.
HYPOTHESIS_CLASSES = ("threshold", "interval", "axis_aligned_rectangle", "halfspace", "ball")

#: Most points :func:`can_shatter` enumerates labellings for (2**16 labellings).
MAX_POINTS = 16
#: ``all_labellings`` refuses more points than this: its table has ``2**n * n`` entries.
MAX_LABELLING_POINTS = 24


def growth_function_bound(n, vc_dim, *, log: bool = False) -> Tensor:
    r"""The Sauer–Shelah bound on the growth function of a class of VC dimension :math:`d`.

    .. math::
        \Pi_H(n) \le \sum_{i=0}^{d} \binom{n}{i}\quad(= 2^n \text{ when } n \le d)

    evaluated in log space (``lgamma`` and ``logsumexp``) so large :math:`n` do not
    overflow. Source: Sauer (1972), Shelah (1972); Shalev-Shwartz & Ben-David (2014),
    Lemma 6.10.

    Args:
        n: sample size(s), non-negative integers (numbers or a tensor).
        vc_dim: VC dimension(s), non-negative integers, broadcast with ``n``.
        log: return :math:`\ln` of the bound instead.

    Shape:
        the broadcast shape of ``n`` and ``vc_dim``.

    Returns:
        the bound (or its log), a floating tensor.

    Raises:
        ValueError: negative or non-integer ``n`` or ``vc_dim``.

    Example:
        >>> growth_function_bound(torch.tensor([2.0, 3.0, 10.0]), 2)
        tensor([ 4.,  7., 56.])
    """
    fn = "growth_function_bound"
    n, d = as_float_tensors(fn, n=n, vc_dim=vc_dim)
    for name, t in (("n", n), ("vc_dim", d)):
        _check_at_least(fn, name, t, 0, "to be non-negative")
        if validating() and bool((t != torch.round(t)).any()):
            raise fail(fn, name, "to hold integers", "fractional values")
    top = int(torch.minimum(n, d).max()) if n.numel() else 0
    i = torch.arange(top + 1, dtype=n.dtype, device=n.device)
    nn_, dd = n.unsqueeze(-1), d.unsqueeze(-1)
    log_binom = torch.lgamma(nn_ + 1) - torch.lgamma(i + 1) - torch.lgamma(nn_ - i + 1)
    keep = (i <= dd) & (i <= nn_)
    out = torch.logsumexp(log_binom.masked_fill(~keep, -math.inf), dim=-1)
    return out if log else out.exp()


def vc_generalization_bound(n, vc_dim, delta) -> Tensor:
    r"""Uniform deviation of empirical from true risk for a class of VC dimension :math:`d`.

    With probability at least :math:`1 - \delta`, for every :math:`h \in H`,

    .. math::
        L_D(h) \le L_S(h) + \sqrt{\frac{2 d \ln(e n / d)}{n}}
        + \sqrt{\frac{\ln(1/\delta)}{2n}}\qquad (n \ge d),

    with :math:`\ln \Pi_H(n) \le n \ln 2` in place of :math:`d\ln(en/d)` when :math:`n < d`.
    Source: Mohri, Rostamizadeh & Talwalkar (2018), Foundations of ML, 2nd ed., Section 3.3
    (Rademacher complexity bounded through the growth function and Sauer's lemma).

    Args:
        n: sample size(s), ``>= 1``.
        vc_dim: VC dimension(s), ``>= 0``.
        delta: failure probability in (0, 1).

    Shape:
        the broadcast shape of the three arguments.

    Returns:
        the deviation bound, a floating tensor.

    Raises:
        ValueError: ``delta`` outside (0, 1), ``n < 1`` or ``vc_dim < 0``.

    Example:
        >>> vc_generalization_bound(10_000, 3, 0.05)
        tensor(0.0862, dtype=torch.float64)
    """
    fn = "vc_generalization_bound"
    n, d, delta = as_float_tensors(fn, n=n, vc_dim=vc_dim, delta=delta)
    _check_open_unit(fn, "delta", delta)
    _check_at_least(fn, "n", n, 1, "to be >= 1")
    _check_at_least(fn, "vc_dim", d, 0, "to be non-negative")
    return vc_generalization_bound_(n, d, delta)


def all_labellings(n: int, *, device=None) -> Tensor:
    """All :math:`2^n` labellings of :math:`n` points as a ``(2**n, n)`` bool tensor
    (row :math:`k` holds the binary digits of :math:`k`, least significant first).

    Args:
        n: the number of points.
        device: where to build the tensor.

    Shape:
        returns ``(2**n, n)``.

    Returns:
        A bool tensor, one labelling per row.

    Example:
        >>> all_labellings(2).int()
        tensor([[0, 0],
                [1, 0],
                [0, 1],
                [1, 1]], dtype=torch.int32)

    Raises:
        ValueError: ``n`` negative or above ``MAX_LABELLING_POINTS`` (24: 2**24 rows of
            24 bools is 400 MB; 40 points would ask for 8.8 TB).
    """
    check_int("all_labellings", "n", n, minimum=0)
    if n > MAX_LABELLING_POINTS:
        raise fail("all_labellings", "n", f"at most {MAX_LABELLING_POINTS} (a (2**n, n) "
                   "table)", n)
    k = torch.arange(2 ** n, device=device).unsqueeze(-1)
    return (k >> torch.arange(n, device=device)) & 1 == 1


def _check_points(fn: str, points: Tensor, hypothesis_class: str) -> Tensor:
    check_choice(fn, "hypothesis_class", hypothesis_class, HYPOTHESIS_CLASSES)
    check_floating(fn, "points", points)
    check_ndim(fn, "points", points, min_ndim=2)
    check_finite(fn, "points", points)
    if hypothesis_class in ("threshold", "interval") and points.shape[-1] != 1:
        raise fail(fn, "points", f"of shape (..., n, 1) for the class '{hypothesis_class}' "
                   "(points on the line)", tuple(points.shape))
    if points.shape[-2] > MAX_POINTS:
        raise fail(fn, "points", f"at most {MAX_POINTS} points (2**n labellings are tried)",
                   f"{points.shape[-2]} points")
    return points


def _box_realizable(points: Tensor, labels: Tensor) -> Tensor:
    """Boxes (and intervals): realizable iff the bounding box of the positives holds no
    negative. ``points`` (..., n, d), ``labels`` (L, n) -> (..., L)."""
    x = points.unsqueeze(-3)  # (..., 1, n, d)
    pos = labels.unsqueeze(-1)  # (L, n, 1)
    lo = torch.where(pos, x, math.inf).amin(-2)  # (..., L, d)
    hi = torch.where(pos, x, -math.inf).amax(-2)
    inside = ((x >= lo.unsqueeze(-2)) & (x <= hi.unsqueeze(-2))).all(-1)  # (..., L, n)
    return ~(inside & ~labels).any(-1)


def _threshold_realizable(points: Tensor, labels: Tensor) -> Tensor:
    """h_t(x) = 1[x >= t]: realizable iff every positive lies strictly above every negative."""
    x = points[..., 0].unsqueeze(-2)  # (..., 1, n)
    lowest_pos = torch.where(labels, x, math.inf).amin(-1)
    highest_neg = torch.where(labels, -math.inf, x).amax(-1)
    return lowest_pos > highest_neg


def _lp_realizable(points: Tensor, labels: Tensor, ball: bool, tol: float) -> Tensor:
    r"""Halfspaces / balls by the largest margin of a bounded LP (always feasible):

    max t  s.t.  s_i (w^T x_i + b [+ a |x_i|^2]) >= t,  |w|, |b| <= 1,  0 <= a <= 1,  t <= 1

    with s_i = +1 for positives. Halfspaces: labelling realizable iff t* > 0. Balls
    {x : |x - c|^2 <= r^2} are a = 1 after scaling, s_i = -1 for positives (inside); a = 0
    is the limit of ever larger balls, which realize the same labelling of finitely many
    points.
    """
    from torchmath.optim import solve_lp

    # Shattering is invariant under translation and uniform scaling: normalize for the LP.
    x = points - points.mean(-2, keepdim=True)
    scale = x.abs().amax((-2, -1), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    x = (x / scale).unsqueeze(-3)  # (..., 1, n, d)
    sign = labels.to(x.dtype) * 2 - 1  # (L, n)
    feats = [x, torch.ones_like(x[..., :1])]
    if ball:
        sign = -sign
        feats.append(x.square().sum(-1, keepdim=True))
    phi = torch.cat(feats, -1)  # (..., 1, n, k)
    k = phi.shape[-1]
    signed = -sign.unsqueeze(-1) * phi  # (..., L, n, k)
    batch = signed.shape[:-2]
    # variables z = (w, b, [a], t); rows: -s_i phi_i^T z' + t <= 0, box, t <= 1
    margin_rows = torch.cat([signed, torch.ones_like(signed[..., :1])], -1)
    eye = torch.eye(k + 1, dtype=x.dtype, device=x.device)
    box = torch.cat([eye[:k], -eye[:k]], 0)  # |z_j| <= 1, and for a: -a <= 0 below
    t_row = eye[k:]
    G = torch.cat([margin_rows, box.expand(*batch, *box.shape), t_row.expand(*batch, 1, k + 1)],
                  -2)
    n = phi.shape[-2]
    h = torch.zeros(*batch, G.shape[-2], dtype=x.dtype, device=x.device)
    h[..., n:n + k] = 1.0
    h[..., n + k:n + 2 * k] = 1.0
    if ball:
        h[..., n + 2 * k - 1] = 0.0  # -a <= 0
    h[..., -1] = 1.0
    c = torch.zeros(k + 1, dtype=x.dtype, device=x.device)
    c[-1] = -1.0
    result = solve_lp(c.expand(*batch, k + 1), G, h)
    if bool((result.status != 0).any()):
        raise RuntimeError("can_shatter: the margin LP did not solve to optimality for "
                           f"{int((result.status != 0).sum())} labelling(s); the points may "
                           "be badly scaled or duplicated beyond float64 precision")
    t_star = -result.objective
    return t_star > tol


def realizable_labellings(points: Tensor, hypothesis_class: str, labels: Tensor | None = None,
                          *, tol: float | None = None) -> Tensor:
    r"""Which labellings of ``points`` a hypothesis class realizes.

    .. math::
        \text{realizable}(y) = \exists h \in H:\ h(x_i) = y_i\ \forall i

    Classes: ``"threshold"`` :math:`1[x \ge t]` on the line; ``"interval"``
    :math:`1[a \le x \le b]`; ``"axis_aligned_rectangle"`` :math:`1[l \le x \le u]`
    coordinatewise in :math:`\mathbb R^d`; ``"halfspace"`` :math:`1[w^\top x + b > 0]`
    (affine, VC dimension :math:`d + 1`); ``"ball"`` :math:`1[\|x - c\| \le r]`
    (VC dimension :math:`d + 1`). Halfspaces and balls are decided by the sign of the
    largest margin of one batched LP over all labellings (Shalev-Shwartz & Ben-David 2014,
    Section 9.1.1, for the LP view of halfspaces).

    Args:
        points: ``(..., n, d)`` floating tensor.
        hypothesis_class: one of :data:`HYPOTHESIS_CLASSES`.
        labels: ``(L, n)`` bool labellings to test (default: all :math:`2^n`).
        tol: margin below which an LP labelling counts as not realizable (default
            ``1e-7`` in float64, ``1e-4`` in float32).

    Shape:
        returns ``(..., L)``.

    Returns:
        a bool tensor.

    Raises:
        ValueError: unknown class, or points of the wrong shape.

    Example:
        >>> pts = torch.tensor([[0.0], [1.0]])
        >>> realizable_labellings(pts, "threshold").tolist()
        [True, False, True, True]

    Source: Shalev-Shwartz & Ben-David (2014), *Understanding Machine Learning*, sec. 6.2
    (shattering) and sec. 9.1.1 (halfspaces by linear programming).
    """
    fn = "realizable_labellings"
    _check_points(fn, points, hypothesis_class)
    n = points.shape[-2]
    if labels is None:
        labels = all_labellings(n, device=points.device)
    elif labels.dtype != torch.bool or labels.dim() != 2 or labels.shape[-1] != n:
        raise fail(fn, "labels", f"a bool tensor of shape (L, {n})",
                   f"{labels.dtype} of shape {tuple(labels.shape)}")
    if tol is None:
        tol = 1e-7 if points.dtype == torch.float64 else 1e-4
    if hypothesis_class == "threshold":
        return _threshold_realizable(points, labels)
    if hypothesis_class in ("interval", "axis_aligned_rectangle"):
        return _box_realizable(points, labels)
    pts = points.double() if points.dtype != torch.float64 else points
    if hypothesis_class == "ball":
        return _lp_realizable(pts, labels, ball=True, tol=tol)
    # halfspaces realize a labelling iff they realize its complement (w, b -> -w, -b):
    # solve one LP per complementary pair
    canon = torch.where(labels[:, -1:], ~labels, labels)
    unique, inverse = torch.unique(canon, dim=0, return_inverse=True)
    return _lp_realizable(pts, unique, ball=False, tol=tol)[..., inverse]


def can_shatter(points: Tensor, hypothesis_class: str, *, tol: float | None = None) -> Tensor:
    r"""Whether a hypothesis class shatters each set of points (realizes all labellings).

    .. math::
        |\{(h(x_1), \dots, h(x_n)) : h \in H\}| = 2^n

    Decided exactly over all :math:`2^n` labellings at once (see
    :func:`realizable_labellings` for the classes). Source: Vapnik & Chervonenkis (1971);
    Shalev-Shwartz & Ben-David (2014), Definition 6.3.

    Args:
        points: ``(..., n, d)`` floating tensor, ``n <= 16`` (``d = 1`` for
            ``"threshold"`` and ``"interval"``).
        hypothesis_class: ``"threshold"``, ``"interval"``, ``"axis_aligned_rectangle"``,
            ``"halfspace"`` or ``"ball"``.
        tol: LP margin tolerance (see :func:`realizable_labellings`).

    Shape:
        returns ``(...)`` for ``points`` of shape ``(..., n, d)``.

    Returns:
        a bool tensor.

    Raises:
        ValueError: unknown ``hypothesis_class``; ``points`` of the wrong shape.
        TypeError: ``points`` not a floating tensor.

    Example:
        >>> diamond = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
        >>> bool(can_shatter(diamond, "axis_aligned_rectangle"))
        True
        >>> bool(can_shatter(torch.tensor([[0.0], [1.0], [2.0]]), "interval"))
        False
    """
    _check_points("can_shatter", points, hypothesis_class)
    return realizable_labellings(points, hypothesis_class, tol=tol).all(-1)


def _candidate_sets(n_trials: int, n: int, d: int, generator, dtype) -> Tensor:
    """Half Gaussian point sets, half jittered vertices of the cross-polytope (the points
    ``+-e_i`` in a random order, scaled copies when ``n > 2d``): sets with many extreme
    points, which boxes need and Gaussian samples rarely give."""
    gauss = torch.randn(n_trials, n, d, generator=generator, dtype=dtype)
    n_cross = n_trials // 2
    if n_cross == 0:
        return gauss
    eye = torch.eye(d, dtype=dtype)
    vertices = torch.cat([eye, -eye])  # (2d, d)
    order = torch.argsort(torch.rand(n_cross, 2 * d, generator=generator), -1)
    idx = torch.arange(n) % (2 * d)
    ring = (torch.arange(n) // (2 * d) + 1).to(dtype).unsqueeze(-1)
    cross = vertices[order[:, idx]] * ring + 0.05 * gauss[:n_cross]
    return torch.cat([cross, gauss[n_cross:]])


def vc_dimension(hypothesis_class: str, d: int, *, n_trials: int = 32,
                 max_points: int | None = None, chunk_size: int = 8,
                 generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64) -> int:
    r"""Empirical VC dimension: the largest :math:`n` for which some sampled set of
    :math:`n` points in :math:`\mathbb R^d` is shattered.

    .. math::
        \widehat{\mathrm{VC}}(H) = \max\{n : \exists\ \text{tried } S,\ |S| = n,\
        H \text{ shatters } S\}

    For each :math:`n = 1, 2, \dots` it draws ``n_trials`` random sets (half Gaussian
    points, half jittered vertices :math:`\pm e_i` of the cross-polytope, which have many
    extreme points), checks them ``chunk_size`` at a time in batched calls, and stops at
    the first :math:`n` where none is shattered. It is a lower bound on the true VC
    dimension (a shattered set is a proof); for the built-in classes these candidates
    reach it (threshold 1, interval 2, rectangle :math:`2d`, halfspace and ball
    :math:`d + 1`).
    Source: Shalev-Shwartz & Ben-David (2014), Definition 6.5.

    Args:
        hypothesis_class: one of :data:`HYPOTHESIS_CLASSES`.
        d: dimension of the input space (``1`` for threshold and interval).
        n_trials: random point sets tried per size.
        max_points: the largest set size tried (default ``min(2 d + 2, 16)``).
        chunk_size: sets checked per batched call (the search stops early at a
            shattered one).
        generator: a ``torch.Generator`` for reproducibility.
        dtype: floating dtype of the sampled points.

    Returns:
        the empirical VC dimension (an ``int``).

    Raises:
        ValueError: unknown class, ``d < 1``, ``n_trials < 1``, or ``d != 1`` for a
            class on the line.

    Example:
        >>> vc_dimension("interval", 1, generator=torch.Generator().manual_seed(0))
        2
    """
    fn = "vc_dimension"
    check_choice(fn, "hypothesis_class", hypothesis_class, HYPOTHESIS_CLASSES)
    check_int(fn, "d", d, minimum=1)
    check_int(fn, "n_trials", n_trials, minimum=1)
    if hypothesis_class in ("threshold", "interval") and d != 1:
        raise fail(fn, "d", f"to be 1 for the class '{hypothesis_class}'", d)
    if max_points is None:
        max_points = min(2 * d + 2, MAX_POINTS)
    check_int(fn, "max_points", max_points, minimum=1)
    check_int(fn, "chunk_size", chunk_size, minimum=1)
    best = 0
    for n in range(1, max_points + 1):
        pts = _candidate_sets(n_trials, n, d, generator, dtype)
        # sets are checked a chunk at a time: the first shattered one settles this size
        found = False
        for chunk in pts.split(chunk_size):
            if bool(can_shatter(chunk, hypothesis_class).any()):
                found = True
                break
        if not found:
            break
        best = n
    return best


def empirical_rademacher_complexity(outputs: Tensor, *, n_draws: int | None = 1000,
                                    generator: torch.Generator | None = None) -> Tensor:
    r"""Empirical Rademacher complexity of a finite set of hypothesis outputs on a sample.

    .. math::
        \hat{\mathfrak R}_S(H) = \mathbb E_\sigma\left[\max_{h \in H}
        \frac1n \sum_{i=1}^n \sigma_i h(x_i)\right],\qquad \sigma_i \sim
        \mathrm{Uniform}\{-1, +1\}

    The expectation is a Monte Carlo mean over ``n_draws`` sign vectors (one matrix
    product for all hypotheses and draws), or exact over all :math:`2^n` sign vectors
    when ``n_draws=None`` (``n <= 16``). Source: Mohri et al. (2018), Definition 3.1;
    Bartlett & Mendelson (2002).

    Args:
        outputs: ``(..., H, n)`` the values :math:`h(x_i)` of :math:`H` hypotheses on
            :math:`n` points (any real values; ``{-1, +1}`` for classifiers).
        n_draws: number of random sign vectors, or ``None`` for the exact enumeration.
        generator: a ``torch.Generator`` for the signs (on ``outputs``' device).

    Shape:
        returns ``(...)``.

    Returns:
        the estimate, of ``outputs``' dtype.

    Raises:
        TypeError: ``outputs`` not floating. ValueError: fewer than 2 dimensions, or
            ``n > 16`` with ``n_draws=None``.

    Example:
        >>> h = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # {h, -h} on two points
        >>> empirical_rademacher_complexity(h, n_draws=None)  # E|s1 + s2| / 2
        tensor(0.5000)
    """
    fn = "empirical_rademacher_complexity"
    check_floating(fn, "outputs", outputs)
    check_ndim(fn, "outputs", outputs, min_ndim=2)
    check_finite(fn, "outputs", outputs)
    n = outputs.shape[-1]
    if n_draws is None:
        if n > MAX_POINTS:
            raise fail(fn, "outputs", f"at most {MAX_POINTS} points for the exact "
                       "enumeration (n_draws=None)", f"{n} points")
        sigma = all_labellings(n, device=outputs.device).to(outputs.dtype) * 2 - 1
    else:
        check_int(fn, "n_draws", n_draws, minimum=1)
        bits = torch.randint(0, 2, (n_draws, n), generator=generator,
                             device=generator.device if generator is not None
                             else outputs.device)
        sigma = bits.to(device=outputs.device, dtype=outputs.dtype) * 2 - 1
    corr = outputs @ sigma.T / n  # (..., H, draws)
    return corr.amax(-2).mean(-1)
