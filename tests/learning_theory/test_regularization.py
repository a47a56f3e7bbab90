"""Penalties by hand, their gradients, and the Regularizer's parameter selection."""

from __future__ import annotations

import torch

import torchmath.optim
from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.learning_theory import (
    Regularizer,
    annealed_weight,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    prox_elastic_net,
    soft_threshold,
)

F64 = torch.float64


def test_penalties_by_hand():
    a = torch.tensor([1.0, -2.0], dtype=F64)
    b = torch.tensor([[3.0]], dtype=F64)
    assert_close(l1_penalty([a, b]), 6.0)
    assert_close(l2_penalty([a, b]), 14.0)
    # 0.25 * 6 + 0.75 / 2 * 14
    assert_close(elastic_net_penalty([a, b], l1_ratio=0.25), 1.5 + 5.25)
    assert_close(elastic_net_penalty(a, 1.0), l1_penalty(a))
    assert_close(elastic_net_penalty(a, 0.0), 0.5 * l2_penalty(a))


def test_penalties_accept_a_module():
    net = torch.nn.Linear(3, 2)
    expected = sum(p.abs().sum() for p in net.parameters())
    assert_close(l1_penalty(net), expected)


def test_gradients():
    x = torch.tensor([[0.5, -1.5, 2.0], [1.0, -0.3, 0.7]], dtype=F64)
    check_gradients(lambda t: l1_penalty(t), x)
    check_gradients(lambda t: l2_penalty(t), x)
    check_gradients(lambda t: elastic_net_penalty(t, 0.3), x)


def test_proximal_operators_are_the_optim_ones():
    assert soft_threshold is torchmath.optim.soft_threshold
    assert prox_elastic_net is torchmath.optim.prox_elastic_net


def test_regularizer_selection():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    everything = Regularizer(net, l1=0.1)
    assert_close(everything.penalty(), 0.1 * l1_penalty(net).detach())
    weights = Regularizer(net, l2=0.5, include="weights")
    assert weights.names == ["0.weight", "2.weight"]
    assert_close(weights.penalty(), 0.5 * (net[0].weight.square().sum()
                                           + net[2].weight.square().sum()).detach())
    pattern = Regularizer(net, l1=1.0, include=["2.*"])
    assert pattern.names == ["2.weight", "2.bias"]
    fn = Regularizer(net, l1=1.0, include=lambda name, p: name.endswith("bias"))
    assert fn.names == ["0.bias", "2.bias"]
    loss = torch.tensor(2.0)
    total = weights(loss)
    total.backward()
    assert net[0].weight.grad is not None and net[0].bias.grad is None


def test_regularizer_bad_input():
    net = torch.nn.Linear(2, 1)
    assert_raises_naming(ValueError, lambda: Regularizer(net, l1=-1.0), "Regularizer", "l1")
    assert_raises_naming(ValueError, lambda: Regularizer(net, include="nothing*"), "include")
    assert_raises_naming(TypeError, lambda: Regularizer("net"), "module")
    assert_raises_naming(ValueError, lambda: elastic_net_penalty(net, 1.5), "l1_ratio")
    assert_raises_naming(TypeError, lambda: l1_penalty(3.0), "params")
    assert_raises_naming(ValueError, lambda: l2_penalty([]), "params")


def test_annealed_weight():
    assert [annealed_weight(s, 0.0, 1.0, 4) for s in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    assert annealed_weight(2, 1.0, 0.0, 4, kind="cosine") == 0.5  # 1 - (1 - cos(pi/2))/2
    assert annealed_weight(0, 0.0, 1.0, 4, kind="sigmoid") == 0.0
    # two cycles over 8 steps: ramps over steps 0-1 and 4-5, plateaus at 1
    assert [annealed_weight(s, 0.0, 1.0, 8, cycles=2) for s in range(9)] == \
        [0, 0.5, 1, 1, 0, 0.5, 1, 1, 1]
    assert_raises_naming(ValueError, lambda: annealed_weight(-1), "step")
    assert_raises_naming(ValueError, lambda: annealed_weight(0, n_steps=0), "n_steps")
    assert_raises_naming(ValueError, lambda: annealed_weight(0, kind="exp"), "kind")
