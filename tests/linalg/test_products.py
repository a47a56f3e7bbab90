"""inner, norm, mahalanobis, gram_matrix, condition_number, is_positive_definite."""

import numpy as np
import pytest
import scipy.spatial.distance
import torch
from sklearn.metrics.pairwise import linear_kernel, polynomial_kernel, rbf_kernel

from tests.helpers import assert_close, assert_raises_naming, check_gradients, rand_spd
from torchmath.linalg import (
    condition_number,
    gram_matrix,
    inner,
    is_positive_definite,
    mahalanobis,
    norm,
)


def test_inner_and_norm_match_numpy(dtype):
    x, y = torch.randn(3, 5, dtype=dtype), torch.randn(3, 5, dtype=dtype)
    M = rand_spd(d=5, dtype=dtype)
    assert_close(inner(x, y), np.einsum("bi,bi->b", x.double().numpy(), y.double().numpy()))
    ref = np.einsum("bi,ij,bj->b", x.double().numpy(), M.double().numpy(), y.double().numpy())
    assert_close(inner(x, y, metric=M), ref)
    for p in (1, 2, 3, float("inf")):
        assert_close(norm(x, p), np.linalg.norm(x.double().numpy(), ord=p, axis=-1))
    ref = np.sqrt(np.einsum("bi,ij,bj->b", *(a.double().numpy() for a in (x, M, x))))
    assert_close(norm(x, metric=M), ref)


def test_batched_metric_broadcasts():
    x = torch.randn(4, 1, 3, dtype=torch.float64)
    M = rand_spd(2, d=3)
    out = inner(x, x, metric=M)
    assert out.shape == (4, 2)
    assert_close(out[1, 0], x[1, 0] @ M[0] @ x[1, 0])


def test_mahalanobis_matches_scipy():
    x = torch.randn(6, 4, dtype=torch.float64)
    mu = torch.randn(4, dtype=torch.float64)
    cov = rand_spd(d=4)
    prec = torch.linalg.inv(cov)
    ref = [scipy.spatial.distance.mahalanobis(r, mu.numpy(), prec.numpy()) for r in x.numpy()]
    assert_close(mahalanobis(x, mu, cov=cov), ref)
    assert_close(mahalanobis(x, mu, precision=prec), ref)
    assert_close(mahalanobis(x, mu, cov=cov, squared=True), np.square(ref))


def test_gram_matrix_matches_sklearn(dtype):
    X, Y = torch.randn(7, 3, dtype=dtype), torch.randn(5, 3, dtype=dtype)
    Xn, Yn = X.double().numpy(), Y.double().numpy()
    assert_close(gram_matrix(X, Y), linear_kernel(Xn, Yn))
    assert_close(gram_matrix(X, Y, kernel="rbf", gamma=0.7), rbf_kernel(Xn, Yn, gamma=0.7))
    assert_close(gram_matrix(X, kernel="rbf"), rbf_kernel(Xn))  # gamma = 1/d default
    assert_close(gram_matrix(X, Y, kernel="polynomial", degree=2, gamma=0.5, coef0=2.0),
                 polynomial_kernel(Xn, Yn, degree=2, gamma=0.5, coef0=2.0))
    assert gram_matrix(torch.randn(2, 7, 3, dtype=dtype), kernel="rbf").shape == (2, 7, 7)


def test_condition_number_and_positive_definite():
    A = torch.randn(3, 5, 5, dtype=torch.float64)
    assert_close(condition_number(A), np.linalg.cond(A.numpy()))
    R = torch.randn(6, 4, dtype=torch.float64)
    assert_close(condition_number(R), np.linalg.cond(R.numpy()))
    spd = rand_spd(2, d=4)
    bad = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64))
    nonsym = spd[0] + torch.triu(torch.ones(4, 4, dtype=torch.float64), 1) * 0.1
    out = is_positive_definite(torch.stack([spd[0], spd[1], bad, nonsym]))
    assert out.tolist() == [True, True, False, False]
    assert not bool(is_positive_definite(torch.full((2, 2), float("nan"))))


def test_gradients():
    x, y = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    M = rand_spd(d=3)
    check_gradients(lambda x, y, M: inner(x, y, metric=(M + M.mT) / 2), x, y, M)
    check_gradients(lambda x, M: norm(x, metric=(M + M.mT) / 2), x, M)
    check_gradients(lambda x, c: mahalanobis(x, torch.zeros(3, dtype=torch.float64),
                                             cov=(c + c.mT) / 2), x, M)
    check_gradients(lambda X, Y: gram_matrix(X, Y, kernel="rbf"), x, y)
    check_gradients(lambda X: gram_matrix(X, kernel="polynomial"), x)
    check_gradients(condition_number, torch.randn(2, 4, 3, dtype=torch.float64))
    # The metric norm's gradient at zero is the subgradient 0, not NaN.
    z = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    norm(z, metric=M).backward()
    assert torch.equal(z.grad, torch.zeros(3, dtype=torch.float64))


def test_bad_input():
    x = torch.randn(3, dtype=torch.float64)
    notpd = torch.diag(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    assert_raises_naming(ValueError, lambda: inner(x, x, metric=notpd), "inner", "'metric'",
                         "positive definite")
    assert_raises_naming(ValueError, lambda: inner(x, torch.ones(2, dtype=torch.float64)),
                         "'y'")
    assert_raises_naming(ValueError, lambda: norm(x, metric=torch.eye(2, dtype=torch.float64)),
                         "norm", "'metric'")
    assert_raises_naming(ValueError, lambda: norm(x, p=1, metric=torch.eye(3,
                                                                          dtype=x.dtype)), "'p'")
    assert_raises_naming(ValueError, lambda: mahalanobis(x, x), "'cov'", "'precision'")
    assert_raises_naming(ValueError, lambda: mahalanobis(x, x, cov=notpd), "'cov'")
    nan_cov = torch.full((3, 3), float("nan"), dtype=torch.float64)
    assert_raises_naming(ValueError, lambda: mahalanobis(x, x, cov=nan_cov), "'cov'", "NaN")
    X = torch.randn(4, 3)
    assert_raises_naming(ValueError, lambda: gram_matrix(X, torch.randn(4, 2)), "'Y'")
    assert_raises_naming(ValueError, lambda: gram_matrix(X, kernel="cosine"), "'kernel'")
    assert_raises_naming(ValueError, lambda: gram_matrix(X, kernel="rbf", gamma=-1.0),
                         "'gamma'")
    inf = torch.tensor([[1.0, float("inf")], [0.0, 1.0]])
    assert_raises_naming(ValueError, lambda: condition_number(inf), "'A'", "infinite")


@pytest.mark.parametrize("kernel", ["linear", "rbf", "polynomial"])
def test_gram_matrix_is_symmetric_psd(kernel):
    X = torch.randn(10, 3, dtype=torch.float64)
    K = gram_matrix(X, kernel=kernel)
    assert_close(K, K.T)
    assert torch.linalg.eigvalsh(K).min() > -1e-10
