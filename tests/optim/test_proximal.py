"""Tests for torchmath.optim.proximal against NumPy formulas and the prox definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.optim import (
    prox_elastic_net,
    prox_l2,
    prox_nonneg,
    prox_squared_l2,
    soft_threshold,
)


def _away_from_kinks(*shape, lam=0.5, dtype=torch.float64):
    x = torch.randn(*shape, dtype=dtype)
    # keep |x| away from the threshold so finite differences do not straddle a kink
    return torch.where((x.abs() - lam).abs() < 0.05, x + 0.2 * torch.sign(x), x)


def test_soft_threshold_matches_numpy(dtype):
    x = torch.randn(4, 7, dtype=dtype)
    ref = np.sign(x.double().numpy()) * np.maximum(np.abs(x.double().numpy()) - 0.3, 0)
    assert_close(soft_threshold(x, 0.3), ref, dtype=dtype)
    assert soft_threshold(x, 0.3).dtype == dtype


def test_soft_threshold_exact_zeros_and_tensor_lam():
    x = torch.tensor([[-1.0, -0.2, 0.0, 0.2, 1.0]], dtype=torch.float64)
    lam = torch.tensor([0.5, 0.5, 0.5, 0.1, 2.0], dtype=torch.float64)
    out = soft_threshold(x, lam)
    assert torch.equal(out == 0, torch.tensor([[False, True, True, False, True]]))
    assert_close(out, [[-0.5, 0.0, 0.0, 0.1, 0.0]])


def test_soft_threshold_is_the_prox_by_scalar_minimization():
    # prox_{lam |.|}(v) = argmin_z lam |z| + (z - v)^2 / 2, solved numerically by SciPy.
    for v in (-2.3, -0.1, 0.4, 1.7):
        ref = minimize_scalar(lambda z, v=v: 0.7 * abs(z) + 0.5 * (z - v) ** 2,
                              bounds=(-5, 5), method="bounded", options={"xatol": 1e-10}).x
        assert_close(soft_threshold(torch.tensor(v, dtype=torch.float64), 0.7), ref,
                     atol=1e-7)


def test_prox_elastic_net_formula_and_limits(dtype):
    x = torch.randn(3, 5, dtype=dtype)
    xn, lam, r = x.double().numpy(), 0.4, 0.3
    ref = np.sign(xn) * np.maximum(np.abs(xn) - lam * r, 0) / (1 + lam * (1 - r))
    assert_close(prox_elastic_net(x, lam, r), ref, dtype=dtype)
    assert_close(prox_elastic_net(x, lam, 1.0), soft_threshold(x, lam), dtype=dtype)
    assert_close(prox_elastic_net(x, lam, 0.0), x / (1 + lam), dtype=dtype)
    z = prox_elastic_net(torch.tensor([0.1, -0.1, 3.0], dtype=dtype), 1.0, 0.5)
    assert z[0] == 0 and z[1] == 0 and z[2] != 0


def test_prox_elastic_net_is_the_prox_by_scalar_minimization():
    lam, r = 0.8, 0.6
    for v in (-2.0, 0.3, 1.1):
        obj = lambda z, v=v: lam * (r * abs(z) + 0.5 * (1 - r) * z * z) + 0.5 * (z - v) ** 2
        ref = minimize_scalar(obj, bounds=(-5, 5), method="bounded",
                              options={"xatol": 1e-10}).x
        assert_close(prox_elastic_net(torch.tensor(v, dtype=torch.float64), lam, r), ref,
                     atol=1e-7)


def test_prox_l2_block_shrinkage(dtype):
    x = torch.randn(6, 4, dtype=dtype)
    xn = x.double().numpy()
    norm = np.linalg.norm(xn, axis=-1, keepdims=True)
    lam = np.median(norm)
    ref = np.maximum(1 - lam / norm, 0) * xn
    out = prox_l2(x, float(lam))
    assert_close(out, ref, dtype=dtype)
    assert (out.abs().sum(-1) == 0).sum() >= 3  # blocks below the median are exactly zero
    assert torch.equal(prox_l2(torch.zeros(2, 3, dtype=dtype), 1.0), torch.zeros(2, 3,
                                                                                 dtype=dtype))
    assert_close(prox_l2(x.mT, float(lam), dim=0), ref.T, dtype=dtype)


def test_prox_squared_l2_and_nonneg():
    x = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    assert_close(prox_squared_l2(x, 0.5), [-2 / 1.5, 0.5 / 1.5, 2.0])
    assert torch.equal(prox_nonneg(x), torch.tensor([0.0, 0.5, 3.0], dtype=torch.float64))


def test_gradients_batched():
    x = _away_from_kinks(3, 4)
    lam = torch.full((4,), 0.5, dtype=torch.float64)
    check_gradients(soft_threshold, x, lam)
    check_gradients(lambda a, b: prox_elastic_net(a, b, 0.4), x, lam)
    check_gradients(prox_squared_l2, x, lam)
    blocks = torch.randn(3, 4, dtype=torch.float64) * 2
    check_gradients(lambda a: prox_l2(a, 0.1), blocks)


def test_input_does_not_change():
    x = torch.randn(5, dtype=torch.float64)
    copy = x.clone()
    soft_threshold(x, 0.5), prox_elastic_net(x, 0.5, 0.5), prox_l2(x, 0.5)
    assert torch.equal(x, copy)


@pytest.mark.parametrize("fn", [soft_threshold, prox_l2, prox_squared_l2, prox_nonneg,
                                lambda x, lam: prox_elastic_net(x, lam, 0.5)])
def test_bad_input(fn):
    x = torch.randn(3)
    assert_raises_naming(ValueError, lambda: fn(x, -1.0), "lam")
    assert_raises_naming(TypeError, lambda: fn(torch.arange(3), 1.0), "'x'")


def test_bad_l1_ratio():
    assert_raises_naming(ValueError, lambda: prox_elastic_net(torch.randn(3), 1.0, 1.5),
                         "prox_elastic_net", "l1_ratio")
