"""Mutual information: tables, Gaussians, KSG (exact agreement with scikit-learn), scores,
feature selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_selection import (
    SelectKBest,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.feature_selection._mutual_info import _compute_mi_cc, _compute_mi_cd
from sklearn.metrics import mutual_info_score

from tests.helpers import assert_close, assert_raises_naming, check_gradients, rand_spd
from torchmath.information import (
    conditional_entropy,
    entropy,
    gaussian_mutual_information,
    ksg_mutual_information,
    mutual_info_scores,
    mutual_information,
    select_features,
)


def _table(a: torch.Tensor, b: torch.Tensor, na: int, nb: int) -> torch.Tensor:
    joint = torch.zeros(na, nb, dtype=torch.float64)
    joint.index_put_((a, b), torch.ones(a.shape[0], dtype=torch.float64), accumulate=True)
    return joint / joint.sum()


def _data(n=1500, p=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=g, dtype=torch.float64)
    X[:, 3] = X[:, 3] ** 3  # heavy tails
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


def test_discrete_mi_matches_sklearn_and_entropies():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 4, (600,), generator=g)
    b = (a + torch.randint(0, 3, (600,), generator=g)) % 5
    joint = _table(a, b, 4, 5)
    assert_close(mutual_information(joint), mutual_info_score(a.numpy(), b.numpy()))
    assert_close(mutual_information(joint), entropy(probs=joint.sum(1))
                 - conditional_entropy(joint, given_dim=1))
    assert_close(mutual_information(torch.eye(3, dtype=torch.float64) / 3, base=2),
                 math.log2(3))


def test_gaussian_mi_formula_and_blocks(dtype):
    rho = torch.tensor([0.0, 0.5, -0.9], dtype=torch.float64)
    cov = torch.stack([torch.tensor([[1.0, r], [r, 1.0]], dtype=torch.float64) for r in rho])
    assert_close(gaussian_mutual_information(cov.to(dtype), [0], [1]),
                 -0.5 * torch.log1p(-rho ** 2))
    S = rand_spd(d=5)
    ref = 0.5 * (torch.logdet(S[:2, :2]) + torch.logdet(S[2:, 2:]) - torch.logdet(S))
    assert_close(gaussian_mutual_information(S, [0, 1], [2, 3, 4]), ref)


def test_ksg_equals_sklearn_estimator_exactly():
    X, y = _data()
    Xs = X / X.std(0, correction=0)
    for j in (0, 1, 3):
        for k in (1, 3, 7):
            ref = _compute_mi_cc(Xs[:, j].numpy(), y.numpy(), k)
            assert_close(ksg_mutual_information(Xs[:, j], y, k=k), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["normal", "heavy", "tied", "dependent", "constant_half"])
def test_ksg_neighbour_search_exact_against_brute_force(kind, dtype):
    """The strip search (certified windows + exact fallback) equals an n x n brute force,
    bit for bit, on tails, ties, near-functional dependence and tiny samples."""
    from torchmath.information._ksg import count_within_sorted, kth_maxnorm_1d
    g = torch.Generator().manual_seed(len(kind))
    for n, k in ((2, 1), (5, 4), (37, 3), (900, 3), (1300, 7)):
        x, y = torch.randn(2, 3, n, generator=g, dtype=torch.float64)
        if kind == "heavy":
            x, y = x ** 3, torch.exp(2 * y)
        elif kind == "tied":
            x, y = x.round(), (2 * y).round()
        elif kind == "dependent":
            y = x + 1e-3 * y
        elif kind == "constant_half":
            x[:, : n // 2] = 0.5
        xs, order = x.to(dtype).sort(-1)
        ys = y.to(dtype).gather(-1, order)
        d = torch.maximum((xs[..., :, None] - xs[..., None, :]).abs(),
                          (ys[..., :, None] - ys[..., None, :]).abs())
        eps = kth_maxnorm_1d(xs, ys, k)
        assert torch.equal(eps, d.sort(-1).values[..., k]), (n, k)
        r = torch.nextafter(eps, torch.zeros_like(eps))
        ny = count_within_sorted(ys.sort(-1).values, ys, r)
        assert torch.equal(ny, ((ys[..., :, None] - ys[..., None, :]).abs()
                                <= r[..., None]).sum(-1))


def test_ksg_equals_sklearn_estimator_on_ties():
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 30, (800,), generator=g).double()
    y = x + torch.randint(0, 5, (800,), generator=g).double()
    for k in (1, 3, 5):
        ref = _compute_mi_cc(x.numpy(), y.numpy(), k)
        assert_close(ksg_mutual_information(x, y, k=k), ref, rtol=0, atol=1e-12)


def test_mutual_info_scores_match_sklearn_regression_and_classif():
    X, y = _data()
    ours = mutual_info_scores(X, y)
    # scikit-learn adds 1e-10 jitter; neighbour counts are unchanged on continuous data.
    assert_close(ours, mutual_info_regression(X.numpy(), y.numpy(), random_state=0),
                 rtol=0, atol=1e-6)
    labels = (X[:, 1] > 0).long() + (X[:, 2] > 0.5).long()
    ours_c = mutual_info_scores(X, labels, discrete_target=True)
    Xs = (X / X.std(0, correction=0)).numpy()
    exact = [max(0.0, _compute_mi_cd(Xs[:, j], labels.numpy(), 3)) for j in range(X.shape[1])]
    # scikit-learn's tree compares squared distances, so a neighbour exactly at the radius
    # can be counted: agreement to 1e-3 (usually exact).
    assert_close(ours_c, exact, rtol=0, atol=1e-3)
    assert_close(ours_c, mutual_info_classif(X.numpy(), labels.numpy(), random_state=0),
                 rtol=0, atol=1e-3)


def test_tied_data_with_jitter_close_to_sklearn():
    """Tied values (integer-valued features): the jittered scores approach scikit-learn's."""
    g = torch.Generator().manual_seed(5)
    X = torch.randint(0, 4, (600, 3), generator=g).double()
    labels = (X[:, 0] + torch.randint(0, 2, (600,), generator=g) > 2).long()
    ref = mutual_info_classif(X.numpy(), labels.numpy(), random_state=0)
    jittered = mutual_info_scores(X, labels, discrete_target=True, noise=1e-10,
                                  generator=torch.Generator().manual_seed(0))
    # Different random tie-breaking: agreement to the estimator's noise, not to 1e-6.
    assert_close(jittered, ref, rtol=0, atol=0.05)
    assert int(jittered.argmax()) == int(np.argmax(ref)) == 0


def test_ksg_batched_broadcast_and_multivariate():
    X, y = _data(n=400)
    batched = ksg_mutual_information(X.T.unsqueeze(-1), y.unsqueeze(-1))
    stacked = torch.stack([ksg_mutual_information(X[:, j], y) for j in range(X.shape[1])])
    assert_close(batched, stacked, rtol=0, atol=0)
    # The multi-dimensional (cdist) path agrees with the 1-D path on 1-D data.
    from torchmath.information._ksg import count_within_nd, kth_maxnorm_nd
    from torchmath.information.mutual_info import _ksg_batched
    x1, y1 = X[:, :1].unsqueeze(0), y[:, None].unsqueeze(0)
    eps = kth_maxnorm_nd(x1, y1, 3)
    assert eps.shape == (1, 400) and count_within_nd(x1, eps).min() >= 4
    xy2 = torch.cat((x1, torch.zeros_like(x1)), -1)  # a constant extra coordinate
    assert_close(_ksg_batched(xy2, y1, 3), _ksg_batched(x1, y1, 3), rtol=0, atol=1e-12)
    # 2-D Gaussian blocks: KSG close to the truth.
    g = torch.Generator().manual_seed(2)
    cov = rand_spd(d=4, generator=g)
    L = torch.linalg.cholesky(cov)
    z = torch.randn(3000, 4, generator=g, dtype=torch.float64) @ L.T
    est = ksg_mutual_information(z[:, :2], z[:, 2:], k=4)
    assert abs(float(est) - float(gaussian_mutual_information(cov, [0, 1], [2, 3]))) < 0.05


def test_feature_selection():
    X, y = _data(n=800)
    labels = (X[:, 0] + X[:, 4] > 0).long()
    ours = select_features(X, labels, 2, discrete_target=True)
    mask = SelectKBest(lambda a, b: mutual_info_classif(a, b, random_state=0), k=2).fit(
        X.numpy(), labels.numpy()).get_support()
    assert set(ours.tolist()) == set(np.flatnonzero(mask).tolist())
    # mRMR: a duplicate of the best feature is redundant and is not chosen second.
    Xd = torch.cat((X, X[:, :1] * 2.0), dim=1)
    mrmr = select_features(Xd, y, 2, method="mrmr")
    assert mrmr[0] in (0, 6) and mrmr[1] not in (0, 6)
    assert select_features(Xd, y, 2, method="mi").tolist()[:2] in ([0, 6], [6, 0])


def test_gradients_gaussian_and_discrete():
    A = torch.randn(2, 3, 3, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    check_gradients(lambda a: gaussian_mutual_information(a @ a.mT + eye, [0], [1, 2]), A)
    t = torch.rand(2, 2, 3, dtype=torch.float64) + 0.1
    check_gradients(lambda x: mutual_information(x / x.sum((-2, -1), keepdim=True)), t)


def test_bad_input():
    x = torch.randn(10, dtype=torch.float64)
    assert_raises_naming(ValueError, lambda: ksg_mutual_information(x, x, k=10), "k")
    assert_raises_naming(ValueError, lambda: ksg_mutual_information(x, x[:9]), "x", "y")
    assert_raises_naming(ValueError, lambda: mutual_info_scores(x[:, None], x, k=12), "k")
    nan = x.clone()
    nan[3] = math.nan
    assert_raises_naming(ValueError, lambda: ksg_mutual_information(nan, x), "x")
    assert_raises_naming(ValueError, lambda: ksg_mutual_information(x, nan * math.inf), "y")
    assert_raises_naming(ValueError, lambda: mutual_info_scores(nan[:, None], x), "X")
    assert_raises_naming(ValueError, lambda: mutual_info_scores(x[:, None], nan), "y")
    assert_raises_naming(ValueError, lambda: mutual_info_scores(x[:, None], x, noise=-1.0),
                         "noise")
    assert_raises_naming(ValueError, lambda: select_features(x[:, None], x, 2), "k")
    assert_raises_naming(ValueError, lambda: select_features(x[:, None], x, 1, method="x"),
                         "method")
    assert_raises_naming(ValueError, lambda: mutual_information(torch.full((2, 2), 0.3)),
                         "joint")
    assert_raises_naming(ValueError, lambda: gaussian_mutual_information(
        torch.eye(3), [0], [0]), "x_idx")
    assert_raises_naming(ValueError, lambda: gaussian_mutual_information(
        torch.eye(3), [0], [5]), "y_idx")


@settings(derandomize=True, deadline=None, max_examples=10)
@given(st.floats(-0.95, 0.95), st.integers(0, 1000))
def test_gaussian_pair_mi_property(rho, seed):
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    true = -0.5 * math.log(1 - rho ** 2)
    assert float(gaussian_mutual_information(cov, [0], [1])) == pytest.approx(true, rel=1e-10)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1500, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    est = float(ksg_mutual_information(z[:, 0], z[:, 1], k=3))
    # The estimator's standard deviation at n = 1500, k = 3 is about 0.03.
    assert est >= 0 and abs(est - true) < 0.12


@settings(derandomize=True, deadline=None, max_examples=15)
@given(st.integers(2, 5), st.integers(2, 5), st.integers(0, 1000))
def test_mi_nonnegative_and_independent_near_zero_property(na, nb, seed):
    g = torch.Generator().manual_seed(seed)
    joint = torch.rand(na, nb, generator=g, dtype=torch.float64)
    joint = joint / joint.sum()
    assert float(mutual_information(joint)) >= 0
    indep = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    assert abs(float(mutual_information(indep))) < 1e-12
    x, y = torch.randn(2, 1000, generator=g, dtype=torch.float64)
    # KSG (clipped at 0, as scikit-learn) on independent samples: sd about 0.03 at n = 1000.
    assert 0 <= float(ksg_mutual_information(x, y)) < 0.12


def _sklearn_spread(score_fn, X, y, seeds=range(5)):
    runs = np.stack([score_fn(X, y, random_state=s) for s in seeds])
    return runs.mean(0), runs.std(0)


@pytest.mark.parametrize("dataset", ["diabetes", "breast_cancer"])
def test_default_scores_agree_with_sklearn_on_tied_real_data(dataset):
    # issue 15: every feature of these sets has ties; without the tie-breaking jitter the
    # k-NN estimates were inflated (MI(sex; target) 0.310 against scikit-learn's 0.014).
    from sklearn import datasets
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    if dataset == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
        target, score_fn = torch.tensor(y), mutual_info_regression
    else:
        X, y = datasets.load_breast_cancer(return_X_y=True)
        target, score_fn = torch.tensor(y), mutual_info_classif  # int64 labels
    mean, std = _sklearn_spread(score_fn, X, y)
    ours = mutual_info_scores(torch.tensor(X), target).numpy()
    assert np.all(np.abs(ours - mean) <= 4 * std + 0.02), np.abs(ours - mean) - 4 * std
    if dataset == "diabetes":
        assert ours[1] < 0.05  # sex: scikit-learn ~0.014


def test_select_features_matches_select_k_best_on_breast_cancer():
    from sklearn import datasets
    from sklearn.feature_selection import SelectKBest, mutual_info_classif

    X, y = datasets.load_breast_cancer(return_X_y=True)
    ref = SelectKBest(lambda X, y: mutual_info_classif(X, y, random_state=0), k=5).fit(X, y)
    theirs = set(np.flatnonzero(ref.get_support()).tolist())
    ours = set(select_features(torch.tensor(X), torch.tensor(y), 5).tolist())
    assert len(ours & theirs) >= 4, (ours, theirs)


def test_integer_target_is_labels_and_noise_zero_is_deterministic():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=g, dtype=torch.float64)
    labels = (X[:, 0] > 0).long()
    assert_close(mutual_info_scores(X, labels),
                 mutual_info_scores(X, labels, discrete_target=True))
    exact = mutual_info_scores(X, labels, noise=0.0)
    assert torch.equal(exact, mutual_info_scores(X, labels, noise=0.0))
    # the default jitter is seeded: the same scores on every call
    assert torch.equal(mutual_info_scores(X, labels), mutual_info_scores(X, labels))
