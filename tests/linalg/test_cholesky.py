"""safe_cholesky and tril_solve."""

import numpy as np
import pytest
import scipy.linalg
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients, rand_spd
from torchmath.linalg import CholeskyJitterWarning, safe_cholesky, tril_solve


def test_matches_torch_on_well_conditioned_batches(dtype):
    A = rand_spd(3, 2, d=5, dtype=dtype)
    assert_close(safe_cholesky(A), torch.linalg.cholesky(A))


def test_jitter_rescues_a_singular_matrix_and_warns():
    v = torch.randn(4, 1, dtype=torch.float64)
    A = v @ v.T  # rank one: plain Cholesky fails
    with pytest.warns(CholeskyJitterWarning, match="added up to"):
        L = safe_cholesky(A)
    assert torch.isfinite(L).all()
    assert_close(L @ L.T, A, atol=1e-6)


def test_indefinite_matrix_reports_smallest_eigenvalue():
    A = torch.diag(torch.tensor([1.0, -2.0], dtype=torch.float64))
    assert_raises_naming(ValueError, lambda: safe_cholesky(A), "safe_cholesky", "'A'",
                         "smallest eigenvalue -2")


def test_gradients():
    A = rand_spd(2, d=3)
    check_gradients(lambda M: safe_cholesky((M + M.mT) / 2), A)


@pytest.mark.parametrize("x_shape,l_shape", [((7, 3), ()), ((7, 4, 3), (4,)),
                                             ((7, 1, 3), (4,)), ((2, 7, 3), (2, 1)),
                                             ((3,), (5,))])
def test_tril_solve_broadcasts_like_scipy(x_shape, l_shape):
    L = torch.linalg.cholesky(rand_spd(*l_shape, d=3))
    x = torch.randn(*x_shape, dtype=torch.float64)
    z = tril_solve(L, x)
    batch = torch.broadcast_shapes(x.shape[:-1], L.shape[:-2])
    Lb, xb = L.expand(*batch, 3, 3).reshape(-1, 3, 3), x.expand(*batch, 3).reshape(-1, 3)
    ref = [scipy.linalg.solve_triangular(Li.numpy(), xi.numpy(), lower=True)
           for Li, xi in zip(Lb, xb, strict=True)]
    assert_close(z.reshape(-1, 3), np.array(ref))
    check_gradients(tril_solve, L, x)
