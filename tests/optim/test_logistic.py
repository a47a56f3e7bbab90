"""LogisticRegression against scikit-learn's LogisticRegression (same objective)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    state_dict_round_trip,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.optim import LogisticRegression, logistic_loss


def _data(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    return _data(load_breast_cancer)


@pytest.fixture(scope="module")
def wine():
    return _data(load_wine)


def sklearn_fit(X, y, C, l1_ratio):
    solver = "lbfgs" if l1_ratio == 0 else "saga"
    tol = 1e-10 if l1_ratio == 0 else 1e-8
    return SkLogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, tol=tol,
                                max_iter=100_000).fit(X, y)


def centered(intercept):
    return intercept - intercept.mean() if intercept.size > 1 else intercept


CASES = [  # (penalty, C, l1_ratio for sklearn, solver)
    ("l2", 0.5, 0.0, "newton"),
    ("l2", 0.5, 0.0, "lbfgs"),
    ("l2", 0.5, 0.0, "fista"),
    ("l1", 0.1, 1.0, "fista"),
    ("elasticnet", 0.1, 0.5, "fista"),
]


@pytest.mark.parametrize("penalty,C,rho,solver", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
@pytest.mark.parametrize("dataset", ["cancer", "wine"])
def test_matches_sklearn(request, dataset, penalty, C, rho, solver):
    X, y = request.getfixturevalue(dataset)
    ref = sklearn_fit(X, y, C, rho)
    model = LogisticRegression(penalty=penalty, C=C, solver=solver,
                               l1_ratio=rho if penalty == "elasticnet" else None,
                               max_iter=20_000 if solver == "fista" else 500)
    model.fit(torch.tensor(X), torch.tensor(y))
    assert model.coef.shape == ref.coef_.shape
    assert_close(model.coef, ref.coef_, rtol=0, atol=1e-4)
    assert_close(model.intercept, centered(ref.intercept_), rtol=0, atol=1e-4)
    Xt = torch.tensor(X)
    assert_close(model.predict_proba(Xt), ref.predict_proba(X), rtol=0, atol=1e-5)
    assert (model.predict(Xt).numpy() == ref.predict(X)).mean() > 0.99
    if penalty == "l1":  # exact zeros where scikit-learn has them
        assert ((model.coef == 0).numpy() == (ref.coef_ == 0)).mean() > 0.95


def test_unpenalized_binary_and_no_intercept(rng):
    X = rng.standard_normal((300, 3))
    y = (X @ [1.0, -2.0, 0.5] + 0.3 + rng.logistic(size=300) > 0).astype(np.int64)
    ref = SkLogisticRegression(C=np.inf, l1_ratio=0, tol=1e-12, max_iter=10_000).fit(X, y)
    model = LogisticRegression(penalty="none").fit(torch.tensor(X), torch.tensor(y))
    assert_close(model.coef, ref.coef_, rtol=0, atol=1e-5)
    assert_close(model.intercept, ref.intercept_, rtol=0, atol=1e-5)
    ref0 = SkLogisticRegression(C=2.0, l1_ratio=0, fit_intercept=False, tol=1e-12).fit(X, y)
    m0 = LogisticRegression(C=2.0, fit_intercept=False).fit(torch.tensor(X), torch.tensor(y))
    assert_close(m0.coef, ref0.coef_, rtol=0, atol=1e-6)
    assert float(m0.intercept.abs().max()) == 0.0


def test_outputs_are_consistent(cancer):
    X, y = (torch.tensor(a) for a in cancer)
    model = LogisticRegression(C=0.5).fit(X, y)
    logp = model.predict_log_proba(X)
    assert_close(logp.exp().sum(-1), torch.ones(len(y), dtype=torch.float64))
    assert_close(model(X), logp)
    z = model.decision_function(X)
    assert_close(model.predict_proba(X)[:, 1], torch.sigmoid(z))
    # logistic_loss, against a sum of scikit-learn-free log-likelihoods by hand
    loss = logistic_loss(X, y, model.coef, model.intercept)
    assert_close(loss, -logp[torch.arange(len(y)), y].sum())


def test_float32(cancer):
    X, y = cancer
    ref = sklearn_fit(X, y, 0.5, 0.0)
    model = LogisticRegression(C=0.5, tol=1e-5).fit(torch.tensor(X, dtype=torch.float32),
                                                    torch.tensor(y))
    assert model.coef.dtype == torch.float32
    assert_close(model.coef, ref.coef_, rtol=0, atol=2e-3)


@pytest.mark.filterwarnings("ignore::torchmath.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["newton", "fista"])
def test_uneven_batches_equal_whole_data_and_round_trip(wine, solver):
    X, y = (torch.tensor(a) for a in wine)
    penalty = "l2" if solver == "newton" else "l1"
    # A fixed iteration budget: both fits take the same steps, converged or not.
    make = lambda: LogisticRegression(penalty=penalty, C=0.1, solver=solver,  # noqa: E731
                                      max_iter=100 if solver == "fista" else 50)
    whole = make().fit(X, y)
    batched = make().fit(uneven_batches(X, y))
    assert_close(batched.coef, whole.coef, rtol=0, atol=1e-9)
    assert_close(batched.intercept, whole.intercept, rtol=0, atol=1e-9)
    fresh = state_dict_round_trip(whole, make())
    assert torch.equal(fresh.predict_proba(X), whole.predict_proba(X))
    assert torch.equal(fresh.predict(X), whole.predict(X))


def test_bad_input_names_the_argument(cancer):
    X, y = (torch.tensor(a) for a in cancer)
    LR = LogisticRegression
    assert_raises_naming(ValueError, lambda: LR(penalty="l3"), "'penalty'")
    assert_raises_naming(ValueError, lambda: LR(solver="sgd"), "'solver'")
    assert_raises_naming(ValueError, lambda: LR(penalty="l1", solver="newton"), "'solver'")
    assert_raises_naming(ValueError, lambda: LR(penalty="elasticnet", solver="lbfgs",
                                                l1_ratio=0.5), "'solver'")
    assert_raises_naming(ValueError, lambda: LR(penalty="elasticnet"), "'l1_ratio'")
    assert_raises_naming(ValueError, lambda: LR(penalty="elasticnet", l1_ratio=1.5),
                         "'l1_ratio'")
    assert_raises_naming(ValueError, lambda: LR(penalty="l2", l1_ratio=0.5), "'l1_ratio'")
    assert_raises_naming(ValueError, lambda: LR(C=0.0), "'C'")
    assert_raises_naming(ValueError, lambda: LR(max_iter=0), "'max_iter'")
    assert_raises_naming(ValueError, lambda: LR(tol=-1.0), "'tol'")
    assert_raises_naming(TypeError, lambda: LR().fit(X, y.double()), "'y'")
    assert_raises_naming(ValueError, lambda: LR().fit(X, y[:10]), "'y'")
    assert_raises_naming(ValueError, lambda: LR().fit(X, torch.zeros_like(y)), "'y'")
    assert_raises_naming(TypeError, lambda: LR().fit(X.long(), y), "'X'")
    assert_raises_naming(ValueError, lambda: LR().fit(X[:, 0], y), "'X'")
    model = LR()
    with pytest.raises(NotFittedError):
        model.predict(X)
    model.fit(X, y)
    assert_raises_naming(ValueError, lambda: model.predict(X[:, :5]), "'X'")


def test_features_scaled_by_1e_minus_6_give_the_model_scaled_by_1e6(cancer):
    X, y = (torch.tensor(a) for a in cancer)
    X = X[:, :5]
    model = LogisticRegression(penalty="none").fit(X, y)
    scaled = LogisticRegression(penalty="none").fit(X * 1e-6, y)
    assert_close(scaled.coef * 1e-6, model.coef, rtol=1e-8, atol=0)
    assert_close(scaled.intercept, model.intercept, rtol=1e-8, atol=1e-10)


def _objective(X, y, coef, intercept, C, rho):
    z = X @ coef.ravel() + intercept
    loss = np.sum(np.logaddexp(0, z) - y * z)
    return C * loss + rho * np.abs(coef).sum() + (1 - rho) / 2 * np.square(coef).sum()


@pytest.mark.parametrize("penalty,rho", [("l1", 1.0), ("elasticnet", 0.5)])
def test_l1_and_elastic_net_defaults_converge(cancer, penalty, rho):
    """Default settings on standardized breast cancer reach scikit-learn's optimum (its
    saga at a tight tolerance) without a warning."""
    X, y = cancer
    ref = SkLogisticRegression(C=1.0, l1_ratio=rho, solver="saga", tol=1e-10,
                               max_iter=20_000)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga may stop just short of tol=1e-10
        ref.fit(X, y)
    model = LogisticRegression(penalty=penalty, C=1.0,
                               l1_ratio=rho if penalty == "elasticnet" else None)
    model.fit(torch.tensor(X), torch.tensor(y))  # warnings are errors here
    assert bool(model.converged)
    ours = _objective(X, y, model.coef.numpy(), model.intercept.numpy(), 1.0, rho)
    theirs = _objective(X, y, ref.coef_, ref.intercept_, 1.0, rho)
    assert ours <= theirs + 1e-6
    assert int((model.coef != 0).sum()) == int((ref.coef_ != 0).sum())


def test_unpenalized_multinomial_coefficients_are_centred_as_scikit_learn(rng):
    X = rng.standard_normal((300, 3))
    W = np.array([[1.0, -1.0, 0.5], [0.0, 1.0, -1.0], [-1.0, 0.0, 0.5]])
    p = np.exp(X @ W.T)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    ref = SkLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    model = LogisticRegression(penalty="none", tol=1e-12).fit(torch.tensor(X),
                                                               torch.tensor(y))
    assert_close(model.coef, ref.coef_, rtol=0, atol=1e-6)
    assert_close(model.intercept, ref.intercept_, rtol=0, atol=1e-6)
    assert_close(model.coef.sum(0), np.zeros(3), rtol=0, atol=1e-12)


def test_labels_kept_as_given_and_nan_refused(cancer):
    X, y = (torch.tensor(a) for a in cancer)
    model = LogisticRegression(C=0.5).fit(X, y * 4 + 3)  # labels {3, 7}
    assert model.classes.tolist() == [3, 7]
    assert set(model.predict(X).unique().tolist()) <= {3, 7}
    assert_raises_naming(ValueError, lambda: LogisticRegression().fit(
        X.masked_fill(X > 3, float("nan")), y), "LogisticRegression.fit", "'X'")


def test_logistic_loss_checks_labels_and_promotes():
    X = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    coef, b = torch.zeros(1, 1), torch.zeros(1)  # float32 parameters, float64 data
    assert_raises_naming(ValueError, lambda: logistic_loss(X, torch.tensor([0, 2]), coef, b),
                         "logistic_loss", "'y'")
    assert_raises_naming(TypeError, lambda: logistic_loss(X, torch.tensor([0.0, 1.0]), coef, b),
                         "logistic_loss", "'y'")
    loss = logistic_loss(X, torch.tensor([0, 1]), coef, b)
    assert loss.dtype == torch.float64
    assert_close(loss, torch.tensor(2 * np.log(2.0), dtype=torch.float64))  # 2 log 2 by hand
