"""AdaGrad and RMSProp against torch.optim.Adagrad and torch.optim.RMSprop."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close
from tests.optim._trajectory import (
    assert_resume_equals_uninterrupted,
    assert_same_trajectory,
    groups,
)
from torchmath.optim import AdaGrad, RMSProp, adagrad_update


def test_param_groups():
    assert_same_trajectory(lambda m: RMSProp(groups(m, (0.01, 0.001)), momentum=0.2),
                           lambda m: torch.optim.RMSprop(groups(m, (0.01, 0.001)),
                                                         momentum=0.2))


@pytest.mark.parametrize("make", [
    lambda m: AdaGrad(m.parameters(), lr=0.1, lr_decay=0.01),
    lambda m: RMSProp(m.parameters(), lr=0.005, momentum=0.5, centered=True),
])
def test_state_dict_resume(make):
    assert_resume_equals_uninterrupted(make)


def test_state_dict_interchanges_with_torch():
    # the state keys and step counters match torch's, so a torch state dict loads
    from tests.optim._trajectory import make_model, trajectory
    _, model, theirs = trajectory(lambda m: torch.optim.Adagrad(m.parameters(), lr=0.1), 30)
    ours = AdaGrad(model.parameters(), lr=0.1)
    ours.load_state_dict(theirs.state_dict())
    a, _, _ = trajectory(None, 20, model=model, opt=ours)
    model2 = make_model()
    model2.load_state_dict(model.state_dict())
    assert a.shape == (20, 57)


def test_lr_schedulers():
    sched = lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)
    assert_same_trajectory(lambda m: AdaGrad(m.parameters(), lr=0.1),
                           lambda m: torch.optim.Adagrad(m.parameters(), lr=0.1),
                           scheduler=sched)
    assert_same_trajectory(lambda m: RMSProp(m.parameters(), lr=0.005),
                           lambda m: torch.optim.RMSprop(m.parameters(), lr=0.005),
                           scheduler=sched)


def test_adagrad_kernel_formula(dtype):
    p = torch.tensor([1.0], dtype=dtype)
    s, t = [torch.zeros(1, dtype=dtype)], [torch.tensor(0.0)]
    adagrad_update([p], [torch.tensor([3.0], dtype=dtype)], s, t, lr=0.5)
    adagrad_update([p], [torch.tensor([4.0], dtype=dtype)], s, t, lr=0.5, lr_decay=1.0)
    # 1 - 0.5 * 3/3 - (0.5 / 2) * 4/5
    assert_close(p, [1 - 0.5 - 0.25 * 0.8], dtype=dtype)
    assert float(t[0]) == 2.0


def test_bad_hyperparameters():
    p = [torch.zeros(2, requires_grad=True)]
    for make, word in [(lambda: AdaGrad(p, lr=-1.0), "learning rate"),
                       (lambda: AdaGrad(p, lr_decay=-1.0), "lr_decay"),
                       (lambda: AdaGrad(p, eps=-1.0), "epsilon"),
                       (lambda: AdaGrad(p, initial_accumulator_value=-1.0),
                        "initial_accumulator_value"),
                       (lambda: RMSProp(p, alpha=-0.1), "alpha"),
                       (lambda: RMSProp(p, momentum=-0.1), "momentum"),
                       (lambda: RMSProp(p, weight_decay=-0.1), "weight_decay")]:
        with pytest.raises(ValueError, match=f"^(AdaGrad|RMSProp): Invalid {word}"):
            make()
    with pytest.raises(ValueError, match="^RMSProp: Tensor lr must be 1-element"):
        RMSProp(p, lr=torch.ones(3))
    with pytest.raises(RuntimeError, match="^AdaGrad: `fused` does not support"):
        AdaGrad(p, fused=True, differentiable=True)


def test_adagrad_tensor_lr_on_every_path():
    """The issue's crash: AdaGrad(foreach=True) with a Tensor lr (foreach is CUDA's
    default) now steps, equal to torch's."""
    for path in ({"foreach": True}, {"foreach": False}, {"fused": True}, {}):
        assert_same_trajectory(
            lambda m, path=path: AdaGrad(m.parameters(), lr=torch.tensor(0.05), **path),
            lambda m, path=path: torch.optim.Adagrad(m.parameters(), lr=torch.tensor(0.05),
                                                     **path), steps=25)
