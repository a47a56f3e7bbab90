r"""Adam (with AMSGrad, and AdamW's decoupled weight decay) as a ``torch.optim.Optimizer``.

A thin shell over the public functional kernel :func:`adam_update`, which has a
multi-tensor (``torch._foreach_*``) path and a per-parameter path. The arithmetic follows
``torch.optim.Adam``/``AdamW``, so trajectories agree with theirs to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchmath.optim._common import (
    KernelOptimizer,
    Scratch,
    as_real,
    check_beta,
    check_capturable,
    check_fused_foreach,
    check_lr,
    check_nonneg,
    check_update_args,
    default_foreach,
    default_fused,
    effective_grad,
    group_by_device_dtype,
    new_step,
    pieces,
    run_fused,
)
from torchmath.optim._compiled import CompiledKernel

__all__ = ["Adam", "adam_update"]

_FN = "adam_update"


def adam_update(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor] | None,
                steps: list[Tensor], *, lr: float | Tensor, beta1: float | Tensor = 0.9,
                beta2: float | Tensor = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                amsgrad: bool = False, decoupled_weight_decay: bool = False,
                maximize: bool = False, foreach: bool | None = None,
                fused: bool | None = None, capturable: bool = False,
                differentiable: bool = False) -> None:
    r"""One Adam step on a list of parameters, in place (``steps`` are incremented).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    With ``amsgrad``, :math:`v_t` in the denominator is replaced by its running maximum.
    With ``decoupled_weight_decay`` (AdamW), :math:`\theta_{t-1}` is first multiplied by
    :math:`1 - \gamma\lambda` instead of adding :math:`\lambda\theta` to the gradient.
    Complex parameters are updated as pairs of reals, as torch does.

    Paths. ``fused``: torch's fused kernel (one pass over memory), fed only contiguous
    tensors; a strided parameter, gradient or state goes to the compiled single pass
    below, or where that cannot run is staged through contiguous chunks and written
    back, so the update touches exactly the tensor's own elements.
    ``foreach``: multi-tensor ``torch._foreach_*`` ops. Neither: the per-parameter path,
    which on CPU runs a single-pass kernel compiled by ``torch.compile`` (inductor) on
    large steps (at least 1M elements; the first such step compiles, seconds to tens of
    seconds; ``TORCHMATH_COMPILE=0`` switches it off) and torch's for-loop arithmetic,
    op for op in cache-sized pieces, on the rest, and wherever compiling is unavailable
    or fails (one warning). Both take float hyperparameters; results equal torch's
    for-loop to rounding (the compiled loop may round the last bit differently).
    With both ``None`` the path is chosen by measurement: fused on CPU (2-4x faster than
    either other path), multi-tensor on accelerators, the per-parameter loop for
    ``differentiable`` (the only path autograd can record) and for a Tensor ``lr``
    without ``capturable`` (as torch), and for Tensor ``lr`` or betas (whose float32
    rounding then follows torch's default path).

    Args:
        params: parameters, updated in place.
        grads: their gradients (left unchanged).
        exp_avgs, exp_avg_sqs: the moments :math:`m, v`, updated in place.
        max_exp_avg_sqs: running maxima of :math:`v` (needed with ``amsgrad``).
        steps: step counters (scalar tensors), incremented.
        lr, beta1, beta2, eps, weight_decay, amsgrad: as in :class:`Adam`.
        decoupled_weight_decay, maximize, capturable, differentiable: as in :class:`Adam`.
        foreach: multi-tensor path (``True``) or per-parameter path (``False``).
        fused: torch's fused kernel (``torch._fused_adam_``/``_fused_adamw_``).

    Shape:
        ``grads[i]`` and every state tensor have the shape, dtype and device of
        ``params[i]``.

    Raises:
        ValueError: a gradient or state tensor whose shape, dtype or device differs from
            its parameter's (the message names it, e.g. ``'grads[1]'``), a sparse
            gradient, or lists of different lengths.
        RuntimeError, AssertionError: torch's errors for the combinations torch refuses
            (``fused`` with ``differentiable``; ``foreach`` with ``differentiable`` or with
            a Tensor ``lr`` and ``capturable=False``; ``capturable`` off its devices).

    Example:
        >>> p = torch.tensor([1.0])
        >>> m, v, t = [torch.zeros(1)], [torch.zeros(1)], [torch.tensor(0.0)]
        >>> adam_update([p], [torch.tensor([3.0])], m, v, None, t, lr=0.1)
        >>> p  # the first Adam step has length lr in every coordinate
        tensor([0.9000])

    Source: Kingma & Ba, ICLR (2015); Reddi et al., ICLR (2018) for AMSGrad;
    Loshchilov & Hutter, ICLR (2019) for decoupled weight decay.
    """
    check_update_args(_FN, params, grads, {
        "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs,
        "max_exp_avg_sqs": max_exp_avg_sqs if amsgrad else None}, steps)
    if not params:
        return
    kw = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
              amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay,
              maximize=maximize)
    if differentiable:
        if fused:
            raise RuntimeError(f"{_FN}: Adam with fused=True does not support "
                               "differentiable=True")
        if foreach:
            raise AssertionError(f"{_FN}: _foreach ops don't support autograd")
    if fused is None and foreach is None and not differentiable:
        if capturable:
            foreach = default_foreach(params)
        elif default_fused(params, grads, lr, beta1, beta2):
            fused = True
        else:
            foreach = default_foreach(params) and not isinstance(lr, Tensor)
    maxes = list(max_exp_avg_sqs) if amsgrad else None
    if fused:
        _fused_adam(list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), maxes,
                    list(steps), **kw)
    elif foreach:
        _foreach_adam(list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), maxes,
                      list(steps), capturable=capturable, **kw)
    else:
        _single_adam(list(params), list(grads), list(exp_avgs), list(exp_avg_sqs), maxes,
                     steps, capturable=capturable, differentiable=differentiable, **kw)


def _on(value, like: Tensor):
    """A Tensor hyperparameter on the parameter's device and dtype (floats pass)."""
    if isinstance(value, Tensor) and (value.device != like.device or value.dtype != like.dtype):
        return value.to(device=like.device, dtype=like.dtype)
    return value


def _single_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, *, lr, beta1, beta2,
                 eps, weight_decay, amsgrad, decoupled_weight_decay, maximize, capturable,
                 differentiable):
    if capturable:
        check_capturable(_FN, params, steps)
    n = len(params)
    maxes = maxes if amsgrad else [None] * n
    if not (capturable or differentiable):
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                     amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay,
                     maximize=maximize)
        rest = _compiled_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, count=True,
                              **hyper)
        _chunked_adam(*([x[i] for i in rest] for x in (params, grads, exp_avgs, exp_avg_sqs,
                                                        maxes, steps)), **hyper)
        return
    for i in range(n):
        p, m, v, mx, t = params[i], exp_avgs[i], exp_avg_sqs[i], maxes[i], steps[i]
        g = -grads[i] if maximize else grads[i]
        t += 1
        if weight_decay != 0:
            if decoupled_weight_decay:
                p.mul_(1 - lr * weight_decay)
            else:
                g = g.add(p, alpha=weight_decay)
        if torch.is_complex(p):
            p, g, m, v = (torch.view_as_real(x) for x in (p, g, m, v))
            mx = torch.view_as_real(mx) if mx is not None else None
        m.lerp_(g, 1 - _on(beta1, p))
        if differentiable and isinstance(beta2, Tensor) and beta2.requires_grad:
            v.lerp_(g.square(), 1 - beta2)
        else:
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        source = v
        if capturable or differentiable:
            step_size = lr / (1 - beta1 ** t)
            negative = step_size.neg()
            bc2_sqrt = (1 - beta2 ** t).sqrt()
            if amsgrad:
                mx.copy_(torch.maximum(mx.clone() if differentiable else mx, v))
                source = mx
            denom = (source.sqrt() / (bc2_sqrt * negative)).add_(eps / negative)
            p.addcdiv_(m.clone() if differentiable else m, denom)
            continue
        count = t.item()
        step_size = lr / (1 - beta1 ** count)
        bc2_sqrt = (1 - beta2 ** count) ** 0.5
        if amsgrad:
            torch.maximum(mx, v, out=mx)
            source = mx
        denom = (source.sqrt() / bc2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-step_size)


def _adam_elementwise(h, flags, param, g, m, v, mx=None):
    """One Adam step on one tensor, in place, in plain elementwise ops (compiled into a
    single pass over memory, see ``_compiled``), op for op torch's for-loop arithmetic.
    ``h`` (float64): 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps,
    -lr / (1 - beta1^t), weight_decay, 1 - lr * weight_decay; ``flags``: maximize, L2
    weight decay, decoupled weight decay, 1 - beta1 < 0.5 (``torch.lerp``'s branch)."""
    maximize, l2, decoupled, small_weight = flags
    w1, b2, w2, bc2_sqrt, eps, neg_step, wd, decay = h.to(param.dtype).unbind()
    p = param * decay if decoupled else param
    if maximize:
        g = -g
    if l2:
        g = g + wd * p
    # torch.lerp(m, g, w1), whose formula depends on the weight's size
    m_new = m + w1 * (g - m) if small_weight else g - (g - m) * (1 - w1)
    v_new = v * b2 + w2 * g * g  # v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    source = v_new
    if mx is not None:
        source = torch.maximum(mx, v_new)
        mx.copy_(source)
    param.copy_(p + neg_step * m_new / (source.sqrt() / bc2_sqrt + eps))  # addcdiv_
    m.copy_(m_new)
    v.copy_(v_new)


_ADAM_PASS = CompiledKernel(_adam_elementwise, written=(0, 2, 3, 4))  # p, m, v, max v


def _compiled_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, *, count, lr, beta1,
                   beta2, eps, weight_decay, amsgrad, decoupled_weight_decay,
                   maximize) -> list[int]:
    """The single-pass compiled kernel on every tensor it takes (see ``_compiled``);
    returns the indices it left to an eager path. ``count``: increment the step counters
    (else the caller did)."""
    if any(isinstance(x, Tensor) for x in (lr, beta1, beta2, eps, weight_decay)):
        return list(range(len(params)))
    flags = (bool(maximize), weight_decay != 0 and not decoupled_weight_decay,
             weight_decay != 0 and bool(decoupled_weight_decay), 1 - beta1 < 0.5)
    groups, by_count = [], {}
    for i, (p, g, m, v, mx, t) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, maxes,
                                                 steps, strict=True)):
        tensors = [p, g, m, v] + ([mx] if amsgrad else [])
        if torch.is_complex(p):  # all of the parameter's dtype (check_update_args)
            tensors = [torch.view_as_real(x) for x in tensors]
        groups.append(tensors)
        by_count.setdefault(t.item() + count, []).append(i)
    rest = []
    for c, indices in by_count.items():
        h = torch.tensor([1 - beta1, beta2, 1 - beta2, (1 - beta2 ** c) ** 0.5, eps,
                          -lr / (1 - beta1 ** c), weight_decay, 1 - lr * weight_decay],
                         dtype=torch.float64)
        left = {indices[j] for j in _ADAM_PASS([groups[i] for i in indices], h, flags)}
        done = [steps[i] for i in indices if i not in left]
        if count and done:
            torch._foreach_add_(done, 1.0)
        rest.extend(left)
    return sorted(rest)


def _chunked_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, *, lr, beta1, beta2,
                  eps, weight_decay, amsgrad, decoupled_weight_decay, maximize):
    """The per-parameter path: torch's for-loop arithmetic, op for op, run over
    cache-sized pieces of each tensor with reused scratch buffers (see ``pieces``)."""
    grad_buffer, denom_buffer = Scratch(), Scratch()
    l2 = 0.0 if decoupled_weight_decay else weight_decay
    for p, g, m, v, mx, t in zip(params, grads, exp_avgs, exp_avg_sqs, maxes, steps,
                                 strict=True):
        t += 1
        count = t.item()
        step_size = lr / (1 - beta1 ** count)
        bc2_sqrt = (1 - beta2 ** count) ** 0.5
        if torch.is_complex(p):
            p, g, m, v = (torch.view_as_real(x) for x in (p, g, m, v))
            mx = torch.view_as_real(mx) if mx is not None else None
        b1 = 1 - _on(beta1, p)
        for pp, gg, mm, vv, mmx in pieces(p, g, m, v, mx):
            if decoupled_weight_decay and weight_decay != 0:
                pp.mul_(1 - lr * weight_decay)
            gg = effective_grad(pp, gg, l2, maximize, grad_buffer)
            mm.lerp_(gg, b1)
            vv.mul_(beta2).addcmul_(gg, gg, value=1 - beta2)
            if amsgrad:
                torch.maximum(mmx, vv, out=mmx)
                vv = mmx
            denom = torch.sqrt(vv, out=denom_buffer.like(vv))
            denom.div_(bc2_sqrt).add_(eps)
            pp.addcdiv_(mm, denom, value=-step_size)


def _foreach_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, *, lr, beta1, beta2,
                  eps, weight_decay, amsgrad, decoupled_weight_decay, maximize, capturable):
    if not capturable:
        if isinstance(lr, Tensor):
            raise RuntimeError(f"{_FN}: lr as a Tensor is not supported for "
                               "capturable=False and foreach=True")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if isinstance(beta, Tensor):
                raise ValueError(f"{_FN}: {name} as a Tensor is not supported for "
                                 "capturable=False and foreach=True")
    else:
        check_capturable(_FN, params, steps, supports_xla=False)
    maxes = maxes if amsgrad else [None] * len(params)
    for ps, gs, ms, vs, mx, ts in group_by_device_dtype(params, grads, exp_avgs, exp_avg_sqs,
                                                        maxes, steps):
        as_real(ps, gs, ms, vs, mx if amsgrad else None)
        b1 = _on(beta1, ps[0]) if isinstance(beta1, Tensor) and ps[0].device.type != "cpu" \
            else beta1
        if maximize:
            gs = list(torch._foreach_neg(gs))
        torch._foreach_add_(ts, 1.0)
        if weight_decay != 0:
            if decoupled_weight_decay:
                torch._foreach_mul_(ps, 1 - lr * weight_decay)
            elif maximize:
                torch._foreach_add_(gs, ps, alpha=weight_decay)
            else:
                gs = list(torch._foreach_add(gs, ps, alpha=weight_decay))
        torch._foreach_lerp_(ms, gs, 1 - b1)
        torch._foreach_mul_(vs, beta2)
        if isinstance(beta2, Tensor):
            torch._foreach_addcmul_(vs, torch._foreach_mul(gs, 1 - beta2), gs, 1.0)
        else:
            torch._foreach_addcmul_(vs, gs, gs, 1 - beta2)
        source = vs
        if amsgrad:
            torch._foreach_maximum_(mx, vs)
            source = mx
        denom = torch._foreach_sqrt(source)
        if capturable:
            # -lr / (1 - beta1^t) and sqrt(1 - beta2^t) as device tensors: no host sync
            neg_step = torch._foreach_pow(beta1, ts)
            torch._foreach_sub_(neg_step, 1)
            torch._foreach_div_(neg_step, lr)
            torch._foreach_reciprocal_(neg_step)
            bc2_sqrt = torch._foreach_pow(beta2, ts)
            torch._foreach_sub_(bc2_sqrt, 1)
            torch._foreach_neg_(bc2_sqrt)
            torch._foreach_sqrt_(bc2_sqrt)
            torch._foreach_div_(denom, bc2_sqrt)
            torch._foreach_add_(denom, eps)
            torch._foreach_div_(denom, neg_step)
            torch._foreach_addcdiv_(ps, ms, denom)
            continue
        counts = [t.item() for t in ts]
        torch._foreach_div_(denom, [(1 - beta2 ** c) ** 0.5 for c in counts])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(ps, ms, denom, [-lr / (1 - beta1 ** c) for c in counts])


def _fused_adam(params, grads, exp_avgs, exp_avg_sqs, maxes, steps, *, lr, beta1, beta2,
                eps, weight_decay, amsgrad, decoupled_weight_decay, maximize):
    """torch's fused kernel on contiguous tensors (others staged, see ``run_fused``); the
    step counters are incremented here and handed over on the parameters' device."""
    func = torch._fused_adamw_ if decoupled_weight_decay else torch._fused_adam_
    for (ts,) in group_by_device_dtype(steps):
        torch._foreach_add_(ts, 1.0)
    steps = [t if t.device == p.device else t.to(p.device)
             for p, t in zip(params, steps, strict=True)]

    def kernel(ps, gs, ms, vs, mx, ts):
        func(ps, gs, ms, vs, mx, ts, lr=lr, beta1=beta1, beta2=beta2,
             weight_decay=weight_decay, eps=eps, amsgrad=amsgrad, maximize=maximize)

    lists = [params, grads, exp_avgs, exp_avg_sqs, maxes if amsgrad else [None] * len(params),
             steps]
    strided = [i for i in range(len(params))
               if not all(x[i] is None or x[i].is_contiguous() for x in lists[:5])]
    if strided:  # the compiled single pass takes strided views as they are; else staging
        left = _compiled_adam(*([x[i] for i in strided] for x in lists), count=False, lr=lr,
                              beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                              amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay,
                              maximize=maximize)
        done = set(strided) - {strided[j] for j in left}
        lists = [[x[i] for i in range(len(params)) if i not in done] for x in lists]
    run_fused(kernel, lists[:4] + [lists[4] if amsgrad else None, lists[5]],
              written=(0, 2, 3, 4), whole=(5,))


class Adam(KernelOptimizer):
    r"""Adam: bias-corrected first and second moment estimates of the gradient.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \gamma\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`.
    ``amsgrad=True`` uses the running maximum of :math:`\hat v`;
    ``decoupled_weight_decay=True`` is AdamW. A drop-in for ``torch.optim.Adam`` (and
    ``torch.optim.AdamW`` with ``decoupled_weight_decay=True``): the same keywords, the
    same meaning, the same errors, trajectories equal to rounding, and state dicts that
    load into each other (kernel: :func:`adam_update`).

    Args:
        params: iterable of parameters, of ``(name, parameter)`` pairs, or of param-group
            dicts.
        lr: :math:`\gamma \ge 0`, a float or a 1-element Tensor (default 1e-3).
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1), both floats or both 1-element
            Tensors (default (0.9, 0.999)).
        eps: :math:`\epsilon \ge 0` (default 1e-8).
        weight_decay: :math:`\lambda \ge 0`, L2 in the gradient (or decoupled, AdamW).
        amsgrad: the AMSGrad variant.
        foreach: multi-tensor path (``True``), per-parameter path (``False``).
        maximize: ascend the objective.
        capturable: keep the step counters on the parameters' device and never read them
            on the host, so ``step`` can be captured in a CUDA graph (CUDA/XPU only, as
            torch).
        differentiable: run ``step`` with autograd recording, so the update can be
            differentiated (per-parameter path).
        fused: torch's fused kernel (``True``), never (``False``). With both ``None``
            (default) the path is chosen per device by measurement: fused on CPU, where it
            was 2-4x faster than the multi-tensor and per-parameter paths on a
            10M-parameter step (benchmarks/workloads/optimizers.py), multi-tensor on
            accelerators. The fused kernel only ever sees contiguous tensors: strided
            parameters or gradients take a compiled single pass on large steps (see
            :func:`adam_update`), else are staged through contiguous chunks.
        decoupled_weight_decay: AdamW's decoupled weight decay.

    Raises:
        ValueError: negative ``lr``, ``eps`` or ``weight_decay``, betas outside [0, 1),
            betas of mixed types, a Tensor ``lr``/``betas`` with ``foreach=True`` and
            ``capturable=False`` (torch's wording prefixed by ``Adam:``, e.g.
            ``Adam: Invalid beta parameter at index 0: 1.0``).
        RuntimeError: ``fused`` with ``foreach`` or ``differentiable``; ``fused`` with a
            parameter that is not floating point; sparse gradients.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([ 0.9000, -1.9000])

    Source: Kingma & Ba, *Adam: a method for stochastic optimization*, ICLR (2015).
    """

    _setdefaults = {"amsgrad": False, "decoupled_weight_decay": False, "fused": None,
                    "capturable": False}
    _sparse_message = ("{name} does not support sparse gradients, please consider "
                       "SparseAdam instead")

    def __init__(self, params, lr: float | Tensor = 1e-3,
                 betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False):
        name = type(self).__name__
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError(f"{name}: lr as a Tensor is not supported for capturable=False "
                             "and foreach=True")
        check_lr(lr, name)
        check_nonneg("epsilon", eps, name)
        check_beta(0, betas[0], name)
        check_beta(1, betas[1], name)
        check_nonneg("weight_decay", weight_decay, name)
        tensors = [isinstance(b, Tensor) for b in betas]
        if tensors[0] != tensors[1]:
            raise ValueError(f"{name}: betas must be either both floats or both Tensors")
        for i, is_tensor in enumerate(tensors):
            if is_tensor and foreach and not capturable:
                raise ValueError(f"{name}: betas[{i}] as a Tensor is not supported for "
                                 "capturable=False and foreach=True")
        betas = tuple(b.squeeze() if isinstance(b, Tensor) else b for b in betas)
        check_fused_foreach(name, fused, foreach, differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _init_state(self, p, group, state):
        state["step"] = new_step(p, on_device=bool(group["capturable"] or group["fused"]),
                                 fused=bool(group["fused"]))
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, steps):
        beta1, beta2 = group["betas"]
        if group["foreach"] and isinstance(group["lr"], Tensor) and not group["capturable"]:
            raise RuntimeError(f"{type(self).__name__}: lr as a Tensor is not supported for "
                               "capturable=False and foreach=True")
        adam_update(params, grads, states["exp_avg"], states["exp_avg_sq"],
                    states["max_exp_avg_sq"], steps, lr=group["lr"], beta1=beta1,
                    beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                    amsgrad=group["amsgrad"],
                    decoupled_weight_decay=group["decoupled_weight_decay"],
                    maximize=group["maximize"], foreach=group["foreach"],
                    fused=group["fused"], capturable=group["capturable"],
                    differentiable=group["differentiable"])
