"""randomized_svd, truncated_svd and svd_flip against SciPy and scikit-learn."""

import pytest
import scipy.linalg
import torch
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd
from sklearn.utils.extmath import svd_flip as sk_svd_flip

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.linalg import randomized_svd, svd_flip, truncated_svd

F64 = torch.float64


def _low_rank(m, n, rank, *batch, decay=0.5):
    U, _ = torch.linalg.qr(torch.randn(*batch, m, rank, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(*batch, n, rank, dtype=F64))
    s = decay ** torch.arange(rank, dtype=F64)
    return (U * s.unsqueeze(-2)) @ V.mT


def test_svd_flip_matches_sklearn():
    U = torch.randn(6, 4, dtype=F64)
    Vh = torch.randn(4, 5, dtype=F64)
    for u_based in (True, False):
        Ur, Vr = sk_svd_flip(U.numpy(), Vh.numpy(), u_based_decision=u_based)
        Uo, Vo = svd_flip(U, Vh, u_based=u_based)
        assert_close(Uo, Ur)
        assert_close(Vo, Vr)


@pytest.mark.parametrize("shape", [(20, 8), (8, 20), (3, 10, 6)])
def test_truncated_svd_matches_scipy(shape, dtype):
    A = torch.randn(*shape, dtype=dtype)
    U, S, Vh = truncated_svd(A, 3)
    A0 = A.reshape(-1, *shape[-2:])[0].double().numpy()
    Ur, Sr, Vhr = scipy.linalg.svd(A0, full_matrices=False)
    Ur, Vhr = sk_svd_flip(Ur[:, :3], Vhr[:3], u_based_decision=False)
    assert_close(S.reshape(-1, 3)[0], Sr[:3])
    assert_close(Vh.reshape(-1, 3, shape[-1])[0], Vhr, atol=1e-4 if dtype == torch.float32
                 else 1e-10)
    assert_close(U.reshape(-1, shape[-2], 3)[0], Ur, atol=1e-4 if dtype == torch.float32
                 else 1e-10)


@pytest.mark.parametrize("shape", [(200, 60), (60, 200)])
def test_randomized_svd_matches_exact_and_sklearn(shape):
    A = _low_rank(*shape, rank=40) + 1e-6 * torch.randn(*shape, dtype=F64)
    g = torch.Generator().manual_seed(1)
    U, S, Vh = randomized_svd(A, 5, generator=g)
    Ur, Sr, Vhr = scipy.linalg.svd(A.numpy(), full_matrices=False)
    assert_close(S, Sr[:5], rtol=1e-10)
    Ur, Vhr = sk_svd_flip(Ur[:, :5], Vhr[:5], u_based_decision=False)
    assert_close(Vh, Vhr, atol=1e-8)
    assert_close(U, Ur, atol=1e-8)
    _, S_sk, _ = sk_randomized_svd(A.numpy(), 5, random_state=0)
    assert_close(S, S_sk, rtol=1e-10)
    assert (U.T @ U - torch.eye(5, dtype=F64)).abs().max() < 1e-10


def test_randomized_svd_batched_and_no_power_iterations():
    A = _low_rank(30, 12, 6, 2)
    U, S, Vh = randomized_svd(A, 6, n_iter=0, n_oversamples=0)
    assert_close((U * S.unsqueeze(-2)) @ Vh, A, atol=1e-10)  # exact rank: exact


def test_gradients():
    A = torch.randn(2, 4, 3, dtype=F64)
    check_gradients(lambda A: (lambda U, S, Vh: (U @ Vh, S))(*truncated_svd(A, 2)), A)
    g = torch.Generator()
    check_gradients(lambda A: randomized_svd(A, 2, generator=g.manual_seed(0))[1], A,
                    gradgrad=False)


def test_bad_input():
    A = torch.randn(5, 3)
    assert_raises_naming(ValueError, lambda: truncated_svd(A, 4), "truncated_svd", "'k'")
    assert_raises_naming(ValueError, lambda: randomized_svd(A, 0), "randomized_svd", "'k'")
    assert_raises_naming(ValueError, lambda: randomized_svd(A, 2, n_iter=-1), "'n_iter'")
    A[0, 0] = float("inf")
    assert_raises_naming(ValueError, lambda: randomized_svd(A, 2), "'A'", "infinite")
    assert_raises_naming(ValueError, lambda: svd_flip(None, torch.eye(2), u_based=True), "'U'")
