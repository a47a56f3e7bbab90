"""The differentiable layer over :mod:`torchmath.optim._interior_point`, shared by
:func:`solve_lp` and :func:`solve_qp`: input checks and flattening (:func:`prepare`), the
implicit (OptNet) backward, and the unflattened :class:`ConvexResult` (:func:`solve`)."""

from __future__ import annotations

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
from torchmath.optim._interior_point import (
    ConvexResult,
    SolverStatus,
    _mtv,
    _mv,
    interior_point,
)

__all__ = ["ConvexResult", "SolverStatus", "prepare", "solve"]


class _KKTSolution(torch.autograd.Function):
    """The interior-point solution with OptNet's implicit backward (Amos & Kolter, 2017).

    At a solution the KKT map
    :math:`F = (P x + q + G^\\top\\lambda + A^\\top\\nu,\\ \\lambda \\circ (G x - h),\\ A x - b)`
    vanishes; with :math:`M = \\partial F / \\partial (x, \\lambda, \\nu)` and
    :math:`d = -M^{-\\top} \\bar v`, every input's gradient is :math:`d^\\top
    \\partial F / \\partial \\theta`.

    Scaling the multiplier rows by :math:`\\lambda` makes :math:`M^\\top d = -\\bar v` the
    symmetric KKT system of the interior point with :math:`W = \\operatorname{diag}(s /
    \\lambda)` and unknowns :math:`(d_x, \\lambda \\circ d_\\lambda, d_\\nu)`; where the
    forward ran on the reduced path, the backward solves it with the forward's
    :math:`P^{-1}` and :math:`C P^{-1} C^\\top` and one Cholesky of the small Schur
    complement (as OptNet reuses its factorization). Under ``create_graph`` (double
    backward), or if that Cholesky fails, the dense :math:`M` is solved in differentiable
    torch operations instead.
    """

    @staticmethod
    def forward(P, q, G, h, A, b, max_iter, tol, chol):
        return interior_point(P, q, G, h, A, b, max_iter=max_iter, tol=tol, chol=chol)

    @staticmethod
    def setup_context(ctx, inputs, output):
        P, q, G, h, A, b, *_ = inputs
        x, y, z, s, status, objective, gap, iterations, factors = output
        ctx.has_P = P is not None
        ctx.factors = factors
        ctx.save_for_backward(P, G, h, A, x, y, z)
        ctx.mark_non_differentiable(s, status, objective, gap, iterations)

    @staticmethod
    def backward(ctx, gx, gy, gz, *_):
        P, G, h, A, x, y, z = ctx.saved_tensors
        gx = torch.zeros_like(x) if gx is None else gx
        gy = torch.zeros_like(y) if gy is None else gy
        gz = torch.zeros_like(z) if gz is None else gz
        bad = ~torch.isfinite(x).all(-1)
        # Elements without a solution get NaN gradients; solve a harmless system there.
        safe = lambda t: torch.where(bad.view(-1, *[1] * (t.dim() - 1)), torch.zeros_like(t), t)
        xs, zs = safe(x), safe(z)
        s = h - _mv(G, xs)
        d = None
        if ctx.factors is not None and not torch.is_grad_enabled():
            d = _reduced_adjoint(ctx.factors, bad, xs, zs, s, gx, gy, gz)
        if d is None:
            d = _dense_adjoint(P, G, A, bad, xs, zs, s, gx, gy, gz)
        dx, zdl, dn = d
        outer = lambda u, v: u.unsqueeze(-1) * v.unsqueeze(-2)
        grad_P = 0.5 * (outer(dx, x) + outer(x, dx)) if ctx.has_P else None
        grad_G = outer(zdl, x) + outer(z, dx)
        grad_A = outer(dn, x) + outer(y, dx)
        return grad_P, dx, grad_G, -zdl, grad_A, -dn, None, None, None


def _dense_adjoint(P, G, A, bad, x, z, s, gx, gy, gz):
    """``(d_x, z * d_lambda, d_nu)`` from the dense :math:`M^\\top d = -\\bar v`
    (differentiable: double backward goes through here)."""
    B, n = x.shape
    m, k = G.shape[-2], A.shape[-2]
    N = n + m + k
    Pm = P if P is not None else x.new_zeros(B, n, n)
    top = torch.cat([Pm, G.mT, A.mT], -1)
    mid = torch.cat([z.unsqueeze(-1) * G, torch.diag_embed(-s), x.new_zeros(B, m, k)], -1)
    bot = torch.cat([A, x.new_zeros(B, k, m + k)], -1)
    M = torch.cat([top, mid, bot], -2)
    eye = torch.eye(N, dtype=x.dtype, device=x.device)
    M = torch.where(bad.view(-1, 1, 1), eye, M)
    rhs = -torch.cat([gx, gz, gy], -1)
    d = torch.linalg.solve(M.mT, rhs)
    d = torch.where(bad.unsqueeze(-1), torch.full_like(d, torch.nan), d)
    return d[:, :n], z * d[:, n:n + m], d[:, n + m:]


def _reduced_adjoint(factors, bad, x, z, s, gx, gy, gz):
    """``(d_x, z * d_lambda, d_nu)`` from the symmetric form of :math:`M^\\top d = -\\bar
    v` with the forward's factors: :math:`(S_0 + \\operatorname{diag}(0, s / z))\\,
    \\mu = -C P^{-1} \\bar x + (\\bar y; \\bar z)`, :math:`d_x = -P^{-1}(\\bar x +
    C^\\top \\mu)`, :math:`\\mu = (d_\\nu; z \\circ d_\\lambda)`. ``None`` if the Cholesky
    of the Schur complement fails (a degenerate active set)."""
    L, PinvCt, S0 = factors
    k = gy.shape[-1]
    w = torch.where(bad.unsqueeze(-1), 1.0, s.clamp_min(0) / z.clamp_min(
        torch.finfo(z.dtype).tiny))
    S = S0.clone()
    S.diagonal(dim1=-2, dim2=-1)[:, k:] += w
    LS, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        return None
    mu = torch.cholesky_solve((torch.cat([gy, gz], -1) - _mtv(PinvCt, gx)).unsqueeze(-1),
                              LS).squeeze(-1)
    dx = -(torch.cholesky_solve(gx.unsqueeze(-1), L).squeeze(-1) + _mv(PinvCt, mu))
    d = torch.cat([dx, mu], -1)
    d = torch.where(bad.unsqueeze(-1), torch.full_like(d, torch.nan), d)
    n = x.shape[-1]
    return d[:, :n], d[:, n + k:], d[:, n:n + k]


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
        Pf = (Pf + Pf.mT).mul_(0.5)
    empty = lambda rows: (q.new_zeros(Bsz, rows, n), q.new_zeros(Bsz, rows))
    Gf, hf = (flat(G, tuple(G.shape[-2:])), flat(h, (G.shape[-2],))) if G is not None \
        else empty(0)
    Af, bf = (flat(A, tuple(A.shape[-2:])), flat(b, (A.shape[-2],))) if A is not None \
        else empty(0)
    return Pf, qf, Gf, hf, Af, bf, batch


def solve(Pf, qf, Gf, hf, Af, bf, batch, *, max_iter: int, tol: float | None,
          chol: Tensor | None = None) -> ConvexResult:
    """Run the differentiable solver on flattened inputs; unflatten the result."""
    shape = tuple(batch)
    if qf.shape[0] == 0:  # an empty batch: empty answers, as torch's batched ops give
        n, m, k = qf.shape[1], hf.shape[1], bf.shape[1]
        x = qf * 0  # keeps the graph: its (empty) gradient flows to q

        def empty(*tail, dtype=None):
            return qf.new_zeros(*shape, *tail, dtype=dtype)

        codes = empty(dtype=torch.int64)
        return ConvexResult(x.reshape(*shape, n), codes, empty(), empty(k), empty(m),
                            empty(m), empty(), codes.clone())
    out = _KKTSolution.apply(Pf, qf, Gf, hf, Af, bf, max_iter, tol,
                             None if chol is None else chol.detach())
    x, y, z, s, status, objective, gap, iterations, _ = out
    return ConvexResult(x.reshape(*shape, -1), status.reshape(shape),
                        objective.reshape(shape), y.reshape(*shape, -1), z.reshape(*shape, -1),
                        s.reshape(*shape, -1), gap.reshape(shape), iterations.reshape(shape))
