"""PAC bounds against the textbook formulas, worked by hand with ``math``."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.learning_theory import (
    hoeffding_bound,
    log_growth_bound,
    pac_generalization_bound,
    pac_sample_complexity,
    vc_generalization_bound,
)


def test_finite_realizable_sample_complexity():
    # SSBD Cor 2.3: ceil(ln(|H|/delta)/eps) = ceil(ln(20000)/0.1) = ceil(99.03) = 100
    assert int(pac_sample_complexity(0.1, 0.05, hypothesis_count=1000)) == 100
    assert math.ceil(math.log(1000 / 0.05) / 0.1) == 100


def test_finite_agnostic_sample_complexity():
    # SSBD Cor 4.6: ceil(2 ln(2|H|/delta)/eps^2) = ceil(2 ln(40000) / 0.01) = 2120
    expected = math.ceil(2 * math.log(2 * 1000 / 0.05) / 0.1 ** 2)
    assert expected == 2120
    got = pac_sample_complexity(0.1, 0.05, hypothesis_count=1000, realizable=False)
    assert int(got) == expected


def test_vc_realizable_sample_complexity_blumer():
    # max(4/eps log2(2/delta), 8d/eps log2(13/eps)) = max(212.9, 1685.4) -> 1686
    a = 4 / 0.1 * math.log2(2 / 0.05)
    b = 8 * 3 / 0.1 * math.log2(13 / 0.1)
    assert math.ceil(max(a, b)) == 1686
    assert int(pac_sample_complexity(0.1, 0.05, vc_dim=3)) == 1686


def _mohri(n, d, delta):
    growth = n * math.log(2) if n <= d else d * math.log(math.e * n / d)
    return math.sqrt(2 * growth / n) + math.sqrt(math.log(1 / delta) / (2 * n))


def test_vc_agnostic_sample_complexity_is_smallest_n_with_half_epsilon():
    m = int(pac_sample_complexity(0.2, 0.05, vc_dim=3, realizable=False))
    assert _mohri(m, 3, 0.05) <= 0.1 < _mohri(m - 1, 3, 0.05)


def test_generalization_bounds_by_hand():
    # finite realizable: ln(100/0.05)/1000
    assert_close(pac_generalization_bound(1000, 0.05, hypothesis_count=100),
                 math.log(2000) / 1000)
    # finite agnostic: sqrt(ln(2*100/0.05)/(2*1000))
    assert_close(pac_generalization_bound(1000, 0.05, hypothesis_count=100, realizable=False),
                 math.sqrt(math.log(4000) / 2000))
    # VC realizable: (2/n)(d log2(2en/d) + log2(2/delta))
    expected = 2 / 1000 * (3 * math.log2(2 * math.e * 1000 / 3) + math.log2(40))
    assert_close(pac_generalization_bound(1000, 0.05, vc_dim=3), expected)
    # VC agnostic: Mohri et al.
    assert_close(pac_generalization_bound(1000, 0.05, vc_dim=3, realizable=False),
                 _mohri(1000, 3, 0.05))
    assert_close(vc_generalization_bound(1000, 3, 0.05), _mohri(1000, 3, 0.05))
    assert_close(vc_generalization_bound(2, 3, 0.05), _mohri(2, 3, 0.05))


def test_sample_complexity_is_consistent_with_the_bound():
    m = int(pac_sample_complexity(0.05, 0.01, hypothesis_count=500))
    bound = lambda n: float(pac_generalization_bound(n, 0.01, hypothesis_count=500))
    assert bound(m) <= 0.05 < bound(m - 1)


def test_hoeffding_by_hand():
    assert_close(hoeffding_bound(100, 0.05), math.sqrt(math.log(2 / 0.05) / 200))
    assert_close(hoeffding_bound(100, 0.05, one_sided=True), math.sqrt(math.log(20) / 200))
    assert_close(hoeffding_bound(100, 0.05, value_range=2.0),
                 2 * math.sqrt(math.log(40) / 200))


def test_hoeffding_holds_empirically():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4000, 50, generator=g, dtype=torch.float64)
    eps = float(hoeffding_bound(50, 0.1))
    fail_rate = float(((x.mean(1) - 0.5).abs() >= eps).double().mean())
    assert fail_rate <= 0.1


def test_broadcasting_and_dtype():
    eps = torch.tensor([[0.05], [0.1], [0.2]])
    delta = torch.tensor([0.01, 0.1])
    m = pac_sample_complexity(eps, delta, vc_dim=torch.tensor(5.0))
    assert m.shape == (3, 2) and m.dtype == torch.int64
    for i in range(3):
        for j in range(2):
            assert int(m[i, j]) == int(pac_sample_complexity(float(eps[i, 0]),
                                                             float(delta[j]), vc_dim=5))
    m = pac_sample_complexity(eps, delta, vc_dim=5, realizable=False)
    assert m.shape == (3, 2)
    assert (m[0] > m[1]).all() and (m[1] > m[2]).all()
    b = pac_generalization_bound(torch.tensor([100.0, 1000.0], dtype=torch.float32), 0.05,
                                 hypothesis_count=10)
    assert b.dtype == torch.float32 and b.shape == (2,)
    assert hoeffding_bound(torch.tensor([10.0, 20.0]), torch.tensor([[0.1], [0.2]])).shape \
        == (2, 2)


def test_log_growth_bound():
    assert_close(log_growth_bound(torch.tensor([1.0, 10.0], dtype=torch.float64),
                                  torch.tensor(2.0, dtype=torch.float64)),
                 [math.log(2), 2 * math.log(math.e * 10 / 2)])
    assert float(log_growth_bound(torch.tensor(5.0), torch.tensor(0.0))) == 0.0


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1])
def test_epsilon_and_delta_outside_unit_interval(bad):
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(bad, 0.1, vc_dim=2),
                         "pac_sample_complexity", "epsilon")
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(0.1, bad, vc_dim=2),
                         "delta")
    assert_raises_naming(ValueError, lambda: pac_generalization_bound(10, bad, vc_dim=2),
                         "delta")
    assert_raises_naming(ValueError, lambda: hoeffding_bound(10, bad), "delta")
    assert_raises_naming(ValueError, lambda: vc_generalization_bound(10, 2, bad), "delta")


def test_bad_counts_and_dimensions():
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(0.1, 0.1, vc_dim=-1),
                         "vc_dim")
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(
        0.1, 0.1, hypothesis_count=0), "hypothesis_count")
    assert_raises_naming(ValueError, lambda: pac_generalization_bound(
        10, 0.1, vc_dim=torch.tensor([1.0, -2.0])), "vc_dim")
    assert_raises_naming(ValueError, lambda: pac_generalization_bound(0, 0.1, vc_dim=1), "n")
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(0.1, 0.1),
                         "hypothesis_count", "vc_dim")
    assert_raises_naming(ValueError, lambda: pac_sample_complexity(
        0.1, 0.1, hypothesis_count=3, vc_dim=2), "hypothesis_count", "vc_dim")
    assert_raises_naming(ValueError, lambda: hoeffding_bound(10, 0.1, value_range=0.0),
                         "value_range")
    assert_raises_naming(TypeError, lambda: hoeffding_bound("10", 0.1), "n")
    assert_raises_naming(ValueError, lambda: vc_generalization_bound(10, -1, 0.1), "vc_dim")
