"""Normal and multivariate normal log-densities and samplers."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchmath import _random
from torchmath._batches import row_chunks
from torchmath._memory import empty_large
from torchmath._validation import (
    check_cholesky,
    check_exactly_one,
    check_finite,
    check_floating,
    check_int,
    check_matrix_square,
    check_no_nan,
    check_positive,
    check_shape,
    compute_dtype,
    promote,
    validating,
)
from torchmath.linalg import tril_solve

__all__ = ["mvn_log_prob", "mvn_sample", "normal_log_prob"]

_LOG_2PI = math.log(2 * math.pi)
#: Rows per chunk are chosen so one chunk's temporaries stay about this size (cache-sized
#: blocks measured 2-4x faster than one large fresh buffer on a 2-core CPU).
_CHUNK_BYTES = 2 * 2**20


def normal_log_prob(x: Tensor, mean: Tensor | float, std: Tensor | float) -> Tensor:
    r"""Log-density of the univariate normal :math:`\mathcal N(\mu, \sigma^2)`, elementwise.

    .. math::
        \log p(x) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \tfrac12\log 2\pi

    Args:
        x: points.
        mean: the mean :math:`\mu` (tensor or number).
        std: the standard deviation :math:`\sigma > 0` (tensor or number).

    Shape:
        ``x``, ``mean`` and ``std`` broadcast; returns the broadcast shape.

    Returns:
        The log-densities :math:`\log p(x)`.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``std`` is not positive.

    Example:
        >>> normal_log_prob(torch.tensor([0.0, 1.0]), 0.0, 1.0)
        tensor([-0.9189, -1.4189])

    Source: the Gaussian density (Bishop, *Pattern Recognition and Machine Learning*, 2.42).
    """
    fn = "normal_log_prob"
    check_floating(fn, "x", x)
    check_positive(fn, "std", std)
    (x, mean, std), out = promote(x, mean, std)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    z = (x - mean) / std
    return (-0.5 * z.square() - std.log() - 0.5 * _LOG_2PI).to(out)


def _sq_norms(x: Tensor, mean: Tensor, W: Tensor) -> Tensor:
    """The whitening product: ``||W (x_i - mean)||^2`` for the rows of a 2-D ``x``,
    chunked over rows. The forward of :class:`_Mahalanobis`, kept apart so a faster
    kernel can replace it without touching the autograd rules. Each block reuses two
    cache-sized buffers (a fresh temporary per block costs its allocation and its first
    touch) and squares in place."""
    n, d = x.shape
    out = x.new_empty(n)
    step = row_chunks(n, 2 * d * x.element_size(), _CHUNK_BYTES)
    Wt = W.mT
    diff_buf, r_buf = x.new_empty(step, d), x.new_empty(step, d)
    for s in range(0, n, step):
        xs = x[s:s + step]
        m = xs.shape[0]
        r = torch.mm(torch.sub(xs, mean, out=diff_buf[:m]), Wt, out=r_buf[:m])
        torch.sum(r.square_(), -1, out=out[s:s + step])
    return out


def _in_transform() -> bool:
    """Inside a ``torch.func`` transform, where in-place writes into fresh buffers fail."""
    return bool(torch._C._functorch.get_interpreter_stack())


class _Mahalanobis(torch.autograd.Function):
    r"""``m_i = ||W (x_i - \mu)||^2`` with a hand-written, blocked backward.

    Autograd through the plain expression keeps the ``(n, d)`` whitened points alive
    and allocates several more ``(n, d)`` buffers in backward. Here the backward uses
    :math:`\partial m/\partial W = 2 W \sum_i g_i (x_i-\mu)(x_i-\mu)^\top` and
    :math:`\partial m/\partial x_i = 2 g_i W^\top W (x_i-\mu)`, both computed from one
    pass over cache-sized row blocks (one matrix product each). Under ``create_graph``
    or a ``torch.func`` transform the backward is the plain differentiable expression,
    so double backward, ``vmap`` (the rule below), ``jvp``/``jacfwd`` and ``hessian``
    all work.
    """

    @staticmethod
    def forward(x, mean, W):
        return _sq_norms(x, mean, W)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def vmap(info, in_dims, x, mean, W):
        # Batched inputs (batch dimension first): the plain broadcast expression.
        x, mean, W = (t if b is None else t.movedim(b, 0)
                      for t, b in zip((x, mean, W), in_dims, strict=True))
        if in_dims[1] is not None:
            mean = mean.unsqueeze(-2)
        r = (x - mean) @ W.mT
        return r.square().sum(-1), 0

    @staticmethod
    def jvp(ctx, dx, dmean, dW):
        x, mean, W = ctx.saved_tensors
        diff = x - mean
        r = diff @ W.mT
        dr = torch.zeros_like(r)
        if dx is not None:
            dr = dr + dx @ W.mT
        if dmean is not None:
            dr = dr - dmean @ W.mT
        if dW is not None:
            dr = dr + diff @ dW.mT
        return 2 * (r * dr).sum(-1)

    @staticmethod
    def backward(ctx, g):
        x, mean, W = ctx.saved_tensors
        need_x, need_mean, need_W = ctx.needs_input_grad
        gx = gmean = gW = None
        if torch.is_grad_enabled() or _in_transform():  # a plain differentiable expression
            diff = x - mean
            if need_W:
                gW = 2 * W @ (diff.mT @ (g[:, None] * diff))
            if need_x or need_mean:
                gx = 2 * g[:, None] * (diff @ (W.mT @ W))
                gmean = -gx.sum(0) if need_mean else None
            return gx if need_x else None, gmean, gW
        n, d = x.shape
        P = W.mT @ W if (need_x or need_mean) else None
        gx = empty_large(x, n, d) if need_x else None
        gsum = x.new_zeros(d) if need_mean else None
        step = row_chunks(n, 2 * d * x.element_size(), _CHUNK_BYTES)
        # S = sum_i 2 g_i diff_i diff_i^T reduces over the rows. One product per block
        # reduces over the block's rows, which two CPU threads share poorly (measured
        # 1.5x slower than one batched product of `parts` independent row groups, each
        # into its own partial sum, added once at the end; groups of at least 512 rows).
        cpu = x.device.type == "cpu"
        parts = max(1, min(torch.get_num_threads(), step // 512)) if cpu else 1
        step -= step % parts if step >= parts else 0  # whole blocks split evenly
        S = x.new_zeros(parts, d, d) if need_W else None
        diff_buf, gd_buf = x.new_empty(step, d), x.new_empty(step, d)
        g2 = (2 * g)[:, None]
        for s in range(0, n, step):
            xs = x[s:s + step]
            m = xs.shape[0]
            diff = torch.sub(xs, mean, out=diff_buf[:m])
            gd = torch.mul(diff, g2[s:s + step], out=gd_buf[:m])
            if S is not None:
                if m % parts == 0:
                    S.baddbmm_(gd.view(parts, -1, d).mT, diff.view(parts, -1, d))
                else:
                    S[0].addmm_(gd.mT, diff)
            if gx is not None:
                torch.mm(gd, P, out=gx[s:s + step])
            if gsum is not None:
                gsum += gd.sum(0)
        if need_W:
            gW = W @ S.sum(0)
        if need_mean:
            gmean = -(gsum @ P)
        return gx, gmean, gW


def mvn_log_prob(x: Tensor, mean: Tensor, *, cov: Tensor | None = None,
                 precision: Tensor | None = None, scale_tril: Tensor | None = None) -> Tensor:
    r"""Log-density of the multivariate normal :math:`\mathcal N(\mu, \Sigma)`.

    .. math::
        \log p(x) = -\tfrac12\big(d \log 2\pi + \log\det\Sigma
                    + (x-\mu)^\top \Sigma^{-1} (x-\mu)\big)

    The covariance is given by exactly one of ``cov`` (:math:`\Sigma`), ``precision``
    (:math:`\Sigma^{-1}`) or ``scale_tril`` (:math:`L` with :math:`\Sigma = LL^\top`). It is
    factorized once per call, never inverted. With one shared matrix and one shared mean
    (the common case of many points under one Gaussian) the quadratic form is
    :math:`\|W(x-\mu)\|^2` with :math:`W = L^{-1}` (or :math:`W = L_P^\top` for a precision
    :math:`P = L_P L_P^\top`), computed as matrix products over cache-sized row blocks
    with a hand-written blocked backward; otherwise it is a broadcast triangular solve.
    Equal to ``torch.distributions.MultivariateNormal(mean, ...).log_prob(x)`` and
    differentiable (twice) in every argument.

    Args:
        x: points.
        mean: the mean :math:`\mu`.
        cov: covariance matrices (keyword-only).
        precision: precision matrices (keyword-only).
        scale_tril: lower Cholesky factors of the covariance, positive diagonal
            (keyword-only).

    Shape:
        ``x``: ``(*A, d)``; ``mean``: ``(*M, d)``; the matrix: ``(*S, d, d)``; returns
        ``broadcast(A, M, S)``.

    Returns:
        The log-densities :math:`\log p(x)`.

    Raises:
        ValueError: not exactly one matrix form, trailing sizes that disagree, or (while
            validation is on) a matrix that is not positive definite.

    Example:
        >>> x = torch.zeros(2, dtype=torch.float64)
        >>> mvn_log_prob(x, torch.zeros(2, dtype=torch.float64), cov=torch.eye(2).double())
        tensor(-1.8379, dtype=torch.float64)

    Source: Bishop, *Pattern Recognition and Machine Learning* (2006), eq. 2.43.
    """
    fn = "mvn_log_prob"
    form, matrix = check_exactly_one(fn, cov=cov, precision=precision, scale_tril=scale_tril)
    check_floating(fn, "x", x)
    check_floating(fn, "mean", mean)
    check_floating(fn, form, matrix)
    check_matrix_square(fn, form, matrix)
    d = matrix.shape[-1]
    check_shape(fn, "x", x, (d,))
    check_shape(fn, "mean", mean, (d,))
    dtype, out_dtype = compute_dtype(x, mean, matrix)
    x, mean, matrix = x.to(dtype), mean.to(dtype), matrix.to(dtype)
    if form == "scale_tril":
        L = matrix
        if validating():
            check_no_nan(fn, "scale_tril", L)
            check_positive(fn, "scale_tril diagonal", L.diagonal(dim1=-2, dim2=-1))
    else:
        L = check_cholesky(fn, form, matrix)
    log_diag = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    half_log_det_cov = -log_diag if form == "precision" else log_diag
    shared = matrix.dim() == 2 and mean.numel() == d and x.dim() >= 1
    if shared and x.shape[:-1].numel() > d:
        flat = x.reshape(-1, d)
        mu = mean.reshape(d)
        if form == "precision":
            W = L.mT
        else:
            eye = torch.eye(d, dtype=L.dtype, device=L.device)
            W = torch.linalg.solve_triangular(L, eye, upper=False)
        maha = _Mahalanobis.apply(flat, mu, W)
        out_shape = torch.broadcast_shapes(x.shape[:-1], mean.shape[:-1])
        maha = maha.reshape(x.shape[:-1]).expand(out_shape)
    else:
        diff = x - mean
        if form == "precision":
            z = (diff.unsqueeze(-2) @ L).squeeze(-2) if L.dim() > 2 else diff @ L
        else:
            z = tril_solve(L, diff)
        maha = z.square().sum(-1)
    out = -0.5 * (d * _LOG_2PI + maha) - half_log_det_cov
    # The density vanishes at an infinite point or mean (log -inf), where the whitening
    # would give inf - inf = NaN. A row sum (one pass over x, a few % of the cost) is
    # infinite there, and NaN where a NaN came in (which stays NaN). A point whose
    # coordinates mix +inf and -inf sums to NaN too, and keeps the NaN.
    far = x.detach().sum(-1) + mean.detach().sum(-1)
    out = torch.where(torch.isinf(far), torch.full_like(out, -math.inf), out)
    return out.to(out_dtype)


def mvn_sample(mean: Tensor, *, cov: Tensor | None = None, scale_tril: Tensor | None = None,
               n: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Reparameterized samples :math:`x = \mu + L\varepsilon` from a multivariate normal.

    .. math::
        \varepsilon \sim \mathcal N(0, I), \qquad x = \mu + L \varepsilon

    All ``n`` draws (and every batch element) come from one matrix product, not one
    small product per sample; gradients flow to ``mean`` and the covariance (the
    reparameterization trick of Kingma and Welling, 2014).

    Args:
        mean: the mean.
        cov: covariance matrices (keyword-only; exactly one of ``cov``/``scale_tril``).
        scale_tril: lower Cholesky factors of the covariance (keyword-only).
        n: number of samples (keyword-only).
        generator: an optional ``torch.Generator`` for the noise.

    Shape:
        ``mean``: ``(*M, d)``; matrix ``(*S, d, d)``; returns ``(n, *broadcast(M, S), d)``.

    Returns:
        The samples, differentiable with respect to ``mean`` and the matrix.

    Raises:
        ValueError: not exactly one matrix form, sizes that disagree, ``n < 1``, or a
            covariance that is not positive definite.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mvn_sample(torch.zeros(3), cov=torch.eye(3), n=5, generator=g).shape
        torch.Size([5, 3])

    Source: Kingma and Welling, *Auto-Encoding Variational Bayes* (2014).
    """
    fn = "mvn_sample"
    form, matrix = check_exactly_one(fn, cov=cov, scale_tril=scale_tril)
    check_int(fn, "n", n, minimum=1)
    check_floating(fn, "mean", mean)
    check_floating(fn, form, matrix)
    check_matrix_square(fn, form, matrix)
    d = matrix.shape[-1]
    check_shape(fn, "mean", mean, (d,))
    check_finite(fn, "mean", mean)
    (mean, matrix), out = promote(mean, matrix)
    L = check_cholesky(fn, form, matrix) if form == "cov" else matrix
    batch = torch.broadcast_shapes(mean.shape[:-1], L.shape[:-2])
    eps = _random.randn((n, *batch, d), generator=generator, dtype=mean.dtype,
                        device=mean.device)
    if L.dim() == 2:
        return (mean + eps @ L.mT).to(out)
    return (mean + (eps.unsqueeze(-2) @ L.mT).squeeze(-2)).to(out)
