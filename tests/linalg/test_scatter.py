"""ScatterMatrix: streaming, weighted and merged scatter equals the whole-data one."""

import numpy as np
import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming, uneven_batches
from torchmath.linalg import ScatterMatrix


@pytest.mark.parametrize("diagonal", [False, True])
def test_any_split_in_any_order_matches_numpy(diagonal):
    X = torch.randn(60, 4, dtype=torch.float64) * 1e6 + 3e6  # large offset: no cancellation
    ref_cov = np.cov(X.numpy(), rowvar=False)
    parts = []
    for (batch,) in uneven_batches(X, n_batches=7)[::-1]:
        s = ScatterMatrix(4, diagonal=diagonal)
        s.update(batch)
        parts.append(s)
    total = ScatterMatrix(4, diagonal=diagonal)
    for s in parts[3:] + parts[:3]:
        total.merge(s)
    assert_close(total.mean, X.mean(0), rtol=1e-12)
    expected = np.diag(ref_cov) if diagonal else ref_cov
    assert_close(total.covariance(1), expected, rtol=1e-10)
    assert total.n_rows == 60


def test_weights_match_numpy_aweights():
    X = torch.randn(30, 3, dtype=torch.float64)
    w = torch.rand(30, dtype=torch.float64)
    s = ScatterMatrix(3)
    s.update(X[:10], w[:10])
    s.update(X[10:], w[10:])
    assert_close(s.mean, np.average(X.numpy(), axis=0, weights=w.numpy()))
    assert_close(s.covariance(0), np.cov(X.numpy(), rowvar=False, aweights=w.numpy(), ddof=0))


def test_bad_input():
    s = ScatterMatrix(3)
    assert_raises_naming(ValueError, lambda: s.update(torch.zeros(4, 2)), "ScatterMatrix.update",
                         "'x'", "(..., 3)")
    assert_raises_naming(ValueError, lambda: s.update(torch.zeros(4, 3), torch.ones(3)),
                         "'weights'")
