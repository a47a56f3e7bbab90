"""GradientDescent and Momentum against torch.optim.SGD, step by step."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close
from tests.optim._trajectory import (
    assert_resume_equals_uninterrupted,
    assert_same_trajectory,
    groups,
)
from torchmath.optim import GradientDescent, Momentum, gradient_descent_update, momentum_update


def test_param_groups_and_closure():
    assert_same_trajectory(lambda m: Momentum(groups(m, (0.05, 0.01)), lr=0.1, momentum=0.5),
                           lambda m: torch.optim.SGD(groups(m, (0.05, 0.01)), lr=0.1,
                                                     momentum=0.5),
                           closure_step=True)


@pytest.mark.parametrize("make", [
    lambda m: GradientDescent(m.parameters(), lr=0.1),
    lambda m: Momentum(m.parameters(), lr=0.05, momentum=0.9, nesterov=True),
])
def test_state_dict_resume(make):
    assert_resume_equals_uninterrupted(make)


def test_lr_schedulers():
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    assert_same_trajectory(lambda m: GradientDescent(m.parameters(), lr=0.2),
                           lambda m: torch.optim.SGD(m.parameters(), lr=0.2), scheduler=sched)
    cos = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    assert_same_trajectory(lambda m: Momentum(m.parameters(), lr=0.05),
                           lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9),
                           scheduler=cos)


def test_kernels_do_not_touch_grads_and_match_formula(dtype):
    p = torch.tensor([1.0, -2.0], dtype=dtype)
    g = torch.tensor([0.5, 0.5], dtype=dtype)
    g0 = g.clone()
    gradient_descent_update([p], [g], lr=0.1, weight_decay=0.2, maximize=True)
    # maximize: p - lr * (-g + wd * p)
    assert_close(p, [1.0 - 0.1 * (-0.5 + 0.2), -2.0 - 0.1 * (-0.5 - 0.4)], dtype=dtype)
    assert torch.equal(g, g0)
    bufs = [None]
    q = torch.zeros(2, dtype=dtype)
    for fe in (True, False):
        momentum_update([q], [g], bufs, lr=1.0, momentum=0.5, foreach=fe)
    # buffers: g, then 0.5 g + g; q = -(g + 1.5 g)
    assert_close(q, -2.5 * g0, dtype=dtype)


def test_mixed_devices_dtypes_foreach_groups():
    a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float32, requires_grad=True)
    opt = Momentum([a, b], lr=0.1, foreach=True)
    (a.sum() + b.sum()).backward()
    opt.step()
    assert_close(a, torch.full((3,), -0.1, dtype=torch.float64))
    assert_close(b, torch.full((2,), -0.1))


def test_bad_hyperparameters():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="^GradientDescent: Invalid learning rate: -0.1"):
        GradientDescent(p, lr=-0.1)
    with pytest.raises(ValueError, match="^Momentum: Tensor lr must be 1-element"):
        Momentum(p, lr=torch.ones(2))
    with pytest.raises(ValueError, match="^Momentum: Invalid weight_decay value: -1.0"):
        Momentum(p, lr=0.1, weight_decay=torch.tensor(-1.0))
    with pytest.raises(RuntimeError, match="^GradientDescent: `fused` and `foreach`"):
        GradientDescent(p, lr=0.1, fused=True, foreach=True)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        GradientDescent(p, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="Invalid momentum value"):
        Momentum(p, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="^Momentum: Nesterov momentum requires"):
        Momentum(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


def test_setstate_fills_new_options():
    opt = Momentum([torch.zeros(2, requires_grad=True)], lr=0.1)
    state = opt.__getstate__()
    for g in state["param_groups"]:
        del g["nesterov"], g["foreach"], g["maximize"]
    opt.__setstate__(state)
    assert opt.param_groups[0]["nesterov"] is False
    assert opt.param_groups[0]["foreach"] is None
