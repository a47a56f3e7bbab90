"""LinearRegression, RidgeRegression (and its path), RidgeCV against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV as SkRidgeCV

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    state_dict_round_trip,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.linalg import LinearRegression, RidgeCV, RidgeRegression

F64 = torch.float64
REL = dict(rtol=1e-6, atol=1e-9)
ALPHAS = torch.logspace(-3, 3, 9, dtype=F64)


def _data(n=90, d=7, targets=None, dtype=F64):
    g = torch.Generator().manual_seed(5)
    X = torch.randn(n, d, generator=g, dtype=F64) * torch.linspace(0.5, 20, d,
                                                                   dtype=F64) + 3.0
    W = torch.randn(d, targets or 1, generator=g, dtype=F64)
    Y = X @ W + torch.randn(n, targets or 1, generator=g, dtype=F64) * 2 + 7.0
    y = Y[:, 0] if targets is None else Y
    return X.to(dtype), y.to(dtype)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("targets", [None, 3])
def test_match_sklearn(fit_intercept, targets):
    X, y = _data(targets=targets)
    Xn, yn = X.numpy(), y.numpy()
    pairs = [
        (LinearRegression(fit_intercept), SkLinear(fit_intercept=fit_intercept)),
        (RidgeRegression(2.5, fit_intercept), SkRidge(2.5, fit_intercept=fit_intercept)),
    ]
    for ours, ref in pairs:
        ours.fit(X, y)
        ref.fit(Xn, yn)
        assert_close(ours.coef, ref.coef_, **REL)
        assert_close(ours.intercept, ref.intercept_, **REL)
        assert_close(ours.predict(X), ref.predict(Xn), **REL)
    cv = RidgeCV(ALPHAS, fit_intercept).fit(X, y)
    ref = SkRidgeCV(ALPHAS.numpy(), fit_intercept=fit_intercept, store_cv_results=True)
    ref.fit(Xn, yn)
    assert float(cv.alpha) == pytest.approx(ref.alpha_)
    loo = ref.cv_results_.reshape(len(X), -1, len(ALPHAS)).mean((0, 1))
    assert_close(cv.loo_errors, loo, **REL)
    assert_close(cv.best_score, ref.best_score_, **REL)
    assert_close(cv.coef, ref.coef_, **REL)
    assert_close(cv.intercept, ref.intercept_, **REL)


@pytest.mark.parametrize("targets", [None, 2])
def test_ridge_path_equals_separate_sklearn_fits(targets):
    X, y = _data(targets=targets)
    path = RidgeRegression(ALPHAS).fit(X, y)
    preds = path.predict(X)
    assert preds.shape[0] == len(ALPHAS)
    for i, a in enumerate(ALPHAS.tolist()):
        ref = SkRidge(a).fit(X.numpy(), y.numpy())
        assert_close(path.coef[i], ref.coef_, **REL)
        assert_close(path.intercept[i], ref.intercept_, **REL)
        assert_close(preds[i], ref.predict(X.numpy()), **REL)


def test_rank_deficient_and_wide_designs_match_sklearn():
    X, y = _data(n=40, d=5)
    Xd = torch.cat([X, X[:, :2] + X[:, 2:4]], 1)  # dependent columns
    ours = LinearRegression().fit(Xd, y)
    ref = SkLinear().fit(Xd.numpy(), y.numpy())
    assert int(ours.rank) == 5
    assert_close(ours.coef, ref.coef_, rtol=1e-6, atol=1e-7)  # the minimum-norm solution
    Xw = torch.randn(10, 30, dtype=F64)
    yw = torch.randn(10, dtype=F64)
    assert_close(RidgeRegression(0.3).fit(Xw, yw).coef, SkRidge(0.3).fit(Xw.numpy(),
                                                                        yw.numpy()).coef_, **REL)
    cv = RidgeCV([0.1, 1.0, 10.0]).fit(Xw, yw)
    assert float(cv.alpha) == SkRidgeCV([0.1, 1.0, 10.0]).fit(Xw.numpy(), yw.numpy()).alpha_


def test_uneven_batches_and_state_dict(dtype):
    X, y = _data(targets=2, dtype=dtype)
    for make in (LinearRegression, lambda: RidgeRegression(1.5),
                 lambda: RidgeRegression(ALPHAS.to(dtype)), lambda: RidgeCV(ALPHAS)):
        whole = make().fit(X, y)
        streamed = make().fit(uneven_batches(X, y))
        tol = dict(rtol=1e-4, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-10,
                                                                             atol=1e-10)
        assert_close(streamed.coef, whole.coef, **tol)
        assert_close(streamed.intercept, whole.intercept, **tol)
        fresh = state_dict_round_trip(whole, make())
        assert torch.equal(fresh.predict(X), whole.predict(X))
        assert fresh.coef.dtype == dtype
    y1 = y[:, 0]
    fresh = state_dict_round_trip(RidgeRegression(ALPHAS).fit(X.double(), y1.double()),
                                  RidgeRegression(ALPHAS))
    assert fresh.predict(X.double()).shape == (len(ALPHAS), len(X))


def test_predict_is_differentiable_in_x():
    X, y = _data()
    model = RidgeRegression(1.0).fit(X, y)
    Xg = X[:4].clone().requires_grad_(True)
    model(Xg).sum().backward()
    assert_close(Xg.grad, model.coef.expand(4, -1))


def test_bad_input():
    X, y = _data()
    assert_raises_naming(ValueError, lambda: LinearRegression().fit(X, y[:-1]), "'X'", "'y'")
    assert_raises_naming(ValueError, lambda: RidgeRegression(-1.0), "RidgeRegression",
                         "'alpha'")
    assert_raises_naming(ValueError, lambda: RidgeCV([0.0, 1.0]), "RidgeCV", "'alphas'")
    bad = y.clone()
    bad[0] = float("inf")
    assert_raises_naming(ValueError, lambda: RidgeRegression().fit(X, bad), "'y'",
                         "infinite")
    badx = X.clone()
    badx[0, 0] = float("nan")
    assert_raises_naming(ValueError, lambda: LinearRegression().fit(badx, y), "'X'", "NaN")
    assert_raises_naming(ValueError, lambda: RidgeCV().fit([]), "RidgeCV.fit", "'data'")
    assert_raises_naming(ValueError, lambda: LinearRegression().fit(X), "'y'")
    assert_raises_naming(TypeError, lambda: RidgeCV().fit(iter([(X, y)])), "'data'",
                         "re-iterable")
    assert_raises_naming(ValueError, lambda: LinearRegression().fit([(X, y), (X[:, :3], y)]),
                         "'X'", "7 features")
    with pytest.raises(NotFittedError, match="fit"):
        RidgeCV().predict(X)
    model = LinearRegression().fit(X, y)
    assert_raises_naming(ValueError, lambda: model.predict(X[:, :3]), "predict", "'X'")
    assert np.isfinite(model.coef.numpy()).all()


def test_fit_and_predict_follow_the_device(device):
    X, y = _data()
    ref = SkRidge(1.0).fit(X.numpy(), y.numpy())
    for model in (RidgeRegression(1.0), RidgeRegression(ALPHAS.to(device)), RidgeCV(ALPHAS)):
        model.to(device).fit(X.to(device), y.to(device))
        assert model.predict(X.to(device)).device.type == device.type
    assert_close(RidgeRegression(1.0).fit(X.to(device), y.to(device)).coef, ref.coef_, **REL)


def _rank_deficient():
    g = torch.Generator().manual_seed(8)
    B = torch.randn(40, 3, generator=g, dtype=F64)
    X = torch.cat([B, B @ torch.randn(3, 3, generator=g, dtype=F64)], 1)  # rank 3 of 6
    y = torch.randn(40, generator=g, dtype=F64)
    return X, y


def test_alpha_to_zero_gives_the_minimum_norm_solution():
    """On a rank-deficient design, ridge at alpha=1e-16 (a path, RidgeCV and a scalar)
    is the minimum-norm least-squares solution (NumPy's pinv of the centred design, which
    scikit-learn's LinearRegression also returns)."""
    X, y = _rank_deficient()
    Xn, yn = X.numpy(), y.numpy()

    class ref:  # noqa: N801
        coef_ = np.linalg.pinv(Xn - Xn.mean(0)) @ (yn - yn.mean())

    assert_close(SkLinear().fit(Xn, yn).coef_, ref.coef_, rtol=0, atol=1e-10)
    path = RidgeRegression(torch.tensor([1e-16, 1.0], dtype=F64)).fit(X, y)
    assert_close(path.coef[0], ref.coef_, rtol=0, atol=1e-9)
    assert_close(RidgeRegression(1e-16).fit(X, y).coef, ref.coef_, rtol=0, atol=1e-9)
    cv = RidgeCV([1e-16]).fit(X, y)
    assert_close(cv.coef, ref.coef_, rtol=0, atol=1e-9)


def test_nan_alphas_are_refused():
    for make in (lambda: RidgeCV(alphas=[float("nan")]),
                 lambda: RidgeCV(alphas=torch.tensor([1.0, float("nan")])),
                 lambda: RidgeRegression(torch.tensor([float("nan")]))):
        assert_raises_naming(ValueError, make, "NaN")


def test_score_is_r2_as_scikit_learn():
    X, y = _data()
    ref = SkRidge(alpha=0.7).fit(X.numpy(), y.numpy())
    model = RidgeRegression(0.7).fit(X, y)
    assert_close(model.score(X, y), ref.score(X.numpy(), y.numpy()), rtol=1e-10)
    Y = torch.stack([y, 2 * y + X[:, 0]], 1)
    ref2 = SkLinear().fit(X.numpy(), Y.numpy())
    assert_close(LinearRegression().fit(X, Y).score(X, Y), ref2.score(X.numpy(), Y.numpy()),
                 rtol=1e-10)
