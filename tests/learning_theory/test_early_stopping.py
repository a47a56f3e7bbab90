"""EarlyStopping for a plain loop: a loss table pins the stop, best weights come back."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import assert_raises_naming
from torchmath.learning_theory import EarlyStopping


def run(stopper, losses, model=None):
    """Feed a loss table; the model's weight is set to the epoch number before each check."""
    for epoch, loss in enumerate(losses):
        if model is not None:
            with torch.no_grad():
                model.weight.fill_(float(epoch))
        if stopper.step(loss, model):
            return epoch
    return None


def test_loss_table_pins_the_stop_and_restores_best_weights():
    net = torch.nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(patience=2)
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0]
    # best 3.0 at epoch 2; epochs 3 and 4 do not improve -> stop at epoch 4
    assert run(stopper, losses, net) == 4
    assert stopper.best_score == 3.0 and stopper.best_epoch == 2
    assert stopper.stopped and "no improvement" in stopper.stop_reason
    assert float(net.weight.detach()) == 2.0  # the weights of epoch 2 are back


def test_min_delta_max_mode_and_patience_zero():
    stopper = EarlyStopping(patience=1, min_delta=0.5)
    assert run(stopper, [1.0, 0.8, 0.2]) == 1  # 0.8 is not better than 1.0 - 0.5
    up = EarlyStopping(patience=2, mode="max")
    assert run(up, [0.1, 0.5, 0.4, 0.6, 0.6, 0.55]) == 5
    assert up.best_score == 0.6 and up.best_epoch == 3
    assert run(EarlyStopping(patience=0), [1.0, 2.0]) == 1


def test_warmup_ignores_the_first_checks():
    stopper = EarlyStopping(patience=1, warmup=2)
    assert run(stopper, [1.0, 2.0, 3.0, 2.5, 2.6]) == 4
    assert stopper.best_epoch == 3


def test_nan_stops_with_a_message():
    net = torch.nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(patience=10)
    assert run(stopper, [2.0, 1.0, math.nan, 0.5], net) == 2
    assert "nan" in stopper.stop_reason.lower()
    assert float(net.weight.detach()) == 1.0


def test_tensor_metrics_and_restore_without_stop():
    net = torch.nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(patience=3)
    run(stopper, [torch.tensor(3.0), torch.tensor([1.0]), torch.tensor(2.0)], net)
    assert not stopper.stopped
    assert stopper.restore(net) and float(net.weight.detach()) == 1.0
    assert not EarlyStopping().restore(net)


def test_state_dict_resumes_exactly():
    net = torch.nn.Linear(1, 1, bias=False)
    full = EarlyStopping(patience=2)
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0]
    stop_full = run(full, losses, net)
    first = EarlyStopping(patience=2)
    run(first, losses[:3], net)
    state = first.state_dict()
    assert state["best_state"]["weight"].device.type == "cpu"
    resumed = EarlyStopping(patience=2)
    resumed.load_state_dict(state)
    assert resumed.best_score == 3.0 and resumed.best_epoch == 2
    later = [resumed.step(v, net) for v in losses[3:]]
    assert later.index(True) + 3 == stop_full
    assert float(net.weight.detach()) == 2.0  # set to 4 by no one: restored best weights of epoch 2
    old = EarlyStopping(patience=2)
    old.load_state_dict({"best_score": torch.tensor(1.5), "wait": 1})  # an older state
    assert old.best_score == 1.5 and old.wait == 1 and old.best_state is None


def test_bad_input():
    assert_raises_naming(ValueError, lambda: EarlyStopping(patience=-1), "EarlyStopping",
                         "patience")
    assert_raises_naming(ValueError, lambda: EarlyStopping(mode="lowest"), "mode")
    assert_raises_naming(ValueError, lambda: EarlyStopping(min_delta=-0.1), "min_delta")
    assert_raises_naming(ValueError, lambda: EarlyStopping(warmup=-2), "warmup")
    assert_raises_naming(ValueError, lambda: EarlyStopping().step(torch.ones(2)), "metric")
    with pytest.raises(TypeError):
        EarlyStopping().step("1.0")
