"""image_pca on scikit-learn's 8x8 digits."""

import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SkPCA

from tests.helpers import assert_close, assert_raises_naming
from torchmath.linalg import PCA, image_pca


def test_digits_components_and_error_curve():
    digits = load_digits()
    images = torch.tensor(digits.images[:400], dtype=torch.float64)
    out = image_pca(images, 10)
    assert out.components.shape == (10, 8, 8) and out.mean.shape == (8, 8)
    ref = SkPCA(10).fit(digits.data[:400])
    assert_close(out.components.reshape(10, 64), ref.components_, atol=1e-8)
    assert_close(out.explained_variance_ratio, ref.explained_variance_ratio_)
    # The closed-form curve equals explicit reconstructions with j components.
    X = images.reshape(400, 64)
    for j in (1, 4, 10):
        explicit = PCA(j).fit(X).reconstruction_error(X)
        assert_close(out.reconstruction_error[j - 1], explicit, rtol=1e-8)
    assert (out.reconstruction_error.diff() <= 0).all()


def test_bad_input():
    assert_raises_naming(ValueError, lambda: image_pca(torch.zeros(3, 2, 2), 5), "image_pca",
                         "'n_components'")
    bad = torch.zeros(3, 2, 2)
    bad[0, 0, 0] = float("nan")
    assert_raises_naming(ValueError, lambda: image_pca(bad, 1), "'images'", "NaN")
    assert_raises_naming(ValueError, lambda: image_pca(torch.zeros(3), 1), "'images'")
