"""projection_matrix, project, orthogonal_complement, lstsq vs NumPy/SciPy/torch."""

import numpy as np
import pytest
import scipy.linalg
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.linalg import lstsq, orthogonal_complement, project, projection_matrix

F64 = torch.float64
METHODS = ["qr", "svd", "cholesky"]


def _rank_deficient(m, n, r, *batch):
    return torch.randn(*batch, m, r, dtype=F64) @ torch.randn(*batch, r, n, dtype=F64)


def test_projection_matrix_properties_and_scipy():
    A = torch.randn(3, 7, 3, dtype=F64)
    P = projection_matrix(A)
    assert_close(P @ P, P, atol=1e-12)
    assert_close(P, P.mT, atol=1e-12)
    Q = scipy.linalg.orth(A[0].numpy())
    assert_close(P[0], Q @ Q.T, atol=1e-12)
    # Rank-deficient: projector onto the 2-dimensional column space.
    B = _rank_deficient(6, 4, 2)
    PB = projection_matrix(B)
    assert_close(torch.trace(PB), 2.0, atol=1e-10)
    assert_close(PB @ B, B, atol=1e-12)


def test_project_and_complement():
    A = torch.randn(6, 2, dtype=F64)
    x = torch.randn(4, 6, dtype=F64)
    p = project(x, A)
    assert_close(p, x @ projection_matrix(A).T, atol=1e-12)
    assert_close((x - p) @ A, torch.zeros(4, 2, dtype=F64), atol=1e-12)  # orthogonal residual
    N = orthogonal_complement(A)
    assert N.shape == (6, 4)
    assert_close(N.T @ A, torch.zeros(4, 2, dtype=F64), atol=1e-12)
    assert_close(N.T @ N, torch.eye(4, dtype=F64), atol=1e-12)
    assert_close(N @ N.T + projection_matrix(A), torch.eye(6, dtype=F64), atol=1e-12)
    ref = scipy.linalg.null_space(A.numpy().T)
    assert_close(N @ N.T, ref @ ref.T, atol=1e-12)
    assert orthogonal_complement(_rank_deficient(5, 3, 1)).shape == (5, 4)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(30, 6), (6, 30), (10, 10)])
def test_lstsq_rank_deficient_minimum_norm_matches_numpy(method, shape):
    m, n = shape
    A = _rank_deficient(m, n, 3)
    b = torch.randn(m, 2, dtype=F64)
    x, res, rank, sv = np.linalg.lstsq(A.numpy(), b.numpy(), rcond=None)
    out = lstsq(A, b, method=method)
    assert_close(out.solution, x, atol=1e-10)
    assert int(out.rank) == rank == 3
    assert_close(out.singular_values[:3], sv[:3], rtol=1e-9)
    assert_close(out.residuals, ((b - A @ out.solution) ** 2).sum(0))


@pytest.mark.parametrize("method", METHODS)
def test_lstsq_full_rank_batched_vs_torch(method, dtype):
    A = torch.randn(4, 20, 5, dtype=dtype)
    b = torch.randn(4, 20, dtype=dtype)
    out = lstsq(A, b, method=method)
    ref = torch.linalg.lstsq(A.double(), b.double().unsqueeze(-1))
    assert_close(out.solution, ref.solution.squeeze(-1), rtol=1e-3 if dtype == torch.float32
                 else 1e-9, atol=1e-4 if dtype == torch.float32 else 1e-10)
    _, res_np, _, _ = np.linalg.lstsq(A[0].double().numpy(), b[0].double().numpy(), rcond=None)
    assert_close(out.residuals[0], res_np[0], rtol=1e-3 if dtype == torch.float32 else 1e-9)
    assert out.rank.tolist() == [5] * 4 and out.solution.dtype == dtype


def test_lstsq_ill_conditioned_reports_rank():
    U, _ = torch.linalg.qr(torch.randn(40, 8, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(8, 8, dtype=F64))
    s = torch.tensor([1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-14, 1e-16], dtype=F64)
    A = (U * s) @ V.T
    b = torch.randn(40, dtype=F64)
    x, _, rank, _ = np.linalg.lstsq(A.numpy(), b.numpy(), rcond=1e-10)
    for method in ("qr", "svd"):
        out = lstsq(A, b, method=method, rcond=1e-10)
        assert int(out.rank) == rank == 6
        assert_close(out.solution, x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_lstsq_gradients(method):
    A = torch.randn(2, 4, 2, dtype=F64)
    b = torch.randn(2, 4, dtype=F64)
    check_gradients(lambda A, b: lstsq(A, b, method=method).solution, A, b,
                    gradgrad=method == "svd")


def test_projection_gradients():
    A = torch.randn(5, 2, dtype=F64)
    x = torch.randn(3, 5, dtype=F64)
    check_gradients(project, x, A, gradgrad=False)
    check_gradients(projection_matrix, A, gradgrad=False)


def test_bad_input():
    A = torch.randn(5, 3, dtype=F64)
    assert_raises_naming(ValueError, lambda: lstsq(A, torch.randn(4, dtype=F64)), "lstsq",
                         "'b'")
    assert_raises_naming(ValueError, lambda: lstsq(A, torch.randn(5, dtype=F64),
                                                   method="lu"), "'method'")
    bad = torch.randn(5, dtype=F64)
    bad[2] = float("nan")
    assert_raises_naming(ValueError, lambda: lstsq(A, bad), "'b'", "NaN")
    assert_raises_naming(ValueError, lambda: project(torch.randn(4, dtype=F64), A), "project",
                         "'x'")
    mixed = torch.stack([A, torch.cat([A[:, :1], A[:, :1], A[:, 2:]], 1)])
    assert_raises_naming(ValueError, lambda: orthogonal_complement(mixed),
                         "orthogonal_complement", "'A'", "rank")


@pytest.mark.parametrize("method", METHODS)
def test_lstsq_rank_deficient_on_every_device(device, method):
    A = _rank_deficient(40, 8, 4)
    b = torch.randn(40, dtype=F64)
    x = np.linalg.lstsq(A.numpy(), b.numpy(), rcond=None)[0]
    out = lstsq(A.to(device), b.to(device), method=method)
    assert out.solution.device.type == device.type
    assert int(out.rank) == 4
    assert_close(out.solution, x, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(7, 4), (4, 7)])
@pytest.mark.parametrize("where", [(0, 0), (3, 3), (-1, 1), (1, -1)])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_lstsq_non_finite_A_is_named(method, shape, where, value):
    # The QR paths check A's finiteness on the triangular factor: every position of a
    # non-finite entry, tall or wide, must still be reported as 'A'.
    A = torch.randn(*shape, dtype=F64)
    A[where] = value
    b = torch.randn(shape[0], dtype=F64)
    assert_raises_naming(ValueError, lambda: lstsq(A, b, method=method), "lstsq", "'A'")


def test_lstsq_svd_without_gradients_equals_with_gradients():
    A = _rank_deficient(30, 6, 3)
    b = torch.randn(30, dtype=F64)
    plain = lstsq(A, b, method="svd")
    Ag = A.clone().requires_grad_(True)
    graded = lstsq(Ag, b, method="svd")
    assert_close(plain.solution, graded.solution.detach(), rtol=1e-10, atol=1e-12)
    assert_close(plain.singular_values, graded.singular_values.detach(), rtol=1e-12,
                 atol=1e-12)
    assert int(plain.rank) == int(graded.rank) == 3
