"""The estimator contract (torchmath.testing.check_estimator) over all 13 estimators, the
Estimator base itself, and the 2-process part of the contract in one gloo run."""

from __future__ import annotations

import pytest
import torch

import torchmath
from tests.helpers import run_distributed
from torchmath._estimator import Estimator
from torchmath.learning_theory import ElasticNet, Lasso
from torchmath.linalg import PCA, LinearRegression, RidgeCV, RidgeRegression
from torchmath.optim import LogisticRegression
from torchmath.probability import (
    BayesianLinearRegression,
    BernoulliNaiveBayes,
    GaussianMixture,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
    RunningMoments,
)
from torchmath.testing import check_estimator, check_estimator_distributed


def _data():
    g = torch.Generator().manual_seed(3)
    n, d = 90, 3
    y = torch.arange(n) % 3
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + 3 * y[:, None]
    counts = torch.poisson(torch.full((n, d), 2.0, dtype=torch.float64) + y[:, None],
                           generator=g)
    t = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + \
        0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    return {"X": (X,), "Xy": (X, y), "counts": (counts, y), "Xt": (X, t)}


# (estimator, data key, rtol of "the same model" across batchings and processes)
CASES = {
    "GaussianNaiveBayes": (lambda: GaussianNaiveBayes(), "Xy", 1e-10),
    "MultinomialNaiveBayes": (lambda: MultinomialNaiveBayes(alpha=0.5), "counts", 1e-10),
    "BernoulliNaiveBayes": (lambda: BernoulliNaiveBayes(binarize=2.0), "counts", 1e-10),
    "GaussianMixture": (lambda: GaussianMixture(3, n_init=2, max_iter=30, tol=1e-9), "X", 1e-8),
    "BayesianLinearRegression": (lambda: BayesianLinearRegression(fit_hyperparameters=True),
                                 "Xt", 1e-10),
    "RunningMoments": (lambda: RunningMoments(3), "X", 1e-10),
    "LinearRegression": (lambda: LinearRegression(), "Xt", 1e-10),
    "RidgeRegression": (lambda: RidgeRegression(0.7), "Xt", 1e-10),
    "RidgeCV": (lambda: RidgeCV([0.01, 0.3, 3.0, 30.0]), "Xt", 1e-10),
    "PCA": (lambda: PCA(2, solver="covariance"), "X", 1e-10),
    "LogisticRegression": (lambda: LogisticRegression(C=0.5, tol=1e-12, max_iter=100), "Xy",
                           1e-10),
    "Lasso": (lambda: Lasso(0.05), "Xt", 1e-10),
    "ElasticNet": (lambda: ElasticNet(0.05, 0.5), "Xt", 1e-10),
}


@pytest.mark.parametrize("name", list(CASES))
def test_check_estimator(name):
    make, key, rtol = CASES[name]
    check_estimator(make(), _data()[key], rtol=max(rtol, 1e-8), atol=1e-9)


# More configurations for the same gloo run: a path of alphas, binary Newton and L-BFGS
# (whose closure sums the loss and gradient over batches and all-reduces them; its line
# search stops near the loss's rounding, at a point that depends on the summation order).
EXTRA_DISTRIBUTED = {
    "Lasso path": (lambda: Lasso(torch.tensor([0.01, 0.2], dtype=torch.float64)), "Xt",
                   1e-9),
    "binary newton": (lambda: LogisticRegression(C=0.5, tol=1e-12), "Xy2", 1e-10),
    "binary lbfgs": (lambda: LogisticRegression(C=0.5, solver="lbfgs", tol=1e-8,
                                                max_iter=500), "Xy2", 1e-6),
    "PCA whiten": (lambda: PCA(3, solver="covariance", whiten=True), "X", 1e-10),
}


def _distributed(rank, world):
    data = _data()
    data["Xy2"] = (data["Xy"][0], data["Xy"][1] % 2)
    failures = []
    for make, key, rtol in [*CASES.values(), *EXTRA_DISTRIBUTED.values()]:
        failures += check_estimator_distributed(make(), data[key], rtol=rtol, atol=1e-10)
    return failures


def test_two_processes_equal_one_process():
    """One gloo run: every estimator on uneven shards, with an empty shard and with a
    rank that has no batches, ends with the whole-data model on both ranks."""
    failures = [f for rank in run_distributed(_distributed) for f in rank]
    assert not failures, "\n".join(failures)


def test_all_13_estimators_are_covered():
    names = {cls.__name__ for cls in Estimator.__subclasses__()} | {
        sub.__name__ for cls in Estimator.__subclasses__() for sub in cls.__subclasses__()}
    public = {n for n in names if not n.startswith("_")}
    assert set(CASES) <= public | {"Lasso", "GaussianNaiveBayes", "MultinomialNaiveBayes",
                                   "BernoulliNaiveBayes", "LinearRegression",
                                   "RidgeRegression", "RidgeCV"}
    assert len(CASES) == 13


# -- the base on its own ------------------------------------------------------------------
class _Mean(Estimator):
    _fitted_buffers = ("mean",)
    _state_settings = ("shift",)

    def __init__(self, shift: float = 0.0, *, scale: float = 1.0):
        super().__init__()
        self.shift, self.scale = shift, scale

    def _n_features(self):
        return self.mean.shape[-1]

    def fit(self, X):
        self.mean = X.mean(0) + self.shift
        self._mark_fitted()
        return self

    def forward(self, X):
        return self._input("forward", X) - self.mean


def test_not_fitted_error_says_to_call_fit():
    with pytest.raises(torchmath.NotFittedError, match=r"_Mean.forward.*call fit"):
        _Mean()(torch.zeros(2, 3))
    assert issubclass(torchmath.NotFittedError, RuntimeError)
    assert issubclass(torchmath.ConvergenceWarning, UserWarning)


def test_settings_repr_and_clone():
    from sklearn.base import clone

    est = _Mean(2.0)
    assert repr(est) == "_Mean(shift=2.0)"
    assert repr(_Mean()) == "_Mean()"
    assert est.get_params() == {"shift": 2.0, "scale": 1.0}
    assert est.set_params(scale=3.0) is est and est.scale == 3.0
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    with pytest.raises(ValueError, match="_Mean.set_params.*'nope'"):
        est.set_params(nope=1)


def test_state_travels_with_its_settings():
    X = torch.randn(10, 3, dtype=torch.float64)
    fitted = _Mean(1.0).fit(X)
    fresh = _Mean(1.0)
    fresh.load_state_dict(fitted.state_dict())
    assert fresh.is_fitted and fresh.mean.dtype == torch.float64
    assert torch.equal(fresh(X), fitted(X))
    with pytest.raises(ValueError, match=r"_Mean.load_state_dict.*shift=2.0.*shift=1.0"):
        _Mean(2.0).load_state_dict(fitted.state_dict())
    # changing a shape-giving setting forgets the fit
    assert not fitted.set_params(shift=3.0).is_fitted


def test_inputs_are_cast_to_the_model_dtype():
    X = torch.randn(10, 3, dtype=torch.float64)
    model = _Mean().fit(X)
    out = model(X.float())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, model(X), rtol=1e-6, atol=1e-6)


class _Leaky(Estimator):
    """Reads its data its own way: keeps the input's graph and checks nothing."""

    _fitted_buffers = ("mean",)

    def __init__(self):
        super().__init__()

    def _n_features(self):
        return self.mean.shape[-1]

    def fit(self, data):
        X = data[0] if isinstance(data, tuple) else data
        self.mean = X.mean(0)
        self._mark_fitted()
        return self

    def transform(self, X):
        return self._input("transform", X) - self.mean


def test_check_estimator_rejects_an_estimator_that_breaks_the_contract():
    with pytest.raises(AssertionError, match="NaN in X"):
        check_estimator(_Leaky(), _data()["X"])
