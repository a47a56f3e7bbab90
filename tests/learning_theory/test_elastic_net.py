"""Lasso and ElasticNet against scikit-learn on the diabetes data, paths, batches, ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    state_dict_round_trip,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.learning_theory import ElasticNet, Lasso, elastic_net, elastic_net_gram

F64 = torch.float64
ALPHAS = [1e-3, 1e-2, 0.1, 0.5, 1.0]


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y, torch.tensor(X), torch.tensor(y)


def _sk(cls, X, y, **kw):
    return cls(tol=1e-14, max_iter=1_000_000, **kw).fit(X, y)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_path_matches_sklearn(diabetes, fit_intercept):
    X, y, Xt, yt = diabetes
    model = Lasso(alpha=torch.tensor(ALPHAS, dtype=F64), fit_intercept=fit_intercept).fit(Xt, yt)
    assert model.coef.shape == (len(ALPHAS), 10)
    for i, a in enumerate(ALPHAS):
        ref = _sk(SkLasso, X, y, alpha=a, fit_intercept=fit_intercept)
        assert_close(model.coef[i], ref.coef_, rtol=1e-5, atol=1e-5)
        assert_close(model.intercept[i], ref.intercept_, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("l1_ratio", [0.2, 0.7])
def test_elastic_net_matches_sklearn(diabetes, l1_ratio):
    X, y, Xt, yt = diabetes
    path = ElasticNet(alpha=torch.tensor(ALPHAS, dtype=F64), l1_ratio=l1_ratio).fit(Xt, yt)
    for i, a in enumerate(ALPHAS):
        ref = _sk(SkElasticNet, X, y, alpha=a, l1_ratio=l1_ratio)
        assert_close(path.coef[i], ref.coef_, rtol=1e-5, atol=1e-5)
        assert_close(path.intercept[i], ref.intercept_, rtol=1e-5, atol=1e-5)
        single = ElasticNet(alpha=a, l1_ratio=l1_ratio).fit(Xt, yt)
        assert single.coef.shape == (10,)
        assert_close(single.coef, path.coef[i], rtol=1e-9, atol=1e-9)
        assert_close(single.predict(Xt), ref.predict(X), rtol=1e-6)


def test_sparsity_grows_with_alpha(diabetes):
    _, _, Xt, yt = diabetes
    coef = Lasso(alpha=torch.logspace(-3, 0.5, 8, dtype=F64)).fit(Xt, yt).coef
    nonzero = (coef != 0).sum(-1)
    # the lasso path may drop and re-add a variable, but sparsity grows overall
    assert int(nonzero[0]) >= 9 and int(nonzero[-1]) <= 3 and int(nonzero.min()) >= 0


def test_float32(diabetes):
    X, y, Xt, yt = diabetes
    model = Lasso(alpha=0.1).fit(Xt.float(), yt.float())
    ref = _sk(SkLasso, X, y, alpha=0.1)
    assert model.coef.dtype == torch.float32
    assert_close(model.coef, ref.coef_, rtol=1e-3, atol=1e-2 * np.abs(ref.coef_).max())


def test_orthonormal_design_is_soft_thresholding():
    G = torch.eye(3, dtype=F64)
    q = torch.tensor([2.0, -0.5, 0.1], dtype=F64)
    W, _, ok = elastic_net_gram(G, q, torch.tensor([0.3, 1.0], dtype=F64), 0.5)
    # w = S(q, a/2) / (1 + a/2)
    expected = torch.stack([torch.sign(q) * (q.abs() - a * 0.5).clamp_min(0) / (1 + a * 0.5)
                            for a in (0.3, 1.0)])
    assert_close(W, expected)
    assert ok.all()


def test_functional_equals_estimator(diabetes):
    _, _, Xt, yt = diabetes
    coef, b = elastic_net(Xt, yt, 0.05, 0.5)
    model = ElasticNet(0.05, 0.5).fit(Xt, yt)
    assert torch.equal(coef, model.coef) and torch.equal(b, model.intercept)


def test_uneven_batches_and_state_dict(diabetes):
    _, _, Xt, yt = diabetes
    alphas = torch.tensor([0.01, 0.3], dtype=F64)
    whole = ElasticNet(alphas, 0.6).fit(Xt, yt)
    batched = ElasticNet(alphas, 0.6).fit(uneven_batches(Xt, yt))
    assert_close(batched.coef, whole.coef, rtol=1e-9, atol=1e-9)
    assert_close(batched.intercept, whole.intercept, rtol=1e-10)
    fresh = state_dict_round_trip(whole, ElasticNet(alphas, 0.6))
    assert torch.equal(fresh.predict(Xt), whole.predict(Xt))
    assert whole.predict(Xt).shape == (2, Xt.shape[0])


def test_bad_input(diabetes):
    _, _, Xt, yt = diabetes
    assert_raises_naming(ValueError, lambda: Lasso(alpha=-1.0), "Lasso", "alpha")
    assert_raises_naming(ValueError, lambda: ElasticNet(l1_ratio=1.5), "l1_ratio")
    assert_raises_naming(ValueError, lambda: ElasticNet(torch.ones(2, 2)), "alpha")
    assert_raises_naming(ValueError, lambda: Lasso(0.1).fit(Xt[:, 0], yt), "X")
    assert_raises_naming(ValueError, lambda: Lasso(0.1).fit(Xt, yt[:10]), "X", "y")
    with pytest.raises(NotFittedError):
        Lasso(0.1).predict(Xt)
    model = Lasso(0.1).fit(Xt, yt)
    assert_raises_naming(ValueError, lambda: model.predict(Xt[:, :3]), "X")


def test_elastic_net_gram_refuses_bad_problems_by_name():
    G, q = torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    a = torch.tensor([0.1], dtype=torch.float64)
    bad = G.clone()
    bad[0, 0] = -1.0
    assert_raises_naming(ValueError, lambda: elastic_net_gram(bad, q, a), "elastic_net_gram",
                         "'G'", "positive semi-definite")
    assert_raises_naming(ValueError, lambda: elastic_net_gram(G, q, a, check_every=0),
                         "elastic_net_gram", "check_every")
    assert_raises_naming(ValueError, lambda: elastic_net_gram(G, q, -a), "elastic_net_gram",
                         "alpha")
    nan_q = q.clone()
    nan_q[1] = float("nan")
    assert_raises_naming(ValueError, lambda: elastic_net_gram(G, nan_q, a), "elastic_net_gram",
                         "'q'")
    # orthonormal design by hand: w = soft(q, a*rho) / (1 + a*(1-rho)) = 0.95 / 1.05
    W, _, ok = elastic_net_gram(G, q, a, 0.5)
    assert bool(ok.all())
    assert_close(W, torch.full((1, 3), 0.95 / 1.05, dtype=torch.float64), atol=1e-10, rtol=0)
