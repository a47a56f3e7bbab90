"""Shattering on the textbook cases, the Sauer-Shelah bound, Rademacher complexity."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.special import comb

from tests.helpers import assert_close, assert_raises_naming
from torchmath.learning_theory import (
    all_labellings,
    can_shatter,
    empirical_rademacher_complexity,
    growth_function_bound,
    realizable_labellings,
    vc_dimension,
)

F64 = torch.float64


def pts(*rows):
    return torch.tensor(rows, dtype=F64)


def test_growth_function_against_binomial_sums():
    for n, d in [(5, 2), (3, 5), (10, 3), (0, 2), (7, 0)]:
        expected = sum(comb(n, i, exact=True) for i in range(min(n, d) + 1))
        assert_close(growth_function_bound(n, d), float(expected))
    big = growth_function_bound(torch.tensor([1e6], dtype=F64), 10, log=True)
    expected = math.log(sum(comb(10**6, i, exact=True) for i in range(11)))
    assert_close(big, [expected])
    out = growth_function_bound(torch.tensor([[4.0], [6.0]]), torch.tensor([1.0, 2.0, 3.0]))
    assert out.shape == (2, 3)


def test_all_labellings():
    labels = all_labellings(3)
    assert labels.shape == (8, 3)
    assert len({tuple(r.tolist()) for r in labels}) == 8


def test_threshold_shatters_one_point_not_two():
    assert bool(can_shatter(pts([0.3]), "threshold"))
    assert not bool(can_shatter(pts([0.0], [1.0]), "threshold"))


def test_intervals_shatter_two_points_not_three():
    assert bool(can_shatter(pts([0.0], [1.0]), "interval"))
    assert not bool(can_shatter(pts([0.0], [1.0], [2.0]), "interval"))
    # the one labelling an interval cannot realize: + - +
    ok = realizable_labellings(pts([0.0], [1.0], [2.0]), "interval")
    assert [i for i, r in enumerate(ok.tolist()) if not r] == [0b101]


def test_rectangles_shatter_a_diamond_not_five_points():
    diamond = pts([0, 1], [1, 0], [0, -1], [-1, 0])
    assert bool(can_shatter(diamond, "axis_aligned_rectangle"))
    assert not bool(can_shatter(pts([0, 1], [1, 0], [0, -1], [-1, 0], [0, 0]),
                                "axis_aligned_rectangle"))
    square = pts([0, 0], [1, 0], [0, 1], [1, 1])  # corners: opposite pair forces others in
    assert not bool(can_shatter(square, "axis_aligned_rectangle"))


def test_halfspaces_shatter_three_points_in_general_position_not_four():
    triangle = pts([0, 0], [1, 0], [0, 1])
    assert bool(can_shatter(triangle, "halfspace"))
    assert not bool(can_shatter(pts([0, 0], [1, 1], [2, 2]), "halfspace"))  # collinear
    g = torch.Generator().manual_seed(0)
    fours = torch.cat([
        pts([0, 0], [1, 0], [0, 1], [1, 1]).unsqueeze(0),  # XOR square
        pts([0, 0], [4, 0], [0, 4], [1, 1]).unsqueeze(0),  # a point inside a triangle
        torch.randn(6, 4, 2, generator=g, dtype=F64),
    ])
    shattered = can_shatter(fours, "halfspace")
    assert shattered.shape == (8,) and not bool(shattered.any())
    xor = realizable_labellings(fours[0], "halfspace")
    assert [i for i, r in enumerate(xor.tolist()) if not r] == [0b0110, 0b1001]


def test_balls():
    assert bool(can_shatter(pts([0, 0], [1, 0], [0, 1]), "ball"))
    assert not bool(can_shatter(pts([0, 0], [1, 0], [0, 1], [1, 1]), "ball"))
    assert bool(can_shatter(pts([0.0], [1.0]), "ball"))
    assert not bool(can_shatter(pts([0.0], [1.0], [2.0]), "ball"))


def test_duplicate_points_are_never_shattered():
    for cls in ("threshold", "interval", "axis_aligned_rectangle"):
        assert not bool(can_shatter(pts([1.0], [1.0]), cls))
    assert not bool(can_shatter(pts([1.0, 0.0], [1.0, 0.0]), "halfspace"))


def test_float32_points():
    assert bool(can_shatter(pts([0, 0], [1, 0], [0, 1]).float(), "halfspace"))


def test_vc_dimension_search():
    g = torch.Generator().manual_seed(0)
    assert vc_dimension("threshold", 1, generator=g) == 1
    assert vc_dimension("interval", 1, generator=g) == 2
    assert vc_dimension("axis_aligned_rectangle", 2, generator=g) == 4
    assert vc_dimension("axis_aligned_rectangle", 3, generator=g) == 6
    assert vc_dimension("halfspace", 2, n_trials=8, generator=g) == 3


def test_rademacher_exact_cases():
    # {h, -h} on two points: E|s1 + s2| / 2 = (2 + 0 + 0 + 2) / 4 / 2 = 1/2
    h = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=F64)
    assert_close(empirical_rademacher_complexity(h, n_draws=None), 0.5)
    # a single hypothesis: E[sum s_i h_i] / n = 0
    one = torch.tensor([[1.0, -1.0, 1.0]], dtype=F64)
    assert_close(empirical_rademacher_complexity(one, n_draws=None), 0.0)
    # every labelling of n points: the max always matches the signs -> 1
    every = all_labellings(4).to(F64) * 2 - 1
    assert_close(empirical_rademacher_complexity(every, n_draws=None), 1.0)


def test_rademacher_monte_carlo_and_batching():
    g = torch.Generator().manual_seed(0)
    outputs = torch.randn(3, 5, 10, generator=g, dtype=F64).sign()
    exact = empirical_rademacher_complexity(outputs, n_draws=None)
    mc = empirical_rademacher_complexity(outputs, n_draws=20000, generator=g)
    assert exact.shape == mc.shape == (3,)
    assert_close(mc, exact, atol=0.02, rtol=0)
    assert_close(exact[1], empirical_rademacher_complexity(outputs[1], n_draws=None))


def test_bad_input():
    assert_raises_naming(ValueError, lambda: can_shatter(pts([0.0]), "circle"),
                         "can_shatter", "hypothesis_class")
    assert_raises_naming(ValueError, lambda: can_shatter(pts([0.0, 1.0]), "interval"),
                         "points")
    assert_raises_naming(ValueError, lambda: can_shatter(torch.zeros(3, dtype=F64),
                                                         "halfspace"), "points")
    assert_raises_naming(TypeError, lambda: can_shatter(torch.zeros(2, 1, dtype=torch.long),
                                                        "threshold"), "points")
    assert_raises_naming(ValueError, lambda: can_shatter(torch.zeros(17, 1), "interval"),
                         "points")
    assert_raises_naming(ValueError, lambda: vc_dimension("interval", 2), "d")
    assert_raises_naming(ValueError, lambda: vc_dimension("ellipse", 2), "hypothesis_class")
    assert_raises_naming(ValueError, lambda: growth_function_bound(-1, 2), "n")
    assert_raises_naming(ValueError, lambda: growth_function_bound(3, -2), "vc_dim")
    assert_raises_naming(ValueError, lambda: empirical_rademacher_complexity(
        torch.zeros(3)), "outputs")
    assert_raises_naming(ValueError, lambda: empirical_rademacher_complexity(
        torch.zeros(2, 3), n_draws=0), "n_draws")


@pytest.mark.parametrize("cls", ["threshold", "interval", "axis_aligned_rectangle"])
def test_batched_equals_stacked(cls):
    g = torch.Generator().manual_seed(1)
    p = torch.randn(6, 3, 1, generator=g, dtype=F64)
    batched = realizable_labellings(p, cls)
    stacked = torch.stack([realizable_labellings(q, cls) for q in p])
    assert torch.equal(batched, stacked)


def test_all_labellings_refuses_a_table_that_cannot_fit():
    from torchmath.learning_theory import all_labellings

    assert_raises_naming(ValueError, lambda: all_labellings(40), "all_labellings", "'n'")
    assert all_labellings(3).shape == (8, 3)
