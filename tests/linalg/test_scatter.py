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


def test_column_blocks_equal_the_joined_matrix():
    """update((X, Y)) reads the blocks side by side, without forming [X, Y]."""
    X = torch.randn(50, 3, dtype=torch.float64) * 1e3 + 1e4
    Y = torch.randn(50, 2, dtype=torch.float64)
    w = torch.rand(50, dtype=torch.float64)
    for weights in (None, w):
        joined, blocks = ScatterMatrix(5), ScatterMatrix(5)
        joined.update(torch.cat([X, Y], 1), weights)
        blocks.update((X[:20], Y[:20]), None if weights is None else weights[:20])
        blocks.update([X[20:], Y[20:]], None if weights is None else weights[20:])
        assert_close(blocks.mean, joined.mean, rtol=1e-12)
        assert_close(blocks.scatter, joined.scatter, rtol=1e-10, atol=1e-6)
        ref = np.cov(np.concatenate([X.numpy(), Y.numpy()], 1), rowvar=False, ddof=0,
                     aweights=None if weights is None else weights.numpy())
        assert_close(blocks.covariance(0), ref, rtol=1e-9, atol=1e-9)
    assert_raises_naming(ValueError, lambda: ScatterMatrix(5).update((X, Y[:10])),
                         "ScatterMatrix.update", "'x'")
    assert_raises_naming(ValueError, lambda: ScatterMatrix(4).update((X, Y)),
                         "ScatterMatrix.update", "'x'")
