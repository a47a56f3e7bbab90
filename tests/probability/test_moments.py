"""Moments and RunningMoments against NumPy, including weights and merges."""

import numpy as np
import pytest
import torch

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    check_gradients,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.probability import RunningMoments, corr, cov, mean, var


@pytest.mark.parametrize("correction", [0, 1])
def test_functions_match_numpy(rng, correction):
    x = rng.normal(size=(3, 40, 4)) * 5 + 2
    w = rng.random(40)
    t, tw = torch.from_numpy(x), torch.from_numpy(w)
    assert_close(mean(t, 1), x.mean(1))
    assert_close(mean(t, 1, weights=tw), np.average(x, axis=1, weights=w))
    assert_close(var(t, 1, correction=correction), x.var(1, ddof=correction))
    for b in range(3):
        assert_close(cov(t, correction=correction)[b], np.cov(x[b].T, ddof=correction))
        assert_close(cov(t, weights=tw, correction=correction)[b],
                     np.cov(x[b].T, aweights=w, ddof=correction))
        assert_close(var(t, 1, weights=tw, correction=correction)[b],
                     np.diag(np.cov(x[b].T, aweights=w, ddof=correction)))
        assert_close(corr(t)[b], np.corrcoef(x[b].T))
        # weighted correlation: normalized weighted covariance
        c = np.cov(x[b].T, aweights=w, ddof=0)
        sd = np.sqrt(np.diag(c))
        assert_close(corr(t, weights=tw)[b], c / np.outer(sd, sd))
        # one matrix (NumPy's syrk path of column_gram): same values, shape (d, d)
        for weights in (None, tw):
            got = cov(t[b], weights=weights, correction=correction)
            ref = np.cov(x[b].T, aweights=None if weights is None else w, ddof=correction)
            assert got.shape == (4, 4)
            assert_close(got, ref)


def test_gradients():
    check_gradients(lambda x: var(x, 0), torch.randn(6, 3))
    check_gradients(lambda x, w: cov(x, weights=w), torch.randn(2, 6, 3), torch.rand(6) + 0.1)
    check_gradients(lambda x: corr(x), torch.randn(6, 3))


@pytest.mark.parametrize("weighted", [False, True])
def test_running_moments_any_split_any_order(rng, weighted):
    x = torch.from_numpy(rng.normal(size=(70, 3)) * 1e6 + 5e6)  # features of scale 1e6
    w = torch.from_numpy(rng.random(70)) if weighted else None
    parts = []
    for i, (xb,) in enumerate(uneven_batches(x)):
        rm = RunningMoments(3)
        lo = sum(b[0].shape[0] for b in uneven_batches(x)[:i])
        rm.update(xb, None if w is None else w[lo:lo + xb.shape[0]])
        parts.append(rm)
    total = RunningMoments(3)
    for rm in parts[::2] + parts[1::2]:
        total.merge(rm)
    xn = x.numpy()
    wn = None if w is None else w.numpy()
    assert_close(total.mean, np.average(xn, axis=0, weights=wn), rtol=1e-12)
    assert_close(total.cov(0), np.cov(xn.T, aweights=wn, ddof=0), rtol=1e-10)
    if not weighted:
        assert_close(total.var(), xn.var(0, ddof=1), rtol=1e-10)
        assert_close(total.corr(), np.corrcoef(xn.T), rtol=1e-10)


def test_running_moments_fit_and_one_row_at_a_time():
    x = torch.randn(50, 4, dtype=torch.float64)
    whole = RunningMoments(4).fit(x)
    assert_close(whole.cov(), np.cov(x.numpy().T))
    one = RunningMoments(4)
    for row in x:  # Welford: one row at a time
        one.update(row)
    assert_close(one.mean, x.mean(0), rtol=1e-12)


def test_bad_input():
    x = torch.randn(5, 3)
    assert_raises_naming(ValueError, lambda: var(x, correction=2), "'correction'")
    assert_raises_naming(ValueError, lambda: cov(x, weights=torch.ones(4)), "'weights'")
    assert_raises_naming(ValueError, lambda: cov(x, weights=-torch.ones(5)), "'weights'")
    assert_raises_naming(ValueError, lambda: mean(x, 0, weights=torch.ones(4)), "'weights'")
    assert_raises_naming(ValueError, lambda: cov(x[:1]), "'x'")
    assert_raises_naming(ValueError, lambda: cov(torch.ones(3)), "'x'")
    assert_raises_naming(ValueError, lambda: corr(torch.ones(4, 2)), "'x'", "constant")
    rm = RunningMoments(3)
    with pytest.raises(NotFittedError, match="fit"):
        rm.cov()
    assert_raises_naming(ValueError, lambda: rm.update(torch.randn(4, 2)), "'x'")
    assert_raises_naming(ValueError, lambda: rm.update(torch.full((2, 3), float("nan"))), "'x'")
    assert_raises_naming(ValueError, lambda: rm.merge(RunningMoments(2)), "'other'")
    assert_raises_naming(ValueError, lambda: RunningMoments(0), "'dim'")


def test_running_moments_score_is_the_gaussian_log_likelihood():
    from scipy.stats import multivariate_normal

    x = torch.randn(50, 3, dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 2.0]], dtype=torch.float64)
    rm = RunningMoments(3).fit(x)
    xn = x.numpy()
    ref = multivariate_normal(xn.mean(0), np.cov(xn.T, ddof=0)).logpdf(xn)
    assert_close(rm.score_samples(x), ref, rtol=1e-10)
    assert_close(rm.score(x), ref.mean(), rtol=1e-10)
