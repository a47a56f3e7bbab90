r"""Adam (with AMSGrad, and AdamW's decoupled weight decay) as a ``torch.optim.Optimizer``.

A thin shell over the public functional kernel :func:`adam_update`, which has a
multi-tensor (``torch._foreach_*``) path and a per-parameter path. The arithmetic follows
``torch.optim.Adam``/``AdamW``, so trajectories agree with theirs to rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath.optim._common import (
    KernelOptimizer,
    check_beta,
    check_lr,
    check_nonneg,
    effective_grads,
    group_by_device_dtype,
    new_step,
    resolve_foreach,
)

__all__ = ["Adam", "adam_update"]


def adam_update(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor] | None,
                steps: list[Tensor], *, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                decoupled_weight_decay: bool = False, maximize: bool = False,
                foreach: bool | None = None, fused: bool | None = None) -> None:
    r"""One Adam step on a list of parameters, in place (``steps`` are incremented).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    With ``amsgrad``, :math:`v_t` in the denominator is replaced by its running maximum.
    With ``decoupled_weight_decay`` (AdamW), :math:`\theta_{t-1}` is first multiplied by
    :math:`1 - \gamma\lambda` instead of adding :math:`\lambda\theta` to the gradient.

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        exp_avgs, exp_avg_sqs: the moments :math:`m, v`, updated in place.
        max_exp_avg_sqs: running maxima of :math:`v` (needed with ``amsgrad``).
        steps: step counters (CPU scalar tensors), incremented.
        lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled_weight_decay, maximize:
            as in :class:`Adam`.
        foreach: multi-tensor path (``True``) or per-parameter path (``False``).
        fused: torch's fused Adam kernel (``torch._fused_adam_``/``_fused_adamw_``, one
            pass over memory). ``None`` with ``foreach=None`` picks the device default by
            measurement: fused on CPU (3-4x faster than either of the other paths in
            benchmarks/workloads/adam.py), multi-tensor on accelerators.

    Example:
        >>> p = torch.tensor([1.0])
        >>> m, v, t = [torch.zeros(1)], [torch.zeros(1)], [torch.tensor(0.0)]
        >>> adam_update([p], [torch.tensor([3.0])], m, v, None, t, lr=0.1)
        >>> p  # the first Adam step has length lr in every coordinate
        tensor([0.9000])

    Source: Kingma & Ba, ICLR (2015); Reddi et al., ICLR (2018) for AMSGrad;
    Loshchilov & Hutter, ICLR (2019) for decoupled weight decay.
    """
    if fused is None and foreach is None:
        fused = default_fused(params)
    if fused:
        _fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr=lr,
                    beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                    amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay,
                    maximize=maximize)
        return
    foreach = resolve_foreach(foreach, params)
    n = len(params)
    if weight_decay != 0 and decoupled_weight_decay:
        if foreach:
            for (ps,) in group_by_device_dtype(params):
                torch._foreach_mul_(ps, 1 - lr * weight_decay)
        else:
            for p in params:
                p.mul_(1 - lr * weight_decay)
        weight_decay = 0.0
    grads = effective_grads(params, grads, weight_decay=weight_decay, maximize=maximize,
                            foreach=foreach)
    maxes = max_exp_avg_sqs if amsgrad else [None] * n
    if foreach:
        for ps, gs, ms, vs, mx, ts in group_by_device_dtype(params, grads, exp_avgs,
                                                            exp_avg_sqs, maxes, steps):
            torch._foreach_add_(ts, 1.0)
            torch._foreach_lerp_(ms, gs, 1 - beta1)
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, gs, gs, 1 - beta2)
            counts = [t.item() for t in ts]
            step_sizes = [-lr / (1 - beta1 ** c) for c in counts]
            bc2_sqrt = [math.sqrt(1 - beta2 ** c) for c in counts]
            if amsgrad:
                torch._foreach_maximum_(mx, vs)
                denom = torch._foreach_sqrt(mx)
            else:
                denom = torch._foreach_sqrt(vs)
            torch._foreach_div_(denom, bc2_sqrt)
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(ps, ms, denom, step_sizes)
        return
    for p, g, m, v, mx, t in zip(params, grads, exp_avgs, exp_avg_sqs, maxes, steps,
                                 strict=True):
        t += 1
        count = t.item()
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        step_size = lr / (1 - beta1 ** count)
        bc2_sqrt = math.sqrt(1 - beta2 ** count)
        if amsgrad:
            torch.maximum(mx, v, out=mx)
            denom = (mx.sqrt() / bc2_sqrt).add_(eps)
        else:
            denom = (v.sqrt() / bc2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-step_size)


#: torch's fused Adam kernel runs on CPU from torch 2.4 on (CUDA-only before).
_FUSED_ON_CPU = hasattr(torch, "_fused_adam_") and tuple(
    int(part) for part in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 4)


def default_fused(params: list[Tensor]) -> bool:
    """Fused on CPU (fastest there by measurement), where torch ships the kernel."""
    return (_FUSED_ON_CPU and not torch.compiler.is_compiling()
            and len(params) > 0 and all(p.device.type == "cpu" for p in params))


def _fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1,
                beta2, eps, weight_decay, amsgrad, decoupled_weight_decay, maximize):
    """torch's fused kernel per (device, dtype) bucket; the caller's steps (CPU scalars)
    are incremented here and passed on the parameters' device."""
    func = torch._fused_adamw_ if decoupled_weight_decay else torch._fused_adam_
    maxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
    for ps, gs, ms, vs, mx, ts in group_by_device_dtype(params, grads, exp_avgs, exp_avg_sqs,
                                                        maxes, steps):
        torch._foreach_add_(ts, 1.0)
        device = ps[0].device
        ts_dev = [t if t.device == device else t.to(device) for t in ts]
        func(ps, gs, ms, vs, mx if amsgrad else [], ts_dev, lr=float(lr), beta1=beta1,
             beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=amsgrad,
             maximize=maximize)


class Adam(KernelOptimizer):
    r"""Adam: bias-corrected first and second moment estimates of the gradient.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \gamma\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`.
    ``amsgrad=True`` uses the running maximum of :math:`\hat v`;
    ``decoupled_weight_decay=True`` is AdamW. Equals ``torch.optim.Adam`` /
    ``torch.optim.AdamW`` with the same settings (kernel: :func:`adam_update`).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: :math:`\gamma \ge 0` (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1) (default (0.9, 0.999)).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: :math:`\lambda \ge 0`, L2 in the gradient (or decoupled, AdamW).
        amsgrad: the AMSGrad variant.
        decoupled_weight_decay: AdamW's decoupled weight decay.
        maximize: ascend the objective.
        foreach: multi-tensor path (``True``), per-parameter path (``False``).
        fused: torch's fused kernel (``True``), never (``False``). With both ``None``
            (default) the path is chosen per device by measurement: fused on CPU, where it
            was 3-4x faster than the multi-tensor and per-parameter paths on a 10M-parameter
            step (benchmarks/workloads/adam.py), multi-tensor on accelerators.

    Raises:
        ValueError: negative ``lr``, ``eps`` or ``weight_decay``, or betas outside [0, 1)
            (torch's wording, e.g. ``Invalid beta parameter at index 0: 1.0``).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([ 0.9000, -1.9000])

    Source: Kingma & Ba, *Adam: a method for stochastic optimization*, ICLR (2015).
    """

    _setdefaults = {"amsgrad": False, "decoupled_weight_decay": False, "fused": None}

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None):
        if fused and foreach:
            raise ValueError("Adam: expected at most one of 'fused' and 'foreach' to be True")
        check_lr(lr)
        check_nonneg("epsilon", eps)
        check_beta(0, betas[0])
        check_beta(1, betas[1])
        check_nonneg("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize, foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _init_state(self, p, group, state):
        state["step"] = new_step()
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, steps):
        beta1, beta2 = group["betas"]
        adam_update(params, grads, states["exp_avg"], states["exp_avg_sq"],
                    states["max_exp_avg_sq"], steps, lr=group["lr"], beta1=beta1,
                    beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"],
                    decoupled_weight_decay=group["decoupled_weight_decay"],
                    maximize=group["maximize"], foreach=group["foreach"],
                    fused=group["fused"])
