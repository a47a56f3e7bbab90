r"""Constrained optimization: the Lagrangian, the KKT conditions, and a general nonlinear
solver by the augmented Lagrangian method.

The problem is

.. math::
    \min_x f(x) \quad \text{s.t.} \quad h(x) = 0 \in \mathbb{R}^p, \qquad
    g(x) \le 0 \in \mathbb{R}^q

with ``eq`` = :math:`h` and ``ineq`` = :math:`g` callables from a point of shape ``(d,)``
to vectors (a scalar counts as one constraint). Derivatives come from ``torch.func``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from torchmath._validation import check_floating, check_int, check_ndim, check_positive, fail

__all__ = ["ConstrainedResult", "KKTResiduals", "augmented_lagrangian", "kkt_residuals",
           "lagrangian"]

Constraint = Callable[[Tensor], Tensor]


def _vector(c: Constraint | None, x: Tensor) -> Tensor | None:
    if c is None:
        return None
    out = c(x)
    return out.reshape(1) if out.dim() == 0 else out


def lagrangian(f: Callable[[Tensor], Tensor], eq: Constraint | None = None,
               ineq: Constraint | None = None) -> Callable[..., Tensor]:
    r"""The Lagrangian of a constrained problem, as a function of :math:`(x, \lambda, \mu)`.

    .. math::
        \mathcal{L}(x, \lambda, \mu) = f(x) + \lambda^\top h(x) + \mu^\top g(x)

    Args:
        f: objective from a point of shape ``(d,)`` to a scalar.
        eq: equality constraints :math:`h(x) = 0`, a vector function (or ``None``).
        ineq: inequality constraints :math:`g(x) \le 0` (or ``None``).

    Shape:
        ``x``: ``(d,)``; ``lam``: ``(p,)``; ``mu``: ``(q,)``; the returned function gives a
        scalar.

    Returns:
        ``L(x, lam=None, mu=None)`` returning a scalar; ``lam`` has shape ``(p,)``,
        ``mu`` ``(q,)``. It composes with ``torch.func`` (``grad``, ``vmap``).

    Raises:
        ValueError: (when the returned function is called) ``lam`` missing while ``eq``
            is given, or ``mu`` missing while ``ineq`` is given.

    Example:
        >>> L = lagrangian(lambda x: x.sum(), eq=lambda x: (x ** 2).sum() - 1)
        >>> L(torch.tensor([0.6, 0.8]), torch.tensor([2.0]))
        tensor(1.4000)

    Source: Nocedal & Wright, *Numerical Optimization* (2006), eq. 12.33.
    """

    def L(x: Tensor, lam: Tensor | None = None, mu: Tensor | None = None) -> Tensor:
        value = f(x)
        if eq is not None:
            if lam is None:
                raise fail("lagrangian", "lam", "given when 'eq' constraints exist", None)
            value = value + (lam * _vector(eq, x)).sum()
        if ineq is not None:
            if mu is None:
                raise fail("lagrangian", "mu", "given when 'ineq' constraints exist", None)
            value = value + (mu * _vector(ineq, x)).sum()
        return value

    return L


class KKTResiduals(NamedTuple):
    """The four Karush–Kuhn–Tucker residuals (each a tensor, max-norm)."""

    #: :math:`\|\nabla f + J_h^\top\lambda + J_g^\top\mu\|_\infty`
    stationarity: Tensor
    #: :math:`\max(\|h\|_\infty, \max_i g_i^+)`
    primal_feasibility: Tensor
    #: :math:`\max_i (-\mu_i)^+`
    dual_feasibility: Tensor
    #: :math:`\max_i |\mu_i g_i|`
    complementary_slackness: Tensor

    def max(self) -> Tensor:
        """The largest of the four."""
        return torch.stack(list(self)).amax(0)


def kkt_residuals(f: Callable[[Tensor], Tensor], x: Tensor, *, eq: Constraint | None = None,
                  ineq: Constraint | None = None, lam: Tensor | None = None,
                  mu: Tensor | None = None) -> KKTResiduals:
    r"""Residuals of the Karush–Kuhn–Tucker conditions at :math:`(x, \lambda, \mu)`.

    .. math::
        \nabla f(x) + J_h(x)^\top \lambda + J_g(x)^\top \mu = 0, \quad
        h(x) = 0, \quad g(x) \le 0, \quad \mu \ge 0, \quad \mu_i g_i(x) = 0

    All four are zero at a KKT point (under a constraint qualification: a necessary
    condition for a local minimum, and sufficient for convex problems).

    Args:
        f: objective from a point of shape ``(d,)`` to a scalar.
        x: the point(s).
        eq, ineq: constraint functions, as in :func:`lagrangian`.
        lam: equality multipliers (required with ``eq``).
        mu: inequality multipliers (required with ``ineq``).

    Shape:
        ``x``: ``(..., d)``; ``lam``: ``(..., p)``; ``mu``: ``(..., q)``; each residual
        ``(...)``.

    Returns:
        :class:`KKTResiduals` ``(stationarity, primal_feasibility, dual_feasibility,
        complementary_slackness)``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: multipliers missing for given constraints, or of the wrong size.

    Example:
        >>> r = kkt_residuals(lambda x: x.sum(), torch.tensor([-0.6, -0.8]),
        ...                   ineq=lambda x: (x ** 2).sum() - 1, mu=torch.tensor([0.5]))
        >>> [round(float(v), 4) for v in r]
        [0.4, 0.0, 0.0, 0.0]

    Source: Nocedal & Wright, *Numerical Optimization* (2006), thm. 12.1.
    """
    fn = "kkt_residuals"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)
    for name, c, m in (("lam", eq, lam), ("mu", ineq, mu)):
        if c is not None:
            if m is None:
                raise fail(fn, name, f"given with the {'eq' if name == 'lam' else 'ineq'} "
                           "constraints", None)
            check_floating(fn, name, m)
            point = x.reshape(-1, x.shape[-1])[0].detach()
            k = _vector(c, point).shape[-1]
            if m.shape[-1:] != (k,):
                raise fail(fn, name, f"of shape (..., {k}), one per constraint",
                           tuple(m.shape))
    L = lagrangian(f, eq, ineq)
    zero = x.new_zeros(())

    def single(z: Tensor, lm: Tensor | None, mm: Tensor | None):
        grad = torch.func.grad(L)(z, lm, mm)
        stat = grad.abs().amax()
        primal, dual, comp = zero, zero, zero
        if eq is not None:
            primal = torch.maximum(primal, _vector(eq, z).abs().amax())
        if ineq is not None:
            g = _vector(ineq, z)
            primal = torch.maximum(primal, g.clamp_min(0).amax())
            dual = (-mm).clamp_min(0).amax()
            comp = (mm * g).abs().amax()
        return stat, primal, dual, comp

    batch = x.dim() - 1
    fn_b = single
    for _ in range(batch):
        fn_b = torch.func.vmap(fn_b, in_dims=(0, None if lam is None else 0,
                                              None if mu is None else 0))
    if batch:
        shape = x.shape[:-1]
        lam = None if lam is None else lam.expand(*shape, lam.shape[-1])
        mu = None if mu is None else mu.expand(*shape, mu.shape[-1])
    return KKTResiduals(*fn_b(x, lam, mu))


class ConstrainedResult(NamedTuple):
    """Result of :func:`augmented_lagrangian`."""

    #: the solution
    x: Tensor
    #: equality multipliers :math:`\lambda`, shape ``(p,)`` (empty without ``eq``)
    lam: Tensor
    #: inequality multipliers :math:`\mu \ge 0`, shape ``(q,)`` (empty without ``ineq``)
    mu: Tensor
    #: :math:`f(x)`
    fun: Tensor
    #: the :class:`KKTResiduals` at the solution
    kkt: KKTResiduals
    #: every KKT residual below ``tol``
    converged: bool
    #: outer (multiplier) iterations
    n_outer: int


def augmented_lagrangian(f: Callable[[Tensor], Tensor], x0: Tensor, *,
                         eq: Constraint | None = None, ineq: Constraint | None = None,
                         rho: float = 10.0, max_outer: int = 50, inner_max_iter: int = 200,
                         tol: float | None = None,
                         polish_max_dim: int = 500) -> ConstrainedResult:
    r"""Solve a smooth nonlinear constrained problem by the augmented Lagrangian method
    (Powell–Hestenes–Rockafellar), returning the solution and its multipliers.

    .. math::
        \mathcal{L}_\rho(x) = f(x) + \lambda^\top h(x) + \frac{\rho}{2}\|h(x)\|^2 +
        \frac{1}{2\rho}\sum_i \Big(\max(0, \mu_i + \rho g_i(x))^2 - \mu_i^2\Big)

    Each outer iteration minimizes :math:`\mathcal{L}_\rho` over :math:`x` with
    ``torch.optim.LBFGS`` (strong Wolfe line search, gradients by autograd), polished by
    safeguarded Newton steps on the exact Hessian for up to ``polish_max_dim`` variables
    (L-BFGS alone stalls near ``1e-7`` once :math:`\rho` is large), then updates
    :math:`\lambda \leftarrow \lambda + \rho h(x)`,
    :math:`\mu \leftarrow \max(0, \mu + \rho g(x))`, and multiplies :math:`\rho` by 10
    when the constraint violation did not fall by a factor of 4. It stops when every
    :func:`kkt_residuals` entry is below ``tol``. Finds a local solution (the global one
    for convex problems).

    Args:
        f: objective from a point of shape ``(d,)`` to a scalar.
        x0: starting point (need not be feasible; not modified).
        eq: equality constraints :math:`h(x) = 0` (vector function) or ``None``.
        ineq: inequality constraints :math:`g(x) \le 0` or ``None``.
        rho: initial penalty :math:`\rho > 0`.
        max_outer: outer iteration limit.
        inner_max_iter: L-BFGS iteration limit per outer iteration.
        tol: KKT tolerance (default ``1e-9`` in float64, ``1e-4`` in float32).
        polish_max_dim: largest dimension for the Newton polish of each inner solve.

    Shape:
        ``x0``: ``(d,)``.

    Returns:
        :class:`ConstrainedResult` ``(x, lam, mu, fun, kkt, converged, n_outer)``.

    Raises:
        TypeError: ``x0`` is not a floating-point tensor.
        ValueError: ``x0`` not a vector, or a non-positive ``rho``/``max_outer``.

    Example:
        >>> res = augmented_lagrangian(lambda x: x.sum(), torch.zeros(2, dtype=torch.float64),
        ...                            eq=lambda x: (x ** 2).sum() - 1)
        >>> res.x, res.lam  # x = -(1, 1)/sqrt(2), lambda = 1/sqrt(2)
        (tensor([-0.7071, -0.7071], dtype=torch.float64), tensor([0.7071], dtype=torch.float64))

    Source: Nocedal & Wright, *Numerical Optimization* (2006), alg. 17.4 and eq. 17.65;
    Birgin & Martínez, *Practical Augmented Lagrangian Methods* (2014).
    """
    fn = "augmented_lagrangian"
    check_floating(fn, "x0", x0)
    check_ndim(fn, "x0", x0, ndim=1)
    check_positive(fn, "rho", rho)
    check_int(fn, "max_outer", max_outer, minimum=1)
    check_int(fn, "inner_max_iter", inner_max_iter, minimum=1)
    if tol is None:
        tol = 1e-9 if x0.dtype == torch.float64 else 1e-4
    x = x0.detach().clone().requires_grad_(True)
    with torch.no_grad():
        h0, g0 = _vector(eq, x), _vector(ineq, x)
    lam = x0.new_zeros(0 if h0 is None else h0.shape[0])
    mu = x0.new_zeros(0 if g0 is None else g0.shape[0])
    prev_violation = float("inf")
    res, n_outer = None, 0

    for outer in range(1, max_outer + 1):
        n_outer = outer
        def aug(z: Tensor, lam=lam, mu=mu, rho=rho) -> Tensor:
            value = f(z)
            if eq is not None:
                h = _vector(eq, z)
                value = value + lam @ h + 0.5 * rho * (h @ h)
            if ineq is not None:
                shifted = torch.clamp(mu + rho * _vector(ineq, z), min=0)
                value = value + ((shifted ** 2).sum() - (mu ** 2).sum()) / (2 * rho)
            return value

        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=inner_max_iter, history_size=20,
                                tolerance_grad=tol / 10, tolerance_change=0.0,
                                line_search_fn="strong_wolfe")

        def closure(opt=opt, aug=aug):
            opt.zero_grad()
            value = aug(x)
            value.backward()
            return value

        opt.step(closure)
        if x.numel() <= polish_max_dim:
            _newton_polish(aug, x, tol / 10)
        with torch.no_grad():
            violation = 0.0
            if eq is not None:
                h = _vector(eq, x)
                lam = lam + rho * h
                violation = max(violation, float(h.abs().max()))
            if ineq is not None:
                g = _vector(ineq, x)
                violation = max(violation, float(torch.maximum(g, -mu / rho).abs().max()))
                mu = torch.clamp(mu + rho * g, min=0)
        res = kkt_residuals(f, x.detach(), eq=eq, ineq=ineq,
                            lam=lam if eq is not None else None,
                            mu=mu if ineq is not None else None)
        if float(res.max()) <= tol:
            break
        if violation > max(0.25 * prev_violation, tol):
            rho = min(rho * 10, 1e12)
        prev_violation = violation
    xs = x.detach()
    with torch.no_grad():
        fun = f(xs)
    return ConstrainedResult(xs, lam, mu, fun, res, bool(float(res.max()) <= tol), n_outer)


def _newton_polish(fun: Callable[[Tensor], Tensor], x: Tensor, tol: float,
                   max_steps: int = 8) -> None:
    """A few Newton steps on ``fun`` from ``x`` (in place), each kept only if it reduces
    the gradient's max-norm; stops at ``tol`` or on a non-positive-definite Hessian."""
    grad_fn = torch.func.grad(fun)
    with torch.no_grad():
        z = x.detach().clone()
        g = grad_fn(z)
        for _ in range(max_steps):
            gmax = g.abs().max()
            if bool(gmax <= tol):
                break
            H = torch.func.hessian(fun)(z)
            L, info = torch.linalg.cholesky_ex((H + H.mT) / 2)
            if int(info) != 0:
                break
            z_new = z - torch.cholesky_solve(g.unsqueeze(-1), L).squeeze(-1)
            g_new = grad_fn(z_new)
            if not bool(g_new.abs().max() < gmax):
                break
            z, g = z_new, g_new
        x.copy_(z)
