r"""Running an optimizer to convergence with a trace, and the classical convergence theory
of smooth and strongly convex problems (step-size bounds and linear rates) to compare the
trace against.

For an :math:`L`-smooth, :math:`m`-strongly convex :math:`f` with condition number
:math:`\kappa = L/m`, the distance to the minimizer contracts per iteration by

.. math::
    \underbrace{1 - \tfrac{1}{\kappa}}_{\text{GD},\ \gamma=1/L} \;>\;
    \underbrace{\tfrac{\kappa-1}{\kappa+1}}_{\text{GD},\ \gamma=2/(L+m)} \;>\;
    \underbrace{1 - \tfrac{1}{\sqrt\kappa}}_{\text{Nesterov}} \;>\;
    \underbrace{\tfrac{\sqrt\kappa-1}{\sqrt\kappa+1}}_{\text{heavy ball (quadratics)}}

Source: Nesterov, *Lectures on Convex Optimization* (2018), sec. 2.1–2.2; Polyak,
*Introduction to Optimization* (1987), sec. 1.4 and 3.2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.optim import Optimizer

from torchmath._validation import (
    check_finite,
    check_floating,
    check_int,
    check_no_nan,
    check_positive,
    fail,
)
from torchmath.optim.calculus import hessian
from torchmath.optim.newton import Newton

__all__ = [
    "MinimizeResult",
    "NonFiniteError",
    "Trace",
    "heavy_ball_parameters",
    "linear_rate",
    "measured_rate",
    "minimize",
    "smoothness_constants",
    "step_size_bound",
]


class Trace(NamedTuple):
    r"""Per-iteration record of :func:`minimize`: ``loss`` and ``grad_norm`` at
    :math:`x_0, \dots, x_n` (``n_iter + 1`` entries), ``step_size`` and ``lr`` of the
    ``n_iter`` steps."""

    #: :math:`f(x_k)`, :math:`k = 0, \dots, n`
    loss: Tensor
    #: :math:`\|\nabla f(x_k)\|_2`, :math:`k = 0, \dots, n`
    grad_norm: Tensor
    #: length of the step taken, :math:`\|x_{k+1} - x_k\|_2`
    step_size: Tensor
    #: the learning rate of the first param group at step :math:`k`
    lr: Tensor


class MinimizeResult(NamedTuple):
    """Result of :func:`minimize`."""

    #: the last iterate
    x: Tensor
    #: :math:`f(x)`
    fun: Tensor
    #: whether :math:`\|\nabla f\| \le` ``tol`` was reached
    converged: bool
    #: number of optimizer steps taken
    n_iter: int
    #: the per-iteration :class:`Trace`
    trace: Trace


class NonFiniteError(FloatingPointError):
    """:func:`minimize` met a NaN or infinite loss or gradient.

    Attributes: ``iteration`` (where it appeared), ``result`` (a :class:`MinimizeResult`
    holding the trace up to that iteration).
    """

    def __init__(self, message: str, iteration: int, result: MinimizeResult):
        super().__init__(message)
        self.iteration = iteration
        self.result = result


def _needs_closure(opt: Optimizer) -> bool:
    return isinstance(opt, Newton | torch.optim.LBFGS) or any(
        g.get("accelerated", False) for g in opt.param_groups)


def minimize(f: Callable[[Tensor], Tensor], x0: Tensor,
             optimizer: Callable[[list[Tensor]], Optimizer], *, max_iter: int = 1000,
             tol: float = 1e-8) -> MinimizeResult:
    r"""Minimize :math:`f` from :math:`x_0` with any ``torch.optim.Optimizer``, recording a
    trace, until :math:`\|\nabla f(x_k)\|_2 \le` ``tol`` or ``max_iter`` steps.

    .. math::
        x_{k+1} = \mathcal{A}(x_k, \nabla f(x_k)), \qquad
        \text{stop when } \|\nabla f(x_k)\|_2 \le \text{tol}

    Optimizers that need a closure (:class:`~torchmath.optim.Newton`,
    ``torch.optim.LBFGS``, accelerated :class:`~torchmath.optim.ProximalGradient`) get
    one. A NaN or infinite loss or gradient stops the run with a :class:`NonFiniteError`
    that names the iteration where it appeared and carries the trace so far.

    Args:
        f: objective, from a tensor shaped like ``x0`` to a scalar.
        x0: starting point (not modified).
        optimizer: a factory ``params -> Optimizer``, e.g.
            ``functools.partial(torchmath.optim.Adam, lr=0.1)``.
        max_iter: step limit.
        tol: gradient-norm tolerance.

    Shape:
        ``x0``: any shape; the result's ``x`` has the same shape.

    Returns:
        A :class:`MinimizeResult` ``(x, fun, converged, n_iter, trace)``.

    Raises:
        TypeError: ``x0`` is not a floating-point tensor.
        ValueError: ``max_iter`` is not a positive integer or ``tol`` is negative.
        NonFiniteError: NaN/inf in the loss or the gradient (a ``FloatingPointError``).

    Example:
        >>> from functools import partial
        >>> from torchmath.optim import GradientDescent
        >>> res = minimize(lambda x: ((x - 3) ** 2).sum(), torch.zeros(2),
        ...                partial(GradientDescent, lr=0.25), tol=1e-6)
        >>> res.converged, res.x
        (True, tensor([3., 3.]))

    Source: Nocedal & Wright, *Numerical Optimization* (2006), ch. 2–3.
    """
    fn = "minimize"
    check_floating(fn, "x0", x0)
    check_int(fn, "max_iter", max_iter, minimum=1)
    check_positive(fn, "tol", tol, strict=False)
    x = x0.detach().clone().requires_grad_(True)
    opt = optimizer([x])
    if not isinstance(opt, Optimizer):
        raise fail(fn, "optimizer", "to be a factory params -> torch.optim.Optimizer",
                   type(opt).__name__, TypeError)
    newton, closure_needed = isinstance(opt, Newton), _needs_closure(opt)
    losses, gnorms, steps, lrs = [], [], [], []

    def closure():
        opt.zero_grad()
        loss = f(x)
        if not newton:
            loss.backward()
        return loss

    def result(converged: bool) -> MinimizeResult:
        stack = lambda v: torch.stack(v) if v else x0.new_zeros(0)  # noqa: E731
        with torch.no_grad():
            fun = f(x.detach())
        trace = Trace(stack(losses), stack(gnorms), stack(steps),
                      x0.new_tensor(lrs) if lrs else x0.new_zeros(0))
        return MinimizeResult(x.detach(), fun, converged, len(steps), trace)

    for k in range(max_iter + 1):
        with torch.enable_grad():
            loss = f(x)
            (grad,) = torch.autograd.grad(loss, x)
        gnorm = torch.linalg.vector_norm(grad)
        if not bool(torch.isfinite(loss) & torch.isfinite(gnorm)):
            what = "gradient" if bool(torch.isfinite(loss)) else "loss"
            raise NonFiniteError(f"minimize: the {what} became NaN or infinite at iteration "
                                 f"{k}", k, result(False))
        if bool(gnorm <= tol) or k == max_iter:
            losses.append(loss.detach())
            gnorms.append(gnorm)
            return result(bool(gnorm <= tol))
        before = x.detach().clone()
        lrs.append(float(opt.param_groups[0]["lr"]))
        if closure_needed:
            opt.step(closure)
        else:
            x.grad = grad
            opt.step()
        losses.append(loss.detach())
        gnorms.append(gnorm)
        steps.append(torch.linalg.vector_norm(x.detach() - before))
    raise AssertionError("unreachable")  # pragma: no cover


def step_size_bound(L: float | Tensor) -> float | Tensor:
    r"""The classical safe step size of gradient descent on an :math:`L`-smooth function.

    .. math::
        \gamma \le \frac{1}{L} \;\Rightarrow\; f(x_{k+1}) \le f(x_k) -
        \frac{\gamma}{2}\|\nabla f(x_k)\|^2

    (any :math:`\gamma < 2/L` still decreases :math:`f`; :math:`1/L` maximizes the
    guaranteed decrease). For convex :math:`f`,
    :math:`f(x_k) - f^\star \le L\|x_0 - x^\star\|^2 / (2k)`. Get :math:`L` from
    :func:`~torchmath.optim.lipschitz_constant` or :func:`smoothness_constants`.

    Args:
        L: smoothness constant :math:`L > 0`.

    Shape:
        ``L`` a number or a tensor of any shape; the result has the same shape.

    Returns:
        :math:`1/L`.

    Raises:
        ValueError: ``L`` is not positive.

    Example:
        >>> step_size_bound(4.0)
        0.25

    Source: Nesterov, *Lectures on Convex Optimization* (2018), eq. 1.2.19, thm. 2.1.14.
    """
    check_positive("step_size_bound", "L", L)
    return 1.0 / L


def linear_rate(L: float, m: float, method: str = "gd") -> float:
    r"""Worst-case linear convergence rate (per-iteration contraction of
    :math:`\|x_k - x^\star\|`) for an :math:`L`-smooth, :math:`m`-strongly convex problem.

    .. math::
        \rho_{\text{gd}} = 1 - \frac{1}{\kappa}, \quad
        \rho_{\text{gd-optimal}} = \frac{\kappa - 1}{\kappa + 1}, \quad
        \rho_{\text{nesterov}} = 1 - \frac{1}{\sqrt\kappa}, \quad
        \rho_{\text{heavy-ball}} = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}

    with :math:`\kappa = L/m`: gradient descent with :math:`\gamma = 1/L`, with the optimal
    constant step :math:`2/(L+m)`, Nesterov's accelerated method (rate of
    :math:`f - f^\star`), and heavy ball with :func:`heavy_ball_parameters` (exact on
    quadratics, asymptotically). So :math:`\|x_k - x^\star\| \le C\rho^k`.

    Args:
        L: smoothness constant (largest Hessian eigenvalue).
        m: strong convexity constant (smallest Hessian eigenvalue), :math:`0 < m \le L`.
        method: ``"gd"``, ``"gd_optimal"``, ``"nesterov"`` or ``"heavy_ball"``.

    Returns:
        The rate :math:`\rho \in [0, 1)`.

    Raises:
        ValueError: ``m`` or ``L`` not positive, ``m > L``, or an unknown ``method``.

    Example:
        >>> linear_rate(100.0, 1.0, "gd"), linear_rate(100.0, 1.0, "heavy_ball")
        (0.99, 0.8181818181818182)

    Source: Nesterov (2018), thm. 2.1.15 and 2.2.3; Polyak (1987), sec. 3.2.1.
    """
    fn = "linear_rate"
    check_positive(fn, "L", L)
    check_positive(fn, "m", m)
    if m > L:
        raise fail(fn, "m", f"<= 'L' = {L}", m)
    kappa = L / m
    rates = {
        "gd": 1 - 1 / kappa,
        "gd_optimal": (kappa - 1) / (kappa + 1),
        "nesterov": 1 - 1 / math.sqrt(kappa),
        "heavy_ball": (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1),
    }
    if method not in rates:
        raise fail(fn, "method", f"to be one of {tuple(rates)}", repr(method))
    return rates[method]


def heavy_ball_parameters(L: float, m: float) -> tuple[float, float]:
    r"""Polyak's optimal heavy-ball step size and momentum for a quadratic.

    .. math::
        \gamma = \frac{4}{(\sqrt L + \sqrt m)^2}, \qquad
        \mu = \Big(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\Big)^2

    These are the settings of :class:`~torchmath.optim.Momentum` (``lr``, ``momentum``)
    under which it attains ``linear_rate(L, m, "heavy_ball")``.

    Args:
        L: smoothness constant; m: strong convexity constant, :math:`0 < m \le L`.

    Returns:
        ``(lr, momentum)``.

    Raises:
        ValueError: ``L`` or ``m`` not positive, or ``m > L``.

    Example:
        >>> heavy_ball_parameters(4.0, 1.0)
        (0.4444444444444444, 0.1111111111111111)

    Source: Polyak, USSR Comput. Math. Math. Phys. 4(5) (1964); Polyak (1987), thm. 3.2.1.
    """
    rho = linear_rate(L, m, "heavy_ball")
    return 4 / (math.sqrt(L) + math.sqrt(m)) ** 2, rho ** 2


def smoothness_constants(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Local strong-convexity and smoothness constants: the extreme Hessian eigenvalues.

    .. math::
        m(x) = \lambda_{\min}\big(\nabla^2 f(x)\big), \qquad
        L(x) = \lambda_{\max}\big(\nabla^2 f(x)\big)

    Forms the Hessian (small problems); for large ones use
    :func:`~torchmath.optim.lipschitz_constant`. For a quadratic these are the global
    constants; over a batch of points take the min of ``m`` and the max of ``L``.

    Args:
        f: twice-differentiable function from a point of shape ``(d,)`` to a scalar.
        x: the point(s).

    Shape:
        ``x``: ``(..., d)``; returns two tensors of shape ``(...)``.

    Returns:
        ``(m, L)``.

    Raises:
        ValueError: ``x`` or the Hessian of ``f`` at ``x`` holds NaN or infinite values
            (while validation is on), instead of an eigensolver error.

    Example:
        >>> A = torch.diag(torch.tensor([1.0, 10.0]))
        >>> smoothness_constants(lambda x: 0.5 * x @ A @ x, torch.zeros(2))
        (tensor(1.), tensor(10.))

    Source: Nesterov (2018), thm. 2.1.6 and 2.1.11.
    """
    fn = "smoothness_constants"
    check_finite(fn, "x", x)
    H = hessian(f, x)
    check_finite(fn, "Hessian of f at x", H)
    eig = torch.linalg.eigvalsh((H + H.mT) / 2)
    return eig[..., 0], eig[..., -1]


def measured_rate(errors: Tensor, *, skip: int = 0) -> Tensor:
    r"""The linear rate shown by a sequence of errors: the least-squares slope of
    :math:`\log e_k` against :math:`k`, exponentiated.

    .. math::
        \hat\rho = \exp\Big(\frac{\sum_k (k - \bar k)(\log e_k - \overline{\log e})}
        {\sum_k (k - \bar k)^2}\Big)

    Compare it with :func:`linear_rate`. Zero errors (converged to machine precision) are
    dropped.

    Args:
        errors: positive errors :math:`e_k` (e.g. ``trace.grad_norm`` or
            :math:`\|x_k - x^\star\|`), in iteration order.
        skip: leading iterations to ignore (the transient before the asymptotic rate).

    Shape:
        ``errors``: ``(n,)``; returns a scalar.

    Returns:
        :math:`\hat\rho`.

    Raises:
        ValueError: fewer than two positive errors after ``skip``.

    Example:
        >>> measured_rate(0.5 ** torch.arange(10.0))
        tensor(0.5000)

    Source: a log-linear least-squares fit; Nocedal & Wright (2006), sec. 2.2 (Q-linear).
    """
    fn = "measured_rate"
    check_floating(fn, "errors", errors)
    check_no_nan(fn, "errors", errors)
    e = errors[skip:]
    k = torch.arange(e.shape[0], dtype=e.dtype, device=e.device)
    keep = e > 0
    e, k = e[keep], k[keep]
    if e.shape[0] < 2:
        raise fail(fn, "errors", "to hold at least two positive values after 'skip'",
                   int(e.shape[0]))
    logs = e.log()
    kc = k - k.mean()
    return torch.exp((kc * (logs - logs.mean())).sum() / (kc * kc).sum())
