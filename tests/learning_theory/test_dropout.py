"""MC dropout: variance positive and shrinking with p, modes restored, layers switched."""

from __future__ import annotations

import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.learning_theory import (
    GaussianDropout,
    MCDropout,
    enable_mc_dropout,
    mc_dropout_mode,
    mc_predict,
)


def net(p, layer=torch.nn.Dropout):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU(), layer(p),
                               torch.nn.Linear(32, 2))


def test_variance_positive_and_shrinking_as_p_goes_to_zero():
    x = torch.randn(16, 3)
    variances = []
    for p in (0.5, 0.2, 0.05, 0.0):
        torch.manual_seed(1)
        mean, var = mc_predict(net(p), x, n_samples=200)
        assert mean.shape == var.shape == (16, 2)
        variances.append(float(var.mean()))
    assert all(v > 0 for v in variances[:3])
    assert variances[0] > variances[1] > variances[2] > variances[3]
    assert variances[3] == 0.0
    # p = 0: every pass is the deterministic network
    assert_close(mc_predict(net(0.0), x, 5)[0], net(0.0).eval()(x).detach())


def test_mc_predict_chunks_and_restores_modes():
    model = net(0.3).train()
    x = torch.randn(4, 3)
    torch.manual_seed(0)
    a = mc_predict(model, x, n_samples=10)
    torch.manual_seed(0)
    b = mc_predict(model, x, n_samples=10, chunk_size=10)
    assert torch.equal(a[0], b[0])
    mean, var = mc_predict(model, x, n_samples=9, chunk_size=4)
    assert mean.shape == (4, 2)
    assert all(m.training for m in model.modules())


def test_mc_dropout_layer_samples_in_eval_mode():
    layer = MCDropout(0.5).eval()
    y = layer(torch.ones(10_000))
    assert set(y.unique().tolist()) == {0.0, 2.0}


def test_enable_mc_dropout_survives_eval():
    model = net(0.5)
    model.append(GaussianDropout(0.1))
    assert enable_mc_dropout(model) == 2
    model.eval()
    x = torch.randn(2, 3)
    assert not torch.equal(model(x), model(x))
    assert model[-1].mc


def test_gaussian_dropout_moments_and_eval_identity():
    layer = GaussianDropout(0.2)
    y = layer(torch.ones(200_000, dtype=torch.float64))
    assert_close(y.mean(), 1.0, atol=0.01, rtol=0)
    assert_close(y.var(), 0.25, rtol=0.02)
    x = torch.randn(5)
    assert torch.equal(layer.eval()(x), x)


def test_mc_dropout_mode_restores_everything():
    model = net(0.5).eval()
    with mc_dropout_mode(model):
        assert model[2].training and not model[0].training
    assert not any(m.training for m in model.modules())


def test_bad_input():
    assert_raises_naming(ValueError, lambda: MCDropout(1.0), "MCDropout", "p")
    assert_raises_naming(ValueError, lambda: GaussianDropout(-0.1), "p")
    assert_raises_naming(ValueError, lambda: mc_predict(net(0.1), torch.randn(2, 3), 1),
                         "n_samples")
    assert_raises_naming(TypeError, lambda: mc_predict(net(0.1), torch.ones(2, 3,
                                                       dtype=torch.long)), "x")
    assert_raises_naming(TypeError, lambda: enable_mc_dropout("net"), "model")
