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
    Scratch,
    as_real,
    check_capturable,
    check_fused_foreach,
    check_lr,
    check_nonneg,
    check_update_args,
    default_fused,
    effective_grad,
    effective_grads,
    group_by_device_dtype,
    new_step,
    pieces,
    resolve_foreach,
    run_fused,
)

__all__ = ["AdaGrad", "RMSProp", "adagrad_update", "rmsprop_update"]


def adagrad_update(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
                   steps: list[Tensor], *, lr: float | Tensor, lr_decay: float = 0.0,
                   weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False,
                   foreach: bool | None = None, fused: bool | None = None,
                   differentiable: bool = False) -> None:
    r"""One AdaGrad step, in place (``steps`` are incremented).

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t-1)\eta}\,
        \frac{g_t}{\sqrt{s_t} + \epsilon}

    Sparse gradients (``nn.Embedding(sparse=True)``) update only their rows, on the
    per-parameter path, as torch does; complex parameters are updated as pairs of reals.

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        state_sums: accumulated squared gradients :math:`s`, updated in place.
        steps: step counters (scalar tensors), incremented.
        lr: :math:`\gamma` (float or 1-element Tensor, on every path); lr_decay:
            :math:`\eta`; weight_decay: L2 coefficient; eps: :math:`\epsilon`;
            maximize: ascend; differentiable: as in :class:`AdaGrad`.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``:
            multi-tensor on CUDA; on CPU torch's fused kernel where it applies).
        fused: torch's fused AdaGrad kernel, fed contiguous tensors only.

    Shape:
        ``grads[i]`` and ``state_sums[i]`` have the shape, dtype and device of
        ``params[i]``.

    Raises:
        ValueError: a gradient or state whose shape, dtype or device differs from its
            parameter's (the message names it, e.g. ``'state_sums[0]'``).
        RuntimeError: ``weight_decay`` with a sparse gradient, ``fused`` with a sparse
            gradient or a complex parameter (torch's errors).

    Example:
        >>> p, s, t = torch.tensor([1.0]), [torch.zeros(1)], [torch.tensor(0.0)]
        >>> adagrad_update([p], [torch.tensor([2.0])], s, t, lr=0.5)
        >>> p
        tensor([0.5000])

    Source: Duchi, Hazan & Singer, *Adaptive subgradient methods*, JMLR (2011).
    """
    fn = "adagrad_update"
    check_update_args(fn, params, grads, {"state_sums": state_sums}, steps,
                      allow_sparse=True)
    if not params:
        return
    params, grads, sums, steps = list(params), list(grads), list(state_sums), list(steps)
    kw = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
              maximize=maximize)
    sparse = any(g.is_sparse for g in grads)
    if fused is None and foreach is None and not differentiable and default_fused(
            params, grads, lr):
        fused = True
    if fused:
        if sparse or any(torch.is_complex(p) for p in params):
            raise RuntimeError(f"{fn}: `fused` does not support sparse grad or complex param")
        if differentiable:
            raise RuntimeError(f"{fn}: adagrad with fused=True does not support "
                               "differentiable=True")
        _fused_adagrad(params, grads, sums, steps, **kw)
    elif resolve_foreach(foreach, params) and not (foreach is None and differentiable):
        if differentiable:
            raise AssertionError(f"{fn}: _foreach ops don't support autograd")
        for ps, gs, ss, ts in group_by_device_dtype(params, grads, sums, steps):
            if any(g.is_sparse for g in gs):
                _single_adagrad(ps, gs, ss, ts, differentiable=False, **kw)
            else:
                _foreach_adagrad(ps, gs, ss, ts, **kw)
    else:
        _single_adagrad(params, grads, sums, steps, differentiable=differentiable, **kw)


def _single_adagrad(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps,
                    maximize, differentiable):
    grad_buffer, std_buffer = Scratch(), Scratch()
    for p, g, s, t in zip(params, grads, sums, steps, strict=True):
        if not (differentiable or g.is_sparse):  # torch's arithmetic, cache-sized pieces
            t += 1
            clr = lr / (1 + (t.item() - 1) * lr_decay)
            if torch.is_complex(p):
                p, g, s = (torch.view_as_real(x) for x in (p, g, s))
            for pp, gg, ss in pieces(p, g, s):
                gg = effective_grad(pp, gg, weight_decay, maximize, grad_buffer)
                ss.addcmul_(gg, gg, value=1)
                std = torch.sqrt(ss, out=std_buffer.like(ss)).add_(eps)
                pp.addcdiv_(gg, std, value=-clr)
            continue
        t += 1
        g = -g if maximize else g
        if weight_decay != 0:
            if g.is_sparse:
                raise RuntimeError("adagrad_update: weight_decay option is not compatible "
                                   "with sparse gradients")
            g = g.add(p, alpha=weight_decay)
        clr = lr / (1 + (t.item() - 1) * lr_decay)
        if g.is_sparse:  # only the rows present in the gradient change
            g = g.coalesce()
            indices, values = g._indices(), g._values()
            s.add_(torch.sparse_coo_tensor(indices, values.pow(2), g.size(),
                                           check_invariants=False))
            std = s.sparse_mask(g)._values().sqrt_().add_(eps)
            p.add_(torch.sparse_coo_tensor(indices, values / std, g.size(),
                                           check_invariants=False), alpha=-clr)
            continue
        if torch.is_complex(p):
            p, g, s = (torch.view_as_real(x) for x in (p, g, s))
        s.addcmul_(g, g, value=1)
        std = s.sqrt() + eps if differentiable else s.sqrt().add_(eps)
        p.addcdiv_(g, std, value=-clr)


def _foreach_adagrad(ps, gs, ss, ts, *, lr, lr_decay, weight_decay, eps, maximize):
    as_real(ps, gs, ss)
    torch._foreach_add_(ts, 1.0)
    own = effective_grads(ps, gs, weight_decay=weight_decay, maximize=maximize,
                          foreach=True)
    torch._foreach_addcmul_(ss, own, own, value=1)
    std = torch._foreach_sqrt(ss)
    torch._foreach_add_(std, eps)
    # -lr_t per tensor (floats, or 0-d tensors for a Tensor lr) scales the numerator
    minus_clr = [-lr / (1 + (t.item() - 1) * lr_decay) for t in ts]
    if own is not gs:
        torch._foreach_mul_(own, minus_clr)
        numerator = own
    else:
        numerator = torch._foreach_mul(gs, minus_clr)
    torch._foreach_addcdiv_(ps, numerator, std)


def _fused_adagrad(params, grads, sums, steps, *, lr, lr_decay, weight_decay, eps,
                   maximize):
    for (ts,) in group_by_device_dtype(steps):
        torch._foreach_add_(ts, 1.0)
    steps = [t if t.device == p.device else t.to(p.device)
             for p, t in zip(params, steps, strict=True)]

    def kernel(ps, gs, ss, ts):
        torch._fused_adagrad_(ps, gs, ss, ts, lr=lr, lr_decay=lr_decay,
                              weight_decay=weight_decay, eps=eps, maximize=maximize)

    run_fused(kernel, [params, grads, sums, steps], written=(0, 2), whole=(3,))


def rmsprop_update(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
                   grad_avgs: list[Tensor] | None, momentum_buffers: list[Tensor] | None,
                   steps: list[Tensor] | None = None, *, lr: float | Tensor,
                   alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                   momentum: float = 0.0, centered: bool = False, maximize: bool = False,
                   foreach: bool | None = None, capturable: bool = False,
                   differentiable: bool = False) -> None:
    r"""One RMSProp step, in place (``steps``, when given, are incremented).

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
        steps: step counters (scalar tensors), incremented; optional.
        lr, alpha, eps, weight_decay, momentum, centered: as in :class:`RMSProp`.
        maximize, capturable, differentiable: as in :class:`RMSProp`.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``:
            multi-tensor on CUDA; on CPU, plain RMSProp (no momentum, not centered) runs
            in one pass through torch's fused Adam kernel, which with ``beta1 = 0`` and
            bias corrections of 1 is RMSProp's update; the rest per parameter).

    Shape:
        ``grads[i]`` and every state tensor have the shape, dtype and device of
        ``params[i]``.

    Raises:
        ValueError: a gradient or state whose shape, dtype or device differs from its
            parameter's (the message names it, e.g. ``'square_avgs[0]'``).

    Example:
        >>> p, v = torch.tensor([1.0]), [torch.zeros(1)]
        >>> rmsprop_update([p], [torch.tensor([1.0])], v, None, None, lr=0.1, alpha=0.75)
        >>> p
        tensor([0.8000])

    Source: Tieleman & Hinton, Coursera lecture 6.5 (2012); Graves, arXiv:1308.0850 (2013).
    """
    fn = "rmsprop_update"
    n = len(params)
    check_update_args(fn, params, grads, {
        "square_avgs": square_avgs, "grad_avgs": grad_avgs if centered else None,
        "momentum_buffers": momentum_buffers if momentum > 0 else None}, steps)
    if not params:
        return
    params, grads, vs = list(params), list(grads), list(square_avgs)
    gas = list(grad_avgs) if centered else [None] * n
    mbs = list(momentum_buffers) if momentum > 0 else [None] * n
    if steps is not None:
        if capturable:
            check_capturable(fn, params, steps)
        for (ts,) in group_by_device_dtype(list(steps)):
            torch._foreach_add_(ts, 1.0)
    kw = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
              centered=centered, maximize=maximize)
    if resolve_foreach(foreach, params) and not (foreach is None and differentiable):
        if differentiable:
            raise AssertionError(f"{fn}: _foreach ops don't support autograd")
        for group in group_by_device_dtype(params, grads, vs, gas, mbs):
            _foreach_rmsprop(*group, capturable=capturable, **kw)
    elif (foreach is None and not (differentiable or capturable or centered) and momentum == 0
          and 0 <= alpha < 1 and default_fused(params, grads, lr, weight_decay)):
        _fused_rmsprop(params, grads, vs, **kw)
    else:
        _single_rmsprop(params, grads, vs, gas, mbs, differentiable=differentiable, **kw)


def _fused_rmsprop(params, grads, vs, *, lr, alpha, eps, weight_decay, momentum, centered,
                   maximize):
    """Plain RMSProp (no momentum, not centered) in one pass over memory, on CPU, where
    torch has no fused RMSprop kernel: torch's fused Adam kernel with ``beta1 = 0`` and an
    infinite step count is exactly RMSProp's update (its first moment is the gradient,
    both bias corrections ``1 - 0^inf`` and ``1 - alpha^inf`` are 1, ``beta2 = alpha``).
    Its first-moment argument is a zeroed, cache-sized scratch piece; tensors that are
    not contiguous take the per-parameter path."""
    infinite = torch.tensor(float("inf"))
    scratch, rest = Scratch(), ([], [], [])
    for p, g, v in zip(params, grads, vs, strict=True):
        if not (p.is_contiguous() and g.is_contiguous() and v.is_contiguous()):
            for values, t in zip(rest, (p, g, v), strict=True):
                values.append(t)
            continue
        for pp, gg, vv in pieces(p, g, v):
            first = scratch.like(pp).zero_()
            torch._fused_adam_([pp], [gg], [first], [vv], [], [infinite], lr=lr, beta1=0.0,
                               beta2=alpha, weight_decay=weight_decay, eps=eps,
                               amsgrad=False, maximize=maximize)
    if rest[0]:
        n = len(rest[0])
        _single_rmsprop(*rest, [None] * n, [None] * n, lr=lr, alpha=alpha, eps=eps,
                        weight_decay=weight_decay, momentum=momentum, centered=centered,
                        maximize=maximize, differentiable=False)


def _single_rmsprop(params, grads, vs, gas, mbs, *, lr, alpha, eps, weight_decay, momentum,
                    centered, maximize, differentiable):
    if not differentiable:  # torch's for-loop arithmetic over cache-sized pieces
        grad_buffer, avg_buffer = Scratch(), Scratch()
        for p, g, v, ga, mb in zip(params, grads, vs, gas, mbs, strict=True):
            if torch.is_complex(p):
                p, g, v = (torch.view_as_real(x) for x in (p, g, v))
                ga = torch.view_as_real(ga) if ga is not None else None
                mb = torch.view_as_real(mb) if mb is not None else None
            for pp, gg, vv, gga, mmb in pieces(p, g, v, ga, mb):
                gg = effective_grad(pp, gg, weight_decay, maximize, grad_buffer)
                vv.mul_(alpha).addcmul_(gg, gg, value=1 - alpha)
                avg = avg_buffer.like(vv)
                if centered:
                    gga.lerp_(gg, 1 - alpha)
                    torch.addcmul(vv, gga, gga, value=-1, out=avg).sqrt_()
                else:
                    torch.sqrt(vv, out=avg)
                avg.add_(eps)
                if momentum > 0:
                    mmb.mul_(momentum).addcdiv_(gg, avg)
                    pp.add_(mmb, alpha=-lr)
                else:
                    pp.addcdiv_(gg, avg, value=-lr)
        return
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=False)
    for p, g, v, ga, mb in zip(params, grads, vs, gas, mbs, strict=True):
        if torch.is_complex(p):
            p, g, v = (torch.view_as_real(x) for x in (p, g, v))
            ga = torch.view_as_real(ga) if ga is not None else None
            mb = torch.view_as_real(mb) if mb is not None else None
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if centered:
            ga.lerp_(g, 1 - alpha)
            avg = v.addcmul(ga, ga, value=-1).sqrt_()
        else:
            avg = v.sqrt()
        avg = avg.add(eps) if differentiable else avg.add_(eps)
        if momentum > 0:
            mb.mul_(momentum).addcdiv_(g, avg)
            p.add_(mb, alpha=-lr)
        else:
            p.addcdiv_(g, avg, value=-lr)


def _foreach_rmsprop(ps, gs, vs, ga, mb, *, lr, alpha, eps, weight_decay, momentum,
                     centered, maximize, capturable):
    as_real(ps, gs, vs, ga if centered else None, mb if momentum > 0 else None)
    gs = effective_grads(ps, gs, weight_decay=weight_decay, maximize=maximize, foreach=True)
    torch._foreach_mul_(vs, alpha)
    torch._foreach_addcmul_(vs, gs, gs, value=1 - alpha)
    if centered:
        torch._foreach_lerp_(ga, gs, 1 - alpha)
        avg = torch._foreach_addcmul(vs, ga, ga, value=-1)
        torch._foreach_sqrt_(avg)
    else:
        avg = torch._foreach_sqrt(vs)
    torch._foreach_add_(avg, eps)
    tensor_lr = capturable and isinstance(lr, Tensor)
    if momentum > 0:
        torch._foreach_mul_(mb, momentum)
        torch._foreach_addcdiv_(mb, gs, avg)
        if tensor_lr:
            torch._foreach_add_(ps, torch._foreach_mul(mb, -lr))
        else:
            torch._foreach_add_(ps, mb, alpha=-lr)
    elif tensor_lr:
        torch._foreach_div_(avg, -lr)
        torch._foreach_addcdiv_(ps, gs, avg)
    else:
        torch._foreach_addcdiv_(ps, gs, avg, value=-lr)


class AdaGrad(KernelOptimizer):
    r"""AdaGrad: per-coordinate steps scaled by the root of the summed squared gradients.

    .. math::
        s_t = s_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \frac{\gamma_t\, g_t}{\sqrt{s_t} + \epsilon}, \quad
        \gamma_t = \frac{\gamma}{1 + (t-1)\eta}

    A drop-in for ``torch.optim.Adagrad``: the same keywords, meaning and errors, equal
    trajectories, interchangeable state dicts (kernel: :func:`adagrad_update`). Sparse
    gradients are supported as in torch.

    Args:
        params: iterable of parameters, of ``(name, parameter)`` pairs, or of param-group
            dicts.
        lr: :math:`\gamma \ge 0` (default 1e-2), a float or a 1-element Tensor (on every
            path, ``foreach`` included).
        lr_decay: :math:`\eta \ge 0`.
        weight_decay: L2 penalty :math:`\ge 0`.
        initial_accumulator_value: :math:`s_0 \ge 0`.
        eps: :math:`\epsilon \ge 0` (default 1e-10).
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).
        maximize: ascend the objective.
        differentiable: run ``step`` with autograd recording (per-parameter path).
        fused: torch's fused kernel (contiguous tensors only; others are staged).

    Raises:
        ValueError: any of the above negative (torch's wording prefixed by the name, e.g.
            ``AdaGrad: Invalid learning rate: -1``).
        RuntimeError: ``fused`` with ``foreach`` or ``differentiable``, or with a
            parameter that is not floating point.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        >>> opt = AdaGrad([w], lr=0.1)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([ 0.9000, -0.9000])

    Source: Duchi, Hazan & Singer, JMLR 12 (2011).
    """

    _setdefaults = {"lr_decay": 0.0, "initial_accumulator_value": 0.0, "fused": None}
    _sparse_ok = True

    def __init__(self, params, lr: float | Tensor = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        name = type(self).__name__
        check_lr(lr, name)
        check_nonneg("lr_decay", lr_decay, name)
        check_nonneg("weight_decay", weight_decay, name)
        check_nonneg("initial_accumulator_value", initial_accumulator_value, name)
        check_nonneg("epsilon", eps, name)
        check_fused_foreach(name, fused, foreach, differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        fused=fused)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("sum",)

    def _init_state(self, p, group, state):
        fused = bool(group["fused"])
        state["step"] = new_step(p, on_device=fused, fused=fused)
        value = group["initial_accumulator_value"]
        value = complex(value, value) if torch.is_complex(p) else value
        state["sum"] = torch.full_like(p, value, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, steps):
        adagrad_update(params, grads, states["sum"], steps, lr=group["lr"],
                       lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                       eps=group["eps"], maximize=group["maximize"],
                       foreach=group["foreach"], fused=group["fused"],
                       differentiable=group["differentiable"])


class RMSProp(KernelOptimizer):
    r"""RMSProp: steps scaled by a running root-mean-square of the gradients.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad
        \theta_t = \theta_{t-1} - \gamma\,\frac{g_t}{\sqrt{v_t} + \epsilon}

    optionally centered (subtracting the squared running mean of the gradient) and with
    momentum. A drop-in for ``torch.optim.RMSprop``: the same keywords, meaning and
    errors, equal trajectories, interchangeable state dicts (kernel:
    :func:`rmsprop_update`).

    Args:
        params: iterable of parameters, of ``(name, parameter)`` pairs, or of param-group
            dicts.
        lr: :math:`\gamma \ge 0` (default 1e-2), a float or a 1-element Tensor.
        alpha: smoothing :math:`\alpha \ge 0` (default 0.99).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: L2 penalty :math:`\ge 0`.
        momentum: :math:`\mu \ge 0`.
        centered: normalize by the estimated variance instead of the second moment.
        capturable: keep the step counters on the parameters' device (CUDA graphs;
            CUDA/XPU only, as torch).
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).
        maximize: ascend the objective.
        differentiable: run ``step`` with autograd recording (per-parameter path).

    Raises:
        ValueError: any of ``lr, alpha, eps, weight_decay, momentum`` negative (torch's
            wording prefixed by the name).
        RuntimeError: sparse gradients.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = RMSProp([w], lr=0.01, alpha=0.75)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.9800])

    Source: Tieleman & Hinton (2012); Graves, arXiv:1308.0850 (2013) for the centered form.
    """

    _setdefaults = {"centered": False, "momentum": 0.0, "capturable": False}

    def __init__(self, params, lr: float | Tensor = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        name = type(self).__name__
        check_lr(lr, name)
        check_nonneg("epsilon", eps, name)
        check_nonneg("momentum", momentum, name)
        check_nonneg("weight_decay", weight_decay, name)
        check_nonneg("alpha", alpha, name)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, capturable=capturable,
                        foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("square_avg", "grad_avg", "momentum_buffer")

    def _init_state(self, p, group, state):
        state["step"] = new_step(p, on_device=bool(group["capturable"]))
        zeros = lambda: torch.zeros_like(p, memory_format=torch.preserve_format)  # noqa: E731
        state["square_avg"] = zeros()
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros()
        if group["centered"]:
            state["grad_avg"] = zeros()

    def _update(self, group, params, grads, states, steps):
        rmsprop_update(params, grads, states["square_avg"], states["grad_avg"],
                       states["momentum_buffer"], steps, lr=group["lr"],
                       alpha=group["alpha"], eps=group["eps"],
                       weight_decay=group["weight_decay"], momentum=group["momentum"],
                       centered=group["centered"], maximize=group["maximize"],
                       foreach=group["foreach"], capturable=group["capturable"],
                       differentiable=group["differentiable"])
