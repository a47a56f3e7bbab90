"""Augmentations: soft labels on the simplex, exact mixing weights, crops are windows."""

from __future__ import annotations

import torch

from tests.helpers import assert_close, assert_raises_naming
from torchmath.learning_theory import (
    add_gaussian_noise,
    cutmix,
    mixup,
    random_crop_flip,
    sample_beta,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mixup_labels_sum_to_one_and_mix_consistently():
    x = torch.arange(8, dtype=torch.float64).unsqueeze(-1).expand(8, 3)  # row i holds i
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    xm, ym = mixup(x, y, 0.4, num_classes=3, generator=gen())
    assert_close(ym.sum(-1), torch.ones(8, dtype=torch.float64))
    assert (ym >= 0).all()
    # each mixed row is lam * i + (1 - lam) * j; the labels carry the same lam
    xm2, ym2 = mixup(x, y, 0.4, num_classes=3, generator=gen())
    assert torch.equal(xm, xm2) and torch.equal(ym, ym2)  # reproducible
    soft = torch.nn.functional.one_hot(y, 3).double()
    xs, ys = mixup(x, soft, 0.4, generator=gen())
    assert torch.equal(xs, xm) and torch.equal(ys, ym)


def test_mixup_weights_recoverable():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    xm, ym = mixup(x, y, 1.0, num_classes=2, generator=gen(3))
    # label weight of class 1 equals the mixed value (x is the class index)
    assert_close(ym[:, 1], xm[:, 0])


def test_cutmix_label_weights_equal_pasted_area():
    n = 6
    x = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1).expand(n, 2, 10, 12).clone()
    y = torch.arange(n)
    xm, ym = cutmix(x, y, 1.0, num_classes=n, generator=gen())
    assert_close(ym.sum(-1), torch.ones(n, dtype=torch.float64))
    for i in range(n):
        own = (xm[i] == i).double().mean()
        assert_close(ym[i, i] if own < 1 else torch.tensor(1.0, dtype=torch.float64),
                     own if own < 1 else 1.0)
    assert_raises_naming(ValueError, lambda: cutmix(torch.zeros(2, 3, 4), y[:2],
                                                    num_classes=6), "x")


def test_gaussian_noise():
    x = torch.zeros(100_000, dtype=torch.float64)
    noisy = add_gaussian_noise(x, 0.5, generator=gen())
    assert_close(noisy.std(), 0.5, rtol=0.02)
    assert torch.equal(x, torch.zeros_like(x))  # input untouched
    assert torch.equal(noisy, add_gaussian_noise(x, 0.5, generator=gen()))


def test_random_crop_flip_are_windows_of_the_padded_image():
    images = torch.rand(5, 2, 6, 7, generator=gen(1))
    same = random_crop_flip(images, (6, 7), flip_prob=0.0, generator=gen())
    assert torch.equal(same, images)
    flipped = random_crop_flip(images, (6, 7), flip_prob=1.0, generator=gen())
    assert torch.equal(flipped, images.flip(-1))
    crops = random_crop_flip(images, 4, padding=1, flip_prob=0.0, generator=gen())
    assert crops.shape == (5, 2, 4, 4)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
    for i in range(5):
        windows = padded[i].unfold(1, 4, 1).unfold(2, 4, 1)  # (C, H', W', 4, 4)
        match = (windows == crops[i][:, None, None]).flatten(3).all(-1).all(0)
        assert match.any()


def test_sample_beta_reproducible_and_leaves_global_rng():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = sample_beta(0.5, (4,), generator=gen())
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert torch.equal(a, sample_beta(0.5, (4,), generator=gen()))
    assert ((a >= 0) & (a <= 1)).all()


def test_bad_input():
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    assert_raises_naming(ValueError, lambda: mixup(x, y, 0.0, num_classes=2), "mixup", "alpha")
    assert_raises_naming(ValueError, lambda: mixup(x, y), "num_classes")
    assert_raises_naming(ValueError, lambda: mixup(x, y[:3], num_classes=2), "x", "y")
    assert_raises_naming(ValueError, lambda: add_gaussian_noise(x, -1.0), "std")
    assert_raises_naming(ValueError, lambda: random_crop_flip(torch.rand(2, 1, 4, 4), 6),
                         "size")
    assert_raises_naming(ValueError, lambda: random_crop_flip(torch.rand(2, 1, 4, 4), 2,
                                                              flip_prob=2.0), "flip_prob")


def test_sample_beta_leaves_the_global_rng_alone_and_is_thread_safe():
    import threading

    from torchmath.learning_theory import sample_beta

    before = torch.random.get_rng_state()
    a = sample_beta(0.4, (5,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.random.get_rng_state(), before)  # never reseeded or read
    assert ((a >= 0) & (a <= 1)).all()
    results = {}

    def draw(i):
        results[i] = sample_beta(0.4, (200,), generator=torch.Generator().manual_seed(i % 2))

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):  # the same seed gives the same draws in every thread
        assert torch.equal(results[i], results[i % 2])
    # mean of Beta(a, a) is 1/2 (sd of the mean ~ 0.03 for 200 draws at a = 0.4)
    assert abs(float(results[0].mean()) - 0.5) < 0.15
