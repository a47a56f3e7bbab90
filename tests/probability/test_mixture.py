"""GaussianMixture against scikit-learn (same start), streaming, gradients, bad input."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM

import torchmath
from tests.helpers import (
    assert_close,
    assert_raises_naming,
)
from torchmath import NotFittedError
from torchmath.probability import GaussianMixture, mixture

TYPES = ["full", "diag", "spherical", "tied"]


def _data(rng, n=300, d=3, k=3):
    centres = rng.normal(size=(k, d)) * 4
    X = np.concatenate([rng.normal(size=(n // k, d)) * (0.5 + 0.4 * j) + centres[j]
                        for j in range(k)])
    return X[rng.permutation(len(X))]


def _start(rng, X, ctype, k=3):
    d = X.shape[1]
    means = X[rng.choice(len(X), k, replace=False)]
    prec = {"full": np.stack([np.eye(d) * 0.5] * k), "diag": np.full((k, d), 0.5),
            "spherical": np.full(k, 0.5), "tied": np.eye(d) * 0.5}[ctype]
    return np.full(k, 1 / k), means, prec


def _both(X, ctype, start, max_iter=25, **kw):
    w, m, p = start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that 25 iterations did not converge
        sk = SkGMM(len(w), covariance_type=ctype, max_iter=max_iter, tol=0, weights_init=w,
                   means_init=m, precisions_init=p, **kw).fit(X)
        ours = GaussianMixture(len(w), ctype, max_iter=max_iter, tol=0,
                               weights_init=torch.from_numpy(w), means_init=torch.from_numpy(m),
                               precisions_init=torch.from_numpy(p), **kw).fit(torch.from_numpy(X))
    return sk, ours


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("d", [2, 3, 4])
def test_same_start_same_fit_as_scikit_learn(rng, ctype, d):
    X = _data(rng, d=d)
    sk, ours = _both(X, ctype, _start(rng, X, ctype))
    assert_close(ours.lower_bound, sk.lower_bound_, rtol=1e-10)
    assert_close(ours.weights, sk.weights_, rtol=1e-8, atol=1e-10)
    assert_close(ours.means, sk.means_, rtol=1e-8, atol=1e-10)
    assert_close(ours.covariances, sk.covariances_, rtol=1e-8, atol=1e-10)
    Xt = torch.from_numpy(X)
    assert_close(ours.score_samples(Xt), sk.score_samples(X), rtol=1e-8)
    assert_close(ours.predict_proba(Xt), sk.predict_proba(X), rtol=1e-6, atol=1e-9)
    assert_close(ours.bic(Xt), sk.bic(X), rtol=1e-8)
    assert_close(ours.aic(Xt), sk.aic(X), rtol=1e-8)
    assert (ours.predict(Xt).numpy() == sk.predict(X)).all()


@pytest.mark.parametrize("ctype", ["full", "tied"])
def test_sixteen_features_in_uneven_batches_same_fit_as_scikit_learn(rng, ctype,
                                                                   monkeypatch):
    # the benchmark's shape (d = 16: 153 pairwise products of (x, 1)), at a small n, fitted
    # whole and from batches that are not multiples of the (here shrunk) row block
    X = _data(rng, n=1500, d=16, k=4)
    start = _start(rng, X, ctype, k=4)
    sk, whole = _both(X, ctype, start, max_iter=8)
    monkeypatch.setattr(mixture, "_CHUNK_BYTES", 100 * 2**10)  # blocks of 64 rows
    w, m, p = (torch.from_numpy(a) for a in start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchmath.ConvergenceWarning)
        batched = GaussianMixture(4, ctype, max_iter=8, tol=0, weights_init=w, means_init=m,
                                  precisions_init=p).fit(
            list(torch.from_numpy(X).split(377)))
    for ours in (whole, batched):
        assert_close(ours.lower_bound, sk.lower_bound_, rtol=1e-10)
        assert_close(ours.means, sk.means_, rtol=1e-8, atol=1e-10)
        assert_close(ours.covariances, sk.covariances_, rtol=1e-8, atol=1e-10)


def test_component_that_loses_all_points_is_handled(rng):
    X = _data(rng, d=2)
    w, m, p = _start(rng, X, "full")
    m[2] = [1e3, 1e3]  # far from every point: it gets no responsibility at all
    sk, ours = _both(X, "full", (w, m, p), max_iter=10)
    assert torch.isfinite(ours.means).all() and torch.isfinite(ours.covariances).all()
    assert_close(ours.lower_bound, sk.lower_bound_, rtol=1e-10)
    assert float(ours.weights[2]) < 1e-10


def test_own_initialization_same_or_better_than_scikit_learn(rng):
    X = _data(rng, n=600)
    ours = GaussianMixture(3, n_init=3, generator=1, tol=1e-6, max_iter=500).fit(
        torch.from_numpy(X))
    sk = SkGMM(3, n_init=3, random_state=0, tol=1e-6, max_iter=500).fit(X)
    assert float(ours.score(torch.from_numpy(X))) >= sk.score(X) - 1e-6
    assert bool(ours.converged)


def test_random_init_converges_monotonically(rng):
    X = _data(rng, n=300)
    gm = GaussianMixture(3, init="random", n_init=2, tol=1e-6, max_iter=300).fit(
        torch.from_numpy(X))
    steps = gm.lower_bounds.diff()
    assert bool(gm.converged) and bool((steps >= -1e-10).all())  # EM never decreases it


def test_distribution_gradients_and_samples(rng):
    X = torch.from_numpy(_data(rng, d=2))
    gm = GaussianMixture(3, "diag").fit(X)
    dist = gm.to_distribution()
    assert isinstance(dist, torch.distributions.MixtureSameFamily)
    assert_close(gm.score_samples(X[:20]), dist.log_prob(X[:20]))
    x = X[:4].clone().requires_grad_()
    assert torch.autograd.gradcheck(gm.score_samples, (x,))
    means = gm.means.clone().requires_grad_()
    gm.means = means
    gm.score(X).backward()
    assert means.grad is not None and torch.isfinite(means.grad).all()
    gm.means = means.detach()
    g = torch.Generator().manual_seed(0)
    s, labels = gm.sample(40_000, generator=g)
    assert s.shape == (40_000, 2) and labels.shape == (40_000,)
    # the mixture mean; standard error ~ 0.03 at this n, tolerance ~ 4 standard errors
    assert_close(s.mean(0), dist.mean, atol=0.12, rtol=0)
    assert_close(torch.bincount(labels, minlength=3) / 40_000.0, gm.weights, atol=0.01,
                 rtol=0)


def test_bad_input(rng):
    X = torch.from_numpy(_data(rng, n=30))
    assert_raises_naming(ValueError, lambda: GaussianMixture(0), "'n_components'")
    assert_raises_naming(ValueError, lambda: GaussianMixture(2, "banana"), "'covariance_type'")
    assert_raises_naming(ValueError, lambda: GaussianMixture(2, init="kmeans"), "'init'")
    assert_raises_naming(ValueError, lambda: GaussianMixture(40).fit(X), "'data'", "40")
    assert_raises_naming(ValueError, lambda: GaussianMixture(2).fit(X * float("nan")), "'X'")
    ragged = [(X[:10],), (X[10:, :2],)]
    assert_raises_naming(ValueError, lambda: GaussianMixture(2).fit(ragged), "'X'")
    assert_raises_naming(TypeError, lambda: GaussianMixture(2).fit(iter([X])), "'data'")
    gm = GaussianMixture(2)
    with pytest.raises(NotFittedError, match="fit"):
        gm.score_samples(X)
    gm.fit(X)
    assert_raises_naming(ValueError, lambda: gm.score_samples(X[:, :2]), "'X'")


@pytest.mark.parametrize("ctype", TYPES)
def test_reg_covar_zero_on_collapsed_data_is_a_named_error(ctype):
    # 3 components, but the data are 3 repeated points in 2-d: with reg_covar=0 the
    # covariances are singular.
    X = torch.tensor([[0.0, 0.0], [1.0, 1.0], [4.0, -1.0]], dtype=torch.float64).repeat(10, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchmath.ConvergenceWarning)
        assert_raises_naming(ValueError, lambda: GaussianMixture(
            3, ctype, reg_covar=0.0).fit(X), "GaussianMixture.fit", "'reg_covar'")


def test_restarts_are_nested(rng):
    X = torch.from_numpy(_data(rng, n=300))
    one = GaussianMixture(3, n_init=1, tol=1e-6, max_iter=200, generator=5).fit(X)
    ten = GaussianMixture(3, n_init=10, tol=1e-6, max_iter=200, generator=5).fit(X)
    assert float(ten.lower_bound) >= float(one.lower_bound) - 1e-12
    # restart 0 of the ten is the one-restart fit: its trajectory is the same
    init = GaussianMixture(3, n_init=10, max_iter=1, generator=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchmath.ConvergenceWarning)
        first = GaussianMixture(3, n_init=1, max_iter=1, generator=5).fit(X)
        init.fit(X)
    assert float(init.lower_bound) >= float(first.lower_bound) - 1e-12


def test_score_samples_compiles_fullgraph_with_validation_off(rng):
    X = torch.from_numpy(_data(rng, d=2))
    gm = GaussianMixture(3, "full").fit(X)
    expected = gm.score_samples(X)
    torchmath.set_validate_args(False)
    try:
        compiled = torch.compile(gm.score_samples, fullgraph=True, backend="aot_eager")
        assert_close(compiled(X), expected, rtol=1e-12)
    finally:
        torchmath.set_validate_args(True)
        torch._dynamo.reset()


def test_fit_predict_sample_and_generator(rng):
    X = torch.from_numpy(_data(rng))
    labels = GaussianMixture(3, generator=2).fit_predict(X)
    gm = GaussianMixture(3, generator=torch.Generator().manual_seed(2)).fit(X)
    assert labels.shape == (300,) and set(labels.tolist()) <= {0, 1, 2}
    assert gm.predict(X).shape == (300,)
    s, comp = gm.sample(10, generator=torch.Generator().manual_seed(0))
    assert s.shape == (10, 3) and comp.shape == (10,)
