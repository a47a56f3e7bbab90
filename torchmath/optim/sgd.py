r"""Gradient descent and momentum (heavy ball, Nesterov) as ``torch.optim.Optimizer``\ s.

Each optimizer is a thin shell over a public functional kernel
(:func:`gradient_descent_update`, :func:`momentum_update`) with a multi-tensor
(``torch._foreach_*``) path and a per-parameter path. The arithmetic follows
``torch.optim.SGD`` operation for operation, so trajectories agree with it to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath.optim._common import (
    KernelOptimizer,
    check_lr,
    check_nonneg,
    effective_grads,
    group_by_device_dtype,
    resolve_foreach,
)

__all__ = ["GradientDescent", "Momentum", "gradient_descent_update", "momentum_update"]


def gradient_descent_update(params: list[Tensor], grads: list[Tensor], *, lr: float,
                            weight_decay: float = 0.0, maximize: bool = False,
                            foreach: bool | None = None) -> None:
    r"""One gradient-descent step on a list of parameters, in place.

    .. math::
        g_t = \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}, \qquad
        \theta_t = \theta_{t-1} - \gamma\, g_t

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        lr: step size :math:`\gamma`.
        weight_decay: L2 coefficient :math:`\lambda`.
        maximize: ascend instead of descend (:math:`g = -\nabla f`).
        foreach: multi-tensor path (``True``), per-parameter path (``False``), or the
            device default (``None``: multi-tensor on CUDA, per-parameter on CPU).

    Shape:
        ``params[i]`` and ``grads[i]`` share a shape.

    Example:
        >>> p = torch.tensor([1.0, 2.0])
        >>> gradient_descent_update([p], [torch.tensor([1.0, -1.0])], lr=0.5)
        >>> p
        tensor([0.5000, 2.5000])

    Source: Cauchy (1847); Nesterov, *Lectures on Convex Optimization* (2018), sec. 2.1.5.
    """
    foreach = resolve_foreach(foreach, params)
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=foreach)
    if foreach:
        for ps, gs in group_by_device_dtype(params, grads):
            torch._foreach_add_(ps, gs, alpha=-lr)
        return
    for p, g in zip(params, grads, strict=True):
        p.add_(g, alpha=-lr)


def momentum_update(params: list[Tensor], grads: list[Tensor],
                    momentum_buffers: list[Tensor | None], *, lr: float, momentum: float,
                    dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                    maximize: bool = False, foreach: bool | None = None) -> None:
    r"""One heavy-ball or Nesterov momentum step, in place (``torch.optim.SGD``'s form).

    .. math::
        b_t = \mu b_{t-1} + (1-\tau) g_t \;(b_1 = g_1), \qquad
        \theta_t = \theta_{t-1} - \gamma
        \begin{cases} g_t + \mu b_t & \text{Nesterov} \\ b_t & \text{heavy ball} \end{cases}

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        momentum_buffers: the buffers :math:`b`; ``None`` entries (first step) are
            replaced in the list by new buffers.
        lr: step size :math:`\gamma`.
        momentum: :math:`\mu`.
        dampening: :math:`\tau`.
        nesterov: Nesterov's look-ahead form.
        weight_decay: L2 coefficient added to the gradient.
        maximize: ascend instead of descend.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Example:
        >>> p, bufs = torch.tensor([1.0]), [None]
        >>> momentum_update([p], [torch.tensor([1.0])], bufs, lr=0.1, momentum=0.9)
        >>> momentum_update([p], [torch.tensor([1.0])], bufs, lr=0.1, momentum=0.9)
        >>> p
        tensor([0.7100])

    Source: Polyak (1964) heavy ball; Sutskever et al., ICML (2013) for the Nesterov form.
    """
    foreach = resolve_foreach(foreach, params)
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=foreach)
    fresh = [i for i, b in enumerate(momentum_buffers) if b is None]
    for i in fresh:
        momentum_buffers[i] = torch.clone(grads[i]).detach()
    old = [i for i in range(len(params)) if i not in set(fresh)] if fresh else \
        list(range(len(params)))
    if foreach:
        if old:
            for bs, gs in group_by_device_dtype([momentum_buffers[i] for i in old],
                                                [grads[i] for i in old]):
                torch._foreach_mul_(bs, momentum)
                torch._foreach_add_(bs, gs, alpha=1 - dampening)
        for ps, gs, bs in group_by_device_dtype(params, grads, momentum_buffers):
            steps = torch._foreach_add(gs, bs, alpha=momentum) if nesterov else bs
            torch._foreach_add_(ps, steps, alpha=-lr)
        return
    for i in old:
        momentum_buffers[i].mul_(momentum).add_(grads[i], alpha=1 - dampening)
    for p, g, b in zip(params, grads, momentum_buffers, strict=True):
        p.add_(g.add(b, alpha=momentum) if nesterov else b, alpha=-lr)


class GradientDescent(KernelOptimizer):
    r"""Gradient descent, :math:`\theta_t = \theta_{t-1} - \gamma(\nabla f + \lambda\theta)`.

    Equals ``torch.optim.SGD(params, lr, weight_decay=...)`` step for step. The kernel is
    :func:`gradient_descent_update`.

    .. math::
        \theta_t = \theta_{t-1} - \gamma\big(\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}\big)

    For an :math:`L`-smooth convex :math:`f`, ``lr`` :math:`\le 1/L` guarantees
    :math:`f(\theta_t) - f^\star \le \|\theta_0-\theta^\star\|^2 / (2\gamma t)`
    (see :func:`torchmath.optim.step_size_bound`).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size :math:`\gamma \ge 0`.
        weight_decay: L2 penalty :math:`\lambda \ge 0`.
        maximize: ascend the objective.
        foreach: multi-tensor path (``True``), per-parameter (``False``), device default
            (``None``: multi-tensor on CUDA, per-parameter on CPU, by measurement).

    Raises:
        ValueError: ``lr`` or ``weight_decay`` is negative (torch's wording).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0]))
        >>> opt = GradientDescent([w], lr=0.25)
        >>> for _ in range(3):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.3750])

    Source: Nesterov, *Lectures on Convex Optimization* (2018), thm. 2.1.14.
    """

    def __init__(self, params, lr: float = 1e-3, *, weight_decay: float = 0.0,
                 maximize: bool = False, foreach: bool | None = None):
        check_lr(lr)
        check_nonneg("weight_decay", weight_decay)
        defaults = dict(lr=lr, weight_decay=weight_decay, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _update(self, group, params, grads, states, steps):
        torch._foreach_add_(steps, 1.0)
        gradient_descent_update(params, grads, lr=group["lr"],
                                weight_decay=group["weight_decay"],
                                maximize=group["maximize"], foreach=group["foreach"])


class Momentum(KernelOptimizer):
    r"""Gradient descent with heavy-ball or Nesterov momentum.

    .. math::
        b_t = \mu b_{t-1} + (1-\tau) g_t, \qquad
        \theta_t = \theta_{t-1} - \gamma\,(b_t \text{ or } g_t + \mu b_t)

    Equals ``torch.optim.SGD(params, lr, momentum, dampening, nesterov=...)`` step for
    step (the kernel is :func:`momentum_update`). On a quadratic with condition number
    :math:`\kappa`, heavy ball with :math:`\gamma = 4/(\sqrt{L}+\sqrt{m})^2`,
    :math:`\mu = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2` converges at rate
    :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)` (see :func:`torchmath.optim.linear_rate`).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size :math:`\gamma \ge 0`.
        momentum: :math:`\mu \ge 0` (default 0.9).
        dampening: :math:`\tau` (default 0).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        weight_decay: L2 penalty :math:`\ge 0`.
        maximize: ascend the objective.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Raises:
        ValueError: negative ``lr``, ``momentum`` or ``weight_decay``; ``nesterov`` with
            zero momentum or nonzero dampening (torch's wording).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = Momentum([w], lr=0.1, momentum=0.5, nesterov=True)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.7000])

    Source: Polyak, USSR Comput. Math. (1964); Nesterov, Soviet Math. Dokl. (1983).
    """

    _setdefaults = {"nesterov": False, "dampening": 0.0}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9, *,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 maximize: bool = False, foreach: bool | None = None):
        check_lr(lr)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("momentum_buffer",)

    def _update(self, group, params, grads, states, steps):
        torch._foreach_add_(steps, 1.0)
        buffers = states["momentum_buffer"]
        momentum_update(params, grads, buffers, lr=group["lr"], momentum=group["momentum"],
                        dampening=group["dampening"], nesterov=group["nesterov"],
                        weight_decay=group["weight_decay"], maximize=group["maximize"],
                        foreach=group["foreach"])
        for p, b in zip(params, buffers, strict=True):
            self.state[p]["momentum_buffer"] = b
