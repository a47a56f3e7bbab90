"""Bias-variance decomposition: the identities, worked examples, vmap vs sequential."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.learning_theory import (
    TorchModel,
    bias_variance_decomposition,
    bias_variance_from_predictions,
)

F64 = torch.float64


def poly_fit(degree):
    def fit_predict(X, y, X_test):
        V = X ** torch.arange(degree + 1, dtype=X.dtype)
        coef = torch.linalg.lstsq(V, y.unsqueeze(-1)).solution
        return ((X_test ** torch.arange(degree + 1, dtype=X.dtype)) @ coef).squeeze(-1)
    return fit_predict


def data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, generator=g, dtype=F64) * 2 - 1
    f = torch.sin(3 * X[:, 0])
    return X, f + 0.3 * torch.randn(n, generator=g, dtype=F64), f


def test_predictions_by_hand_mse():
    preds = torch.tensor([[1.0, 2.0], [3.0, 2.0]], dtype=F64)
    r = bias_variance_from_predictions(preds, torch.tensor([2.0, 0.0], dtype=F64))
    # mean [2, 2]; variance [1, 0] -> 0.5; bias^2 [0, 4] -> 2; loss (1 + 1 + 4 + 4)/4
    assert_close(r.expected_loss, 2.5)
    assert_close(r.bias_squared, 2.0)
    assert_close(r.variance, 0.5)
    assert r.noise is None


def test_predictions_by_hand_zero_one_domingos():
    preds = torch.tensor([[0, 1], [0, 1], [1, 0], [2, 2]])
    r = bias_variance_from_predictions(preds, torch.tensor([0, 2]), loss="0-1")
    # point 0: main 0 = target, B=0, V=1/2, loss 1/2
    # point 1: main 1 != 2, B=1, V=1/2, P(pred = target) = 1/4, loss 3/4 = 1 - 1/4
    assert_close(r.expected_loss, 0.625)
    assert_close(r.bias_squared, 0.5)
    assert_close(r.variance, 0.5)
    assert_close(r.net_variance, (0.5 - 0.25) / 2)
    assert_close(r.expected_loss, r.bias_squared + r.net_variance)


def test_squared_loss_identity_is_exact():
    X, y, _ = data()
    for degree in (1, 3, 8):
        r = bias_variance_decomposition(poly_fit(degree), X, y, X, y, n_rounds=60)
        assert_close(r.expected_loss, r.bias_squared + r.variance, rtol=1e-12)


def test_capacity_trades_bias_for_variance():
    X, y, f = data(60)
    Xt, yt, ft = data(4000, seed=1)
    low = bias_variance_decomposition(poly_fit(1), X, y, Xt, yt, n_rounds=100, y_true=ft)
    high = bias_variance_decomposition(poly_fit(9), X, y, Xt, yt, n_rounds=100, y_true=ft)
    assert float(low.bias_squared) > float(high.bias_squared)
    assert float(low.variance) < float(high.variance)
    # with the noise separated, the identity holds up to the noise's cross term
    for r in (low, high):
        assert_close(r.noise, 0.09, rtol=0.25)
        total = r.bias_squared + r.variance + r.noise
        assert_close(r.expected_loss, total, rtol=0.1)


def test_zero_one_identity_exact():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(80, 2, generator=g, dtype=F64)
    y = (X[:, 0] + 0.5 * torch.randn(80, generator=g, dtype=F64) > 0).long()

    def nearest_centroid(Xb, yb, Xt):
        mu = torch.stack([Xb[yb == k].mean(0) for k in (0, 1)])
        return torch.cdist(Xt, mu).argmin(-1)

    r = bias_variance_decomposition(nearest_centroid, X, y, X, y, n_rounds=50, loss="0-1")
    assert_close(r.expected_loss, r.bias_squared + r.net_variance, rtol=1e-12)
    assert 0 <= float(r.variance) <= 1


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 1)).double()


def test_vmap_training_equals_sequential_training():
    X, y, _ = data(30)
    kw = dict(lr=0.05, epochs=25)
    together = bias_variance_decomposition(TorchModel(mlp, **kw), X, y, X, y, n_rounds=6)
    alone = bias_variance_decomposition(TorchModel(mlp, vectorize=False, **kw), X, y, X, y,
                                        n_rounds=6)
    for a, b in zip(together, alone, strict=True):
        if a is not None:
            assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert_close(together.expected_loss, together.bias_squared + together.variance,
                 rtol=1e-12)
    assert float(together.variance) > 0


def test_torch_model_classifier_zero_one():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 2, generator=g, dtype=F64)
    y = (X[:, 0] > 0).long()
    spec = TorchModel(lambda: torch.nn.Linear(2, 2).double(), loss="cross_entropy", lr=0.1,
                      epochs=20)
    r = bias_variance_decomposition(spec, X, y, X, y, n_rounds=5, loss="0-1")
    assert_close(r.expected_loss, r.bias_squared + r.net_variance, rtol=1e-12)
    assert float(r.expected_loss) < 0.3


def test_bad_input():
    X, y, _ = data(10)
    f = poly_fit(1)
    assert_raises_naming(ValueError, lambda: bias_variance_decomposition(
        f, X, y, X, y, loss="hinge"), "bias_variance_decomposition", "loss")
    assert_raises_naming(ValueError, lambda: bias_variance_decomposition(
        f, X, y, X, y, n_rounds=0), "n_rounds")
    assert_raises_naming(ValueError, lambda: bias_variance_decomposition(
        f, X, y[:5], X, y), "X_train", "y_train")
    assert_raises_naming(TypeError, lambda: bias_variance_decomposition(
        "model", X, y, X, y), "fit_predict")
    assert_raises_naming(ValueError, lambda: bias_variance_from_predictions(
        torch.zeros(3, 4), torch.zeros(5)), "predictions")
    assert_raises_naming(TypeError, lambda: bias_variance_from_predictions(
        torch.zeros(3, 4), torch.zeros(4), loss="0-1"), "predictions")
    assert_raises_naming(ValueError, lambda: TorchModel(mlp, loss="hinge"), "loss")
    with pytest.raises(TypeError):
        TorchModel("not callable")


def test_generator_int_or_torch_generator():
    X, y, _ = data()
    fit = poly_fit(1)
    a = bias_variance_decomposition(fit, X, y, X, y, n_rounds=20, generator=3)
    b = bias_variance_decomposition(fit, X, y, X, y, n_rounds=20, generator=3)
    assert_close(a.expected_loss, b.expected_loss, rtol=1e-12, atol=0)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    c = bias_variance_decomposition(fit, X, y, X, y, n_rounds=20, generator=g1)
    d = bias_variance_decomposition(fit, X, y, X, y, n_rounds=20, generator=g2)
    assert_close(c.variance, d.variance, rtol=1e-12, atol=0)
    e = bias_variance_decomposition(fit, X, y, X, y, n_rounds=20, generator=4)
    assert not torch.allclose(a.variance, e.variance, rtol=1e-6)  # the seed matters
    assert_raises_naming((ValueError, TypeError), lambda: bias_variance_decomposition(
        fit, X, y, X, y, n_rounds=2, generator=1.5), "bias_variance_decomposition", "generator")
