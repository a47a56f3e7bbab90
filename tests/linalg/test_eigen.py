"""power_iteration, lanczos_eigsh, safe_eigh, safe_svd."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients, rand_spd
from torchmath.linalg import lanczos_eigsh, power_iteration, safe_eigh, safe_svd

F64 = torch.float64


def _sym(n, *batch):
    A = torch.randn(*batch, n, n, dtype=F64)
    return A + A.mT


def test_safe_eigh_and_svd_forward_equal_torch(dtype):
    A = _sym(5, 3).to(dtype)
    w, V = safe_eigh(A)
    w_ref, V_ref = torch.linalg.eigh(A)
    assert torch.equal(w, w_ref) and torch.equal(V, V_ref)
    B = torch.randn(2, 6, 4, dtype=dtype)
    for a, b in zip(safe_svd(B), torch.linalg.svd(B, full_matrices=False), strict=True):
        assert torch.equal(a, b)


def _spectral_loss(w, V):
    # A smooth function of the matrix: V f(w) V^T, gauge-invariant.
    W = torch.arange(16, dtype=F64).reshape(4, 4) / 10
    return ((V * w.pow(3).unsqueeze(-2)) @ V.mT * W).sum()


def test_safe_eigh_backward_equals_torch_at_distinct_eigenvalues():
    A = _sym(4, 2).requires_grad_(True)
    g1, = torch.autograd.grad(_spectral_loss(*safe_eigh(A)), A)
    g2, = torch.autograd.grad(_spectral_loss(*torch.linalg.eigh(A)), A)
    assert_close(g1, g2, rtol=1e-10, atol=1e-10)
    check_gradients(lambda A: _spectral_loss(*safe_eigh((A + A.mT) / 2)), A)


def test_safe_eigh_repeated_eigenvalue_where_torch_gives_nan():
    A = torch.diag(torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=F64)).requires_grad_(True)
    W = torch.randn(4, 4, dtype=F64)

    def top_projector(eigh):  # projector on the simple top eigenvector: smooth in A
        return lambda A: ((lambda V: V[..., -1:] @ V[..., -1:].mT)(eigh((A + A.mT) / 2)[1])
                          * W).sum()

    g_torch, = torch.autograd.grad(top_projector(torch.linalg.eigh)(A), A)
    assert not torch.isfinite(g_torch).all()  # torch: NaN/inf at the repeated eigenvalue
    g_safe, = torch.autograd.grad(top_projector(safe_eigh)(A), A)
    assert torch.isfinite(g_safe).all()
    assert torch.autograd.gradcheck(top_projector(safe_eigh), (A,))
    # Eigenvalue functions: exact gradient 2A of ||A||_F^2 = sum(w^2), finite too.
    # (Second derivatives at an exactly repeated eigenvalue need the dropped in-eigenspace
    # term, so gradgradcheck runs at distinct eigenvalues, in the test above.)
    check_gradients(lambda A: safe_eigh((A + A.mT) / 2)[0].square().sum(), A.detach(),
                    gradgrad=False)
    # Reference: the rotation-invariant projector onto the repeated eigenspace.
    g, = torch.autograd.grad((safe_eigh(A)[1][:, :2].pow(2).sum()), A)
    assert torch.isfinite(g).all()


def test_safe_svd_backward_equals_torch_and_is_finite_when_degenerate():
    for shape in [(2, 5, 3), (2, 3, 5), (4, 4)]:
        A = torch.randn(*shape, dtype=F64, requires_grad=True)

        def loss(U, S, Vh):
            return ((U * S.unsqueeze(-2) ** 2) @ U.mT).sum() + (Vh.mT @ Vh).pow(2).sum() \
                + S.sum()

        g1, = torch.autograd.grad(loss(*safe_svd(A)), A)
        g2, = torch.autograd.grad(loss(*torch.linalg.svd(A, full_matrices=False)), A)
        assert_close(g1, g2, rtol=1e-9, atol=1e-9)
    check_gradients(lambda A: loss(*safe_svd(A)), torch.randn(2, 4, 3, dtype=F64))
    # Identity: all singular values equal; a rank-deficient matrix: a zero one.
    for A in (torch.eye(3, dtype=F64), torch.ones(3, 3, dtype=F64)):
        A = A.requires_grad_(True)
        U, S, Vh = safe_svd(A)
        g, = torch.autograd.grad(U.sum() + Vh.sum() + S.sum(), A)
        assert torch.isfinite(g).all()
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        g, = torch.autograd.grad(U.sum() + Vh.sum() + S.sum(), A)
        assert not torch.isfinite(g).all()


def test_power_iteration_matches_numpy_batched_and_callable():
    A = rand_spd(3, d=8)
    w, V = power_iteration(A, k=2, max_iter=5000)
    ref = np.linalg.eigvalsh(A.numpy())[..., ::-1][..., :2]
    assert_close(w, ref.copy(), rtol=1e-8)
    assert_close(A @ V, V * w.unsqueeze(-2), atol=1e-6)
    B = A[0]
    w1, v1 = power_iteration(lambda v: B @ v, n=8, dtype=F64, max_iter=5000)
    assert_close(w1, ref[0, :1].copy(), rtol=1e-8)
    # Largest in magnitude, negative.
    w2, _ = power_iteration(torch.diag(torch.tensor([1.0, -5.0, 2.0], dtype=F64)))
    assert_close(w2, [-5.0])


def test_power_iteration_eigenvalue_gradient_is_vvT():
    A = rand_spd(d=5).requires_grad_(True)
    w, V = power_iteration(A, max_iter=5000)
    w.sum().backward()
    assert_close(A.grad, V @ V.T, atol=1e-6)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_lanczos_matches_scipy_eigsh(which):
    A = _sym(60)
    w, V = lanczos_eigsh(lambda v: A @ v, 60, k=4, which=which, dtype=F64)
    ref = scipy.sparse.linalg.eigsh(A.numpy(), k=4, which=which)[0]
    assert_close(np.sort(w.numpy()), np.sort(ref), rtol=1e-8)
    assert_close(A @ V, V * w, atol=1e-6)
    assert (V.T @ V - torch.eye(4, dtype=F64)).abs().max() < 1e-10


def test_lanczos_with_hessian_vector_product_and_repeated_eigenvalues():
    x = torch.randn(6, dtype=F64, requires_grad=True)
    H = rand_spd(d=6)

    def f(x):
        return 0.5 * x @ H @ x + x.pow(4).sum()

    def hvp(v):
        g, = torch.autograd.grad(f(x), x, create_graph=True)
        return torch.autograd.grad(g @ v, x)[0]

    w, _ = lanczos_eigsh(hvp, 6, k=2, dtype=F64)
    hess = torch.autograd.functional.hessian(f, x)
    assert_close(w, torch.linalg.eigvalsh(hess).flip(0)[:2], rtol=1e-8)
    D = torch.diag(torch.tensor([3.0, 3.0, 3.0, 1.0, 1.0, 0.0, 0.0], dtype=F64))
    w, _ = lanczos_eigsh(D, k=4)
    assert_close(w, [3.0, 3.0, 3.0, 1.0], atol=1e-10)


def test_lanczos_eigenvalues_are_differentiable():
    A = _sym(10).requires_grad_(True)
    w, V = lanczos_eigsh(lambda v: A @ v, 10, k=1, dtype=F64)
    w.sum().backward()
    assert_close(A.grad, V @ V.T, atol=1e-6)
    assert_close(w, scipy.linalg.eigvalsh(A.detach().numpy())[-1:], rtol=1e-9)


def test_bad_input():
    A = _sym(4)
    assert_raises_naming(ValueError, lambda: power_iteration(A, k=5), "power_iteration", "'k'")
    assert_raises_naming(ValueError, lambda: power_iteration(lambda v: v), "'n'")
    assert_raises_naming(ValueError, lambda: lanczos_eigsh(A, k=5), "lanczos_eigsh", "'k'")
    assert_raises_naming(ValueError, lambda: lanczos_eigsh(A, k=2, which="XX"), "'which'")
    assert_raises_naming(ValueError, lambda: lanczos_eigsh(lambda v: v, 4, k=1,
                                                           v0=torch.ones(3)), "'v0'")
    assert_raises_naming(ValueError, lambda: safe_eigh(torch.randn(3, 4)), "safe_eigh", "'A'")
    nan = torch.full((2, 2), float("nan"))
    assert_raises_naming(ValueError, lambda: safe_svd(nan), "safe_svd", "'A'", "NaN")
    assert_raises_naming(ValueError, lambda: safe_eigh(nan), "'A'", "NaN")
