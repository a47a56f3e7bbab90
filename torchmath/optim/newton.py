r"""Newton's method as a ``torch.optim.Optimizer``: a full Hessian for small problems,
conjugate gradients on Hessian–vector products (truncated Newton) for larger ones."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from torchmath._validation import check_choice, check_int, fail
from torchmath.optim._common import check_lr, check_nonneg, new_step

__all__ = ["Newton", "conjugate_gradient"]


def conjugate_gradient(matvec: Callable[[Tensor], Tensor], b: Tensor, *, max_iter: int,
                       tol: float) -> tuple[Tensor, int]:
    r"""Solve :math:`A x = b` for symmetric :math:`A` given only :math:`v \mapsto Av`,
    stopping early on negative curvature (Steihaug's safeguard).

    .. math::
        x_{k+1} = x_k + \alpha_k p_k, \quad \alpha_k = \frac{r_k^\top r_k}{p_k^\top A p_k},
        \quad p_{k+1} = r_{k+1} + \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k} p_k

    Stops when :math:`\|r_k\| \le \text{tol}\,\|b\|`, after ``max_iter`` iterations, or
    when :math:`p_k^\top A p_k \le 0` (then the iterate so far is returned, or :math:`b`
    itself at the first iteration: a descent direction for Newton's system).

    Args:
        matvec: :math:`v \mapsto A v` on vectors of shape ``(n,)``.
        b: right-hand side.
        max_iter: iteration limit.
        tol: relative residual tolerance.

    Shape:
        ``b``: ``(n,)``; returns ``(n,)``.

    Returns:
        ``(x, iterations)``.

    Example:
        >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
        >>> x, k = conjugate_gradient(lambda v: A @ v, torch.tensor([1.0, 2.0],
        ...                           dtype=torch.float64), max_iter=10, tol=1e-12)
        >>> x
        tensor([0.0909, 0.6364], dtype=torch.float64)

    Source: Nocedal & Wright, *Numerical Optimization* (2006), alg. 5.2 and 7.2.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r @ r
    stop = (tol * torch.linalg.vector_norm(b)) ** 2
    k = 0
    for k in range(1, max_iter + 1):
        Ap = matvec(p)
        pAp = p @ Ap
        if pAp <= 0:
            return (b.clone() if k == 1 else x), k
        alpha = rr / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        if rr_new <= stop:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, k


class Newton(Optimizer):
    r"""Damped Newton's method: solve :math:`(\nabla^2 f + \delta I)\, d = -\nabla f`,
    then step :math:`\theta \leftarrow \theta + \gamma d`.

    .. math::
        \theta_{t} = \theta_{t-1} - \gamma\,\big(\nabla^2 f(\theta_{t-1}) + \delta I\big)^{-1}
        \nabla f(\theta_{t-1})

    ``hessian="full"`` forms the Hessian (one batched backward per row) and factorizes it
    by Cholesky; if it is not positive definite its eigenvalues are replaced by their
    absolute values (floored), a modified Newton step that is always a descent direction
    and moves away from saddle points.
    ``hessian="cg"`` never forms it: conjugate gradients on Hessian–vector products
    (truncated Newton), stopping on negative curvature. ``"auto"`` picks ``"full"`` for at
    most ``max_dense_dim`` parameters. Each param group is solved on its own (a
    block-diagonal Hessian across groups; one group is exact Newton). Quadratic
    convergence near a minimizer with a positive definite Hessian.

    ``step`` needs a closure that returns the loss **without** calling ``backward``
    (the optimizer differentiates it twice itself), e.g. ``lambda: loss_fn(model(X), y)``.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: step length :math:`\gamma \ge 0` (default 1: the full Newton step).
        damping: :math:`\delta \ge 0` (Levenberg–Marquardt style regularization).
        hessian: ``"auto"``, ``"full"`` or ``"cg"``.
        max_dense_dim: largest parameter count for which ``"auto"`` forms the Hessian.
        cg_max_iter: CG iteration limit (default: the number of parameters, at most 200).
        cg_tol: CG relative residual tolerance.
        weight_decay: adds :math:`\frac{\lambda}{2}\|\theta\|^2` to the objective.
        maximize: maximize the objective (Newton on :math:`-f`).

    Raises:
        ValueError: negative ``lr``, ``damping`` or ``weight_decay``; unknown ``hessian``.
        RuntimeError: ``step()`` without a closure, or a closure that already called
            ``backward``.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        >>> A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
        >>> b = torch.tensor([1.0, 1.0], dtype=torch.float64)
        >>> opt = Newton([w])
        >>> _ = opt.step(lambda: 0.5 * w @ A @ w - b @ w)  # one step solves a quadratic
        >>> w.data
        tensor([0.2000, 0.4000], dtype=torch.float64)

    Source: Nocedal & Wright, *Numerical Optimization* (2006), sec. 3.4 and 7.1.
    """

    def __init__(self, params, lr: float = 1.0, *, damping: float = 0.0,
                 hessian: str = "auto", max_dense_dim: int = 1000,
                 cg_max_iter: int | None = None, cg_tol: float = 1e-10,
                 weight_decay: float = 0.0, maximize: bool = False):
        check_lr(lr)
        check_nonneg("damping", damping)
        check_nonneg("weight_decay", weight_decay)
        check_choice("Newton", "hessian", hessian, ("auto", "full", "cg"))
        check_int("Newton", "max_dense_dim", max_dense_dim, minimum=0)
        if cg_max_iter is not None:
            check_int("Newton", "cg_max_iter", cg_max_iter, minimum=1)
        defaults = dict(lr=lr, damping=damping, hessian=hessian, max_dense_dim=max_dense_dim,
                        cg_max_iter=cg_max_iter, cg_tol=cg_tol, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("hessian", "auto")
            group.setdefault("max_dense_dim", 1000)
            group.setdefault("cg_max_iter", None)
            group.setdefault("cg_tol", 1e-10)

    @staticmethod
    def _dense_hessian(flat_g: Tensor, params: list[Tensor]) -> Tensor:
        n = flat_g.numel()
        eye = torch.eye(n, dtype=flat_g.dtype, device=flat_g.device)
        try:
            rows = torch.autograd.grad(flat_g, params, grad_outputs=eye, retain_graph=True,
                                       is_grads_batched=True, allow_unused=True)
            rows = [torch.zeros(n, *p.shape, dtype=p.dtype, device=p.device) if r is None
                    else r for r, p in zip(rows, params, strict=True)]
            H = torch.cat([r.reshape(n, -1) for r in rows], dim=1)
        except RuntimeError:  # an op without a batching rule: one backward per row
            H = torch.stack([_flat_hvp(flat_g, params, e) for e in eye])
        return (H + H.mT) / 2

    @staticmethod
    def _solve_dense(H: Tensor, g: Tensor, shift: float) -> Tensor:
        n = g.numel()
        eye = torch.eye(n, dtype=g.dtype, device=g.device)
        A = H + shift * eye
        L, info = torch.linalg.cholesky_ex(A)
        if int(info) != 0:  # modified Newton: reflect negative curvature, floor small
            lam, V = torch.linalg.eigh(A)
            floor = max(shift, torch.finfo(g.dtype).eps ** 0.5 * float(lam.abs().max()))
            return -V @ ((V.mT @ g) / lam.abs().clamp_min(floor))
        return -torch.cholesky_solve(g.unsqueeze(-1), L).squeeze(-1)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None):
        """Perform one Newton step.

        Args:
            closure: returns the loss (a scalar with a graph), without calling backward.

        Returns:
            The loss before the step (detached).
        """
        if closure is None:
            raise RuntimeError("Newton needs a closure that returns the loss (without "
                               "calling backward): opt.step(lambda: loss_fn(model(X), y))")
        with torch.enable_grad():
            loss = closure()
        if not isinstance(loss, Tensor) or loss.dim() != 0 or loss.grad_fn is None:
            raise fail("Newton", "closure", "to return a scalar loss with a graph",
                       "a loss without grad_fn" if isinstance(loss, Tensor) else type(loss))
        for group in self.param_groups:
            params = [p for p in group["params"] if p.requires_grad]
            if not params:
                continue
            sign = -1.0 if group["maximize"] else 1.0
            with torch.enable_grad():
                try:
                    grads = torch.autograd.grad(loss, params, create_graph=True,
                                                retain_graph=True, allow_unused=True)
                except RuntimeError as err:
                    raise RuntimeError("Newton: the closure must return the loss without "
                                       f"calling backward ({err})") from err
                grads = [torch.zeros_like(p) if g is None else g
                         for g, p in zip(grads, params, strict=True)]
                flat_g = torch.cat([g.reshape(-1) for g in grads])
            wd, n = group["weight_decay"], flat_g.numel()
            flat_p = torch.cat([p.detach().reshape(-1) for p in params])
            g = sign * flat_g.detach() + wd * flat_p
            shift = group["damping"] + wd
            mode = group["hessian"]
            if mode == "auto":
                mode = "full" if n <= group["max_dense_dim"] else "cg"
            if not flat_g.requires_grad:  # the loss is linear in these parameters
                direction = -g if shift == 0 else -g / shift
            elif mode == "full":
                with torch.enable_grad():
                    H = sign * self._dense_hessian(flat_g, params)
                direction = self._solve_dense(H, g, shift)
            else:
                matvec = lambda v, fg=flat_g, ps=params, sg=sign, sh=shift: (  # noqa: E731
                    sg * _flat_hvp(fg, ps, v) + sh * v)
                max_iter = group["cg_max_iter"] or min(n, 200)
                direction, _ = conjugate_gradient(matvec, -g, max_iter=max_iter,
                                                  tol=group["cg_tol"])
            offset = 0
            for p in params:
                k = p.numel()
                p.add_(direction[offset:offset + k].view_as(p), alpha=group["lr"])
                offset += k
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = new_step()
                state["step"] += 1
        return loss.detach()


def _flat_hvp(flat_g: Tensor, params: list[Tensor], v: Tensor) -> Tensor:
    """:math:`\\nabla^2 f\\, v` by differentiating :math:`\\nabla f^\\top v` (Pearlmutter)."""
    out = torch.autograd.grad(flat_g, params, grad_outputs=v, retain_graph=True,
                              allow_unused=True)
    return torch.cat([torch.zeros(p.numel(), dtype=v.dtype, device=v.device) if o is None
                      else o.reshape(-1) for o, p in zip(out, params, strict=True)])
