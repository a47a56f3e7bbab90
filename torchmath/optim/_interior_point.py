"""The batched interior-point method shared by :func:`solve_lp` and :func:`solve_qp`.

Both solve the convex quadratic program

.. math::
    \\min_x \\tfrac12 x^\\top P x + q^\\top x \\quad \\text{s.t.}\\quad
    G x + s = h,\\; s \\ge 0,\\qquad A x = b

(``P = 0`` for a linear program) with a primal-dual Mehrotra predictor-corrector on the
homogeneous self-dual embedding with a quadratic objective (Goulart & Chen, "Clarabel",
2024; Xu, Hung & Ye 1996 for LPs). The embedding adds a scalar pair
:math:`(\\tau, \\kappa) \\ge 0` so that one run either finds a solution
(:math:`\\tau > 0`) or a certificate that the problem is infeasible or unbounded
(:math:`\\tau \\to 0,\\ \\kappa > 0`), for each batch element on its own.

Gradients come from implicit differentiation of the KKT conditions at the solution
(Amos & Kolter, "OptNet", 2017), in :class:`_KKTSolution`, so they flow to every input
and can themselves be differentiated again.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import torch
from torch import Tensor

from torchmath._validation import (
    check_finite,
    check_floating,
    check_shape,
    check_tensor,
    fail,
    promote,
)

__all__ = ["ConvexResult", "SolverStatus"]


class SolverStatus(IntEnum):
    """Per-element outcome of :func:`solve_lp` / :func:`solve_qp` (``result.status``)."""

    OPTIMAL = 0  #: solved to the requested tolerance
    INFEASIBLE = 1  #: no point satisfies the constraints (a Farkas certificate was found)
    UNBOUNDED = 2  #: the objective decreases without bound on the feasible set
    ITERATION_LIMIT = 3  #: ``max_iter`` reached before any of the above
    NUMERICAL_ERROR = 4  #: the Newton system broke down (NaN); the last iterate is kept


class ConvexResult(NamedTuple):
    """What :func:`solve_lp` and :func:`solve_qp` return (a ``NamedTuple``).

    Attributes:
        x: ``(..., n)`` the solution; NaN where the problem is infeasible or unbounded.
            Differentiable (implicit differentiation of the KKT conditions).
        status: ``(...,)`` int64 codes of :class:`SolverStatus`.
        objective: ``(...,)`` the optimal value; ``+inf`` if infeasible, ``-inf`` if
            unbounded (the conventions of ``scipy.optimize.linprog``'s status codes).
        eq_dual: ``(..., k)`` multipliers :math:`\\nu` of ``A x = b`` (differentiable).
        ineq_dual: ``(..., m)`` multipliers :math:`\\lambda \\ge 0` of ``G x <= h``
            (differentiable).
        slack: ``(..., m)`` :math:`s = h - G x \\ge 0`.
        gap: ``(...,)`` the duality gap :math:`s^\\top \\lambda` (primal minus dual
            objective) at the returned point.
        iterations: ``(...,)`` int64 interior-point iterations used.
    """

    x: Tensor
    status: Tensor
    objective: Tensor
    eq_dual: Tensor
    ineq_dual: Tensor
    slack: Tensor
    gap: Tensor
    iterations: Tensor


# The solver works on flattened (B, ...) tensors; torch.bmm skips matmul's broadcasting
# bookkeeping, which dominates for the small matrices of a QP layer.
def _mv(M: Tensor, v: Tensor) -> Tensor:
    return torch.bmm(M, v.unsqueeze(-1)).squeeze(-1)


def _mtv(M: Tensor, v: Tensor) -> Tensor:
    return torch.bmm(v.unsqueeze(-2), M).squeeze(-2)


def _dot(u: Tensor, v: Tensor) -> Tensor:
    return (u * v).sum(-1)


def _inf_norm(v: Tensor) -> Tensor:
    return v.abs().amax(-1) if v.shape[-1] else v.new_zeros(v.shape[:-1])


def _defaults(dtype: torch.dtype) -> tuple[float, float, float]:
    """(tolerance, infeasibility tolerance, regularization) for a dtype."""
    if dtype == torch.float64:
        return 1e-9, 1e-8, 1e-11
    return 1e-5, 1e-5, 1e-7


class _KKT:
    """Factorizations of the Newton system, reused for several right-hand sides.

    .. math::
        K = \\begin{pmatrix} P & A^\\top & G^\\top \\\\ A & 0 & 0
        \\\\ G & 0 & -W \\end{pmatrix}, \\qquad W = \\operatorname{diag}(s / z)

    Two strategies, chosen once per call:

    * ``P`` well-conditioned positive definite (most QPs): Cholesky of ``P`` once, then per
      iteration only the Cholesky of the small dual Schur complement
      :math:`C P^{-1} C^\\top + \\operatorname{diag}(0, W)` with
      :math:`C = (A; G)` -- the size of the constraints, not of the variables (the block
      elimination qpth also uses). Adding the diagonal :math:`W` cannot hurt a Cholesky,
      however wide its range.
    * otherwise (LPs, singular ``P``): LU of the augmented system itself. The normal
      equations :math:`P + G^\\top W^{-1} G` would square the conditioning, which near
      the solution spans twenty orders of magnitude (the Cholesky breaks down at gaps
      around 1e-8), while in the augmented form active constraints just behave like
      equality rows.

    A small static regularization :math:`\\delta` (quasi-definite, as in OSQP and
    Clarabel) keeps rank-deficient blocks factorizable; iterative refinement against the
    exact :math:`K` removes its error.

    Why LU factor + LU solve for the augmented system, measured on the 2-core CPU in
    float64, single-threaded: each iteration factorizes once and solves twice (the
    predictor with the tau column as two right-hand sides, then the corrector). At the LP
    benchmark's size (64 systems of 140) ``lu_factor`` takes 10 ms and ``lu_solve`` 1.5
    ms, the same as a product with a precomputed inverse (2.2 ms; both read the 10 MB
    factor), while ``inv_ex`` takes 43 ms and ``solve`` refactorizes per call; for 2048
    systems of 8, ``lu_solve`` took 0.29 ms against 0.36 ms for the product, so a
    reported 18x gap did not reproduce. With two threads on a loaded machine MKL's
    threaded ``inv_ex``/``solve`` stalled for up to a second. Explicit inverses are
    kept for the dual path only, where the matrices are small and well-conditioned.
    """

    def __init__(self, P: Tensor | None, G: Tensor, A: Tensor, reg: float, refine: int):
        B, m, n = G.shape
        k = A.shape[-2]
        self.P, self.G, self.A, self.reg = P, G, A, reg
        self.n, self.m, self.k = n, m, k
        self.dual = False
        if P is not None:
            L, info = torch.linalg.cholesky_ex(P)
            diag = L.diagonal(dim1=-2, dim2=-1)
            limit = 1e4 if P.dtype == torch.float64 else 1e2  # on sqrt(cond(P))
            ok = (info == 0).all() & (diag.amax(-1) <= limit * diag.amin(-1)).all()
            self.dual = bool(ok)
        if self.dual:
            # Small dense blocks: explicit inverses from the Cholesky factors turn every
            # later solve into batched matrix products (P is well-conditioned here, and the
            # Schur complement only gains a positive diagonal).
            self.Pinv = torch.cholesky_inverse(L)
            C = torch.cat([A, G], -2)
            self.C = C
            self.PinvCt = torch.bmm(self.Pinv, C.mT)
            self.S0 = torch.bmm(C, self.PinvCt)
        else:
            # One regularized K for the whole call, built once: each iteration only writes
            # its -W diagonal in place and factorizes into the same LU buffers. For the
            # LP benchmark's K (64 x 140 x 140, 10 MB) a fresh copy, a diag_embed and a sum
            # per iteration (and a product with K for each refinement) were a third of
            # the time; the refinement residual uses the blocks instead (_residual).
            zeros = G.new_zeros
            top = torch.cat([P if P is not None else zeros(B, n, n), A.mT, G.mT], -1)
            mid = torch.cat([A, zeros(B, k, k + m)], -1)
            self.K = torch.cat([top, mid, torch.cat([G, zeros(B, m, k + m)], -1)], -2)
            self.signs = torch.cat([G.new_full((n,), reg), G.new_full((k,), -reg),
                                    G.new_zeros(m)])
            self.K.diagonal(dim1=-2, dim2=-1).add_(self.signs)
            N = n + k + m
            # Column-major (LAPACK's layout): lu_solve would copy a row-major LU each call.
            self.LU = torch.empty_like(self.K).mT
            self.pivots = torch.empty(B, N, dtype=torch.int32, device=G.device)
            self.info = torch.empty(B, dtype=torch.int32, device=G.device)
        # Refinement only pays where a regularization was added to a block.
        self.refine = refine if (not self.dual or k) else 0

    def factor(self, w: Tensor) -> _KKT:
        """Factorize for the diagonal ``w`` (``(B, m)``, positive)."""
        self.w = w
        if self.dual:
            diag = torch.cat([w.new_full((w.shape[0], self.k), self.reg), w], -1)
            LS, _ = torch.linalg.cholesky_ex(self.S0 + torch.diag_embed(diag))
            self.Sinv = torch.cholesky_inverse(LS)
        else:
            self.K.diagonal(dim1=-2, dim2=-1)[:, self.n + self.k:] = -w
            # K is symmetric: its transpose is the same matrix in column-major order.
            torch.linalg.lu_factor_ex(self.K.mT, out=(self.LU, self.pivots, self.info))
        return self

    def _solve_once(self, r: Tensor) -> Tensor:
        if not self.dual:
            return torch.linalg.lu_solve(self.LU, self.pivots, r)
        n = self.n
        u = torch.bmm(self.Pinv, r[:, :n])
        lam = torch.bmm(self.Sinv, torch.bmm(self.C, u) - r[:, n:])
        return torch.cat([u - torch.bmm(self.PinvCt, lam), lam], -2)

    def _residual(self, r: Tensor, d: Tensor) -> Tensor:
        n, k = self.n, self.k
        dx, dy, dz = d[:, :n], d[:, n:n + k], d[:, n + k:]
        ex = r[:, :n] - torch.bmm(self.A.mT, dy) - torch.bmm(self.G.mT, dz)
        if self.P is not None:
            ex = ex - torch.bmm(self.P, dx)
        ey = r[:, n:n + k] - torch.bmm(self.A, dx)
        ez = r[:, n + k:] - torch.bmm(self.G, dx) + self.w.unsqueeze(-1) * dz
        return torch.cat([ex, ey, ez], -2)

    def solve(self, rx: Tensor, ry: Tensor, rz: Tensor):
        """Solve :math:`K (dx, dy, dz) = (rx, ry, rz)`; each ``r`` is ``(B, rows, cols)``."""
        r = torch.cat([rx, ry, rz], -2)
        d = self._solve_once(r)
        for _ in range(self.refine):
            d = d + self._solve_once(self._residual(r, d))
        n, k = self.n, self.k
        return d[:, :n], d[:, n:n + k], d[:, n + k:]


def _max_step(v: Tensor, dv: Tensor) -> Tensor:
    """Largest alpha in (0, 1] with ``v + alpha dv >= 0`` (v > 0), per batch row."""
    ratio = torch.where(dv < 0, -v / dv, torch.full_like(v, torch.inf))
    return ratio.amin(-1).clamp(max=1.0)


def _direction(it_state, d_x, d_y, d_z, d_t, d_s, d_k, first=None):
    """Newton direction of the embedding for the right-hand side ``d_*``: one solve with
    the factorized :class:`_KKT`, combined with the precomputed solve for the
    :math:`\\tau` column (``d2``), then back-substitution for ``ds`` and ``dkappa``."""
    kkt, s, z, tau, kappa, ctau, b, h, denom, (dx2, dy2, dz2) = it_state
    if first is None:
        dx1, dy1, dz1 = (t.squeeze(-1) for t in kkt.solve(
            d_x.unsqueeze(-1), d_y.unsqueeze(-1), (d_z - d_s / z).unsqueeze(-1)))
    else:  # already solved together with the tau column
        dx1, dy1, dz1 = first
    dtau = (d_t - d_k / tau - _dot(ctau, dx1) - _dot(b, dy1) - _dot(h, dz1)) / denom
    dt1 = dtau.unsqueeze(-1)
    dx, dy, dz = dx1 + dt1 * dx2, dy1 + dt1 * dy2, dz1 + dt1 * dz2
    ds = (d_s - s * dz) / z
    dkappa = (d_k - kappa * dtau) / tau
    return dx, dy, dz, ds, dtau, dkappa


def _step_length(s, z, tau, kappa, ds, dz, dtau, dkappa):
    """Largest step in (0, 1] keeping ``s, z, tau, kappa`` non-negative."""
    v = torch.cat([s, z, tau.unsqueeze(-1), kappa.unsqueeze(-1)], -1)
    dv = torch.cat([ds, dz, dtau.unsqueeze(-1), dkappa.unsqueeze(-1)], -1)
    return _max_step(v, dv)


@torch.no_grad()
def interior_point(P: Tensor | None, q: Tensor, G: Tensor, h: Tensor, A: Tensor, b: Tensor,
                   *, max_iter: int, tol: float | None) -> tuple[Tensor, ...]:
    """The batched homogeneous self-dual interior-point method on flattened inputs.

    Shapes: ``P (B, n, n)`` or None, ``q (B, n)``, ``G (B, m, n)``, ``h (B, m)``,
    ``A (B, k, n)``, ``b (B, k)``. Returns ``x, y, z, s, status, objective, gap,
    iterations`` (see :class:`ConvexResult`).
    """
    B, n = q.shape
    m = G.shape[-2]
    dtype = q.dtype
    default_tol, tol_inf, reg = _defaults(dtype)
    tol = default_tol if tol is None else tol
    # One refinement step (two changed nothing measurable: the same statuses, x within
    # 1e-13 on the LP benchmark and random LPs, while each costs a solve per direction).
    refine = 1

    # Start (Vandenberghe's CVXOPT recipe): solve the KKT system with W = I, then shift
    # s = h - Gx and z = Gx - h into the interior of the non-negative orthant.
    ones = q.new_ones(B, m)
    kkt = _KKT(P, G, A, reg, refine)
    x, y, z = (t.squeeze(-1) for t in kkt.factor(ones).solve(
        -q.unsqueeze(-1), b.unsqueeze(-1), h.unsqueeze(-1)))
    s = -z
    if m:
        for v in (s, z):
            shift = -v.amin(-1, keepdim=True)
            v.add_(torch.where(shift >= 0, 1 + shift, torch.zeros_like(shift)))
    tau, kappa = q.new_ones(B), q.new_ones(B)

    status = torch.full((B,), -1, dtype=torch.int64, device=q.device)
    iterations = torch.zeros(B, dtype=torch.int64, device=q.device)
    q_norm, b_norm, h_norm = _inf_norm(q), _inf_norm(b), _inf_norm(h)

    for it in range(max_iter + 1):
        Px = _mv(P, x) if P is not None else torch.zeros_like(x)
        xPx = _dot(x, Px)
        Aty, Gtz, Ax, Gx = _mtv(A, y), _mtv(G, z), _mv(A, x), _mv(G, x)
        t1 = tau.unsqueeze(-1)
        rx = Px + Aty + Gtz + q * t1
        ry = Ax - b * t1
        rz = Gx + s - h * t1
        hz_by = _dot(h, z) + _dot(b, y)
        rt = kappa + _dot(q, x) + hz_by + xPx / tau
        sz = _dot(s, z)
        mu = (sz + tau * kappa) / (m + 1)

        # Classify every running element: optimal, infeasible, unbounded (scale-free tests).
        xh, pobj_quad = x / t1, 0.5 * xPx / tau ** 2
        pres = torch.maximum(_inf_norm(ry), _inf_norm(rz)) / tau
        dres = _inf_norm(rx) / tau
        pobj = pobj_quad + _dot(q, xh)
        dobj = -pobj_quad - hz_by / tau
        gap = torch.maximum((pobj - dobj).abs(), sz / tau ** 2)
        optimal = (
            (pres <= tol * (1 + torch.maximum(torch.maximum(b_norm, h_norm), _inf_norm(xh))))
            & (dres <= tol * (1 + torch.maximum(q_norm, torch.maximum(_inf_norm(y / t1),
                                                                      _inf_norm(z / t1)))))
            & (gap <= tol * (1 + torch.minimum(pobj.abs(), dobj.abs())))
        )
        cert_p = -hz_by
        infeasible = (cert_p > 0) & (_inf_norm(Aty + Gtz) <= tol_inf * cert_p) \
            & (tau < kappa)
        cert_d = -_dot(q, x)
        unbounded = (cert_d > 0) & (tau < kappa) & (
            torch.maximum(torch.maximum(_inf_norm(Px), _inf_norm(Ax)), _inf_norm(Gx + s))
            <= tol_inf * cert_d)
        broken = ~torch.isfinite(x).all(-1) | ~torch.isfinite(tau)
        running = status < 0
        for code, mask in ((SolverStatus.OPTIMAL, optimal),
                           (SolverStatus.INFEASIBLE, infeasible),
                           (SolverStatus.UNBOUNDED, unbounded),
                           (SolverStatus.NUMERICAL_ERROR, broken)):
            status = torch.where(running & mask & (status < 0), int(code), status)
        running = status < 0
        if it == max_iter or not bool(running.any()):
            break
        iterations += running

        # Newton system of the embedding, factorized once; the tau column and the
        # predictor share one solve (two right-hand sides), the corrector needs one more.
        kkt.factor(s / z)
        ctau = q + 2 * Px / t1
        both = kkt.solve(torch.stack([-q, -rx], -1), torch.stack([b, -ry], -1),
                         torch.stack([h, -rz + s], -1))
        dx2, dy2, dz2 = (t[..., 0] for t in both)
        denom = (-kappa / tau + _dot(ctau, dx2) + _dot(b, dy2) + _dot(h, dz2)
                 - xPx / tau ** 2)
        it_state = (kkt, s, z, tau, kappa, ctau, b, h, denom, (dx2, dy2, dz2))

        # Predictor (affine scaling), then Mehrotra's centering and second-order corrector.
        _, _, dza, dsa, dta, dka = _direction(it_state, -rx, -ry, -rz, -rt, -s * z,
                                              -tau * kappa, first=[t[..., 1] for t in both])
        alpha_a = _step_length(s, z, tau, kappa, dsa, dza, dta, dka)
        a1 = alpha_a.unsqueeze(-1)
        mu_a = (_dot(s + a1 * dsa, z + a1 * dza)
                + (tau + alpha_a * dta) * (kappa + alpha_a * dka)) / (m + 1)
        sigma = (mu_a / mu).clamp(0, 1) ** 3
        eta = (1 - sigma).unsqueeze(-1)
        smu = (sigma * mu).unsqueeze(-1)
        dx, dy, dz, ds, dtau, dkappa = _direction(
            it_state, -eta * rx, -eta * ry, -eta * rz, -eta.squeeze(-1) * rt,
            -s * z + smu - dsa * dza, -tau * kappa + smu.squeeze(-1) - dta * dka)
        alpha = (0.99 * _step_length(s, z, tau, kappa, ds, dz, dtau, dkappa)).clamp(max=1.0)
        alpha = torch.where(running, alpha, torch.zeros_like(alpha))
        alpha = torch.nan_to_num(alpha, nan=0.0)
        a1 = alpha.unsqueeze(-1)
        x = x + a1 * torch.nan_to_num(dx)
        y = y + a1 * torch.nan_to_num(dy)
        z = z + a1 * torch.nan_to_num(dz)
        s = s + a1 * torch.nan_to_num(ds)
        tau = tau + alpha * torch.nan_to_num(dtau)
        kappa = kappa + alpha * torch.nan_to_num(dkappa)

    status = torch.where(status < 0, int(SolverStatus.ITERATION_LIMIT), status)
    t1 = tau.unsqueeze(-1)
    x, y, z, s = x / t1, y / t1, z / t1, s / t1
    Px = _mv(P, x) if P is not None else torch.zeros_like(x)
    objective = 0.5 * _dot(x, Px) + _dot(q, x)
    gap = _dot(s, z)
    no_solution = ((status == SolverStatus.INFEASIBLE)
                   | (status == SolverStatus.UNBOUNDED)).unsqueeze(-1)
    nan = torch.full_like(objective, torch.nan)
    x, y, z, s = (torch.where(no_solution, nan.unsqueeze(-1), t) for t in (x, y, z, s))
    gap = torch.where(no_solution.squeeze(-1), nan, gap)
    objective = torch.where(status == SolverStatus.INFEASIBLE, torch.inf, objective)
    objective = torch.where(status == SolverStatus.UNBOUNDED, -torch.inf, objective)
    return x, y, z, s, status, objective, gap, iterations


class _KKTSolution(torch.autograd.Function):
    """The interior-point solution with OptNet's implicit backward (Amos & Kolter, 2017).

    At a solution the KKT map
    :math:`F = (P x + q + G^\\top\\lambda + A^\\top\\nu,\\ \\lambda \\circ (G x - h),\\ A x - b)`
    vanishes; with :math:`M = \\partial F / \\partial (x, \\lambda, \\nu)` and
    :math:`d = -M^{-\\top} \\bar v`, every input's gradient is :math:`d^\\top
    \\partial F / \\partial \\theta`. The backward is written in differentiable torch
    operations, so double backward works.
    """

    @staticmethod
    def forward(P, q, G, h, A, b, max_iter, tol):
        x, y, z, s, status, objective, gap, iterations = interior_point(
            P, q, G, h, A, b, max_iter=max_iter, tol=tol)
        return x, y, z, s, status, objective, gap, iterations

    @staticmethod
    def setup_context(ctx, inputs, output):
        P, q, G, h, A, b, _, _ = inputs
        x, y, z, s, status, objective, gap, iterations = output
        ctx.has_P = P is not None
        ctx.save_for_backward(P, G, h, A, x, y, z)
        ctx.mark_non_differentiable(s, status, objective, gap, iterations)

    @staticmethod
    def backward(ctx, gx, gy, gz, *_):
        P, G, h, A, x, y, z = ctx.saved_tensors
        B, n = x.shape
        m, k = G.shape[-2], A.shape[-2]
        gx = torch.zeros_like(x) if gx is None else gx
        gy = torch.zeros_like(y) if gy is None else gy
        gz = torch.zeros_like(z) if gz is None else gz
        bad = ~torch.isfinite(x).all(-1)
        # Elements without a solution get NaN gradients; solve a harmless system there.
        safe = lambda t: torch.where(bad.view(-1, *[1] * (t.dim() - 1)), torch.zeros_like(t), t)
        xs, zs = safe(x), safe(z)
        s = h - _mv(G, xs)
        N = n + m + k
        M = x.new_zeros(B, N, N)
        Pm = P if P is not None else x.new_zeros(B, n, n)
        top = torch.cat([Pm, G.mT, A.mT], -1)
        mid = torch.cat([zs.unsqueeze(-1) * G, torch.diag_embed(-s), x.new_zeros(B, m, k)], -1)
        bot = torch.cat([A, x.new_zeros(B, k, m + k)], -1)
        M = torch.cat([top, mid, bot], -2)
        eye = torch.eye(N, dtype=x.dtype, device=x.device)
        M = torch.where(bad.view(-1, 1, 1), eye, M)
        rhs = -torch.cat([gx, gz, gy], -1)
        d = torch.linalg.solve(M.mT, rhs)
        d = torch.where(bad.unsqueeze(-1), torch.full_like(d, torch.nan), d)
        dx, dl, dn = d[:, :n], d[:, n:n + m], d[:, n + m:]
        outer = lambda u, v: u.unsqueeze(-1) * v.unsqueeze(-2)
        grad_P = 0.5 * (outer(dx, x) + outer(x, dx)) if ctx.has_P else None
        zdl = zs * dl
        grad_G = outer(zdl, x) + outer(z, dx)
        grad_A = outer(dn, x) + outer(y, dx)
        return grad_P, dx, grad_G, -zdl, grad_A, -dn, None, None


def prepare(fn: str, P: Tensor | None, q: Tensor, q_name: str, G: Tensor | None,
            h: Tensor | None, A: Tensor | None, b: Tensor | None, *, P_name: str = "Q"):
    """Validate and broadcast the inputs; return them flattened to one batch dimension
    (missing constraints as empty tensors) and the batch shape."""
    check_floating(fn, q_name, q)
    check_shape(fn, q_name, q, (None,))
    n = q.shape[-1]
    device = q.device
    named = {q_name: q}
    if P is not None:
        check_floating(fn, P_name, P)
        check_shape(fn, P_name, P, (n, n))
        named[P_name] = P
    for pair, rows in ((("G", "h"), (G, h)), (("A", "b"), (A, b))):
        M, v = rows
        if (M is None) != (v is None):
            missing = pair[1] if v is None else pair[0]
            given = pair[0] if v is None else pair[1]
            raise fail(fn, missing, f"to be given together with '{given}'", "None")
        if M is None:
            continue
        check_floating(fn, pair[0], M)
        check_shape(fn, pair[0], M, (None, n))
        check_tensor(fn, pair[1], v)
        check_shape(fn, pair[1], v, (M.shape[-2],))
        named[pair[0]], named[pair[1]] = M, v
    for name, t in named.items():
        check_finite(fn, name, t)
        if t.device != device:
            raise fail(fn, name, f"to be on device {device} (the device of '{q_name}')",
                       t.device)
    # torch's type promotion over every argument (the library's dtype rule)
    promoted, _ = promote(*named.values())
    named = dict(zip(named, promoted, strict=True))
    q, P = named[q_name], named.get(P_name)
    G, h, A, b = (named.get(k) for k in ("G", "h", "A", "b"))
    trailing = {q_name: 1, P_name: 2, "G": 2, "h": 1, "A": 2, "b": 1}
    batch_shapes = {name: t.shape[:t.dim() - trailing[name]] for name, t in named.items()}
    try:
        batch = torch.broadcast_shapes(*batch_shapes.values())
    except RuntimeError:
        desc = ", ".join(f"'{k}' {tuple(v)}" for k, v in batch_shapes.items())
        raise ValueError(f"{fn}: expected the batch dimensions of {', '.join(map(repr, named))}"
                         f" to broadcast, got {desc}") from None
    Bsz = 1
    for d in batch:
        Bsz *= d

    def flat(t: Tensor | None, tail: tuple[int, ...]) -> Tensor:
        return t.expand(*batch, *tail).reshape(Bsz, *tail)

    qf = flat(q, (n,))
    Pf = flat(P, (n, n)) if P is not None else None
    if Pf is not None:
        Pf = 0.5 * (Pf + Pf.mT)
    empty = lambda rows: (q.new_zeros(Bsz, rows, n), q.new_zeros(Bsz, rows))
    Gf, hf = (flat(G, tuple(G.shape[-2:])), flat(h, (G.shape[-2],))) if G is not None \
        else empty(0)
    Af, bf = (flat(A, tuple(A.shape[-2:])), flat(b, (A.shape[-2],))) if A is not None \
        else empty(0)
    return Pf, qf, Gf, hf, Af, bf, batch


def solve(Pf, qf, Gf, hf, Af, bf, batch, *, max_iter: int, tol: float | None) -> ConvexResult:
    """Run the differentiable solver on flattened inputs; unflatten the result."""
    out = _KKTSolution.apply(Pf, qf, Gf, hf, Af, bf, max_iter, tol)
    x, y, z, s, status, objective, gap, iterations = out
    shape = tuple(batch)
    return ConvexResult(x.reshape(*shape, -1), status.reshape(shape),
                        objective.reshape(shape), y.reshape(*shape, -1), z.reshape(*shape, -1),
                        s.reshape(*shape, -1), gap.reshape(shape), iterations.reshape(shape))
