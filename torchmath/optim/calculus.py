r"""Calculus by automatic differentiation: gradients, Hessians, Hessian–vector products,
Jacobians, finite-difference checks, convexity and smoothness (Lipschitz) estimates.

Conventions shared by every function here: ``f`` maps one point :math:`x \in \mathbb{R}^d`
(a tensor of shape ``(d,)``) to a scalar (or, for :func:`jacobian`, to a vector), and
``x`` has shape ``(..., d)``; leading dimensions are a batch of points, handled by
``torch.func.vmap`` (so ``f`` must be written with batch-agnostic torch operations, as
``vmap`` requires). Results are differentiable: the derivatives come from ``torch.func``
transforms, which compose with ``torch.autograd``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from torchmath import _random
from torchmath._validation import check_floating, check_int, check_ndim, check_positive, fail
from torchmath.linalg import lanczos_eigsh

__all__ = [
    "ConvexityCheck",
    "GradientCheck",
    "check_gradient",
    "gradient",
    "hessian",
    "hvp",
    "is_convex",
    "jacobian",
    "lipschitz_constant",
]


def _scalar_valued(fn: str, f: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Wrap ``f`` so a non-scalar output is reported with the standard wording."""

    def wrapped(z: Tensor) -> Tensor:
        out = f(z)
        if not isinstance(out, Tensor) or out.dim() != 0:
            got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
            raise fail(fn, "f", "to return a scalar tensor for one point of shape (d,)", got)
        return out

    return wrapped


def _over_batch(fn: Callable, n_batch: int) -> Callable:
    """``vmap`` ``fn`` once per leading batch dimension."""
    for _ in range(n_batch):
        fn = torch.func.vmap(fn)
    return fn


def _check_point(fn: str, x: Tensor) -> None:
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)


def gradient(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    r"""Gradient :math:`\nabla f(x)` of a scalar function, at one point or a batch of points.

    .. math::
        \nabla f(x)_i = \frac{\partial f}{\partial x_i}(x)

    Reverse-mode autodiff (``torch.func.grad``); the result is itself differentiable.

    Args:
        f: function from a point of shape ``(d,)`` to a scalar tensor.
        x: the point(s).

    Shape:
        ``x``: ``(..., d)``; returns ``(..., d)``.

    Returns:
        The gradient at every point.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has no dimension, or ``f`` does not return a scalar.

    Example:
        >>> gradient(lambda x: (x ** 2).sum(), torch.tensor([1.0, -2.0]))
        tensor([ 2., -4.])

    Source: Griewank & Walther, *Evaluating Derivatives* (2008), ch. 3 (reverse mode).
    """
    fn = "gradient"
    _check_point(fn, x)
    return _over_batch(torch.func.grad(_scalar_valued(fn, f)), x.dim() - 1)(x)


def hessian(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    r"""Hessian matrix :math:`\nabla^2 f(x)` of a scalar function (forward over reverse).

    .. math::
        \big[\nabla^2 f(x)\big]_{ij} = \frac{\partial^2 f}{\partial x_i \partial x_j}(x)

    Forms the full :math:`d \times d` matrix (``torch.func.hessian``); for large ``d`` use
    :func:`hvp` instead.

    Args:
        f: function from a point of shape ``(d,)`` to a scalar tensor.
        x: the point(s).

    Shape:
        ``x``: ``(..., d)``; returns ``(..., d, d)``.

    Returns:
        The Hessian at every point.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has no dimension, or ``f`` does not return a scalar.

    Example:
        >>> hessian(lambda x: x[0] ** 2 * x[1], torch.tensor([1.0, 3.0]))
        tensor([[6., 2.],
                [2., 0.]])

    Source: Griewank & Walther, *Evaluating Derivatives* (2008), ch. 5 (second order).
    """
    fn = "hessian"
    _check_point(fn, x)
    return _over_batch(torch.func.hessian(_scalar_valued(fn, f)), x.dim() - 1)(x)


def hvp(f: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    r"""Hessian–vector product :math:`\nabla^2 f(x)\, v` without forming the Hessian.

    .. math::
        \nabla^2 f(x)\, v = \frac{d}{dt} \nabla f(x + t v) \Big|_{t=0}

    Computed as a forward-mode derivative of the reverse-mode gradient
    (``torch.func.jvp`` of ``torch.func.grad``): one gradient's cost, :math:`O(d)` memory.

    Args:
        f: function from a point of shape ``(d,)`` to a scalar tensor.
        x: the point(s).
        v: the direction(s), broadcastable with ``x``.

    Shape:
        ``x``, ``v``: ``(..., d)`` (broadcast); returns the broadcast shape.

    Returns:
        :math:`\nabla^2 f(x) v` at every point.

    Raises:
        TypeError: ``x`` or ``v`` is not a floating-point tensor.
        ValueError: ``x`` and ``v`` do not broadcast, or ``f`` does not return a scalar.

    Example:
        >>> hvp(lambda x: x[0] ** 2 * x[1], torch.tensor([1.0, 3.0]), torch.tensor([1.0, 0.0]))
        tensor([6., 2.])

    Source: Pearlmutter, *Fast exact multiplication by the Hessian*, Neural Comput. (1994).
    """
    fn = "hvp"
    _check_point(fn, x)
    check_floating(fn, "v", v)
    try:
        shape = torch.broadcast_shapes(x.shape, v.shape)
    except RuntimeError:
        raise fail(fn, "v", f"to broadcast with 'x' of shape {tuple(x.shape)}",
                   tuple(v.shape)) from None
    if len(shape) == 0 or shape[-1] != x.shape[-1]:
        raise fail(fn, "v", f"of shape (..., {x.shape[-1]})", tuple(v.shape))
    grad_f = torch.func.grad(_scalar_valued(fn, f))
    single = lambda a, b: torch.func.jvp(grad_f, (a,), (b,))[1]
    return _over_batch(single, len(shape) - 1)(x.expand(shape), v.expand(shape))


def jacobian(f: Callable[[Tensor], Tensor], x: Tensor, *, mode: str = "reverse") -> Tensor:
    r"""Jacobian matrix :math:`J_f(x)` of a vector-valued function.

    .. math::
        \big[J_f(x)\big]_{ij} = \frac{\partial f_i}{\partial x_j}(x)

    ``mode="reverse"`` (``torch.func.jacrev``, one backward pass per output) suits
    :math:`m \le d`; ``mode="forward"`` (``torch.func.jacfwd``) suits :math:`m > d`.

    Args:
        f: function from a point of shape ``(d,)`` to a tensor of shape ``(m,)`` (any shape
            ``S`` is allowed; the result is then ``S + (d,)``).
        x: the point(s).
        mode: ``"reverse"`` or ``"forward"``.

    Shape:
        ``x``: ``(..., d)``; returns ``(..., m, d)``.

    Returns:
        The Jacobian at every point.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``mode`` is not one of the two.

    Example:
        >>> jacobian(lambda x: torch.stack([x[0] * x[1], x[1] ** 2]), torch.tensor([2.0, 3.0]))
        tensor([[3., 2.],
                [0., 6.]])

    Source: Griewank & Walther, *Evaluating Derivatives* (2008), ch. 3.
    """
    fn = "jacobian"
    _check_point(fn, x)
    if mode not in ("reverse", "forward"):
        raise fail(fn, "mode", "to be one of ('reverse', 'forward')", repr(mode))
    jac = torch.func.jacrev(f) if mode == "reverse" else torch.func.jacfwd(f)
    return _over_batch(jac, x.dim() - 1)(x)


class GradientCheck(NamedTuple):
    """Result of :func:`check_gradient`."""

    #: whether every entry agreed within ``atol + rtol * |numeric|``
    ok: bool
    #: largest absolute difference between the two gradients
    max_abs_error: Tensor
    #: largest difference relative to ``max(|numeric|, 1)``
    max_rel_error: Tensor
    #: the autograd gradient
    autograd: Tensor
    #: the central finite-difference gradient
    numeric: Tensor


def check_gradient(f: Callable[[Tensor], Tensor], x: Tensor, *, eps: float | None = None,
                   rtol: float | None = None, atol: float | None = None) -> GradientCheck:
    r"""Compare the autograd gradient with central finite differences.

    .. math::
        \widehat{\nabla f}(x)_i = \frac{f(x + h e_i) - f(x - h e_i)}{2h},
        \qquad h = \epsilon \max(1, |x_i|)

    The central difference has error :math:`O(h^2)`; the default step
    :math:`\epsilon = u^{1/3}` (:math:`u` the unit roundoff of ``x``'s dtype) balances it
    against rounding. All :math:`2d` evaluations run as one ``vmap``.

    Args:
        f: function from a point of shape ``(d,)`` to a scalar tensor.
        x: the point(s).
        eps: relative step :math:`\epsilon`.
        rtol, atol: tolerances of the agreement test (default ``1e-5``/``1e-7`` in float64,
            ``1e-2``/``1e-3`` in float32).

    Shape:
        ``x``: ``(..., d)``; the gradients in the result are ``(..., d)``.

    Returns:
        A :class:`GradientCheck` ``(ok, max_abs_error, max_rel_error, autograd, numeric)``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``eps`` is not positive, or ``f`` does not return a scalar.

    Example:
        >>> x = torch.tensor([0.5, 1.0], dtype=torch.float64)
        >>> check_gradient(lambda x: x.sin().sum(), x).ok
        True

    Source: Nocedal & Wright, *Numerical Optimization* (2006), sec. 8.1.
    """
    fn = "check_gradient"
    _check_point(fn, x)
    x = x.detach()
    u = torch.finfo(x.dtype).eps
    if eps is None:
        eps = u ** (1 / 3)
    check_positive(fn, "eps", eps)
    if rtol is None:
        rtol = 1e-5 if x.dtype == torch.float64 else 1e-2
    if atol is None:
        atol = 1e-7 if x.dtype == torch.float64 else 1e-3
    d = x.shape[-1]
    h = eps * x.abs().clamp_min(1.0)  # (..., d)
    steps = torch.diag_embed(h)  # (..., d, d): row i is h_i e_i
    g = _scalar_valued(fn, f)
    f_many = _over_batch(g, x.dim())  # over the batch and the d perturbations
    plus = f_many(x.unsqueeze(-2).expand(*x.shape[:-1], d, d) + steps)
    minus = f_many(x.unsqueeze(-2).expand(*x.shape[:-1], d, d) - steps)
    numeric = (plus - minus) / (2 * h)
    auto = gradient(f, x)
    err = (auto - numeric).abs()
    ok = bool((err <= atol + rtol * numeric.abs()).all())
    rel = err / numeric.abs().clamp_min(1.0)
    return GradientCheck(ok, err.max(), rel.max(), auto, numeric)


class ConvexityCheck(NamedTuple):
    """Result of :func:`is_convex`."""

    #: no Hessian eigenvalue below ``-tol`` was found
    convex: bool
    #: the smallest Hessian eigenvalue over all points
    min_eigenvalue: Tensor
    #: the smallest eigenvalue at each point, shape ``(...)``
    min_eigenvalues: Tensor
    #: the point where the smallest eigenvalue was found, shape ``(d,)``
    point: Tensor


def is_convex(f: Callable[[Tensor], Tensor], sample_points: Tensor, *,
              tol: float | None = None) -> ConvexityCheck:
    r"""Check the second-order condition for convexity at sample points.

    .. math::
        f \text{ convex on a convex set } \iff \nabla^2 f(x) \succeq 0
        \iff \lambda_{\min}\big(\nabla^2 f(x)\big) \ge 0 \quad \forall x

    The Hessian is formed and its eigenvalues taken (``torch.linalg.eigvalsh``) at every
    sample point. A negative eigenvalue *proves* non-convexity; nonnegative eigenvalues at
    finitely many points are evidence, not proof, of convexity.

    Args:
        f: twice-differentiable function from a point of shape ``(d,)`` to a scalar.
        sample_points: the points to test.
        tol: eigenvalues above ``-tol`` count as nonnegative (default
            :math:`\sqrt{u}\max(1, \max|\lambda|)`).

    Shape:
        ``sample_points``: ``(..., d)``.

    Returns:
        A :class:`ConvexityCheck` ``(convex, min_eigenvalue, min_eigenvalues, point)``.

    Raises:
        TypeError: ``sample_points`` is not a floating-point tensor.

    Example:
        >>> pts = torch.randn(5, 2, dtype=torch.float64)
        >>> is_convex(lambda x: (x ** 2).sum(), pts).convex
        True
        >>> float(is_convex(lambda x: x[0] ** 2 - x[1] ** 2, pts).min_eigenvalue)
        -2.0

    Source: Boyd & Vandenberghe, *Convex Optimization* (2004), sec. 3.1.4.
    """
    fn = "is_convex"
    check_floating(fn, "sample_points", sample_points)
    check_ndim(fn, "sample_points", sample_points, min_ndim=1)
    pts = sample_points.detach()
    H = hessian(f, pts)
    eig = torch.linalg.eigvalsh((H + H.mT) / 2)  # (..., d), ascending
    per_point = eig[..., 0]
    flat = per_point.reshape(-1)
    idx = int(flat.argmin())
    smallest = flat[idx]
    if tol is None:
        tol = torch.finfo(pts.dtype).eps ** 0.5 * max(1.0, float(eig.abs().max()))
    point = pts.reshape(-1, pts.shape[-1])[idx]
    return ConvexityCheck(bool(smallest >= -tol), smallest, per_point, point)


def lipschitz_constant(f: Callable[[Tensor], Tensor], x: Tensor, *,
                       max_iter: int | None = None, tol: float | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
    r"""Local Lipschitz constant of :math:`\nabla f`: the spectral norm of the Hessian at
    ``x``, by Lanczos on Hessian–vector products (the Hessian is never formed).

    .. math::
        L(x) = \|\nabla^2 f(x)\|_2 = \max_i |\lambda_i(\nabla^2 f(x))|

    For a convex :math:`f` this is the largest Hessian eigenvalue. For a quadratic it is the
    global smoothness constant :math:`L`, and ``1 / L`` is the classical safe step size of
    gradient descent (:func:`torchmath.optim.step_size_bound`); for other functions take the
    maximum over the points of interest. Each point costs a few dozen :func:`hvp` calls
    (:func:`torchmath.linalg.lanczos_eigsh` with ``which="LM"``).

    Args:
        f: twice-differentiable function from a point of shape ``(d,)`` to a scalar.
        x: the point(s).
        max_iter: Krylov dimension cap (default ``d``).
        tol: relative residual tolerance of the eigenvalue (default ``sqrt(eps)``).
        generator: random start vector (default a fixed seed, so results are
            reproducible).

    Shape:
        ``x``: ``(..., d)``; returns ``(...)``.

    Returns:
        :math:`L(x)` at every point.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``f`` does not return a scalar.

    Example:
        >>> A = torch.tensor([[3.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
        >>> lipschitz_constant(lambda x: 0.5 * x @ A @ x, torch.zeros(2, dtype=torch.float64))
        tensor(4., dtype=torch.float64)

    Source: Lanczos (1950); Nesterov, *Lectures on Convex Optimization* (2018), lemma 1.2.2.
    """
    fn = "lipschitz_constant"
    _check_point(fn, x)
    if max_iter is not None:
        check_int(fn, "max_iter", max_iter, minimum=1)
    grad_f = torch.func.grad(_scalar_valued(fn, f))
    d = x.shape[-1]
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    points = x.detach().reshape(-1, d)
    out = []
    for point in points:
        matvec = lambda v, z=point: torch.func.jvp(grad_f, (z,), (v,))[1]  # noqa: E731
        v0 = _random.randn((d,), generator=generator, dtype=x.dtype, device=x.device)
        w, _ = lanczos_eigsh(matvec, d, k=1, which="LM", max_iter=max_iter, tol=tol, v0=v0)
        out.append(w[0].detach().abs())
    return torch.stack(out).reshape(x.shape[:-1])
