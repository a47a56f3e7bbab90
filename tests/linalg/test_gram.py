"""column_gram: the blocked symmetric XᵀX equals NumPy's, is exactly symmetric, and composes."""

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from tests.helpers import assert_close, assert_raises_naming
from torchmath.linalg import column_gram


@pytest.mark.parametrize("d,block", [(3, 128), (7, 2), (9, 4), (300, 128), (257, 64)])
def test_matches_numpy(d, block, device, dtype):
    x = torch.randn(50, d, dtype=torch.float64)
    ref = x.numpy().T @ x.numpy()
    got = column_gram(x.to(device, dtype), block_columns=block)
    assert got.dtype == dtype and got.device.type == device.type
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    assert_close(got.cpu().double(), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    assert torch.equal(got, got.mT)  # mirrored, so exactly symmetric


@pytest.mark.parametrize("block", [2, 128])
def test_weighted_matches_numpy(block):
    x = torch.randn(40, 9, dtype=torch.float64)
    w = torch.randn(40, dtype=torch.float64)  # any sign
    ref = x.numpy().T @ np.diag(w.numpy()) @ x.numpy()
    assert_close(column_gram(x, w, block_columns=block), ref, rtol=1e-12, atol=1e-12)


def test_batched_equals_stacked():
    x = torch.randn(3, 2, 20, 7, dtype=torch.float64)
    w = torch.rand(20, dtype=torch.float64)  # broadcast over the batch
    got = column_gram(x, w, block_columns=3)
    assert got.shape == (3, 2, 7, 7)
    for i in range(3):
        for j in range(2):
            ref = x[i, j].numpy().T @ np.diag(w.numpy()) @ x[i, j].numpy()
            assert_close(got[i, j], ref, rtol=1e-12, atol=1e-12)


def test_empty_rows_and_input_untouched():
    assert torch.equal(column_gram(torch.empty(0, 5), block_columns=2), torch.zeros(5, 5))
    x = torch.randn(10, 6, dtype=torch.float64)
    before = x.clone()
    column_gram(x, torch.rand(10, dtype=torch.float64), block_columns=2)
    assert torch.equal(x, before)


@pytest.mark.parametrize("weighted", [False, True])
def test_gradcheck(weighted):
    x = torch.randn(2, 6, 5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(6, dtype=torch.float64, requires_grad=True) if weighted else None
    args = (x, w) if weighted else (x,)

    def f(*a):
        return column_gram(*a, block_columns=2)

    assert gradcheck(f, args)
    assert gradgradcheck(f, args)


def test_vmap_and_compile():
    x = torch.randn(4, 10, 6, dtype=torch.float64)
    ref = x.mT @ x
    assert_close(torch.func.vmap(lambda t: column_gram(t, block_columns=2))(x), ref,
                 rtol=1e-12, atol=1e-12)
    compiled = torch.compile(lambda t: column_gram(t, block_columns=2), fullgraph=True)
    assert_close(compiled(x), ref, rtol=1e-12, atol=1e-12)


def test_meta_device():
    out = column_gram(torch.empty(100, 300, device="meta"))
    assert out.shape == (300, 300) and out.device.type == "meta"


def test_bad_input():
    assert_raises_naming(ValueError, lambda: column_gram(torch.ones(3)), "column_gram", "'x'")
    assert_raises_naming((TypeError, ValueError),
                         lambda: column_gram(torch.ones(3, 2, dtype=torch.int64)),
                         "column_gram", "'x'")
    assert_raises_naming(ValueError, lambda: column_gram(torch.ones(3, 2), torch.ones(4)),
                         "column_gram", "'weights'")
    assert_raises_naming(ValueError, lambda: column_gram(torch.ones(3, 2), block_columns=0),
                         "column_gram", "'block_columns'")
