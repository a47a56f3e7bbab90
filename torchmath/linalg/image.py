"""PCA of images: eigen-images and the reconstruction error curve."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from torchmath._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_ndim,
    fail,
)
from torchmath.linalg.pca import PCA

__all__ = ["ImagePCAResult", "image_pca"]


class ImagePCAResult(NamedTuple):
    """Components as images ``(k, *shape)``, the mean image ``shape``, the explained
    variance ratio ``(k,)``, the mean squared reconstruction error per pixel with
    ``1..k`` components ``(k,)``, and the fitted :class:`PCA`."""

    components: Tensor
    mean: Tensor
    explained_variance_ratio: Tensor
    reconstruction_error: Tensor
    pca: PCA


def image_pca(images: Tensor, n_components: int, *, solver: str = "full") -> ImagePCAResult:
    r"""PCA of flattened images: eigen-images and reconstruction error per component count.

    .. math::
        \text{err}(j) = \frac{1}{n p}\sum_i \|x_i - \hat x_i^{(j)}\|^2
        = \frac{1}{n p}\Big(\|\bar X\|_F^2 - \sum_{i \le j} \sigma_i^2\Big),
        \quad j = 1, \dots, k

    Each image of ``p`` pixels is a vector; :class:`PCA` finds the principal directions
    (the "eigen-images") and, because the components are orthonormal, the error of the
    reconstruction from the first ``j`` of them is the variance left in the discarded
    directions — one fit gives the whole curve (Eckart–Young). The error is the mean
    over images and pixels.

    Args:
        images: ``n`` images of any shape (``(n, H, W)`` or ``(n, C, H, W)``).
        n_components: ``k``, the largest number of components.
        solver: :class:`PCA`'s solver.

    Shape:
        ``images``: ``(n, *shape)``; ``components``: ``(k, *shape)``; ``mean``: ``shape``;
        ``explained_variance_ratio`` and ``reconstruction_error``: ``(k,)``.

    Returns:
        An :class:`ImagePCAResult` ``(components, mean, explained_variance_ratio,
        reconstruction_error)``.

    Raises:
        ValueError: fewer than 2 dimensions, non-finite pixels, ``n_components`` too
            large.

    Example:
        >>> import torch
        >>> images = torch.stack([torch.eye(2), -torch.eye(2), torch.eye(2).flip(0)])
        >>> out = image_pca(images, 2)
        >>> out.components.shape, out.reconstruction_error[-1]
        (torch.Size([2, 2, 2]), tensor(0.))

    Source: Turk and Pentland (1991), "Eigenfaces for recognition"; Eckart and Young
    (1936).
    """
    fn = "image_pca"
    check_floating(fn, "images", images)
    check_ndim(fn, "images", images, min_ndim=2)
    check_finite(fn, "images", images)
    check_int(fn, "n_components", n_components, minimum=1)
    n, shape = images.shape[0], images.shape[1:]
    X = images.reshape(n, -1)
    if n_components > min(X.shape):
        raise fail(fn, "n_components", f"to be at most min(n_images, n_pixels) = "
                   f"{min(X.shape)}", n_components)
    check_choice(fn, "solver", solver, ("full", "randomized", "covariance", "lanczos"))
    pca = PCA(n_components, solver=solver).fit(X)
    # The fitted PCA holds detached buffers. The error curve is recomputed from the data
    # with the components held fixed: the top-j subspace maximizes the captured
    # variance, so (envelope theorem) this is also the right gradient in the images.
    Xc = X - X.mean(0)
    total = Xc.square().sum()
    captured = (Xc @ pca.components.to(X.dtype).mT).square().sum(0)
    error = (total - captured.cumsum(0)).clamp_min(0) / X.numel()
    return ImagePCAResult(pca.components.reshape(-1, *shape), pca.mean.reshape(shape),
                          captured / total, error, pca)
