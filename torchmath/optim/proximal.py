r"""Proximal operators: the building blocks of proximal-gradient methods (ISTA, FISTA).

The proximal operator of a convex function :math:`g` scaled by :math:`\lambda > 0` is

.. math::
    \operatorname{prox}_{\lambda g}(x) = \arg\min_z \; g(z) + \frac{1}{2\lambda}\|z - x\|_2^2 .

Every operator here takes the *already scaled* weight ``lam`` (a proximal-gradient step
with step size :math:`t` on :math:`\alpha g` calls it with ``lam = t * alpha``), works
elementwise or along the last dimension over any leading batch dimensions, and keeps the
input's dtype and device. Source: Parikh & Boyd, *Proximal Algorithms* (2014), sec. 6.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath._validation import check_floating, check_in_range, check_positive

__all__ = [
    "prox_elastic_net",
    "prox_l2",
    "prox_nonneg",
    "prox_squared_l2",
    "soft_threshold",
]


def _check_lam(fn: str, lam) -> None:
    check_positive(fn, "lam", lam, strict=False)


def soft_threshold(x: Tensor, lam: float | Tensor) -> Tensor:
    r"""Soft thresholding, the proximal operator of :math:`\lambda \|x\|_1`.

    .. math::
        \operatorname{prox}_{\lambda\|\cdot\|_1}(x)_i
        = \operatorname{sign}(x_i)\,\max(|x_i| - \lambda, 0)

    Entries with :math:`|x_i| \le \lambda` become exact zeros, which is how the lasso and
    ISTA produce sparse solutions. Differentiable (almost everywhere) in ``x`` and ``lam``.

    Args:
        x: input tensor.
        lam: threshold :math:`\lambda \ge 0`, a number or a tensor broadcastable to ``x``
            (per-coordinate thresholds).

    Shape:
        ``x``: ``(...)``; ``lam``: broadcastable to ``x``; returns the broadcast shape.

    Returns:
        The thresholded tensor.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``lam`` is negative.

    Example:
        >>> soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5]), 1.0)
        tensor([-1.0000, 0.0000, 0.0000, 0.0000, 0.5000])

    Source: Donoho, *De-noising by soft-thresholding*, IEEE Trans. Inf. Theory (1995).
    """
    fn = "soft_threshold"
    check_floating(fn, "x", x)
    _check_lam(fn, lam)
    return torch.sign(x) * torch.relu(x.abs() - lam)


def prox_elastic_net(x: Tensor, lam: float | Tensor, l1_ratio: float) -> Tensor:
    r"""Proximal operator of the elastic-net penalty (scikit-learn's parametrization).

    .. math::
        g(x) = \rho\,\|x\|_1 + \frac{1-\rho}{2}\|x\|_2^2, \qquad
        \operatorname{prox}_{\lambda g}(x)
        = \frac{\operatorname{soft}(x, \lambda\rho)}{1 + \lambda(1-\rho)}

    with :math:`\rho` = ``l1_ratio``. ``l1_ratio=1`` is the lasso (soft thresholding),
    ``l1_ratio=0`` is ridge shrinkage :math:`x / (1+\lambda)`. Exact zeros where
    :math:`|x_i| \le \lambda\rho`.

    Args:
        x: input tensor.
        lam: scaled penalty weight :math:`\lambda \ge 0` (number or broadcastable tensor).
        l1_ratio: mixing :math:`\rho \in [0, 1]`.

    Shape:
        ``x``: ``(...)``; returns the same shape (broadcast with ``lam``).

    Returns:
        The proximal point.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``lam`` is negative or ``l1_ratio`` is outside [0, 1].

    Example:
        >>> prox_elastic_net(torch.tensor([-3.0, 0.2, 2.0]), 1.0, 0.5)
        tensor([-1.6667, 0.0000, 1.0000])

    Source: Zou & Hastie, *Regularization and variable selection via the elastic net* (2005);
    Parikh & Boyd (2014), sec. 6.5.3.
    """
    fn = "prox_elastic_net"
    check_floating(fn, "x", x)
    _check_lam(fn, lam)
    check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
    return torch.sign(x) * torch.relu(x.abs() - lam * l1_ratio) / (1 + lam * (1 - l1_ratio))


def prox_l2(x: Tensor, lam: float | Tensor, dim: int = -1) -> Tensor:
    r"""Block soft thresholding, the proximal operator of the Euclidean norm
    :math:`\lambda\|x\|_2` along ``dim`` (the group-lasso step).

    .. math::
        \operatorname{prox}_{\lambda\|\cdot\|_2}(x) = \max\!\Big(1 - \frac{\lambda}{\|x\|_2},
        0\Big)\, x

    A whole block becomes exactly zero when :math:`\|x\|_2 \le \lambda`.

    Args:
        x: input tensor; each slice along ``dim`` is one block.
        lam: scaled weight :math:`\lambda \ge 0`, a number or a tensor broadcastable to
            ``x`` with ``dim`` kept as size 1 (one weight per block).
        dim: the dimension holding a block.

    Shape:
        ``x``: ``(..., d)`` for ``dim=-1``; returns the same shape.

    Returns:
        The shrunk blocks.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``lam`` is negative.

    Example:
        >>> prox_l2(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)
        tensor([[2.4000, 3.2000],
                [0.0000, 0.0000]])

    Source: Parikh & Boyd, *Proximal Algorithms* (2014), sec. 6.5.1.
    """
    fn = "prox_l2"
    check_floating(fn, "x", x)
    _check_lam(fn, lam)
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
    # relu(norm - lam) / norm, with 0/0 read as 0 (a zero block stays zero).
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return x * (torch.relu(norm - lam) / safe)


def prox_squared_l2(x: Tensor, lam: float | Tensor) -> Tensor:
    r"""Proximal operator of :math:`\frac{\lambda}{2}\|x\|_2^2` (ridge shrinkage).

    .. math::
        \operatorname{prox}_{\frac{\lambda}{2}\|\cdot\|_2^2}(x) = \frac{x}{1 + \lambda}

    Args:
        x: input tensor.
        lam: scaled weight :math:`\lambda \ge 0` (number or broadcastable tensor).

    Shape:
        ``x``: ``(...)``; returns the same shape.

    Returns:
        ``x / (1 + lam)``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``lam`` is negative.

    Example:
        >>> prox_squared_l2(torch.tensor([2.0, -4.0]), 1.0)
        tensor([ 1., -2.])

    Source: Parikh & Boyd, *Proximal Algorithms* (2014), sec. 6.1.1.
    """
    fn = "prox_squared_l2"
    check_floating(fn, "x", x)
    _check_lam(fn, lam)
    return x / (1 + lam)


def prox_nonneg(x: Tensor, lam: float | Tensor = 0.0) -> Tensor:
    r"""Proximal operator of the indicator of the nonnegative orthant (projection onto it).

    .. math::
        \operatorname{prox}_{\lambda \iota_{\ge 0}}(x) = \max(x, 0)

    The indicator is unchanged by scaling, so ``lam`` is accepted (for a uniform
    ``prox(x, lam)`` signature) and ignored.

    Args:
        x: input tensor.
        lam: ignored step weight (must be non-negative).

    Shape:
        ``x``: ``(...)``; returns the same shape.

    Returns:
        ``x`` with negative entries set to zero.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.

    Example:
        >>> prox_nonneg(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])

    Source: Parikh & Boyd, *Proximal Algorithms* (2014), sec. 1.2.
    """
    fn = "prox_nonneg"
    check_floating(fn, "x", x)
    _check_lam(fn, lam)
    return torch.relu(x)
