"""The parity matrix: every torchmath optimizer against its torch.optim counterpart, for
each keyword combination x path (per-parameter, foreach, fused, default), 25 steps of a
small float64 MLP.

Where torch accepts the combination on CPU, the trajectories agree to 1e-10; where torch
refuses it (a Tensor lr with foreach, capturable on CPU, differentiable with leaf
parameters...), torchmath raises the same exception type with torch's message in its own.
"""

from __future__ import annotations

import functools
import sys

import pytest
import torch

import torchmath.optim._common as common
from tests.helpers import assert_close
from tests.optim._trajectory import mlp_params, mlp_resume_equals_uninterrupted, mlp_trajectory
from torchmath.optim import AdaGrad, Adam, GradientDescent, Momentum, RMSProp

T = torch.tensor

#: name -> (ours, torch's, base keywords, keyword combinations, paths beyond foreach on/off)
OPTIMIZERS = {
    "Adam": (Adam, torch.optim.Adam, {"lr": 0.01}, [
        {},
        {"amsgrad": True, "weight_decay": 0.1},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
        {"maximize": True, "betas": (0.8, 0.95), "eps": 1e-6},
        {"lr": T(0.02)},
        {"betas": (T(0.8), T(0.95))},
        {"capturable": True},
        {"differentiable": True},
    ], ("fused", "default")),
    "Momentum": (Momentum, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}, [
        {},
        {"nesterov": True, "weight_decay": 0.01},
        {"momentum": 0.8, "dampening": 0.3, "maximize": True},
        {"lr": T(0.02), "weight_decay": T(0.01)},
        {"differentiable": True},
    ], ("fused", "default")),
    "GradientDescent": (GradientDescent, torch.optim.SGD, {"lr": 0.1}, [
        {},
        {"weight_decay": 0.05, "maximize": True},
        {"lr": T(0.1)},
    ], ("fused",)),
    "RMSProp": (RMSProp, torch.optim.RMSprop, {"lr": 0.005}, [
        {},
        {"momentum": 0.5, "centered": True, "weight_decay": 0.01},
        {"alpha": 0.9, "eps": 1e-6, "maximize": True, "momentum": 0.3},
        {"lr": T(0.005), "momentum": 0.2},
        {"capturable": True},
        {"differentiable": True},
    ], ("default",)),
    "AdaGrad": (AdaGrad, torch.optim.Adagrad, {"lr": 0.05}, [
        {},
        {"lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
        {"maximize": True, "eps": 1e-8},
        {"lr": T(0.05)},
        {"differentiable": True},
    ], ("fused",)),
}
PATHS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True},
         "fused": {"fused": True}, "default": {}}


def _cases():
    for name, (_, _, _, combos, extra) in OPTIMIZERS.items():
        for i in range(len(combos)):
            for path in ("for-loop", "foreach", *extra):
                yield pytest.param(name, i, path, id=f"{name}-{i}-{path}")


@functools.cache
def _reference(name: str, i: int, fused: bool = False):
    """torch.optim's per-parameter (or fused) trajectory for one combination, or its
    error."""
    _, theirs, base, combos, _ = OPTIMIZERS[name]
    path = {"fused": True} if fused else {"foreach": False}
    try:
        return mlp_trajectory(lambda ps: theirs(ps, **{**base, **combos[i], **path}))[0]
    except Exception as error:  # noqa: BLE001  (torch refused: ours must refuse alike)
        return error


def _outcome(make, steps: int = 25):
    try:
        return mlp_trajectory(make, steps)[0], None
    except Exception as error:  # noqa: BLE001
        return None, error


@pytest.mark.parametrize(("name", "i", "path"), list(_cases()))
def test_parity_matrix(name, i, path):
    ours, theirs, base, combos, _ = OPTIMIZERS[name]
    kwargs = {**base, **combos[i], **PATHS[path]}
    # does torch accept this combination on this path? (two steps show it)
    _, torch_error = _outcome(lambda ps: theirs(ps, **kwargs), 2) if path != "default" \
        else (None, _reference(name, i) if isinstance(_reference(name, i), Exception)
              else None)
    result, our_error = _outcome(lambda ps: ours(ps, **kwargs))
    if torch_error is not None:
        assert type(our_error) is type(torch_error), (our_error, torch_error)
        assert str(torch_error) in str(our_error)
        return
    assert our_error is None, our_error
    reference = _reference(name, i, path == "fused")
    assert not isinstance(reference, Exception), reference
    assert (result[-1] - result[0]).abs().max() > 1e-3, "the trajectory did not move"
    assert_close(result, reference, rtol=0, atol=1e-10)


CAPTURABLE = {
    "Adam": [{"lr": 0.01}, {"lr": T(0.01), "amsgrad": True, "weight_decay": 0.1},
             {"lr": 0.01, "betas": (T(0.8), T(0.95)), "maximize": True}],
    "RMSProp": [{"lr": 0.005}, {"lr": T(0.005), "momentum": 0.5, "centered": True}],
}


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(("name", "kwargs"), [(n, k) for n, ks in CAPTURABLE.items()
                                              for k in ks])
def test_capturable_arithmetic(monkeypatch, name, kwargs, foreach):
    """capturable=True is CUDA-only, so its arithmetic (step counters on the device, no
    host reads) is compared here by admitting the CPU on both sides."""
    supported = ["cuda", "xpu", "cpu"]
    monkeypatch.setattr(common, "capturable_devices", lambda supports_xla=True: supported)
    for module in ("torch.optim.adam", "torch.optim.rmsprop"):
        monkeypatch.setattr(sys.modules[module], "_get_capturable_supported_devices",
                            lambda supports_xla=True: supported)
    ours, theirs, _, _, _ = OPTIMIZERS[name]
    kwargs = {**kwargs, "capturable": True, "foreach": foreach}
    reference = mlp_trajectory(lambda ps: theirs(ps, **kwargs))[0]
    result, opt = mlp_trajectory(lambda ps: ours(ps, **kwargs))[::2]
    assert_close(result, reference, rtol=0, atol=1e-10)
    assert all(s["step"].device.type == "cpu" and float(s["step"]) == 25
               for s in opt.state.values())


#: combinations torch itself can differentiate through two steps (torch's AMSGrad and
#: centered RMSprop modify saved tensors in place)
DIFFERENTIABLE = [("Adam", {"lr": 0.01, "weight_decay": 0.1}),
                  ("Adam", {"lr": 0.01, "betas": (T(0.8), T(0.9))}),
                  ("Momentum", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                  ("GradientDescent", {"lr": 0.1, "weight_decay": 0.01}),
                  ("RMSProp", {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1}),
                  ("AdaGrad", {"lr": 0.05, "lr_decay": 0.01})]


@pytest.mark.parametrize(("name", "kwargs"), DIFFERENTIABLE)
def test_differentiable_step_has_torchs_gradient(name, kwargs):
    """differentiable=True: two steps on a non-leaf parameter are recorded by autograd,
    and the gradient of the result with respect to the start and the gradients equals
    torch.optim's."""
    ours, theirs, _, _, _ = OPTIMIZERS[name]
    gen = torch.Generator().manual_seed(4)
    start = torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    grads = [torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
             for _ in range(2)]

    def run(cls):
        p = start.clone()
        p.retain_grad()
        opt = cls([p], **kwargs, differentiable=True)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        return p

    a, b = run(ours), run(theirs)
    assert_close(a, b, rtol=0, atol=1e-12)
    weights = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(3, 2)
    da = torch.autograd.grad((a * weights).sum(), [start, *grads])
    db = torch.autograd.grad((b * weights).sum(), [start, *grads])
    for x, y in zip(da, db, strict=True):
        assert_close(x, y, rtol=0, atol=1e-12)
    assert float(da[0].abs().sum()) > 0


GROUPED = {
    "Adam": [{"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}, {"betas": (0.8, 0.9)}],
    "Momentum": [{"lr": 0.02, "nesterov": True}, {"momentum": 0.5, "dampening": 0.2}],
    "GradientDescent": [{"lr": 0.2, "weight_decay": 0.1}, {"maximize": False}],
    "RMSProp": [{"lr": 0.01, "centered": True}, {"momentum": 0.4, "alpha": 0.9}],
    "AdaGrad": [{"lr": 0.1, "lr_decay": 0.05}, {"weight_decay": 0.01}],
}


def _groups(settings):
    return lambda ps: [{"params": ps[:2], **settings[0]}, {"params": ps[2:], **settings[1]}]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name", list(GROUPED))
def test_param_groups_with_different_settings(name, foreach):
    ours, theirs, base, _, _ = OPTIMIZERS[name]
    split = _groups(GROUPED[name])
    kwargs = {**base, "foreach": foreach}
    reference = mlp_trajectory(lambda ps: theirs(split(ps), **kwargs))[0]
    result = mlp_trajectory(lambda ps: ours(split(ps), **kwargs))[0]
    assert_close(result, reference, rtol=0, atol=1e-10)


RESUME = {
    "Adam": [{"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
             {"lr": T(0.01), "fused": True, "decoupled_weight_decay": True}],
    "Momentum": [{"lr": 0.05, "nesterov": True}, {"lr": 0.05, "fused": True}],
    "GradientDescent": [{"lr": T(0.1), "weight_decay": 0.01}],
    "RMSProp": [{"lr": 0.005, "momentum": 0.5, "centered": True, "foreach": True}],
    "AdaGrad": [{"lr": 0.05, "lr_decay": 0.01}, {"lr": 0.05, "fused": True}],
}


@pytest.mark.parametrize(("name", "kwargs"), [(n, k) for n, ks in RESUME.items() for k in ks])
def test_state_dict_resume_is_bit_identical(name, kwargs):
    ours = OPTIMIZERS[name][0]
    mlp_resume_equals_uninterrupted(lambda ps: ours(ps, **kwargs))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dicts_interchange_with_torch(name):
    """A torch.optim state dict loads into ours and continues as torch would."""
    ours, theirs, base, _, _ = OPTIMIZERS[name]
    full = mlp_trajectory(lambda ps: theirs(ps, **base), 20)[0]
    _, params, opt = mlp_trajectory(lambda ps: theirs(ps, **base), 10)
    mine = ours(params, **base)
    mine.load_state_dict(opt.state_dict())
    rest = mlp_trajectory(None, 10, params=params, opt=mine)[0]
    assert_close(rest, full[10:], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_named_parameters_and_no_grad_params(name):
    """(name, parameter) pairs are accepted as torch accepts them; parameters without a
    gradient are left alone with no state."""
    ours, _, base, _, _ = OPTIMIZERS[name]
    params = mlp_params()
    opt = ours([(f"p{i}", p) for i, p in enumerate(params)], **base)
    params[0].sum().backward()
    opt.step()
    assert all(len(opt.state[p]) == 0 for p in params[1:])
    assert not torch.equal(params[0].detach(), mlp_params()[0].detach())
