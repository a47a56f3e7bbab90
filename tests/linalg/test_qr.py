"""gram_schmidt and householder_qr against torch.linalg.qr."""

import pytest
import scipy.linalg
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.linalg import gram_schmidt, householder_qr


def _sign_fixed_reference(A, mode="reduced"):
    Q, R = torch.linalg.qr(A, mode=mode)
    k = min(A.shape[-2:])
    s = torch.sign(R.diagonal(dim1=-2, dim2=-1))
    s = torch.where(s == 0, torch.ones_like(s), s)
    Q = torch.cat([Q[..., :k] * s.unsqueeze(-2), Q[..., k:]], -1)
    R = torch.cat([R[..., :k, :] * s.unsqueeze(-1), R[..., k:, :]], -2)
    return Q, R


@pytest.mark.parametrize("shape", [(6, 4), (3, 7, 3), (2, 2, 5, 5)])
def test_gram_schmidt_matches_torch_up_to_signs(shape, dtype):
    A = torch.randn(*shape, dtype=dtype)
    Q, R = gram_schmidt(A)
    Qr, Rr = _sign_fixed_reference(A)
    assert_close(Q, Qr, atol=1e-4 if dtype == torch.float32 else 1e-12)
    assert_close(R, Rr, atol=1e-4 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 7), (2, 5, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_householder_matches_torch_and_scipy(shape, mode):
    A = torch.randn(*shape, dtype=torch.float64)
    Q, R = householder_qr(A, mode=mode)
    Qr, Rr = _sign_fixed_reference(A, mode)
    assert_close(Q @ R, A, atol=1e-12)
    assert_close(R, Rr, atol=1e-12)
    k = min(shape[-2:])
    assert_close(Q[..., :k], Qr[..., :k], atol=1e-12)
    eye = torch.eye(Q.shape[-1], dtype=torch.float64)
    assert (Q.mT @ Q - eye).abs().max() < 1e-10
    Rs = scipy.linalg.qr(A.reshape(-1, *shape[-2:])[0].numpy(), mode="economic")[1]
    assert_close(R.reshape(-1, *R.shape[-2:])[0].abs()[:k], abs(Rs)[:k], atol=1e-12)


def test_orthogonality_on_ill_conditioned_input():
    U, _ = torch.linalg.qr(torch.randn(60, 12, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64))
    A = U @ torch.diag(torch.logspace(0, -12, 12, dtype=torch.float64)) @ V.T
    eye = torch.eye(12, dtype=torch.float64)
    for qr in (gram_schmidt, householder_qr):
        Q, R = qr(A)
        assert (Q.T @ Q - eye).abs().max() < 1e-10, qr.__name__
        assert_close(Q @ R, A, atol=1e-14)
    # Without the second pass, modified Gram-Schmidt loses orthogonality ~ cond * eps.
    Q, _ = gram_schmidt(A, reorthogonalize=False)
    assert (Q.T @ Q - eye).abs().max() > 1e-8


def test_gradients_batched():
    A = torch.randn(2, 4, 3, dtype=torch.float64)
    check_gradients(lambda A: gram_schmidt(A), A)
    check_gradients(lambda A: householder_qr(A), A, gradgrad=False)


def test_householder_rank_deficient_is_fine():
    A = torch.randn(5, 2, dtype=torch.float64) @ torch.randn(2, 4, dtype=torch.float64)
    Q, R = householder_qr(A)
    assert_close(Q @ R, A, atol=1e-12)


def test_bad_input():
    assert_raises_naming(ValueError, lambda: gram_schmidt(torch.randn(3, 5)), "gram_schmidt",
                         "'A'", "m >= n")
    dep = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], dtype=torch.float64)
    assert_raises_naming(ValueError, lambda: gram_schmidt(dep), "'A'", "full column rank")
    nan = torch.tensor([[float("nan")], [1.0]])
    assert_raises_naming(ValueError, lambda: householder_qr(nan), "householder_qr", "'A'")
    assert_raises_naming(ValueError, lambda: householder_qr(torch.eye(2), mode="r"), "'mode'")
    assert_raises_naming(TypeError, lambda: gram_schmidt(torch.eye(2, dtype=torch.long)), "'A'")
