"""Eigenvalues: power iteration, Lanczos, and eigh/SVD whose gradients stay finite."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from torchmath import _random
from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_matrix_square,
    check_ndim,
    check_positive,
    fail,
)

__all__ = ["EighResult", "SVDResult", "lanczos_eigsh", "power_iteration", "safe_eigh",
           "safe_svd"]

Matvec = Callable[[Tensor], Tensor]


class EighResult(NamedTuple):
    """Eigenvalues ``(..., k)`` and eigenvectors as columns ``(..., n, k)``."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    """``A = U diag(S) Vh`` (reduced)."""

    U: Tensor
    S: Tensor
    Vh: Tensor


def _gap_inverse(values: Tensor, eps: float | None) -> Tensor:
    """``F_ij = 1 / (v_j - v_i)``, set to 0 on the diagonal and where the gap is below
    ``eps * max|v|`` (default ``eps = sqrt(machine epsilon)``)."""
    if eps is None:
        eps = torch.finfo(values.dtype).eps ** 0.5
    gap = values.unsqueeze(-2) - values.unsqueeze(-1)
    scale = values.abs().amax(-1, keepdim=True).unsqueeze(-1)
    small = gap.abs() <= eps * scale
    return torch.where(small, torch.zeros_like(gap), 1 / torch.where(small,
                                                                     torch.ones_like(gap), gap))


class _SafeEigh(torch.autograd.Function):
    # The forward is plain torch, so torch.func derives the vmap rule.
    generate_vmap_rule = True

    @staticmethod
    def forward(A, eps):
        L, V = torch.linalg.eigh(A)
        return L, V

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.eps = inputs[1]
        ctx.save_for_backward(*output)
        ctx.save_for_forward(*output)

    @staticmethod
    def jvp(ctx, dA, _):
        # dL = diag(V^T dA V), dV = V (F o V^T dA V), with the same safe F as backward.
        L, V = ctx.saved_tensors
        M = V.mT @ dA @ V
        M = 0.5 * (M + M.mT)
        return M.diagonal(dim1=-2, dim2=-1), V @ (M * _gap_inverse(L, ctx.eps))

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        inner = torch.zeros_like(V)
        if gV is not None:
            VhgV = V.mT @ gV
            skew = 0.5 * (VhgV - VhgV.mT)
            inner = skew * _gap_inverse(L, ctx.eps)
        if gL is not None:
            inner = inner + torch.diag_embed(gL)
        return V @ inner @ V.mT, None


def safe_eigh(A: Tensor, *, eps: float | None = None) -> EighResult:
    r"""Symmetric eigendecomposition with a backward that stays finite at repeated eigenvalues.

    .. math::
        A = V \operatorname{diag}(\lambda) V^\top; \qquad
        \bar A = V\Big(\operatorname{diag}(\bar\lambda) + F \circ
        \tfrac12(V^\top \bar V - \bar V^\top V)\Big) V^\top,
        \quad F_{ij} = \begin{cases} \frac{1}{\lambda_j - \lambda_i} &
        |\lambda_i - \lambda_j| > \epsilon \max_k |\lambda_k| \\ 0 & \text{otherwise}
        \end{cases}

    The forward pass is ``torch.linalg.eigh`` (same values, ascending order, reads the
    lower triangle). The backward is torch's formula except for the rule above:
    ``torch.linalg.eigh`` divides by :math:`\lambda_j - \lambda_i` unconditionally and
    returns NaN or inf gradients when two eigenvalues coincide; here the coupling of two
    (numerically) equal eigenvalues is set to 0. The rotation within a repeated
    eigenspace is not identified by :math:`A`, so this drops only that unidentified
    part: losses that depend on eigenvalues, or on eigenvectors of simple eigenvalues,
    or on whole eigenspaces' projectors, get their exact gradient. Twice differentiable
    (at an exactly repeated eigenvalue the second derivative misses the same in-eigenspace
    term).

    Args:
        A: symmetric matrices.
        eps: relative gap below which two eigenvalues count as equal (default
            :math:`\sqrt{\text{machine epsilon}}`: 1.5e-8 in float64, 3.5e-4 in float32).

    Shape:
        ``A``: ``(..., n, n)``; returns eigenvalues ``(..., n)``, eigenvectors
        ``(..., n, n)``.

    Returns:
        An :class:`EighResult` ``(eigenvalues, eigenvectors)``, eigenvalues ascending.

    Raises:
        ValueError: ``A`` is not square, or holds non-finite entries.

    Example:
        >>> A = torch.eye(3, dtype=torch.float64, requires_grad=True)
        >>> w, V = safe_eigh(A)
        >>> (V[:, 0] @ torch.ones(3, dtype=torch.float64)).backward()
        >>> bool(torch.isfinite(A.grad).all())
        True

    Source: Giles (2008), "Collected matrix derivative results for forward and reverse
    mode algorithmic differentiation"; degenerate rule as in Seeger et al. (2017).
    """
    fn = "safe_eigh"
    check_floating(fn, "A", A)
    check_matrix_square(fn, "A", A)
    check_finite(fn, "A", A)
    if eps is not None:
        check_positive(fn, "eps", eps, strict=False)
    L, V = _SafeEigh.apply(A, eps)
    return EighResult(L, V)


class _SafeSVD(torch.autograd.Function):
    # The forward is plain torch, so torch.func derives the vmap rule.
    generate_vmap_rule = True

    @staticmethod
    def forward(A, eps):
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        return U, S, Vh

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.eps = inputs[1]
        ctx.shape = inputs[0].shape
        ctx.save_for_backward(*output)

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        m, n = ctx.shape[-2:]
        eps = ctx.eps if ctx.eps is not None else torch.finfo(S.dtype).eps ** 0.5
        V = Vh.mT
        F = _gap_inverse(S.square(), ctx.eps)
        small_s = S <= eps * S.amax(-1, keepdim=True)
        S_inv = torch.where(small_s, torch.zeros_like(S), 1 / torch.where(small_s,
                                                                         torch.ones_like(S), S))
        inner = torch.zeros(*S.shape, S.shape[-1], dtype=S.dtype, device=S.device)
        if gU is not None:
            UhgU = U.mT @ gU
            inner = inner + (UhgU - UhgU.mT) * F * S.unsqueeze(-2)
        gV = gVh.mT if gVh is not None else None
        if gV is not None:
            VhgV = V.mT @ gV
            inner = inner + S.unsqueeze(-1) * ((VhgV - VhgV.mT) * F)
        if gS is not None:
            inner = inner + torch.diag_embed(gS)
        gA = U @ inner @ Vh
        if gU is not None and m > n:
            gUS = gU * S_inv.unsqueeze(-2)
            gA = gA + (gUS - U @ (U.mT @ gUS)) @ Vh
        if gV is not None and n > m:
            SgV = S_inv.unsqueeze(-1) * gV.mT
            gA = gA + U @ (SgV - (SgV @ V) @ Vh)
        return gA, None


def safe_svd(A: Tensor, *, eps: float | None = None) -> SVDResult:
    r"""Reduced SVD with a backward that stays finite at repeated or zero singular values.

    .. math::
        A = U \operatorname{diag}(s) V^\top; \quad
        F_{ij} = \begin{cases}\frac{1}{s_j^2 - s_i^2} & |s_j^2 - s_i^2| >
        \epsilon \max_k s_k^2 \\ 0 & \text{otherwise}\end{cases}, \quad
        s_i^{-1} \to 0 \text{ where } s_i \le \epsilon \max_k s_k

    The forward pass is ``torch.linalg.svd(A, full_matrices=False)``; the backward is
    torch's (Townsend's) formula with the two rules above, which replace the divisions
    that make ``torch.linalg.svd``'s gradient NaN or inf when singular values coincide
    or vanish. As for :func:`safe_eigh`, only the part of the gradient that the
    decomposition does not identify (rotations within a repeated singular subspace, and
    the directions of the null space) is dropped. Twice differentiable.

    Args:
        A: matrices.
        eps: relative threshold (default :math:`\sqrt{\text{machine epsilon}}`).

    Shape:
        ``A``: ``(..., m, n)``; returns ``U`` ``(..., m, k)``, ``S`` ``(..., k)``, ``Vh``
        ``(..., k, n)`` with ``k = min(m, n)``.

    Returns:
        An :class:`SVDResult` ``(U, S, Vh)``, singular values descending.

    Raises:
        ValueError: non-finite entries.

    Example:
        >>> A = torch.eye(2, dtype=torch.float64, requires_grad=True)
        >>> U, S, Vh = safe_svd(A)
        >>> U.sum().backward()
        >>> bool(torch.isfinite(A.grad).all())
        True

    Source: Townsend (2016), "Differentiating the singular value decomposition".
    """
    fn = "safe_svd"
    check_floating(fn, "A", A)
    check_ndim(fn, "A", A, min_ndim=2)
    check_finite(fn, "A", A)
    if eps is not None:
        check_positive(fn, "eps", eps, strict=False)
    return SVDResult(*_SafeSVD.apply(A, eps))


def _as_matvec(fn: str, A_or_matvec, n: int | None, dtype, device):
    if isinstance(A_or_matvec, Tensor):
        A = A_or_matvec
        check_floating(fn, "A", A)
        check_matrix_square(fn, "A", A)
        check_finite(fn, "A", A)
        return (lambda V: A @ V), A.shape[-1], A.shape[:-2], A.dtype, A.device, True
    if not callable(A_or_matvec):
        raise fail(fn, "A", "to be a square tensor or a matrix-vector product callable",
                   type(A_or_matvec).__name__, TypeError)
    if n is None:
        raise fail(fn, "n", "to be given when 'A' is a callable", None)
    check_int(fn, "n", n, minimum=1)
    matvec = A_or_matvec

    def block(V: Tensor) -> Tensor:  # columns one at a time: the callable takes vectors
        return torch.stack([matvec(V[:, j]) for j in range(V.shape[-1])], -1)

    return block, n, torch.Size(), dtype or torch.get_default_dtype(), \
        torch.device(device) if device is not None else torch.device("cpu"), False


def _rayleigh_ritz(apply: Matvec, Q: Tensor) -> tuple[Tensor, Tensor]:
    # Eigenpairs of the projected operator Q^T A Q. The final Rayleigh quotients are
    # taken with autograd on, so eigenvalues carry the exact gradient v^T (dA) v.
    T = Q.mT @ apply(Q).detach()
    w, S = torch.linalg.eigh(0.5 * (T + T.mT))
    V = Q @ S
    return (V * apply(V)).sum(-2), V


def power_iteration(A: Tensor | Matvec, k: int = 1, *, n: int | None = None,
                    max_iter: int = 1000, tol: float | None = None,
                    generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> EighResult:
    r"""Top-``k`` eigenpairs (largest in magnitude) of a symmetric operator by (block)
    power iteration.

    .. math::
        Q_{t+1} = \operatorname{orth}(A Q_t), \qquad
        \lambda_i \leftarrow \text{Ritz values of } Q_t^\top A Q_t

    For ``k = 1`` this is the classical power method :math:`v \leftarrow Av/\|Av\|`;
    for ``k > 1`` it is subspace (orthogonal) iteration with a QR step, and the pairs are
    extracted by Rayleigh–Ritz. Convergence is linear with rate
    :math:`|\lambda_{k+1}/\lambda_k|`; it is checked every 10 iterations (one host sync)
    by the residual :math:`\|Av - \lambda v\| \le \text{tol}\,|\lambda|`.

    ``A`` may be a (batched) tensor or a callable computing :math:`v \mapsto Av` for a
    vector of length ``n`` (a Hessian–vector product, for example). The eigenvalues are
    differentiable: they are returned as Rayleigh quotients :math:`v^\top A v` evaluated
    with autograd on (Hellmann–Feynman: the gradient is :math:`v v^\top`); eigenvectors
    are returned detached. The iterations themselves do not record a graph.

    Args:
        A: a symmetric ``(..., n, n)`` tensor, or a matrix-vector product callable.
        k: number of eigenpairs.
        n: the dimension when ``A`` is a callable.
        max_iter: iteration cap.
        tol: relative residual tolerance (default ``sqrt(eps)`` of the dtype).
        generator: for the random start.
        dtype, device: of the vectors when ``A`` is a callable.

    Shape:
        returns eigenvalues ``(..., k)`` sorted by decreasing magnitude and eigenvectors
        ``(..., n, k)``.

    Returns:
        An :class:`EighResult` ``(eigenvalues, eigenvectors)``.

    Raises:
        ValueError: ``k > n``, a non-square or non-finite tensor, or a callable without
            ``n``.

    Example:
        >>> A = torch.diag(torch.tensor([1.0, -5.0, 2.0], dtype=torch.float64))
        >>> w, V = power_iteration(A, k=1)
        >>> w
        tensor([-5.], dtype=torch.float64)

    Source: Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 8.2.
    """
    fn = "power_iteration"
    apply, dim, batch, dtype, device, is_tensor = _as_matvec(fn, A, n, dtype, device)
    check_int(fn, "k", k, minimum=1)
    if k > dim:
        raise fail(fn, "k", f"to be at most n = {dim}", k)
    check_int(fn, "max_iter", max_iter, minimum=1)
    if tol is None:
        tol = torch.finfo(dtype).eps ** 0.5
    Q = _random.randn((*batch, dim, k), generator=generator, dtype=dtype, device=device)
    Q, _ = torch.linalg.qr(Q)
    with torch.no_grad() if is_tensor else torch.enable_grad():
        for it in range(max_iter):
            Z = apply(Q).detach()
            if it % 10 == 9 or it == max_iter - 1:
                T = Q.mT @ Z
                resid = torch.linalg.vector_norm(Z - Q @ T, dim=-2)
                lam = torch.linalg.vector_norm(Z, dim=-2)
                if bool((resid <= tol * lam.amax(-1, keepdim=True)).all()):
                    break
            Q, _ = torch.linalg.qr(Z)
    w, V = _rayleigh_ritz(apply, Q.detach())
    order = w.detach().abs().argsort(-1, descending=True)
    w = w.gather(-1, order)
    V = V.gather(-1, order.unsqueeze(-2).expand_as(V)).detach()
    return EighResult(w, V)


def lanczos_eigsh(matvec: Tensor | Matvec, n: int | None = None, k: int = 6, *,
                  which: str = "LA", max_iter: int | None = None, tol: float | None = None,
                  v0: Tensor | None = None, generator: torch.Generator | None = None,
                  dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> EighResult:
    r"""A few extreme eigenpairs of a symmetric operator given by a matrix-vector product.

    .. math::
        A V_m = V_m T_m + \beta_m v_{m+1} e_m^\top, \quad
        T_m = \operatorname{tridiag}(\beta, \alpha, \beta), \quad
        T_m = S \Theta S^\top \Rightarrow (\theta_i, V_m s_i)

    The Lanczos recurrence builds an orthonormal Krylov basis :math:`V_m` one matvec at a
    time; every new vector is re-orthogonalized twice against all previous ones (full
    re-orthogonalization), so no spurious copies of converged eigenvalues appear. Every
    5 steps the Ritz pairs' residual estimates :math:`|\beta_m s_{m,i}|` are checked and
    the iteration stops once the wanted ``k`` are below ``tol`` relative to the largest
    Ritz value. Works for any symmetric operator — a dense or sparse matrix, or a
    Hessian–vector product built with autograd (the callable may itself call
    ``torch.autograd.grad``): eigenvalues are returned as Rayleigh quotients with
    autograd on, so they are differentiable; eigenvectors are detached.

    Args:
        matvec: a callable ``v -> A v`` on vectors of length ``n``, or an ``(n, n)`` tensor.
        n: the dimension (taken from the tensor when ``matvec`` is one).
        k: number of eigenpairs.
        which: ``"LA"`` (largest algebraic), ``"SA"`` (smallest) or ``"LM"`` (largest
            magnitude), as in ``scipy.sparse.linalg.eigsh``.
        max_iter: Krylov dimension cap (default ``n``: the iteration stops as soon as
            the ``k`` wanted pairs converge, usually after a few times ``k`` steps).
        tol: relative residual tolerance (default ``sqrt(eps)`` of the dtype).
        v0: starting vector (default random).
        generator: for the random start.
        dtype, device: of the vectors when ``matvec`` is a callable and ``v0`` is not given.

    Shape:
        returns eigenvalues ``(k,)`` and eigenvectors ``(n, k)``, ordered as ``which``
        ranks them (largest first for ``"LA"``/``"LM"``, smallest first for ``"SA"``).

    Returns:
        An :class:`EighResult` ``(eigenvalues, eigenvectors)``.

    Raises:
        ValueError: ``k > n``, unknown ``which``, a ``v0`` of the wrong shape.

    Example:
        >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
        >>> w, V = lanczos_eigsh(lambda v: A @ v, 10, k=2, dtype=torch.float64)
        >>> w
        tensor([10.,  9.], dtype=torch.float64)

    Source: Lanczos (1950); Golub and Van Loan, *Matrix Computations*, 4th ed., sec. 10.1.
    """
    fn = "lanczos_eigsh"
    if isinstance(matvec, Tensor):
        check_floating(fn, "matvec", matvec)
        check_matrix_square(fn, "matvec", matvec)
        check_ndim(fn, "matvec", matvec, ndim=2)
        check_finite(fn, "matvec", matvec)
        mat = matvec
        n, dtype, device = mat.shape[-1], mat.dtype, mat.device
        matvec = lambda v: mat @ v  # noqa: E731
    elif not callable(matvec):
        raise fail(fn, "matvec", "to be a callable or a square tensor",
                   type(matvec).__name__, TypeError)
    if n is None:
        raise fail(fn, "n", "to be given when 'matvec' is a callable", None)
    check_int(fn, "n", n, minimum=1)
    check_int(fn, "k", k, minimum=1)
    if k > n:
        raise fail(fn, "k", f"to be at most n = {n}", k)
    check_choice(fn, "which", which, ("LA", "SA", "LM"))
    if v0 is not None:
        check_floating(fn, "v0", v0)
        if v0.shape != (n,):
            raise fail(fn, "v0", f"of shape ({n},)", tuple(v0.shape))
        dtype, device = v0.dtype, v0.device
    dtype = dtype or torch.get_default_dtype()
    device = torch.device(device) if device is not None else torch.device("cpu")
    if tol is None:
        tol = torch.finfo(dtype).eps ** 0.5
    m_max = n if max_iter is None else min(n, max_iter)
    if v0 is None:
        v0 = _random.randn((n,), generator=generator, dtype=dtype, device=device)
    v = v0.detach() / torch.linalg.vector_norm(v0.detach())
    basis = [v]
    alphas: list[Tensor] = []
    betas: list[Tensor] = []

    def pick(theta: Tensor) -> Tensor:
        key = {"LA": -theta, "SA": theta, "LM": -theta.abs()}[which]
        return key.argsort()[:k]

    theta = S = None
    for j in range(m_max):
        w = matvec(basis[-1]).detach()
        alphas.append(basis[-1] @ w)
        V = torch.stack(basis, -1)
        for _ in range(2):  # full re-orthogonalization, twice
            w = w - V @ (V.mT @ w)
        beta = torch.linalg.vector_norm(w)
        m = j + 1
        if m >= k and (m % 5 == 0 or m == m_max):
            T = torch.diag(torch.stack(alphas))
            if betas:
                off = torch.stack(betas)
                T = T + torch.diag(off, 1) + torch.diag(off, -1)
            theta, S = torch.linalg.eigh(T)
            idx = pick(theta)
            resid = (beta * S[-1, idx]).abs()
            scale = theta.abs().max().clamp_min(torch.finfo(dtype).tiny)
            if m == m_max or bool((resid <= tol * scale).all()):
                break
        if m == m_max:
            break
        if float(beta) <= torch.finfo(dtype).eps * float(torch.stack(alphas).abs().max()):
            # An invariant subspace was found: continue from a fresh orthogonal direction.
            w = _random.randn((n,), generator=generator, dtype=dtype, device=device)
            for _ in range(2):
                w = w - V @ (V.mT @ w)
            beta = beta * 0
            w = w / torch.linalg.vector_norm(w)
            betas.append(beta)
            basis.append(w)
            continue
        betas.append(beta)
        basis.append(w / beta)
    idx = pick(theta)
    V = torch.stack(basis[: S.shape[0]], -1) @ S[:, idx]
    Av = torch.stack([matvec(V[:, i]) for i in range(V.shape[-1])], -1)
    w = (V * Av).sum(0)
    return EighResult(w, V.detach())
