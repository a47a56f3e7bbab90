r"""Euclidean projections onto simple convex sets, batched over leading dimensions.

.. math::
    \Pi_C(x) = \arg\min_{z \in C} \|z - x\|_2

These are the proximal operators of the sets' indicator functions, so they plug into
:class:`torchmath.optim.ProjectedGradient` (projected gradient descent). Each works along
the last dimension of ``(..., d)`` inputs (``project_box`` is elementwise), keeps dtype and
device, and is differentiable almost everywhere.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath._validation import check_floating, check_ndim, check_positive, fail, validating

__all__ = ["project_box", "project_l1_ball", "project_l2_ball", "project_simplex"]


def _check_x(fn: str, x: Tensor) -> None:
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)


def project_simplex(x: Tensor, radius: float = 1.0) -> Tensor:
    r"""Projection onto the (scaled) probability simplex, by sorting.

    .. math::
        \Pi(x) = \max(x - \tau, 0), \quad
        \tau = \frac{1}{\rho}\Big(\sum_{i \le \rho} u_i - r\Big), \quad
        \rho = \max\Big\{j : u_j - \frac{1}{j}\Big(\sum_{i\le j} u_i - r\Big) > 0\Big\}

    where :math:`u` is :math:`x` sorted in decreasing order and the simplex is
    :math:`\{z \ge 0, \sum_i z_i = r\}`. :math:`O(d \log d)` per vector.

    Args:
        x: points to project, one per row.
        radius: the sum :math:`r > 0`.

    Shape:
        ``x``: ``(..., d)``; returns ``(..., d)``.

    Returns:
        The nearest points of the simplex.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``radius`` is not positive.

    Example:
        >>> project_simplex(torch.tensor([0.5, 1.5, -1.0]))
        tensor([0., 1., 0.])

    Source: Duchi et al., *Efficient projections onto the l1-ball*, ICML (2008), fig. 1.
    """
    fn = "project_simplex"
    _check_x(fn, x)
    check_positive(fn, "radius", radius)
    d = x.shape[-1]
    u = torch.sort(x, dim=-1, descending=True).values
    css = u.cumsum(-1) - radius
    j = torch.arange(1, d + 1, dtype=x.dtype, device=x.device)
    rho = (u - css / j > 0).sum(-1, keepdim=True).clamp_min(1)  # count of the true prefix
    tau = css.gather(-1, rho - 1) / rho.to(x.dtype)
    return torch.relu(x - tau)


def project_box(x: Tensor, lower: float | Tensor | None = None,
                upper: float | Tensor | None = None) -> Tensor:
    r"""Projection onto the box :math:`\{l \le z \le u\}` (elementwise clamp).

    .. math::
        \Pi(x)_i = \min(\max(x_i, l_i), u_i)

    Args:
        x: points to project.
        lower: lower bounds (number or tensor broadcastable to ``x``; ``None`` = none).
        upper: upper bounds (``None`` = none).

    Shape:
        ``x``: ``(...)``; bounds broadcastable; returns the broadcast shape.

    Returns:
        The clamped points.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: some lower bound exceeds its upper bound.

    Example:
        >>> project_box(torch.tensor([-2.0, 0.5, 3.0]), 0.0, 1.0)
        tensor([0.0000, 0.5000, 1.0000])

    Source: Boyd & Vandenberghe, *Convex Optimization* (2004), sec. 8.1.
    """
    fn = "project_box"
    check_floating(fn, "x", x)
    if lower is not None and upper is not None and validating():
        lo = torch.as_tensor(lower, dtype=x.dtype, device=x.device)
        hi = torch.as_tensor(upper, dtype=x.dtype, device=x.device)
        if bool((lo > hi).any()):
            raise fail(fn, "lower", "<= 'upper' everywhere", "a lower bound above its upper")
    if isinstance(lower, Tensor) or isinstance(upper, Tensor):
        lo = None if lower is None else torch.as_tensor(lower, dtype=x.dtype, device=x.device)
        hi = None if upper is None else torch.as_tensor(upper, dtype=x.dtype, device=x.device)
        return torch.clamp(x, lo, hi)
    return torch.clamp(x, lower, upper)


def project_l2_ball(x: Tensor, radius: float | Tensor = 1.0,
                    center: Tensor | None = None) -> Tensor:
    r"""Projection onto the Euclidean ball :math:`\{\|z - c\|_2 \le r\}`.

    .. math::
        \Pi(x) = c + \frac{x - c}{\max(1, \|x - c\|_2 / r)}

    Args:
        x: points to project, one per row.
        radius: :math:`r > 0` (number, or tensor of shape ``(...)`` per row).
        center: :math:`c`, broadcastable to ``x`` (default the origin).

    Shape:
        ``x``: ``(..., d)``; returns ``(..., d)``.

    Returns:
        The nearest points of the ball.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``radius`` is not positive.

    Example:
        >>> project_l2_ball(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
        tensor([[0.6000, 0.8000],
                [0.3000, 0.4000]])

    Source: Parikh & Boyd, *Proximal Algorithms* (2014), sec. 6.5.1.
    """
    fn = "project_l2_ball"
    _check_x(fn, x)
    check_positive(fn, "radius", radius)
    if isinstance(radius, Tensor):
        radius = radius.unsqueeze(-1)
    z = x if center is None else x - center
    norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
    out = z / torch.clamp(norm / radius, min=1.0)
    return out if center is None else out + center


def project_l1_ball(x: Tensor, radius: float = 1.0) -> Tensor:
    r"""Projection onto the :math:`\ell_1` ball :math:`\{\|z\|_1 \le r\}`.

    .. math::
        \Pi(x) = \begin{cases} x & \|x\|_1 \le r \\
        \operatorname{sign}(x)\, \Pi_{\Delta_r}(|x|) & \text{otherwise} \end{cases}

    where :math:`\Pi_{\Delta_r}` is :func:`project_simplex` with radius :math:`r`; the
    result is a soft thresholding of :math:`x`, so it has exact zeros.

    Args:
        x: points to project, one per row.
        radius: :math:`r > 0`.

    Shape:
        ``x``: ``(..., d)``; returns ``(..., d)``.

    Returns:
        The nearest points of the ball.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``radius`` is not positive.

    Example:
        >>> project_l1_ball(torch.tensor([2.0, -1.5, 0.1]))
        tensor([ 0.7500, -0.2500,  0.0000])

    Source: Duchi et al., *Efficient projections onto the l1-ball*, ICML (2008), sec. 4.
    """
    fn = "project_l1_ball"
    _check_x(fn, x)
    check_positive(fn, "radius", radius)
    inside = x.abs().sum(-1, keepdim=True) <= radius
    return torch.where(inside, x, torch.sign(x) * project_simplex(x.abs(), radius))
