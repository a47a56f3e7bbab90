r"""Data augmentation, batched on the input's device: mixup, CutMix, noise, crop and flip.

Augmentation enlarges the training distribution with label-preserving (or
label-interpolating) transformations, a regularizer that encodes invariances
(Goodfellow, Bengio & Courville 2016, Section 7.4). Every function takes a
``torch.Generator`` for reproducibility and draws all of a batch's randomness at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from torchmath import _random
from torchmath._validation import (
    check_floating,
    check_in_range,
    check_int,
    check_ndim,
    check_positive,
    check_same_size,
    check_tensor,
    fail,
)

__all__ = ["add_gaussian_noise", "cutmix", "mixup", "random_crop_flip", "sample_beta"]


def _rand(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    return _random.rand(shape, generator=generator, dtype=like.dtype, device=like.device)


def sample_beta(alpha: float, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    r"""Samples of :math:`\mathrm{Beta}(\alpha, \alpha)` that honour a ``torch.Generator``.

    .. math::
        \lambda = \frac{G_1}{G_1 + G_2},\quad G_i \sim \Gamma(\alpha, 1)

    Drawn as the first coordinate of a :math:`\mathrm{Dir}(\alpha, \alpha)` sample with
    torch's own sampler, which takes ``generator`` directly: the global random state is
    never read or reseeded, so concurrent threads with their own generators do not
    interfere. The draw happens on the generator's device and is moved to ``device``
    (a generator on any device works with a result on any device). Source: the
    Gamma-ratio construction of the Beta distribution.

    Args:
        alpha: concentration :math:`> 0`.
        shape: sample shape.
        generator: the random source (default: the global generator).
        dtype, device: of the result.

    Shape:
        ``shape``.

    Returns:
        samples in [0, 1].

    Raises:
        ValueError: ``alpha`` is not positive.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> sample_beta(0.4, (3,), generator=g).shape
        torch.Size([3])
    """
    check_positive("sample_beta", "alpha", alpha)
    device = torch.device("cpu") if device is None else torch.device(device)
    where = generator.device if generator is not None else device
    work = torch.float64 if dtype == torch.float64 else torch.float32
    conc = torch.full((*shape, 2), float(alpha), dtype=work, device=where)
    lam = torch._sample_dirichlet(conc, generator=generator)[..., 0]
    return lam.to(dtype=dtype, device=device)


def _soft_labels(fn: str, y: Tensor, num_classes: int | None, dtype) -> Tensor:
    if y.is_floating_point():
        check_ndim(fn, "y", y, ndim=2)
        return y.to(dtype)
    if num_classes is None:
        raise fail(fn, "num_classes", "to be given for integer labels 'y'", None)
    check_int(fn, "num_classes", num_classes, minimum=1)
    check_ndim(fn, "y", y, ndim=1)
    return F.one_hot(y.long(), num_classes).to(dtype)


def mixup(x: Tensor, y: Tensor, alpha: float = 0.2, *, num_classes: int | None = None,
          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""Mixup: convex combinations of pairs of examples and of their labels.

    .. math::
        \tilde x_i = \lambda_i x_i + (1-\lambda_i) x_{\pi(i)},\quad
        \tilde y_i = \lambda_i y_i + (1-\lambda_i) y_{\pi(i)},\quad
        \lambda_i \sim \mathrm{Beta}(\alpha, \alpha)

    with :math:`\pi` a random permutation of the batch and one :math:`\lambda` per
    example. Soft labels stay on the simplex (they sum to one). Source: Zhang, Cisse,
    Dauphin & Lopez-Paz (2018), "mixup: Beyond Empirical Risk Minimization".

    Args:
        x: ``(N, ...)`` floating inputs.
        y: ``(N,)`` integer labels (give ``num_classes``) or ``(N, C)`` soft labels.
        alpha: Beta concentration :math:`> 0`.
        num_classes: ``C`` for integer labels.
        generator: for reproducibility.

    Shape:
        returns ``(N, ...)`` inputs and ``(N, C)`` soft labels.

    Returns:
        ``(mixed_x, mixed_y)``.

    Raises:
        ValueError: ``alpha <= 0``, mismatched batch sizes, integer labels without
            ``num_classes``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> xm, ym = mixup(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), 0.4,
        ...                num_classes=3, generator=g)
        >>> ym.sum(-1)
        tensor([1., 1., 1., 1.])
    """
    fn = "mixup"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, min_ndim=1)
    check_tensor(fn, "y", y)
    check_same_size(fn, ["x", "y"], [x, y])
    check_positive(fn, "alpha", alpha)
    soft = _soft_labels(fn, y, num_classes, x.dtype)
    n = x.shape[0]
    lam = sample_beta(alpha, (n,), generator=generator, dtype=x.dtype).to(x.device)
    perm = torch.randperm(n, generator=generator,
                          device=generator.device if generator is not None else "cpu"
                          ).to(x.device)
    lam_x = lam.reshape(n, *([1] * (x.dim() - 1)))
    mixed_x = lam_x * x + (1 - lam_x) * x[perm]
    mixed_y = lam.unsqueeze(-1) * soft + (1 - lam.unsqueeze(-1)) * soft[perm]
    return mixed_x, mixed_y


def cutmix(x: Tensor, y: Tensor, alpha: float = 1.0, *, num_classes: int | None = None,
           generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""CutMix: paste a random box of another image, mixing labels by the box's area.

    .. math::
        \tilde x_i = (1 - M_i) \odot x_i + M_i \odot x_{\pi(i)},\quad
        \tilde y_i = \lambda_i' y_i + (1 - \lambda_i') y_{\pi(i)}

    where :math:`M_i` is a box of side ratio :math:`\sqrt{1-\lambda_i}`,
    :math:`\lambda_i \sim \mathrm{Beta}(\alpha,\alpha)`, centred uniformly and clipped to
    the image, and :math:`\lambda_i' = 1 - |M_i| / (HW)` is the kept area after clipping.
    All boxes are built at once as masks. Source: Yun et al. (2019), "CutMix".

    Args:
        x: ``(N, C, H, W)`` images.
        y: ``(N,)`` integer labels (with ``num_classes``) or ``(N, K)`` soft labels.
        alpha: Beta concentration :math:`> 0`.
        num_classes: ``K`` for integer labels.
        generator: for reproducibility.

    Shape:
        returns ``(N, C, H, W)`` and ``(N, K)``.

    Returns:
        ``(mixed_x, mixed_y)``.

    Raises:
        ValueError: ``x`` not 4-D, ``alpha <= 0``, mismatched sizes.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> xm, ym = cutmix(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]), num_classes=2,
        ...                 generator=g)
        >>> xm.shape, ym.sum(-1)
        (torch.Size([2, 3, 8, 8]), tensor([1., 1.]))
    """
    fn = "cutmix"
    check_floating(fn, "x", x)
    check_ndim(fn, "x", x, ndim=4)
    check_tensor(fn, "y", y)
    check_same_size(fn, ["x", "y"], [x, y])
    check_positive(fn, "alpha", alpha)
    soft = _soft_labels(fn, y, num_classes, x.dtype)
    n, _, h, w = x.shape
    lam = sample_beta(alpha, (n,), generator=generator, dtype=x.dtype).to(x.device)
    u = _rand((2, n), generator, x)
    perm = torch.randperm(n, generator=generator,
                          device=generator.device if generator is not None else "cpu"
                          ).to(x.device)
    ratio = torch.sqrt(1 - lam)
    cy, cx = u[0] * h, u[1] * w
    half_h, half_w = ratio * h / 2, ratio * w / 2
    y0, y1 = (cy - half_h).round().clamp(0, h), (cy + half_h).round().clamp(0, h)
    x0, x1 = (cx - half_w).round().clamp(0, w), (cx + half_w).round().clamp(0, w)
    rows = torch.arange(h, device=x.device, dtype=x.dtype)
    cols = torch.arange(w, device=x.device, dtype=x.dtype)
    in_rows = (rows >= y0[:, None]) & (rows < y1[:, None])  # (N, H)
    in_cols = (cols >= x0[:, None]) & (cols < x1[:, None])  # (N, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)  # (N, 1, H, W)
    mixed_x = torch.where(mask, x[perm], x)
    kept = 1 - mask.flatten(1).to(x.dtype).mean(-1)
    mixed_y = kept.unsqueeze(-1) * soft + (1 - kept.unsqueeze(-1)) * soft[perm]
    return mixed_x, mixed_y


def add_gaussian_noise(x: Tensor, std: float | Tensor = 0.1, *,
                       generator: torch.Generator | None = None) -> Tensor:
    r"""Add isotropic Gaussian noise to the inputs.

    .. math::
        \tilde x = x + \sigma \varepsilon,\qquad \varepsilon \sim \mathcal N(0, I)

    For a linear model and squared loss this equals ridge regression with penalty
    :math:`n\sigma^2\|w\|^2` in expectation (Bishop 1995, "Training with Noise is
    Equivalent to Tikhonov Regularization").

    Args:
        x: floating inputs of any shape.
        std: :math:`\sigma \ge 0`, a number or a tensor broadcastable to ``x``.
        generator: for reproducibility.

    Shape:
        same as ``x``.

    Returns:
        the noisy inputs (a new tensor).

    Raises:
        ValueError: negative ``std``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> add_gaussian_noise(torch.zeros(2), 0.0, generator=g)
        tensor([0., 0.])

    Source: Bishop (1995), "Training with noise is equivalent to Tikhonov
    regularization".
    """
    fn = "add_gaussian_noise"
    check_floating(fn, "x", x)
    check_positive(fn, "std", std, strict=False)
    noise = _random.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + std * noise


def random_crop_flip(images: Tensor, size: int | tuple[int, int], padding: int = 0, *,
                     flip_prob: float = 0.5, padding_mode: str = "constant",
                     generator: torch.Generator | None = None) -> Tensor:
    r"""Random crops (after padding) and horizontal flips, one draw per image, batched.

    .. math::
        \tilde x_i = \mathrm{flip}^{b_i}\big(\mathrm{pad}(x_i)[r_i : r_i + h,\
        c_i : c_i + w]\big),\quad b_i \sim \mathrm{Bernoulli}(p_{\text{flip}})

    with offsets :math:`r_i, c_i` uniform over the valid positions. The crops are one
    gather over the batch (no per-image Python loop). Source: Krizhevsky, Sutskever &
    Hinton (2012), Section 4.1.

    Args:
        images: ``(N, C, H, W)``.
        size: crop size ``h`` (square) or ``(h, w)``, at most the padded size.
        padding: pixels added on every side before cropping (``>= 0``).
        flip_prob: probability of a horizontal flip, in [0, 1].
        padding_mode: ``"constant"`` (zeros), ``"reflect"`` or ``"replicate"``.
        generator: for reproducibility.

    Shape:
        returns ``(N, C, h, w)``.

    Returns:
        the augmented images.

    Raises:
        ValueError: ``images`` not 4-D, a crop larger than the padded image, negative
            padding, ``flip_prob`` outside [0, 1].

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> random_crop_flip(torch.rand(5, 3, 32, 32), 32, padding=4, generator=g).shape
        torch.Size([5, 3, 32, 32])
    """
    fn = "random_crop_flip"
    check_floating(fn, "images", images)
    check_ndim(fn, "images", images, ndim=4)
    check_int(fn, "padding", padding, minimum=0)
    check_in_range(fn, "flip_prob", flip_prob, 0.0, 1.0)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    check_int(fn, "size", h, minimum=1)
    check_int(fn, "size", w, minimum=1)
    if padding:
        images = F.pad(images, (padding,) * 4, mode=padding_mode)
    n, c, hp, wp = images.shape
    if h > hp or w > wp:
        raise fail(fn, "size", f"at most the padded image size ({hp}, {wp})", (h, w))
    u = _rand((3, n), generator, images)
    top = torch.floor(u[0] * (hp - h + 1)).long().clamp_max(hp - h)
    left = torch.floor(u[1] * (wp - w + 1)).long().clamp_max(wp - w)
    flip = u[2] < flip_prob
    rows = top[:, None] + torch.arange(h, device=images.device)  # (N, h)
    col_off = torch.arange(w, device=images.device)
    col_off = torch.where(flip[:, None], w - 1 - col_off, col_off)
    cols = left[:, None] + col_off  # (N, w)
    idx_n = torch.arange(n, device=images.device)[:, None, None]
    out = images.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (N,h,w,C)
    return out.permute(0, 3, 1, 2).contiguous()

