"""Bayes' theorem, marginals and conditionals against hand-worked and NumPy references."""

import numpy as np
import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.probability import bayes_posterior, conditional, marginal


def test_diagnostic_test_by_hand():
    # P(ill | +) = 0.95 * 0.01 / (0.95 * 0.01 + 0.05 * 0.99), worked by hand.
    post = bayes_posterior(torch.tensor([0.99, 0.01], dtype=torch.float64),
                           torch.tensor([0.05, 0.95], dtype=torch.float64))
    expected = 0.95 * 0.01 / (0.95 * 0.01 + 0.05 * 0.99)
    assert_close(post, [1 - expected, expected])


@pytest.mark.parametrize("shape,dim", [((5,), -1), ((3, 4), -1), ((4, 2, 3), 1)])
def test_batched_matches_numpy(rng, shape, dim):
    prior = rng.random(shape)
    prior /= prior.sum(dim, keepdims=True)
    lik = rng.random(shape)
    ref = prior * lik / (prior * lik).sum(dim, keepdims=True)
    out = bayes_posterior(torch.from_numpy(prior), torch.from_numpy(lik), dim=dim)
    assert_close(out, ref)
    out_log = bayes_posterior(torch.from_numpy(np.log(prior)), torch.from_numpy(np.log(lik)),
                              dim=dim, log=True)
    assert_close(out_log, np.log(ref))


def test_broadcast_prior_over_batch_of_likelihoods(dtype):
    prior = torch.tensor([0.2, 0.3, 0.5], dtype=dtype)
    lik = torch.rand(6, 3, dtype=dtype)
    out = bayes_posterior(prior, lik)
    assert out.shape == (6, 3) and out.dtype == dtype
    assert_close(out.sum(-1), torch.ones(6, dtype=dtype))


def test_extreme_log_likelihoods_stay_finite():
    log_prior = torch.log(torch.tensor([0.5, 0.5], dtype=torch.float64))
    log_lik = torch.tensor([-1e4, -1e4 - 2.0], dtype=torch.float64)
    out = bayes_posterior(log_prior, log_lik, log=True)
    assert torch.isfinite(out).all()
    assert_close(out.exp(), [1 / (1 + np.exp(-2)), np.exp(-2) / (1 + np.exp(-2))])


def test_gradients():
    def f(p, lik):
        return bayes_posterior(p.softmax(-1), lik.exp())
    check_gradients(f, torch.randn(3, 4), torch.randn(3, 4))


def test_marginal_and_conditional_match_numpy(rng):
    joint = rng.random((3, 4, 2))
    joint /= joint.sum()
    j = torch.from_numpy(joint)
    assert_close(marginal(j, (1, 2)), joint.sum((1, 2)))
    assert_close(marginal(j, 0), joint.sum(0))
    cond = conditional(j, 0)  # p(y, z | x)
    assert_close(cond, joint / joint.sum((1, 2), keepdims=True))
    cond = conditional(j, 1, dim=0)  # p(x | y, z)
    assert_close(cond, joint / joint.sum(0, keepdims=True))
    # a batch of two tables
    batch = torch.stack([j[..., 0] / j[..., 0].sum(), j[..., 1] / j[..., 1].sum()])
    out = conditional(batch, 2, event_ndim=2)
    assert_close(out.sum(1), torch.ones(2, 4, dtype=torch.float64))


def test_bad_input():
    p = torch.tensor([0.5, 0.5])
    assert_raises_naming(ValueError, lambda: bayes_posterior(torch.tensor([0.7, 0.7]), p),
                         "bayes_posterior", "'prior'")
    assert_raises_naming(ValueError, lambda: bayes_posterior(torch.tensor([1.5, -0.5]), p),
                         "'prior'")
    assert_raises_naming(ValueError, lambda: bayes_posterior(p, torch.tensor([-1.0, 1.0])),
                         "'likelihood'")
    assert_raises_naming(ValueError, lambda: bayes_posterior(p, torch.tensor([float("nan"),
                                                                                1.0])),
                         "'likelihood'")
    assert_raises_naming(ValueError, lambda: bayes_posterior(p, torch.zeros(2)),
                         "'likelihood'", "zero evidence")
    assert_raises_naming(ValueError, lambda: bayes_posterior(p, torch.ones(3)), "'likelihood'")
    assert_raises_naming(TypeError, lambda: bayes_posterior([0.5, 0.5], p), "'prior'")
    table = torch.tensor([[0.5, 0.0], [0.5, 0.0]])
    assert_raises_naming(ValueError, lambda: conditional(table, 1), "'joint'", "zero")
    assert_raises_naming(ValueError, lambda: marginal(table * 2, 0), "'joint'", "sum to one")
    assert_raises_naming(ValueError, lambda: marginal(-table, 0), "'joint'")
    assert_raises_naming(ValueError, lambda: marginal(table, 5), "'dim'")
    assert_raises_naming(ValueError, lambda: conditional(table, 1, dim=1), "'dim'")
