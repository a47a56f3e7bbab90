r"""Proximal gradient (ISTA, FISTA) and projected gradient descent as optimizers.

For a composite objective :math:`F(\theta) = f(\theta) + \alpha\, g(\theta)` with smooth
:math:`f` and a :math:`g` whose proximal operator is cheap (see
:mod:`torchmath.optim.proximal`), one step is a gradient step on :math:`f` followed by the
proximal map of :math:`g`. With the L1 or elastic-net prox the iterates have exact zeros.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from torchmath._validation import check_in_range, fail
from torchmath.optim._common import KernelOptimizer, check_lr, check_nonneg, new_step
from torchmath.optim.proximal import (
    prox_elastic_net,
    prox_l2,
    prox_nonneg,
    prox_squared_l2,
    soft_threshold,
)
from torchmath.optim.sgd import gradient_descent_update

__all__ = ["ProjectedGradient", "ProximalGradient", "proximal_gradient_update"]

_PROXES: dict[str, Callable] = {
    "l1": soft_threshold,
    "l2": prox_l2,
    "squared_l2": prox_squared_l2,
    "nonneg": prox_nonneg,
}


def proximal_gradient_update(params: list[Tensor], grads: list[Tensor], *, lr: float,
                             prox: Callable[[Tensor, float], Tensor] | None,
                             alpha: float = 0.0, weight_decay: float = 0.0,
                             maximize: bool = False, foreach: bool | None = None) -> None:
    r"""One proximal-gradient (ISTA) step on a list of parameters, in place.

    .. math::
        \theta_t = \operatorname{prox}_{\gamma\alpha g}\big(\theta_{t-1} - \gamma\,
        \nabla f(\theta_{t-1})\big)

    Args:
        params: parameters, updated in place.
        grads: gradients of the smooth part (left unchanged).
        lr: step size :math:`\gamma` (at most :math:`1/L` for convergence).
        prox: ``prox(x, lam)`` for :math:`\lambda = \gamma\alpha`, or ``None`` (plain step).
        alpha: weight :math:`\alpha` of the nonsmooth term.
        weight_decay: L2 coefficient added to the smooth gradient.
        maximize: ascend the smooth part.
        foreach: multi-tensor gradient step, per-parameter, or the device default.

    Shape:
        each gradient has its parameter's shape; the parameters keep theirs.

    Example:
        >>> p = torch.tensor([1.0, 0.05])
        >>> proximal_gradient_update([p], [torch.zeros(2)], lr=1.0, prox=soft_threshold,
        ...                          alpha=0.1)
        >>> p
        tensor([0.9000, 0.0000])

    Source: Beck & Teboulle, *A fast iterative shrinkage-thresholding algorithm*, SIAM J.
    Imaging Sci. (2009).
    """
    gradient_descent_update(params, grads, lr=lr, weight_decay=weight_decay,
                            maximize=maximize, foreach=foreach)
    if prox is not None:
        for p in params:
            p.copy_(prox(p, lr * alpha))


class ProximalGradient(KernelOptimizer):
    r"""Proximal gradient descent (ISTA), and its accelerated form (FISTA).

    .. math::
        \theta_t = \operatorname{prox}_{\gamma\alpha g}\big(y_t - \gamma\nabla f(y_t)\big),
        \qquad y_{t+1} = \theta_t + \frac{s_t - 1}{s_{t+1}}(\theta_t - \theta_{t-1}),
        \quad s_{t+1} = \frac{1 + \sqrt{1 + 4 s_t^2}}{2}

    ISTA takes :math:`y_t = \theta_{t-1}` and converges as :math:`O(1/t)` with
    ``lr`` :math:`\le 1/L`; FISTA (``accelerated=True``) as :math:`O(1/t^2)`. Both run
    in the ordinary loop (``opt.zero_grad(); loss.backward(); opt.step()``) or with
    ``opt.step(closure)``. For ISTA the parameters hold the proximal iterate
    :math:`\theta_t`, so the L1 and elastic-net proxes leave exact zeros in them. For
    FISTA the parameters hold the extrapolated point :math:`y_{t+1}`, where the next
    gradient must be taken; the iterate :math:`\theta_t` (with the guarantee and the exact
    zeros) is :meth:`iterate` ``(p)`` (also ``opt.state[p]["iterate"]``).

    Args:
        params: iterable of parameters or of param-group dicts (e.g. one group with an
            L1 prox for the weights, one with ``alpha=0`` for the biases).
        lr: step size :math:`\gamma \ge 0`.
        prox: ``"l1"`` (soft thresholding), ``"elastic_net"`` (with ``l1_ratio``),
            ``"l2"`` (block soft thresholding along the last dimension), ``"squared_l2"``,
            ``"nonneg"``, ``None`` (no prox), or a callable ``prox(x, lam)`` that receives
            :math:`\lambda = \gamma\alpha`. (A callable lives in the param groups, so
            ``torch.save(opt.state_dict())`` then needs it to be picklable; the names
            always are.)
        alpha: weight :math:`\alpha \ge 0` of the nonsmooth term.
        l1_ratio: the elastic-net mixing in [0, 1] (only for ``prox="elastic_net"``).
        accelerated: FISTA instead of ISTA (parameters then hold the extrapolated point;
            read the iterate with :meth:`iterate`).
        weight_decay: an L2 term added to the smooth gradient.
        maximize: ascend the smooth part (the prox still shrinks).
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Raises:
        ValueError: negative ``lr``/``alpha``/``weight_decay``, an unknown ``prox`` name,
            or ``l1_ratio`` outside [0, 1].

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([2.0, 0.05]))
        >>> opt = ProximalGradient([w], lr=0.5, prox="l1", alpha=0.2)
        >>> for _ in range(50):
        ...     opt.zero_grad(); ((w - torch.tensor([1.0, 0.1])) ** 2).sum().div(2).backward()
        ...     opt.step()
        >>> w.data  # the lasso solution soft(b, alpha): exact zero in the second entry
        tensor([0.8000, 0.0000])

    Source: Beck & Teboulle, SIAM J. Imaging Sci. 2(1) (2009); Parikh & Boyd (2014), ch. 4.
    """

    _setdefaults = {"accelerated": False, "alpha": 0.0, "l1_ratio": None, "prox": None}

    def __init__(self, params, lr: float = 1e-3, prox: str | Callable | None = "l1", *,
                 alpha: float = 0.0, l1_ratio: float | None = None, accelerated: bool = False,
                 weight_decay: float = 0.0, maximize: bool = False,
                 foreach: bool | None = None):
        check_lr(lr)
        check_nonneg("alpha", alpha)
        check_nonneg("weight_decay", weight_decay)
        self._resolve_prox(prox, l1_ratio)
        defaults = dict(lr=lr, prox=prox, alpha=alpha, l1_ratio=l1_ratio,
                        accelerated=accelerated, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach)
        super().__init__(params, defaults)
        for group in self.param_groups:
            self._resolve_prox(group["prox"], group["l1_ratio"])

    def _resolve_prox(self, prox, l1_ratio) -> Callable | None:
        fn = type(self).__name__
        if prox is None or callable(prox):
            return prox
        if prox == "elastic_net":
            if l1_ratio is None:
                raise fail(fn, "l1_ratio", "in [0, 1] with prox='elastic_net'", None)
            check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
            return lambda x, lam: prox_elastic_net(x, lam, l1_ratio)
        if prox not in _PROXES:
            raise fail(fn, "prox", f"to be a callable, None, or one of "
                       f"{tuple(_PROXES) + ('elastic_net',)}", repr(prox))
        return _PROXES[prox]

    def _init_state(self, p, group, state):
        state["step"] = new_step()
        if group["accelerated"]:
            state["iterate"] = p.detach().clone(memory_format=torch.preserve_format)
            state["t"] = 1.0

    def _update(self, group, params, grads, states, steps):
        torch._foreach_add_(steps, 1.0)
        prox = self._resolve_prox(group["prox"], group["l1_ratio"])
        # the gradient was taken at the point the parameters hold (y_k for FISTA)
        proximal_gradient_update(params, grads, lr=group["lr"], prox=prox,
                                 alpha=group["alpha"], weight_decay=group["weight_decay"],
                                 maximize=group["maximize"], foreach=group["foreach"])
        if not group["accelerated"]:
            return
        for p in params:  # p holds x_k; move it to y_{k+1}
            state = self.state[p]
            if "iterate" not in state:  # a state from before FISTA kept its iterate
                state["iterate"], state["t"] = p.detach().clone(), 1.0
            t = state["t"]
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            current = p.detach().clone(memory_format=torch.preserve_format)
            coef = (t - 1) / t_next
            if coef != 0:
                p.add_(current - state["iterate"], alpha=coef)
            state["iterate"], state["t"] = current, t_next

    def iterate(self, p: Tensor) -> Tensor:
        """The current iterate :math:`\theta_k` of parameter ``p``.

        For FISTA (``accelerated=True``) the parameter itself holds the extrapolated point
        :math:`y_{k+1}` where the next gradient is taken, and :math:`\theta_k` (the point
        with the convergence guarantee, and the exact zeros of the L1 prox) is kept here;
        for ISTA it is the parameter. Returns a detached tensor (a copy for ISTA).
        """
        state = self.state.get(p, {})
        if "iterate" in state:
            return state["iterate"].clone()
        return p.detach().clone()


class ProjectedGradient(ProximalGradient):
    r"""Projected gradient descent: a gradient step, then the projection onto a set.

    .. math::
        \theta_t = \Pi_C\big(\theta_{t-1} - \gamma\nabla f(\theta_{t-1})\big)

    A :class:`ProximalGradient` whose prox is the projection :math:`\Pi_C` (the prox of the
    indicator of :math:`C`); with ``accelerated=True`` it is the accelerated projected
    gradient method. Every parameter tensor is projected separately (a row-wise projection
    such as :func:`torchmath.optim.project_simplex` acts on each row).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step size :math:`\gamma \ge 0`.
        projection: a callable ``projection(x) -> x`` such as
            ``functools.partial(project_l2_ball, radius=2.0)``.
        accelerated: Nesterov/FISTA acceleration (the parameters then hold the
            extrapolated point, which may lie outside the set; :meth:`iterate` is feasible).
        weight_decay: an L2 term added to the gradient.
        maximize: ascend the objective.
        foreach: multi-tensor path, per-parameter path, or the device default (``None``).

    Raises:
        ValueError: negative ``lr`` or ``weight_decay``.
        TypeError: ``projection`` is not callable.

    Example:
        >>> from torchmath.optim import project_simplex
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> opt = ProjectedGradient([w], lr=0.5, projection=project_simplex)
        >>> for _ in range(20):
        ...     opt.zero_grad(); ((w - torch.tensor([1.0, 0.5, -1.0])) ** 2).sum().backward()
        ...     opt.step()
        >>> w.data
        tensor([0.7500, 0.2500, 0.0000])

    Source: Bertsekas, *Nonlinear Programming* (1999), sec. 2.3.
    """

    def __init__(self, params, lr: float = 1e-3, projection: Callable | None = None, *,
                 accelerated: bool = False, weight_decay: float = 0.0,
                 maximize: bool = False, foreach: bool | None = None):
        if not callable(projection):
            raise fail(type(self).__name__, "projection", "to be a callable x -> x",
                       type(projection).__name__, TypeError)
        self.projection = projection
        super().__init__(params, lr, prox="projection", alpha=0.0,
                         accelerated=accelerated, weight_decay=weight_decay,
                         maximize=maximize, foreach=foreach)

    def _resolve_prox(self, prox, l1_ratio) -> Callable | None:
        if prox == "projection":
            return lambda x, lam: self.projection(x)
        return super()._resolve_prox(prox, l1_ratio)
