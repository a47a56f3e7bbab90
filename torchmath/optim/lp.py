"""Batched, differentiable linear programming by an interior-point method."""

from __future__ import annotations

from torch import Tensor

from torchmath._validation import check_int
from torchmath.optim._convex_layer import ConvexResult, SolverStatus, prepare, solve

__all__ = ["ConvexResult", "SolverStatus", "solve_lp"]


def solve_lp(c: Tensor, G: Tensor, h: Tensor, A: Tensor | None = None, b: Tensor | None = None,
             *, max_iter: int = 100, tol: float | None = None) -> ConvexResult:
    r"""Solve a batch of linear programs; infeasible and unbounded ones are reported.

    .. math::
        \min_x\; c^\top x \quad\text{s.t.}\quad G x \le h,\quad A x = b

    A primal-dual Mehrotra predictor-corrector on the homogeneous self-dual embedding
    (shared with :func:`solve_qp`, which this is with a zero quadratic term). Each batch
    element either converges (``status == SolverStatus.OPTIMAL``) or yields a Farkas
    certificate of infeasibility (``INFEASIBLE``, ``x`` NaN, objective ``+inf``) or
    unboundedness (``UNBOUNDED``, ``x`` NaN, objective ``-inf``); an element that runs
    out of iterations says so (``ITERATION_LIMIT``). Bounds such as :math:`x \ge 0` are
    rows of ``G`` (``-I``) and ``h`` (``0``). The solution is differentiable in ``c``,
    ``G``, ``h``, ``A``, ``b`` by implicit differentiation of the KKT conditions (exact
    where the optimal vertex is non-degenerate).

    Args:
        c: cost vector.
        G, h: inequality constraints :math:`G x \le h` (may have zero rows).
        A, b: optional equality constraints :math:`A x = b` (both or neither).
        max_iter: interior-point iterations before ``ITERATION_LIMIT``.
        tol: relative tolerance on primal and dual residuals and on the duality gap
            (default ``1e-9`` in float64, ``1e-5`` in float32).

    Shape:
        ``c``: ``(..., n)``; ``G``: ``(..., m, n)``; ``h``: ``(..., m)``;
        ``A``: ``(..., k, n)``; ``b``: ``(..., k)``. Batch dimensions broadcast.
        The result's ``x`` is ``(*batch, n)``; ``status``, ``objective``, ``gap`` are
        ``(*batch,)``.

    Returns:
        :class:`ConvexResult` ``(x, status, objective, eq_dual, ineq_dual, slack, gap,
        iterations)``.

    Raises:
        ValueError: an argument has the wrong shape (the message names it), or only one
            of ``A``/``b`` is given.
        TypeError: an argument is not a floating tensor (mixed float32/float64 arguments
            are promoted, as torch does).
        ValueError: (while validation is on) a NaN or infinite entry in any argument.

    Example:
        >>> import torch
        >>> c = torch.tensor([-1.0, -2.0], dtype=torch.float64)
        >>> G = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
        >>> h = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
        >>> res = solve_lp(c, G, h)
        >>> res.x.round(decimals=6), SolverStatus(int(res.status))
        (tensor([0., 1.], dtype=torch.float64), <SolverStatus.OPTIMAL: 0>)

    Source: Xu, Hung & Ye, "A simplified homogeneous and self-dual linear programming
    algorithm", Ann. Oper. Res. 1996; Mehrotra, SIAM J. Optim. 1992.
    """
    fn = "solve_lp"
    check_int(fn, "max_iter", max_iter, minimum=1)
    flat = prepare(fn, None, c, "c", G, h, A, b)
    return solve(*flat, max_iter=max_iter, tol=tol)
