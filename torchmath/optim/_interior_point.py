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

Two ways to run the same iteration: on the augmented Newton system (:class:`_KKT`; LPs,
singular ``P``) and, for a well-conditioned positive definite ``P``, with ``x``
eliminated (:func:`_reduced_interior_point`; the Newton system is the constraints' small
Schur complement; it starts ``kappa`` at the mean of ``s z``, :func:`_centred_kappa`).
Gradients come from implicit differentiation of the KKT conditions at
the solution (Amos & Kolter, "OptNet", 2017) in :mod:`torchmath.optim._convex_layer`,
which reuses the reduced path's factors.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

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


def _inf_norm(v: Tensor, keepdim: bool = False) -> Tensor:
    if v.shape[-1]:
        return v.abs().amax(-1, keepdim=keepdim)
    return v.new_zeros(v.shape[:-1] + ((1,) if keepdim else ()))


def _defaults(dtype: torch.dtype) -> tuple[float, float, float]:
    """(tolerance, infeasibility tolerance, regularization) for a dtype."""
    if dtype == torch.float64:
        return 1e-9, 1e-8, 1e-11
    return 1e-5, 1e-5, 1e-7


class _KKT:
    """LU factorization of the augmented Newton system, reused for several right-hand sides.

    .. math::
        K = \\begin{pmatrix} P & A^\\top & G^\\top \\\\ A & 0 & 0
        \\\\ G & 0 & -W \\end{pmatrix}, \\qquad W = \\operatorname{diag}(s / z)

    Used for LPs and for a singular or ill-conditioned ``P`` (a well-conditioned positive
    definite ``P`` takes :func:`_reduced_interior_point` instead). The normal equations
    :math:`P + G^\\top W^{-1} G` would square the conditioning, which near the solution
    spans twenty orders of magnitude (the Cholesky breaks down at gaps around 1e-8), while
    in the augmented form active constraints just behave like equality rows.

    A small static regularization :math:`\\delta` (quasi-definite, as in OSQP and
    Clarabel) keeps rank-deficient blocks factorizable; iterative refinement against the
    exact :math:`K` removes its error.

    Why LU factor + LU solve, measured on the 2-core CPU in float64, single-threaded: each
    iteration factorizes once and solves twice (the predictor with the tau column as two
    right-hand sides, then the corrector). At the LP benchmark's size (64 systems of 140)
    ``lu_factor`` takes 10 ms and ``lu_solve`` 1.5 ms, the same as a product with a
    precomputed inverse (2.2 ms; both read the 10 MB factor), while ``inv_ex`` takes 43 ms
    and ``solve`` refactorizes per call; for 2048 systems of 8, ``lu_solve`` took 0.29 ms
    against 0.36 ms for the product, so a reported 18x gap did not reproduce. With two
    threads on a loaded machine MKL's threaded ``inv_ex``/``solve`` stalled for up to a
    second.
    """

    def __init__(self, P: Tensor | None, G: Tensor, A: Tensor, reg: float, refine: int):
        B, m, n = G.shape
        k = A.shape[-2]
        self.P, self.G, self.A, self.reg = P, G, A, reg
        self.n, self.m, self.k = n, m, k
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
        self.refine = refine

    def factor(self, w: Tensor) -> _KKT:
        """Factorize for the diagonal ``w`` (``(B, m)``, positive)."""
        self.w = w
        self.K.diagonal(dim1=-2, dim2=-1)[:, self.n + self.k:] = -w
        # K is symmetric: its transpose is the same matrix in column-major order.
        torch.linalg.lu_factor_ex(self.K.mT, out=(self.LU, self.pivots, self.info))
        return self

    def _solve_once(self, r: Tensor) -> Tensor:
        return torch.linalg.lu_solve(self.LU, self.pivots, r)

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


_STEP = 0.99  # fraction of the way to the cone's boundary
_COMPACT = 0.75  # the reduced path drops finished rows once this fraction or fewer runs
_FALLBACK = 5  # the reduced path's status for "solve again on the augmented path"


def _max_step(v: Tensor, dv: Tensor, limit: float = 1.0) -> Tensor:
    """Largest alpha in (0, limit] with ``v + alpha dv >= 0`` (v > 0), per batch row."""
    ratio = torch.where(dv < 0, -v / dv, torch.full_like(v, torch.inf))
    return ratio.amin(-1).clamp(max=limit)


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


def _step_length(s, z, tau, kappa, ds, dz, dtau, dkappa, limit=1.0):
    """Largest step in (0, 1] keeping ``s, z, tau, kappa`` non-negative."""
    v = torch.cat([s, z, tau.unsqueeze(-1), kappa.unsqueeze(-1)], -1)
    dv = torch.cat([ds, dz, dtau.unsqueeze(-1), dkappa.unsqueeze(-1)], -1)
    return _max_step(v, dv, limit)


def _into_interior(s: Tensor, z: Tensor) -> None:
    """The start's shift of ``s`` and ``z`` into the interior of the non-negative orthant
    (Vandenberghe's CVXOPT recipe), in place."""
    if s.shape[-1]:
        for v in (s, z):
            shift = -v.amin(-1, keepdim=True)
            v.add_(torch.where(shift >= 0, 1 + shift, torch.zeros_like(shift)))


def _centred_kappa(z: Tensor, s: Tensor) -> Tensor:
    """The start's ``kappa`` (with ``tau = 1``): the mean of ``s z``, so that the pair
    ``(tau, kappa)`` starts as centred as the cone's other pairs. With ``kappa = 1``
    (Clarabel's and CVXOPT's start) the first step cut ``tau`` tenfold for the median
    problem of the QP benchmark's batch; the centred start took 0.6 fewer iterations on
    average and 1-2 fewer for the slowest problem of six random batches of 256 QPs."""
    return (s * z).mean(-1)


class _Scales(NamedTuple):
    """Scale-free stopping tests' constants (the problem data's inf-norms)."""

    tol: float
    tol_inf: float
    q: Tensor  # |q|
    bh: Tensor  # max(|b|, |h|)


def _optimal(tol: float, *, tau, kappa, rt, pres, dres, x_norm, lam_norm, xPx, qx, hbl, sz,
             bh, qn) -> Tensor:
    """Scale-free optimality at an unscaled iterate, each test multiplied through by
    ``tau`` or ``tau^2``: the primal residual ``pres / tau <= tol (1 + max(|b|, |h|,
    |x / tau|))``, the dual residual ``dres / tau <= tol (1 + max(|q|, |(y, z) / tau|))``
    and the gap ``max(|pobj - dobj|, s'z / tau^2) <= tol (1 + min(|pobj|, |dobj|))``,
    where ``pobj - dobj = (rt - kappa) / tau``. Every argument has the same shape."""
    pobj2 = 0.5 * xPx + qx * tau  # tau^2 pobj
    dobj2 = -0.5 * xPx - hbl * tau  # tau^2 dobj
    return ((pres <= tol * (tau + torch.maximum(bh * tau, x_norm)))
            & (dres <= tol * (tau + torch.maximum(qn * tau, lam_norm)))
            & (torch.maximum((rt - kappa).abs() * tau, sz)
               <= tol * (tau * tau + torch.minimum(pobj2.abs(), dobj2.abs()))))


def _status(status: Tensor, optimal: Tensor, tol_inf: float | None = None, *, tau=None,
            kappa=None, x=None, hbl=None, qx=None, Ctl_norm=None, unb_norm=None) -> Tensor:
    """The running elements' new status codes: optimal, else (with ``tol_inf``) a
    certificate of infeasibility (``-hbl > 0`` with ``|A'y + G'z| = Ctl_norm`` below
    ``tol_inf`` times it) or unboundedness (``-q'x > 0`` with ``unb_norm = max(|Px|,
    |Ax|, |Gx + s|)`` below ``tol_inf`` times it), both only once ``tau < kappa``, or a
    non-finite iterate. Shapes ``(B,)``."""
    code = torch.where(optimal, int(SolverStatus.OPTIMAL), -1)
    if tol_inf is not None:
        cert_p, cert_d = -hbl, -qx
        certified = (tau < kappa) & ~optimal
        for c, mask in ((SolverStatus.NUMERICAL_ERROR,
                         ~optimal & (~torch.isfinite(x).all(-1) | ~torch.isfinite(tau))),
                        (SolverStatus.UNBOUNDED,
                         certified & (cert_d > 0) & (unb_norm <= tol_inf * cert_d)),
                        (SolverStatus.INFEASIBLE,
                         certified & (cert_p > 0) & (Ctl_norm <= tol_inf * cert_p))):
            code = torch.where(mask, int(c), code)  # in reverse priority
    return torch.where(status < 0, code, status)


@torch.no_grad()
def interior_point(P: Tensor | None, q: Tensor, G: Tensor, h: Tensor, A: Tensor, b: Tensor,
                   *, max_iter: int, tol: float | None, chol: Tensor | None = None) -> tuple:
    """The batched homogeneous self-dual interior-point method on flattened inputs.

    Shapes: ``P (B, n, n)`` or None, ``q (B, n)``, ``G (B, m, n)``, ``h (B, m)``,
    ``A (B, k, n)``, ``b (B, k)``. Returns ``x, y, z, s, status, objective, gap,
    iterations`` (see :class:`ConvexResult`) and the factors the backward pass can reuse
    (``None`` for the augmented path). ``chol``: the caller's Cholesky factor of ``P``
    (it checked convexity with it), saving a factorization.
    """
    dtype = q.dtype
    default_tol, tol_inf, reg = _defaults(dtype)
    tol = default_tol if tol is None else tol
    sc = _Scales(tol, tol_inf, _inf_norm(q), torch.maximum(_inf_norm(b), _inf_norm(h)))
    if P is not None:
        L, info = torch.linalg.cholesky_ex(P) if chol is None else (chol, P.new_zeros(()))
        diag = L.diagonal(dim1=-2, dim2=-1)
        limit = 1e4 if dtype == torch.float64 else 1e2  # on sqrt(cond(P))
        if bool((info == 0).all() & (diag.amax(-1) <= limit * diag.amin(-1)).all()):
            out = _reduced_interior_point(L, q, G, h, A, b, max_iter=max_iter, sc=sc,
                                          reg=reg)
            redo = (out[4] == _FALLBACK).nonzero().squeeze(-1)
            if len(redo):
                # Where the Schur complement broke down (linearly dependent constraints
                # active together, e.g. at an infeasibility certificate), solve again on
                # the augmented path; the iterations of both runs count.
                sub_sc = _Scales(tol, tol_inf, sc.q[redo], sc.bh[redo])
                sub = _augmented_interior_point(
                    P[redo], q[redo], G[redo], h[redo], A[redo], b[redo],
                    max_iter=max_iter, sc=sub_sc, reg=reg)
                out = [t.index_put((redo,), s + (t[redo] if i == 7 else 0))
                       for i, (t, s) in enumerate(zip(out[:8], sub[:8], strict=True))] \
                    + [out[8]]
            return tuple(out)
    return _augmented_interior_point(P, q, G, h, A, b, max_iter=max_iter, sc=sc, reg=reg)


def _finish(x, y, z, s, tau, status, objective, gap_unscaled, iterations):
    """Unscale the final iterate; NaN (and +-inf objectives) where there is no solution."""
    status = torch.where(status < 0, int(SolverStatus.ITERATION_LIMIT), status)
    t1 = tau.unsqueeze(-1)
    x, y, z, s = x / t1, y / t1, z / t1, s / t1
    gap = gap_unscaled / tau ** 2
    no_solution = (status == SolverStatus.INFEASIBLE) | (status == SolverStatus.UNBOUNDED)
    nan = torch.full_like(objective, torch.nan)
    x, y, z, s = (torch.where(no_solution.unsqueeze(-1), nan.unsqueeze(-1), t)
                  for t in (x, y, z, s))
    gap = torch.where(no_solution, nan, gap)
    objective = torch.where(status == SolverStatus.INFEASIBLE, torch.inf, objective)
    objective = torch.where(status == SolverStatus.UNBOUNDED, -torch.inf, objective)
    return x, y, z, s, status, objective, gap, iterations


def _augmented_interior_point(P, q, G, h, A, b, *, max_iter, sc, reg):
    """The iteration on the augmented Newton system (:class:`_KKT`): LPs, singular or
    ill-conditioned ``P``."""
    B, n = q.shape
    m = G.shape[-2]
    # One refinement step (two changed nothing measurable: the same statuses, x within
    # 1e-13 on the LP benchmark and random LPs, while each costs a solve per direction).
    kkt = _KKT(P, G, A, reg, refine=1)
    # Start (Vandenberghe's CVXOPT recipe): solve the KKT system with W = I, then shift
    # s = h - Gx and z = Gx - h into the interior of the non-negative orthant.
    x, y, z = (t.squeeze(-1) for t in kkt.factor(q.new_ones(B, m)).solve(
        -q.unsqueeze(-1), b.unsqueeze(-1), h.unsqueeze(-1)))
    s = -z
    _into_interior(s, z)
    tau, kappa = q.new_ones(B), q.new_ones(B)
    status = torch.full((B,), -1, dtype=torch.int64, device=q.device)
    iterations = torch.zeros(B, dtype=torch.int64, device=q.device)

    for it in range(max_iter + 1):
        Px = _mv(P, x) if P is not None else torch.zeros_like(x)
        xPx = _dot(x, Px)
        Aty, Gtz, Ax, Gx = _mtv(A, y), _mtv(G, z), _mv(A, x), _mv(G, x)
        t1 = tau.unsqueeze(-1)
        rx = Px + Aty + Gtz + q * t1
        ry = Ax - b * t1
        rz = Gx + s - h * t1
        hz_by = _dot(h, z) + _dot(b, y)
        qx = _dot(q, x)
        rt = kappa + qx + hz_by + xPx / tau
        sz = _dot(s, z)
        mu = (sz + tau * kappa) / (m + 1)
        optimal = _optimal(
            sc.tol, tau=tau, kappa=kappa, rt=rt,
            pres=torch.maximum(_inf_norm(ry), _inf_norm(rz)), dres=_inf_norm(rx),
            x_norm=_inf_norm(x), lam_norm=torch.maximum(_inf_norm(y), _inf_norm(z)),
            xPx=xPx, qx=qx, hbl=hz_by, sz=sz, bh=sc.bh, qn=sc.q)
        status = _status(
            status, optimal, sc.tol_inf, tau=tau, kappa=kappa, x=x, hbl=hz_by, qx=qx,
            Ctl_norm=_inf_norm(Aty + Gtz),
            unb_norm=torch.maximum(torch.maximum(_inf_norm(Px), _inf_norm(Ax)),
                                   _inf_norm(Gx + s)))
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
        alpha = (_STEP * _step_length(s, z, tau, kappa, ds, dz, dtau, dkappa, torch.inf)).clamp(
            max=1.0)
        alpha = torch.where(running, alpha, torch.zeros_like(alpha))
        alpha = torch.nan_to_num(alpha, nan=0.0)
        a1 = alpha.unsqueeze(-1)
        x = x + a1 * torch.nan_to_num(dx)
        y = y + a1 * torch.nan_to_num(dy)
        z = z + a1 * torch.nan_to_num(dz)
        s = s + a1 * torch.nan_to_num(ds)
        tau = tau + alpha * torch.nan_to_num(dtau)
        kappa = kappa + alpha * torch.nan_to_num(dkappa)

    xf = x / tau.unsqueeze(-1)
    Px = _mv(P, xf) if P is not None else torch.zeros_like(xf)
    objective = 0.5 * _dot(xf, Px) + _dot(q, xf)
    return (*_finish(x, y, z, s, tau, status, objective, _dot(s, z), iterations), None)


def _reduced_interior_point(L, q, G, h, A, b, *, max_iter, sc, reg):
    """The same iteration with ``x`` eliminated, for a well-conditioned positive definite
    ``P = L L^\\top`` (most QP layers): everything runs on the constraints' side.

    The embedding's first block row :math:`r_x = P x + C^\\top \\lambda + q\\tau`
    (:math:`C = (A; G)`, :math:`\\lambda = (y; z)`) is linear and every Newton step
    scales it by :math:`1 - \\alpha\\eta`, so :math:`r_x = \\rho\\, r_x^0` with a scalar
    :math:`\\rho` per problem (:math:`r_x^0 = C^\\top \\Delta\\lambda` comes from the
    start's shift :math:`\\Delta\\lambda` of ``z``), and ``x`` is the function
    :math:`x = -P^{-1}(q\\tau + C^\\top\\tilde\\lambda)`,
    :math:`\\tilde\\lambda = \\lambda - \\rho\\Delta\\lambda`, of the other variables.
    Substituting it, the Newton system is the dual Schur complement
    :math:`(S_0 + D)\\,d\\lambda = r`, :math:`S_0 = C P^{-1} C^\\top`,
    :math:`D = \\operatorname{diag}(\\delta\\ \\text{on}\\ y,\\ s/z)` -- the size of the
    constraints, not of the variables (the block elimination qpth also uses) -- and the
    only product in the loop is one with :math:`(S_0; P^{-1}C^\\top; C^\\top;
    c_0^\\top; h_b^\\top)`, which also gives :math:`C^\\top\\lambda`, :math:`P x` and
    the dot products :math:`q^\\top x` and :math:`h_b^\\top\\lambda`. From the same
    start the iterates would equal the augmented path's in exact arithmetic.

    At these sizes every torch call costs a few microseconds whatever it computes
    (about 2 us on a ``(B, 1)`` column, 3-8 us on a ``(B, m)`` block, 50-150 us for a
    batched factorization, solve or product of 256 problems, measured on the 2-core
    CPU), so the loop is written for few calls:

    - the iterate is one tensor ``[rho | y | z | tau | s | kappa]`` updated in place, so
      its parts are views made once (the cone part ``[z | tau | s | kappa]`` is one slice
      whose halves are the complementary pairs: ``s z`` and ``tau kappa``, ``ds`` and
      ``dkappa``, are one operation each); the directions are written into two buffers
      of the same layout with ``out=``; per-problem scalars are ``(B, 1)`` columns;
    - one host read per iteration decides whether the optimality test can pass anywhere
      (it needs ``s'z <= tol (tau^2 + |tau^2 pobj|)``) and whether an infeasibility or
      unboundedness certificate can (it needs ``tau < kappa`` and one of its two bounds,
      with ``C' lambda`` and ``P x`` from the loop's product) or a value is not finite;
      the tests themselves, about 40 calls, only run then (late in the solve, and never
      for the certificates on a feasible batch);
    - a failed factorization or a non-finite step sets the problem's step to NaN, which
      the next host read sees: the problem then goes to the augmented path;
    - the problem data is packed in three tensors, so that dropping finished problems
      (once a quarter of the running ones is done; their rows are written back) takes
      three index operations; the factorizations and solves cost per problem.

    Per iteration: one Cholesky of the small Schur complement, two solves, one product,
    about 125 torch calls in all (about 250 before this layout, with the same iterates;
    counted on the QP benchmark's batch).

    The start differs from the augmented path's in ``kappa`` (:func:`_centred_kappa`),
    so the two paths reach the same solution along different iterates.
    """
    B, n = q.shape
    m, k = G.shape[-2], A.shape[-2]
    p = k + m
    C = torch.cat([A, G], -2)
    hb = torch.cat([b, h], -1)
    X = torch.cholesky_solve(torch.cat([C.mT, q.unsqueeze(-1)], -1), L)
    # Contiguous copies: torch.bmm took 2-3x longer on these strided views (256 problems).
    PinvCt, Pq, Ct = X[..., :p].contiguous(), X[..., p], C.mT.contiguous()
    S0 = torch.bmm(C, PinvCt)
    c0 = _mv(C, Pq)  # C P^{-1} q
    cc = c0 + hb
    pad = (lambda t: F.pad(t, (k, 0))) if k else (lambda t: t)  # (0_k; t)

    def solve(LS: Tensor, r: Tensor) -> Tensor:
        """(S0 + D)^{-1} r for ``r`` of shape (B, p, cols); one refinement step removes
        the regularization of the equality block."""
        d = torch.cholesky_solve(r, LS)
        if k:
            d = d + torch.cholesky_solve(reg * F.pad(d[:, :k], (0, 0, 0, m)), LS)
        return d

    # S0 + D: D's equality block (the regularization) is fixed, its inequality block is
    # written in place every iteration.
    S = S0 + torch.diag_embed(F.pad(q.new_ones(B, m), (k, 0), value=reg))
    # Start (as on the augmented path): the KKT solution with W = I, then s = -z and z
    # shifted into the interior; the shift of z is Delta lambda.
    lam = -solve(torch.linalg.cholesky_ex(S).L, cc.unsqueeze(-1)).squeeze(-1)
    ones = q.new_ones(B, 1)
    v = torch.cat([ones, lam, ones, -lam[:, k:], ones], -1)  # [rho|y|z|tau|s|kappa]
    _into_interior(v[:, 2 + p:2 + p + m], v[:, 1 + k:1 + p])
    if m:  # kappa = tau kappa starts at the mean of s z (see _centred_kappa)
        v[:, -1:] = _centred_kappa(v[:, 1 + k:1 + p], v[:, 2 + p:2 + p + m]).unsqueeze(-1)
    shift = v[:, 1:1 + p] - lam  # Delta lambda
    rx0 = _mv(Ct, shift)
    status = torch.full((B,), -1, dtype=torch.int64, device=q.device)
    iterations = torch.zeros(B, dtype=torch.int64, device=q.device)
    running = status < 0
    col = lambda t: t.unsqueeze(-1)
    # The running problems' data (rows leave together when problems finish): the
    # product's matrix, the per-problem vectors and columns, and S0 + D.
    # The loop's product (S0; P^{-1} C'; C'; c0'; hb') lt, as the row vector lt' times
    # the transposed matrix: torch.bmm took 50 us for (1 x 10)(10 x 52) and 160-250 us for
    # (52 x 10)(10 x 1), 256 problems, one thread.
    mats = torch.cat([S0, PinvCt, Ct, c0.unsqueeze(-2), hb.unsqueeze(-2)], -2)
    parts = dict(Pq=Pq, q=q, rx0=rx0, c0=c0, cc=cc, neg_cc=-cc, hb=hb, shift=shift,
                 e0=_mv(S0, shift),
                 dS0=S0.diagonal(dim1=-2, dim2=-1)[:, k:], qPq=col(_dot(q, Pq)),
                 hbs=col(_dot(hb, shift)), rx0_norm=col(_inf_norm(rx0)), bh=col(sc.bh),
                 qn=col(sc.q))
    sizes = [t.shape[-1] for t in parts.values()]
    consts = torch.cat(list(parts.values()), -1)
    rows = torch.arange(B, device=q.device)  # the loop's rows in the batch
    # The loop rebinds Pq, q, shift, ... to views of its (compacted) rows.
    Pq_all, shift_all, q_all = Pq, shift, q
    v_all, status_all, iterations_all = (torch.empty_like(t) for t in (v, status, iterations))
    tol = sc.tol
    cone_at = 1 + k  # v[:, cone_at:] = [z | tau | s | kappa]
    pair = m + 1  # cone[:, :pair] = [z | tau], cone[:, pair:] = [s | kappa]
    layout = [1, p, 1, m, 1]  # rho, lambda, tau, s, kappa
    zero = q.new_zeros(())
    n_running, rebuild = B, True

    for it in range(max_iter + 1):
        if rebuild:  # views of the (compacted) loop tensors
            rho, lam, tau, s, kappa = v.split(layout, -1)
            cone = v[:, cone_at:]
            zt, sk = cone.split(pair, -1)  # [z | tau], [s | kappa]
            (Pq, q, rx0, c0, cc, neg_cc, hb, shift, e0, dS0, qPq, hbs, rx0_norm, bh, qn) = \
                consts.split(sizes, -1)
            S_ineq = S.diagonal(dim1=-2, dim2=-1)[:, k:]
            da, dv = torch.empty_like(v), torch.empty_like(v)
            (da_rho, da_lam, da_tau, _, _), (dv_rho, dv_lam, dv_tau, _, _) = (
                t.split(layout, -1) for t in (da, dv))
            (da_zt, da_sk), (dv_zt, dv_sk) = (t[:, cone_at:].split(pair, -1) for t in (da, dv))
            da_cone, dv_cone = da[:, cone_at:], dv[:, cone_at:]
            run_col = running.unsqueeze(-1)
            rebuild = False

        lt = torch.addcmul(lam, rho, shift, value=-1)  # x = -P^{-1}(q tau + C' lt)
        S0lt, Pilt, Ctlt, c0lt, hblt = torch.bmm(lt.unsqueeze(-2), mats.mT).squeeze(
            -2).split_with_sizes([p, n, n, 1, 1], -1)
        neg_x = torch.addcmul(Pilt, Pq, tau)
        u = torch.addcmul(S0lt, c0, tau)  # -C x
        rc = pad(s) - torch.addcmul(u, hb, tau)  # (Ax - b tau; Gx + s - h tau)
        lSl = (lt * S0lt).sum(-1, keepdim=True)  # lt' S0 lt
        neg_qx = torch.addcmul(c0lt, qPq, tau)  # -q'x = c0'lt + q'P^{-1}q tau
        xPx = torch.addcmul(torch.addcmul(lSl, tau, c0lt), tau, neg_qx)  # -(q tau + C'lt)'x
        hbl = torch.addcmul(hblt, rho, hbs)  # hb' lambda
        rt = torch.addcdiv((kappa - neg_qx).add_(hbl), xPx, tau)
        comp = zt * sk  # [s z | tau kappa]
        sz_tk = comp.sum(-1, keepdim=True)
        tt = tau * tau
        sz = sz_tk - comp[:, -1:]
        pobj2 = torch.addcmul(0.5 * xPx, neg_qx, tau, value=-1)  # tau^2 pobj
        # One host read: >= 0 where the optimality test (its gap part) can pass, > 0 where
        # a certificate can (tau < kappa and either part of _status's certificate tests:
        # |C' lambda| <= tol_inf (-hb' lambda), |P x| <= tol_inf (-q'x)), NaN where a
        # value is not finite (a breakdown); the factors 2 are slack for rounding.
        Ctl = torch.addcmul(Ctlt, rho, rx0)  # C' lambda
        Px = torch.addcmul(Ctlt, q, tau)  # -P x
        infeasible = (hbl * (-2 * sc.tol_inf)).sub_(_inf_norm(Ctl, keepdim=True))
        unbounded = (neg_qx * (2 * sc.tol_inf)).sub_(_inf_norm(Px, keepdim=True))
        can_stop, maybe_certificate = torch.cat([
            torch.add(tt, pobj2.abs()).sub_(sz, alpha=0.5 / tol),
            torch.minimum(kappa - tau, torch.maximum(infeasible, unbounded)).add_(
                rt, alpha=0.0)], -1).amax(0).tolist()
        if not (can_stop < 0 and maybe_certificate <= 0):
            optimal = torch.zeros_like(running) if can_stop < 0 else _optimal(
                tol, tau=tau, kappa=kappa, rt=rt, pres=_inf_norm(rc, keepdim=True),
                dres=rho * rx0_norm, x_norm=_inf_norm(neg_x, keepdim=True),
                lam_norm=_inf_norm(lam, keepdim=True), xPx=xPx, qx=-neg_qx, hbl=hbl, sz=sz,
                bh=bh, qn=qn).squeeze(-1)
            if not maybe_certificate <= 0:
                # A failed step left NaN in the iterate: solve again on the augmented path.
                broke = running & ~torch.isfinite(rt).squeeze(-1)
                status = torch.where(broke, _FALLBACK, status)
                v.masked_fill_(broke.unsqueeze(-1), 1.0)
                running = status < 0
                status = _status(
                    status, optimal, sc.tol_inf, tau=tau.squeeze(-1), kappa=kappa.squeeze(-1),
                    x=neg_x, hbl=hbl.squeeze(-1), qx=-neg_qx.squeeze(-1),
                    Ctl_norm=_inf_norm(Ctl),
                    unb_norm=torch.maximum(_inf_norm(Px), _inf_norm(rc + hb * tau)))
            else:
                status = _status(status, optimal)
            running = status < 0
            run_col = running.unsqueeze(-1)
            n_running = int(running.sum())
        if it == max_iter or n_running == 0:
            break
        iterations += running

        # (S0 + D) dlam = -d_c - eta rho e0 - cc dtau, solved for the tau column and the
        # predictor together; the tau row: g' dlam - (lt' S0 lt / tau^2 + kappa / tau)
        # dtau = d_t - d_k / tau + eta rho ctau' P^{-1} rx0.
        w = sk / zt  # [s / z | kappa / tau]
        torch.add(dS0, w[:, :m], out=S_ineq)
        LS, info = torch.linalg.cholesky_ex(S)
        rc_e = torch.addcmul(rc, rho, e0, value=-1)  # rc - rho e0
        dl2, dl1 = solve(LS, torch.stack([neg_cc, rc_e - pad(s)], -1)).unbind(-1)
        g = torch.addcdiv(cc, S0lt, tau, value=2)
        denom = (g * dl2).sum(-1, keepdim=True) - torch.addcmul(lSl, kappa, tau) / tt
        rho_cu = rho * (hbs - (g * shift).sum(-1, keepdim=True))  # rho ctau' P^{-1} rx0

        # Predictor (affine scaling): dtau from the tau row, dlam = dl1 + dtau dl2, and
        # from the complementarity rows z ds + s dz = -s z, kappa dtau + tau dkappa.
        torch.div((kappa - rt + rho_cu).sub_((g * dl1).sum(-1, keepdim=True)), denom,
                  out=da_tau)
        torch.addcmul(dl1, da_tau, dl2, out=da_lam)
        da_rho.copy_(rho)
        torch.addcmul(sk, w, da_zt, out=da_sk).neg_()  # -(s + (s / z) dz)
        neg_alpha_a = (da_cone / cone).amin(-1, keepdim=True).clamp(max=-1).reciprocal()
        cone_a = torch.addcmul(cone, neg_alpha_a, da_cone, value=-1)
        zt_a, sk_a = cone_a.split_with_sizes([pair, pair], -1)
        # Mehrotra's centering and second-order corrector
        sigma = ((zt_a * sk_a).sum(-1, keepdim=True) / sz_tk).clamp(0, 1) ** 3
        eta = 1 - sigma
        d_comp = torch.sub(sigma * sz_tk / pair, comp).sub_(da_zt * da_sk)
        d_comp_zt = d_comp / zt
        dl1 = solve(LS, (eta * rc_e + pad(d_comp_zt[:, :m])).unsqueeze(-1)).squeeze(-1)
        torch.div((eta * (rho_cu - rt)).sub_(d_comp_zt[:, -1:])
                  .sub_((g * dl1).sum(-1, keepdim=True)), denom, out=dv_tau)
        torch.addcmul(dl1, dv_tau, dl2, out=dv_lam)
        torch.mul(eta, rho, out=dv_rho).neg_()
        torch.addcmul(d_comp_zt, w, dv_zt, value=-1, out=dv_sk)
        neg_alpha = (dv_cone / cone).amin(-1, keepdim=True).clamp(max=-_STEP).reciprocal()
        # A failed factorization or a non-finite step: NaN, seen by the next host read.
        neg_alpha.masked_fill_(col(info != 0), torch.nan)
        v.addcmul_(torch.where(run_col, neg_alpha, zero), dv.nan_to_num_(), value=-_STEP)

        if n_running <= _COMPACT * len(rows):
            # Write the loop's rows back, then keep only the running ones.
            for full, part in ((v_all, v), (status_all, status), (iterations_all, iterations)):
                full.index_copy_(0, rows, part)
            keep = running.nonzero().squeeze(-1)
            rows, mats, consts, S = rows[keep], mats[keep], consts[keep], S[keep]
            v, status, iterations, running = v[keep], status[keep], iterations[keep], \
                running[keep]
            rebuild = True

    for full, part in ((v_all, v), (status_all, status), (iterations_all, iterations)):
        full.index_copy_(0, rows, part)
    v = v_all
    rho, lam, tau, s = v[:, :1], v[:, 1:1 + p], v[:, 1 + p], v[:, 2 + p:2 + p + m]
    lt = lam - rho * shift_all
    xf = -(Pq_all + _mv(PinvCt, lt) / tau.unsqueeze(-1))
    # 0.5 x'Px + q'x with P x = -(q + C' lt / tau)
    objective = _dot(xf, 0.5 * q_all - 0.5 * _mv(Ct, lt) / tau.unsqueeze(-1))
    out = _finish(xf * tau.unsqueeze(-1), lam[:, :k], lam[:, k:], s, tau, status_all,
                  objective, _dot(s, lam[:, k:]), iterations_all)
    return (*out, (L, PinvCt, S0))
