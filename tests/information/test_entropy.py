"""Entropy, joint/conditional entropy, self-information, Gaussian and k-NN entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    check_gradients,
    rand_simplex,
    rand_spd,
)
from torchmath.information import (
    conditional_entropy,
    entropy,
    gaussian_entropy,
    joint_entropy,
    knn_entropy,
    self_information,
)


def test_entropy_matches_scipy_all_forms(dtype):
    p = rand_simplex(4, 6, dtype=dtype)
    ref = scipy.stats.entropy(p.double().numpy(), axis=-1)
    assert_close(entropy(probs=p), ref)
    assert_close(entropy(log_probs=p.log()), ref)
    assert_close(entropy(logits=p.log() + 3.0), ref)
    assert_close(entropy(probs=p, base=2), scipy.stats.entropy(p.double().numpy(), axis=-1,
                                                              base=2))
    assert entropy(probs=p).dtype == dtype


def test_entropy_dim_and_categorical():
    p = rand_simplex(5, 3)
    assert_close(entropy(probs=p.T, dim=0), torch.distributions.Categorical(p).entropy())


def test_zero_probabilities_are_zero_log_zero():
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    h = entropy(probs=p)
    assert_close(h, math.log(2))
    h.backward()
    assert torch.isfinite(p.grad[:2]).all()
    assert_close(entropy(logits=torch.tensor([0.0, 0.0, -math.inf])), math.log(2), rtol=1e-6)
    si = self_information(probs=p.detach())
    assert si[2] == math.inf and not torch.isnan(si).any()


def test_self_information_expectation_is_entropy():
    p = rand_simplex(3, 5)
    assert_close((p * self_information(probs=p)).sum(-1), entropy(probs=p))
    assert_close(self_information(probs=torch.tensor([0.25], dtype=torch.float64).expand(4),
                                  base=2), torch.full((4,), 2.0, dtype=torch.float64))


def test_joint_and_conditional_entropy_chain_rule():
    joint = rand_simplex(2, 12).reshape(2, 3, 4)
    px, py = joint.sum(-1), joint.sum(-2)
    ref_joint = scipy.stats.entropy(joint.reshape(2, -1).numpy(), axis=-1)
    assert_close(joint_entropy(joint), ref_joint)
    assert_close(conditional_entropy(joint, given_dim=1), ref_joint - entropy(probs=py).numpy())
    assert_close(conditional_entropy(joint, given_dim=0), ref_joint - entropy(probs=px).numpy())
    assert_close(conditional_entropy(joint, -2), conditional_entropy(joint, 0))
    # Independent variables: H(X|Y) = H(X).
    indep = px[0][:, None] * py[0][None, :]
    assert_close(conditional_entropy(indep), entropy(probs=px[0]))


def test_gaussian_entropy_matches_torch_and_scipy(dtype):
    cov = rand_spd(3, d=4, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(torch.zeros(4, dtype=torch.float64),
                                                 cov).entropy()
    assert_close(gaussian_entropy(cov.to(dtype)), ref)
    assert_close(gaussian_entropy(cov[0]), scipy.stats.multivariate_normal(
        np.zeros(4), cov[0].numpy()).entropy())


def test_knn_entropy_gaussian_and_formula():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3000, 2, generator=g, dtype=torch.float64)
    true = gaussian_entropy(torch.eye(2, dtype=torch.float64))
    # Finite-sample bias and noise of the estimator are a few hundredths at n = 3000.
    assert abs(float(knn_entropy(x, k=4)) - float(true)) < 0.1
    # Hand-worked: 1-D points 0, 1, 3 with k = 1: eps = 1, 1, 2; V_1 = 2.
    pts = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    from scipy.special import digamma
    ref = digamma(3) - digamma(1) + math.log(2) + math.log(2) / 3
    assert_close(knn_entropy(pts, k=1), ref)
    # Batched equals stacked.
    xb = torch.randn(2, 50, 3, dtype=torch.float64)
    assert_close(knn_entropy(xb), torch.stack([knn_entropy(xb[0]), knn_entropy(xb[1])]))


def test_gradients():
    p = rand_simplex(2, 4)
    check_gradients(lambda t: entropy(probs=t / t.sum(-1, keepdim=True)), p)
    check_gradients(lambda t: entropy(logits=t), torch.randn(2, 4))
    check_gradients(lambda t: entropy(log_probs=t.log_softmax(-1)), torch.randn(2, 4))
    check_gradients(lambda t: self_information(logits=t), torch.randn(2, 3))
    joint = rand_simplex(2, 6).reshape(2, 2, 3)
    check_gradients(lambda t: joint_entropy(t / t.sum((-2, -1), keepdim=True)), joint)
    check_gradients(lambda t: conditional_entropy(t / t.sum((-2, -1), keepdim=True)), joint)
    A = torch.randn(2, 2, 2, dtype=torch.float64)
    check_gradients(lambda a: gaussian_entropy(a @ a.mT + torch.eye(2, dtype=a.dtype)), A)
    check_gradients(lambda t: knn_entropy(t, k=2), torch.randn(2, 6, 2))


def test_bad_input():
    p = torch.tensor([0.5, 0.5])
    assert_raises_naming(ValueError, lambda: entropy(probs=p, logits=p), "probs", "logits")
    assert_raises_naming(ValueError, lambda: entropy(), "probs", "logits", "log_probs")
    assert_raises_naming(ValueError, lambda: entropy(probs=torch.tensor([0.5, 0.6])),
                         "entropy", "probs")
    assert_raises_naming(ValueError, lambda: entropy(probs=torch.tensor([1.5, -0.5])),
                         "probs")
    assert_raises_naming(ValueError, lambda: entropy(log_probs=torch.zeros(2)), "log_probs")
    assert_raises_naming(ValueError, lambda: entropy(probs=p, base=1), "base")
    assert_raises_naming(ValueError, lambda: joint_entropy(torch.full((2, 2), 0.3)), "joint")
    assert_raises_naming(ValueError, lambda: conditional_entropy(torch.full((2, 2), 0.25), 2),
                         "given_dim")
    assert_raises_naming(ValueError, lambda: knn_entropy(torch.randn(5, 1), k=5), "k")
    assert_raises_naming(ValueError, lambda: gaussian_entropy(-torch.eye(2)), "cov")
    assert_raises_naming(TypeError, lambda: entropy(probs=torch.tensor([1, 0])), "probs")


@settings(derandomize=True, deadline=None, max_examples=40)
@given(st.lists(st.floats(0.0, 10.0), min_size=2, max_size=8).filter(lambda v: sum(v) > 0.1))
def test_entropy_bounds_property(weights):
    p = torch.tensor(weights, dtype=torch.float64)
    p = p / p.sum()
    h = float(entropy(probs=p))
    assert -1e-12 <= h <= math.log(len(weights)) + 1e-12
    assert h == pytest.approx(scipy.stats.entropy(p.numpy()), abs=1e-12)


def test_self_information_is_element_wise_on_probabilities():
    # issue 15: surprisal needs no normalization (these do not sum to one)
    p = torch.tensor([0.5, 0.25, 0.125, 0.0], dtype=torch.float64)
    out = self_information(probs=p, base=2)
    assert_close(out, torch.tensor([1.0, 2.0, 3.0, math.inf], dtype=torch.float64))
    assert_close(self_information(log_probs=p[:3].log()), -p[:3].log())
    assert_raises_naming(ValueError, lambda: self_information(probs=torch.tensor([1.5])),
                         "self_information", "'probs'")
    assert_raises_naming(ValueError, lambda: self_information(log_probs=torch.tensor([0.5])),
                         "self_information", "'log_probs'")


def test_knn_entropy_refuses_more_than_k_coinciding_samples():
    x = torch.randn(20, 2, dtype=torch.float64)
    x[:5] = 0.0  # 5 copies: the 3rd neighbour of each is at distance 0 (estimate -inf)
    assert_raises_naming(ValueError, lambda: knn_entropy(x, 3), "knn_entropy", "'x'")
    assert torch.isfinite(knn_entropy(x, 5))
