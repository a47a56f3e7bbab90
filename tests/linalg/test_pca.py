"""PCA against scikit-learn, streaming, partial_fit, state_dict, bad input."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    check_gradients,
    state_dict_round_trip,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.linalg import PCA

F64 = torch.float64
SK_SOLVER = {"full": "full", "covariance": "covariance_eigh", "randomized": "randomized",
             "lanczos": "arpack"}


def _data(n=120, d=12, dtype=F64):
    g = torch.Generator().manual_seed(3)
    scales = torch.logspace(1, -1, d, dtype=F64)
    X = torch.randn(n, d, generator=g, dtype=F64) * scales @ torch.linalg.qr(
        torch.randn(d, d, generator=g, dtype=F64))[0] + 5.0
    return X.to(dtype)


@pytest.mark.parametrize("solver", list(SK_SOLVER))
def test_matches_sklearn_exactly_including_signs(solver):
    X = _data()
    ours = PCA(4, solver=solver).fit(X)
    ref = SkPCA(4, svd_solver=SK_SOLVER[solver], random_state=0).fit(X.numpy())
    tol = dict(rtol=1e-7, atol=1e-9)
    assert_close(ours.components, ref.components_, **tol)
    assert_close(ours.explained_variance, ref.explained_variance_, **tol)
    assert_close(ours.explained_variance_ratio, ref.explained_variance_ratio_, **tol)
    assert_close(ours.singular_values, ref.singular_values_, **tol)
    assert_close(ours.mean, ref.mean_)
    assert_close(ours.noise_variance, ref.noise_variance_, **tol)
    assert_close(ours.transform(X), ref.transform(X.numpy()), atol=1e-8)
    eye = torch.eye(4, dtype=F64)
    assert (ours.components @ ours.components.T - eye).abs().max() < 1e-10


def test_whiten_inverse_transform_fraction_and_float32(dtype):
    X = _data(dtype=dtype)
    Xn = X.double().numpy()
    ours = PCA(5, whiten=True).fit(X)
    ref = SkPCA(5, whiten=True).fit(Xn)
    tol = 1e-3 if dtype == torch.float32 else 1e-8
    assert_close(ours.transform(X), ref.transform(Xn), atol=tol, rtol=tol)
    Z = ours.transform(X)
    assert_close(ours.inverse_transform(Z), ref.inverse_transform(ref.transform(Xn)),
                 atol=tol * 10, rtol=tol)
    frac = PCA(0.95).fit(X)
    assert frac.components.shape[0] == SkPCA(0.95).fit(Xn).n_components_
    assert ours.components.dtype == dtype


def test_reconstruction_error_is_discarded_variance():
    X = _data()
    pca = PCA(3).fit(X)
    full = PCA().fit(X)
    n, d = X.shape
    expected = full.explained_variance[3:].sum() * (n - 1) / (n * d)
    assert_close(pca.reconstruction_error(X), expected)
    assert_close(full.reconstruction_error(X), 0.0, atol=1e-20)


def test_uneven_batches_equal_whole_tensor_and_partial_fit():
    X = _data()
    whole = PCA(4, solver="covariance").fit(X)
    batches = uneven_batches(X)
    streamed = PCA(4, solver="covariance").fit(batches)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=17)
    from_loader = PCA(4, solver="covariance").fit(loader)
    partial = PCA(4)
    for (b,) in batches:
        partial.partial_fit(b)
    concatenated = PCA(4, solver="full").fit(batches)
    for other in (streamed, from_loader, partial, concatenated):
        assert_close(other.components, whole.components, atol=1e-10)
        assert_close(other.explained_variance, whole.explained_variance, rtol=1e-10)
        assert_close(other.mean, whole.mean, rtol=1e-12)
    # partial_fit continues a full fit.
    cont = PCA(4).fit(X[:50]).partial_fit(X[50:])
    assert_close(cont.components, whole.components, atol=1e-10)


def test_state_dict_round_trip_and_transform_gradients():
    X = _data()
    for solver in SK_SOLVER:
        pca = PCA(3, solver=solver, whiten=True).fit(X)
        fresh = state_dict_round_trip(pca, PCA(3, solver=solver, whiten=True))
        assert torch.equal(fresh.transform(X), pca.transform(X))
        assert torch.equal(fresh.inverse_transform(X[:, :3]), pca.inverse_transform(X[:, :3]))
    check_gradients(pca.transform, X[:6].reshape(2, 3, 12))
    check_gradients(pca.inverse_transform, torch.randn(2, 3, 3, dtype=F64))


def test_bad_input():
    X = _data(n=10, d=4)
    assert_raises_naming(ValueError, lambda: PCA(5).fit(X), "PCA.fit", "'n_components'")
    assert_raises_naming(ValueError, lambda: PCA(5, solver="covariance").fit(X),
                         "'n_components'")
    assert_raises_naming(ValueError, lambda: PCA(0), "'n_components'")
    assert_raises_naming(ValueError, lambda: PCA(0.5, solver="randomized"), "'n_components'")
    assert_raises_naming(ValueError, lambda: PCA(2, solver="arpack"), "'solver'")
    bad = X.clone()
    bad[3, 1] = float("nan")
    for solver in SK_SOLVER:
        assert_raises_naming(ValueError, lambda s=solver: PCA(2, solver=s).fit(bad), "'X'",
                             "NaN")
        assert_raises_naming(ValueError, lambda s=solver: PCA(2, solver=s).fit([]), "'data'")
    mixed = [(X,), (X[:, :3],)]
    assert_raises_naming(ValueError, lambda: PCA(2).fit(mixed), "'X'", "4 features")
    assert_raises_naming(ValueError, lambda: PCA(2, solver="covariance").fit(mixed), "'X'")
    with pytest.raises(NotFittedError, match="fit"):
        PCA(2).transform(X)
    pca = PCA(2).fit(X)
    assert_raises_naming(ValueError, lambda: pca.transform(X[:, :3]), "PCA.transform", "'X'")
    assert_raises_naming(ValueError, lambda: pca.inverse_transform(X), "'Z'")
    trunc = PCA(2, solver="randomized").fit(X)
    assert_raises_naming(ValueError, lambda: trunc.partial_fit(X), "'solver'")
    assert_raises_naming(ValueError, lambda: PCA(2).fit(X[:1]), "'data'", "2 samples")
    assert np.isfinite(pca.explained_variance.numpy()).all()


def test_fit_and_transform_follow_the_device(device):
    X = _data().to(device)
    for solver in SK_SOLVER:
        pca = PCA(3, solver=solver).to(device).fit(X)
        assert pca.components.device.type == device.type
        assert pca.transform(X).device.type == device.type
    ref = SkPCA(3).fit(X.cpu().numpy())
    assert_close(pca.explained_variance, ref.explained_variance_, rtol=1e-7)


@pytest.mark.parametrize("k", [3, 12])
def test_score_samples_and_fit_transform_as_scikit_learn(k):
    X = _data()
    ref = SkPCA(k).fit(X.numpy())
    pca = PCA(k)
    Z = pca.fit_transform(X)
    assert_close(Z, ref.transform(X.numpy()), rtol=1e-8, atol=1e-10)
    assert_close(pca.score_samples(X), ref.score_samples(X.numpy()), rtol=1e-8)
    assert_close(pca.score(X), ref.score(X.numpy()), rtol=1e-8)


def test_generator_seeds_the_randomized_solver():
    X = _data()
    a = PCA(3, solver="randomized", generator=1).fit(X).components
    b = PCA(3, solver="randomized", generator=torch.Generator().manual_seed(1)).fit(X)
    assert torch.equal(a, b.components)
