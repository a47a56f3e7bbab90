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
    Scratch,
    check_fused_foreach,
    check_lr,
    check_nonneg,
    check_update_args,
    default_fused,
    effective_grad,
    effective_grads,
    group_by_device_dtype,
    pieces,
    resolve_foreach,
    run_fused,
)

__all__ = ["GradientDescent", "Momentum", "gradient_descent_update", "momentum_update"]


def gradient_descent_update(params: list[Tensor], grads: list[Tensor], *,
                            lr: float | Tensor, weight_decay: float | Tensor = 0.0,
                            maximize: bool = False, foreach: bool | None = None,
                            fused: bool | None = None) -> None:
    r"""One gradient-descent step on a list of parameters, in place.

    .. math::
        g_t = \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}, \qquad
        \theta_t = \theta_{t-1} - \gamma\, g_t

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged; sparse gradients take the per-parameter
            path).
        lr: step size :math:`\gamma` (float or 1-element Tensor).
        weight_decay: L2 coefficient :math:`\lambda` (float or 1-element Tensor).
        maximize: ascend instead of descend (:math:`g = -\nabla f`).
        foreach: multi-tensor path (``True``), per-parameter path (``False``), or the
            device default (``None``: multi-tensor on CUDA; on CPU torch's fused kernel
            where it applies, else per-parameter).
        fused: torch's fused SGD kernel, fed contiguous tensors only.

    Shape:
        ``grads[i]`` has the shape, dtype and device of ``params[i]``.

    Raises:
        ValueError: a gradient whose shape, dtype or device differs from its parameter's.

    Example:
        >>> p = torch.tensor([1.0, 2.0])
        >>> gradient_descent_update([p], [torch.tensor([1.0, -1.0])], lr=0.5)
        >>> p
        tensor([0.5000, 2.5000])

    Source: Cauchy (1847); Nesterov, *Lectures on Convex Optimization* (2018), sec. 2.1.5.
    """
    check_update_args("gradient_descent_update", params, grads, {}, allow_sparse=True)
    _sgd("gradient_descent_update", list(params), list(grads), [None] * len(params), lr=lr,
         momentum=0.0, dampening=0.0, nesterov=False, weight_decay=weight_decay,
         maximize=maximize, foreach=foreach, fused=fused)


def momentum_update(params: list[Tensor], grads: list[Tensor],
                    momentum_buffers: list[Tensor | None], *, lr: float | Tensor,
                    momentum: float, dampening: float = 0.0, nesterov: bool = False,
                    weight_decay: float | Tensor = 0.0, maximize: bool = False,
                    foreach: bool | None = None, fused: bool | None = None) -> None:
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
        lr: step size :math:`\gamma` (float or 1-element Tensor).
        momentum: :math:`\mu` (``0``: plain gradient descent, no buffers).
        dampening: :math:`\tau`.
        nesterov: Nesterov's look-ahead form.
        weight_decay: L2 coefficient added to the gradient.
        maximize: ascend instead of descend.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``:
            multi-tensor on CUDA; on CPU the fused kernel where it applies).
        fused: torch's fused SGD kernel, fed contiguous tensors only.

    Shape:
        ``grads[i]`` and ``momentum_buffers[i]`` (when not ``None``) have the shape,
        dtype and device of ``params[i]``.

    Raises:
        ValueError: a gradient or buffer whose shape, dtype or device differs from its
            parameter's (the message names it, e.g. ``'momentum_buffers[0]'``).

    Example:
        >>> p, bufs = torch.tensor([1.0]), [None]
        >>> momentum_update([p], [torch.tensor([1.0])], bufs, lr=0.1, momentum=0.9)
        >>> momentum_update([p], [torch.tensor([1.0])], bufs, lr=0.1, momentum=0.9)
        >>> p
        tensor([0.7100])

    Source: Polyak (1964) heavy ball; Sutskever et al., ICML (2013) for the Nesterov form.
    """
    check_update_args("momentum_update", params, grads,
                      {"momentum_buffers": momentum_buffers}, allow_sparse=True)
    buffers = list(momentum_buffers)
    _sgd("momentum_update", list(params), list(grads), buffers, lr=lr, momentum=momentum,
         dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
         maximize=maximize, foreach=foreach, fused=fused)
    momentum_buffers[:] = buffers


def _sgd(fn, params, grads, buffers, *, lr, momentum, dampening, nesterov, weight_decay,
         maximize, foreach, fused):
    if not params:
        return
    sparse = [i for i, g in enumerate(grads) if g.is_sparse]
    if fused is None and foreach is None and default_fused(params, grads, lr, weight_decay):
        fused = True
    if fused:
        if sparse:
            raise RuntimeError(f"{fn}: `_fused_sgd` does not support sparse gradients")
        _fused_sgd(params, grads, buffers, lr=lr, momentum=momentum, dampening=dampening,
                   nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)
        return
    if resolve_foreach(foreach, params):
        dense = [i for i in range(len(params)) if i not in set(sparse)] if sparse else \
            range(len(params))
        sub = [[values[i] for i in dense] for values in (params, grads, buffers)]
        _foreach_sgd(*sub, lr=lr, momentum=momentum, dampening=dampening,
                     nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)
        for j, i in enumerate(dense):
            buffers[i] = sub[2][j]
        if not sparse:
            return
        params, grads, picked = ([params[i] for i in sparse], [grads[i] for i in sparse],
                                 [buffers[i] for i in sparse])
        _single_sgd(params, grads, picked, lr=lr, momentum=momentum, dampening=dampening,
                    nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)
        for j, i in enumerate(sparse):
            buffers[i] = picked[j]
        return
    _single_sgd(params, grads, buffers, lr=lr, momentum=momentum, dampening=dampening,
                nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)


def _single_sgd(params, grads, buffers, *, lr, momentum, dampening, nesterov, weight_decay,
                maximize):
    if not (torch.is_grad_enabled() or any(g.is_sparse for g in grads)
            or any(isinstance(x, Tensor) and x.requires_grad for x in (lr, weight_decay))):
        _chunked_sgd(params, grads, buffers, lr=lr, momentum=momentum, dampening=dampening,
                     nesterov=nesterov, weight_decay=weight_decay, maximize=maximize)
        return
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=False)
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if momentum != 0:
            b = buffers[i]
            if b is None:
                b = buffers[i] = g.detach().clone()
            else:
                b.mul_(momentum).add_(g, alpha=1 - dampening)
            g = g.add(b, alpha=momentum) if nesterov else b
        if isinstance(lr, Tensor) and lr.requires_grad:
            p.addcmul_(g, lr, value=-1)
        else:
            p.add_(g, alpha=-lr)


def _chunked_sgd(params, grads, buffers, *, lr, momentum, dampening, nesterov, weight_decay,
                 maximize):
    """torch's for-loop arithmetic over cache-sized pieces (see ``pieces``)."""
    grad_buffer, step_buffer = Scratch(), Scratch()
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        b = buffers[i]
        fresh = momentum != 0 and b is None
        if fresh:
            b = buffers[i] = torch.empty_like(g, memory_format=torch.preserve_format)
        for pp, gg, bb in pieces(p, g, b if momentum != 0 else None):
            gg = effective_grad(pp, gg, weight_decay, maximize, grad_buffer)
            if momentum != 0:
                if fresh:
                    bb.copy_(gg)
                else:
                    bb.mul_(momentum).add_(gg, alpha=1 - dampening)
                gg = torch.add(gg, bb, alpha=momentum, out=step_buffer.like(gg)) \
                    if nesterov else bb
            pp.add_(gg, alpha=-lr)


def _foreach_sgd(params, grads, buffers, *, lr, momentum, dampening, nesterov, weight_decay,
                 maximize):
    if isinstance(lr, Tensor) and lr.device.type != "cpu":
        lr = lr.to(params[0].device) if params[0].device != lr.device else lr
    for ps, gs, bs, idx in group_by_device_dtype(params, grads, buffers,
                                                 list(range(len(params)))):
        own = effective_grads(ps, gs, weight_decay=weight_decay, maximize=maximize,
                              foreach=True)
        own_grads, gs = own is not gs, own
        if momentum != 0:
            if all(b is not None for b in bs):
                torch._foreach_mul_(bs, momentum)
                torch._foreach_add_(bs, gs, alpha=1 - dampening)
            else:
                for j, g in enumerate(gs):
                    if bs[j] is None:
                        bs[j] = buffers[idx[j]] = g.detach().clone()
                    else:
                        bs[j].mul_(momentum).add_(g, alpha=1 - dampening)
            if nesterov:
                if own_grads:  # never in place on the user's gradients
                    torch._foreach_add_(gs, bs, alpha=momentum)
                else:
                    gs = list(torch._foreach_add(gs, bs, alpha=momentum))
            else:
                gs = bs
        torch._foreach_add_(ps, gs, alpha=-lr)


def _fused_sgd(params, grads, buffers, *, lr, momentum, dampening, nesterov, weight_decay,
               maximize):
    """torch's fused kernel on contiguous tensors (others staged, see ``run_fused``)."""
    def call(first):
        def kernel(ps, gs, bs=()):
            torch._fused_sgd_(ps, gs, list(bs), weight_decay=float(weight_decay),
                              momentum=momentum, lr=lr, dampening=dampening,
                              nesterov=nesterov, maximize=maximize, is_first_step=first)
        return kernel

    if momentum == 0:
        run_fused(call(False), [params, grads], written=(0,))
        return
    fresh = [i for i, b in enumerate(buffers) if b is None]
    for i in fresh:
        buffers[i] = torch.empty_like(grads[i], memory_format=torch.contiguous_format)
    for first, idx in ((True, fresh), (False, [i for i in range(len(params))
                                               if i not in set(fresh)])):
        if idx:
            run_fused(call(first), [[params[i] for i in idx], [grads[i] for i in idx],
                                    [buffers[i] for i in idx]], written=(0, 2))


class _SGDShell(KernelOptimizer):
    """The shared shell of :class:`GradientDescent` and :class:`Momentum`: torch's SGD
    state (a ``momentum_buffer`` per parameter when ``momentum != 0``, no step count)."""

    _setdefaults = {"nesterov": False, "dampening": 0.0, "momentum": 0.0, "fused": None,
                    "differentiable": False}
    _sparse_ok = True

    def _init(self, params, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
              foreach, differentiable, fused):
        name = type(self).__name__
        check_lr(lr, name)
        check_nonneg("momentum", momentum, name)
        check_nonneg("weight_decay", weight_decay, name)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"{name}: Nesterov momentum requires a momentum and zero "
                             "dampening")
        check_fused_foreach(name, fused, foreach, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("momentum_buffer",)

    def _init_state(self, p, group, state):
        pass  # torch.optim.SGD keeps only the momentum buffer, created on the first step

    def _update(self, group, params, grads, states, steps):
        buffers = states["momentum_buffer"]
        momentum = group["momentum"]
        check_update_args("momentum_update" if momentum else "gradient_descent_update",
                          params, grads, {"momentum_buffers": buffers}, allow_sparse=True)
        foreach = group["foreach"]
        if foreach is None and group["differentiable"]:
            foreach = False
        _sgd(type(self).__name__, params, grads, buffers, lr=group["lr"], momentum=momentum,
             dampening=group["dampening"], nesterov=group["nesterov"],
             weight_decay=group["weight_decay"], maximize=group["maximize"],
             foreach=foreach, fused=group["fused"])
        if momentum != 0:
            for p, b in zip(params, buffers, strict=True):
                self.state[p]["momentum_buffer"] = b


class GradientDescent(_SGDShell):
    r"""Gradient descent, :math:`\theta_t = \theta_{t-1} - \gamma(\nabla f + \lambda\theta)`.

    A drop-in for ``torch.optim.SGD`` without momentum: the same keywords (less
    ``momentum``, ``dampening``, ``nesterov``), the same meaning and errors, equal
    trajectories. The kernel is :func:`gradient_descent_update`.

    .. math::
        \theta_t = \theta_{t-1} - \gamma\big(\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}\big)

    For an :math:`L`-smooth convex :math:`f`, ``lr`` :math:`\le 1/L` guarantees
    :math:`f(\theta_t) - f^\star \le \|\theta_0-\theta^\star\|^2 / (2\gamma t)`
    (see :func:`torchmath.optim.step_size_bound`).

    Args:
        params: iterable of parameters, of ``(name, parameter)`` pairs, or of param-group
            dicts.
        lr: step size :math:`\gamma \ge 0` (float or 1-element Tensor).
        weight_decay: L2 penalty :math:`\lambda \ge 0` (float or 1-element Tensor).
        maximize: ascend the objective.
        foreach: multi-tensor path (``True``), per-parameter (``False``), device default
            (``None``: multi-tensor on CUDA; on CPU torch's fused kernel where it applies,
            by measurement).
        differentiable: run ``step`` with autograd recording (per-parameter path).
        fused: torch's fused SGD kernel (contiguous tensors only; others are staged).

    Raises:
        ValueError: ``lr`` or ``weight_decay`` is negative (torch's wording, prefixed by
            the optimizer's name).
        RuntimeError: ``fused`` with ``foreach`` or ``differentiable``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0]))
        >>> opt = GradientDescent([w], lr=0.25)
        >>> for _ in range(3):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.3750])

    Source: Nesterov, *Lectures on Convex Optimization* (2018), thm. 2.1.14.
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, *,
                 weight_decay: float | Tensor = 0.0, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        self._init(params, lr=lr, momentum=0.0, dampening=0.0, weight_decay=weight_decay,
                   nesterov=False, maximize=maximize, foreach=foreach,
                   differentiable=differentiable, fused=fused)


class Momentum(_SGDShell):
    r"""Gradient descent with heavy-ball or Nesterov momentum.

    .. math::
        b_t = \mu b_{t-1} + (1-\tau) g_t, \qquad
        \theta_t = \theta_{t-1} - \gamma\,(b_t \text{ or } g_t + \mu b_t)

    A drop-in for ``torch.optim.SGD`` with momentum: the same keywords in the same
    order, the same meaning and errors, equal trajectories, interchangeable state dicts
    (the kernel is :func:`momentum_update`). On a quadratic with condition number
    :math:`\kappa`, heavy ball with :math:`\gamma = 4/(\sqrt{L}+\sqrt{m})^2`,
    :math:`\mu = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2` converges at rate
    :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)` (see :func:`torchmath.optim.linear_rate`).

    Args:
        params: iterable of parameters, of ``(name, parameter)`` pairs, or of param-group
            dicts.
        lr: step size :math:`\gamma \ge 0` (float or 1-element Tensor).
        momentum: :math:`\mu \ge 0` (default 0.9; torch's default is 0).
        dampening: :math:`\tau` (default 0).
        weight_decay: L2 penalty :math:`\ge 0` (float or 1-element Tensor).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        maximize: ascend the objective.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).
        differentiable: run ``step`` with autograd recording (per-parameter path).
        fused: torch's fused SGD kernel (contiguous tensors only; others are staged).

    Raises:
        ValueError: negative ``lr``, ``momentum`` or ``weight_decay``; ``nesterov`` with
            zero momentum or nonzero dampening (torch's wording, prefixed by the name).
        RuntimeError: ``fused`` with ``foreach`` or ``differentiable``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = Momentum([w], lr=0.1, momentum=0.5, nesterov=True)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.7000])

    Source: Polyak, USSR Comput. Math. (1964); Nesterov, Soviet Math. Dokl. (1983).
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, momentum: float = 0.9,
                 dampening: float = 0.0, weight_decay: float | Tensor = 0.0,
                 nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        self._init(params, lr=lr, momentum=momentum, dampening=dampening,
                   weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                   foreach=foreach, differentiable=differentiable, fused=fused)
