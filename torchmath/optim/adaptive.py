r"""Adaptive per-coordinate step sizes: AdaGrad and RMSProp as ``torch.optim.Optimizer``\ s.

Thin shells over public functional kernels (:func:`adagrad_update`,
:func:`rmsprop_update`) with a multi-tensor and a per-parameter path; the arithmetic
follows ``torch.optim.Adagrad`` and ``torch.optim.RMSprop``, so trajectories agree.
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
    new_step,
    resolve_foreach,
)

__all__ = ["AdaGrad", "RMSProp", "adagrad_update", "rmsprop_update"]


def adagrad_update(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
                   steps: list[Tensor], *, lr: float, lr_decay: float = 0.0,
                   weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False,
                   foreach: bool | None = None) -> None:
    r"""One AdaGrad step, in place (``steps`` are incremented).

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t-1)\eta}\,
        \frac{g_t}{\sqrt{s_t} + \epsilon}

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        state_sums: accumulated squared gradients :math:`s`, updated in place.
        steps: step counters (CPU scalar tensors), incremented.
        lr: :math:`\gamma`; lr_decay: :math:`\eta`; weight_decay: L2 coefficient;
        eps: :math:`\epsilon`; maximize: ascend.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Example:
        >>> p, s, t = torch.tensor([1.0]), [torch.zeros(1)], [torch.tensor(0.0)]
        >>> adagrad_update([p], [torch.tensor([2.0])], s, t, lr=0.5)
        >>> p
        tensor([0.5000])

    Source: Duchi, Hazan & Singer, *Adaptive subgradient methods*, JMLR (2011).
    """
    foreach = resolve_foreach(foreach, params)
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=foreach)
    if foreach:
        for ps, gs, ss, ts in group_by_device_dtype(params, grads, state_sums, steps):
            torch._foreach_add_(ts, 1.0)
            torch._foreach_addcmul_(ss, gs, gs, value=1.0)
            std = torch._foreach_sqrt(ss)
            torch._foreach_add_(std, eps)
            scale = [-lr / (1 + (t.item() - 1) * lr_decay) for t in ts]
            torch._foreach_addcdiv_(ps, gs, std, scale)
        return
    for p, g, s, t in zip(params, grads, state_sums, steps, strict=True):
        t += 1
        clr = lr / (1 + (t.item() - 1) * lr_decay)
        s.addcmul_(g, g, value=1.0)
        std = s.sqrt().add_(eps)
        p.addcdiv_(g, std, value=-clr)


def rmsprop_update(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
                   grad_avgs: list[Tensor] | None, momentum_buffers: list[Tensor] | None, *,
                   lr: float, alpha: float = 0.99, eps: float = 1e-8,
                   weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                   maximize: bool = False, foreach: bool | None = None) -> None:
    r"""One RMSProp step, in place.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \quad
        \tilde v_t = v_t - \bar g_t^2 \text{ (centered)}, \quad
        \theta_t = \theta_{t-1} - \gamma\,\frac{g_t}{\sqrt{\tilde v_t} + \epsilon}

    with :math:`\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t` when ``centered``, and the
    ratio accumulated in a momentum buffer :math:`b_t = \mu b_{t-1} + g_t/(\sqrt{\tilde
    v_t}+\epsilon)` when ``momentum > 0``.

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        square_avgs: :math:`v`, updated in place.
        grad_avgs: :math:`\bar g` (needed when ``centered``), updated in place.
        momentum_buffers: :math:`b` (needed when ``momentum > 0``), updated in place.
        lr, alpha, eps, weight_decay, momentum, centered, maximize: as in :class:`RMSProp`.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Example:
        >>> p, v = torch.tensor([1.0]), [torch.zeros(1)]
        >>> rmsprop_update([p], [torch.tensor([1.0])], v, None, None, lr=0.1, alpha=0.75)
        >>> p
        tensor([0.8000])

    Source: Tieleman & Hinton, Coursera lecture 6.5 (2012); Graves, arXiv:1308.0850 (2013).
    """
    foreach = resolve_foreach(foreach, params)
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=foreach)
    n = len(params)
    gas = grad_avgs if centered else [None] * n
    mbs = momentum_buffers if momentum > 0 else [None] * n
    if foreach:
        for ps, gs, vs, ga, mb in group_by_device_dtype(params, grads, square_avgs, gas, mbs):
            torch._foreach_mul_(vs, alpha)
            torch._foreach_addcmul_(vs, gs, gs, value=1 - alpha)
            if centered:
                torch._foreach_lerp_(ga, gs, 1 - alpha)
                avg = torch._foreach_addcmul(vs, ga, ga, value=-1)
                torch._foreach_sqrt_(avg)
            else:
                avg = torch._foreach_sqrt(vs)
            torch._foreach_add_(avg, eps)
            if momentum > 0:
                torch._foreach_mul_(mb, momentum)
                torch._foreach_addcdiv_(mb, gs, avg)
                torch._foreach_add_(ps, mb, alpha=-lr)
            else:
                torch._foreach_addcdiv_(ps, gs, avg, value=-lr)
        return
    for p, g, v, ga, mb in zip(params, grads, square_avgs, gas, mbs, strict=True):
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if centered:
            ga.lerp_(g, 1 - alpha)
            avg = v.addcmul(ga, ga, value=-1).sqrt_()
        else:
            avg = v.sqrt()
        avg = avg.add_(eps)
        if momentum > 0:
            mb.mul_(momentum).addcdiv_(g, avg)
            p.add_(mb, alpha=-lr)
        else:
            p.addcdiv_(g, avg, value=-lr)


class AdaGrad(KernelOptimizer):
    r"""AdaGrad: per-coordinate steps scaled by the root of the summed squared gradients.

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \frac{\gamma_t\, g_t}{\sqrt{s_t} + \epsilon}, \quad
        \gamma_t = \frac{\gamma}{1 + (t-1)\eta}

    Equals ``torch.optim.Adagrad`` with the same settings (kernel: :func:`adagrad_update`).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: :math:`\gamma \ge 0` (default 1e-2).
        lr_decay: :math:`\eta \ge 0`.
        weight_decay: L2 penalty :math:`\ge 0`.
        initial_accumulator_value: :math:`s_0 \ge 0`.
        eps: :math:`\epsilon \ge 0` (default 1e-10).
        maximize: ascend the objective.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Raises:
        ValueError: any of the above negative (torch's wording, e.g.
            ``Invalid learning rate: -1``).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        >>> opt = AdaGrad([w], lr=0.1)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([ 0.9000, -0.9000])

    Source: Duchi, Hazan & Singer, JMLR 12 (2011).
    """

    _setdefaults = {"lr_decay": 0.0, "initial_accumulator_value": 0.0}

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False, foreach: bool | None = None):
        check_lr(lr)
        check_nonneg("lr_decay", lr_decay)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("initial_accumulator_value", initial_accumulator_value)
        check_nonneg("epsilon", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize, foreach=foreach)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("sum",)

    def _init_state(self, p, group, state):
        state["step"] = new_step()
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                       memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, steps):
        adagrad_update(params, grads, states["sum"], steps, lr=group["lr"],
                       lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                       eps=group["eps"], maximize=group["maximize"], foreach=group["foreach"])


class RMSProp(KernelOptimizer):
    r"""RMSProp: steps scaled by a running root-mean-square of the gradients.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad
        \theta_t = \theta_{t-1} - \gamma\,\frac{g_t}{\sqrt{v_t} + \epsilon}

    optionally centered (subtracting the squared running mean of the gradient) and with
    momentum. Equals ``torch.optim.RMSprop`` with the same settings (kernel:
    :func:`rmsprop_update`).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: :math:`\gamma \ge 0` (default 1e-2).
        alpha: smoothing :math:`\alpha \ge 0` (default 0.99).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: L2 penalty :math:`\ge 0`.
        momentum: :math:`\mu \ge 0`.
        centered: normalize by the estimated variance instead of the second moment.
        maximize: ascend the objective.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Raises:
        ValueError: any of ``lr, alpha, eps, weight_decay, momentum`` negative (torch's
            wording).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = RMSProp([w], lr=0.01, alpha=0.75)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.9800])

    Source: Tieleman & Hinton (2012); Graves, arXiv:1308.0850 (2013) for the centered form.
    """

    _setdefaults = {"centered": False, "momentum": 0.0}

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 *, maximize: bool = False, foreach: bool | None = None):
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("alpha", alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("square_avg", "grad_avg", "momentum_buffer")

    def _init_state(self, p, group, state):
        state["step"] = new_step()
        zeros = lambda: torch.zeros_like(p, memory_format=torch.preserve_format)  # noqa: E731
        state["square_avg"] = zeros()
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros()
        if group["centered"]:
            state["grad_avg"] = zeros()

    def _update(self, group, params, grads, states, steps):
        torch._foreach_add_(steps, 1.0)
        rmsprop_update(params, grads, states["square_avg"], states["grad_avg"],
                       states["momentum_buffer"], lr=group["lr"], alpha=group["alpha"],
                       eps=group["eps"], weight_decay=group["weight_decay"],
                       momentum=group["momentum"], centered=group["centered"],
                       maximize=group["maximize"], foreach=group["foreach"])
