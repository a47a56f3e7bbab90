"""column_gram: NumPy's syrk path and the blocked torch path both equal NumPy's XᵀX, are
exactly symmetric, and compose (the torch path wherever a transform or gradient is active)."""

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import torchmath
from tests.helpers import assert_close, assert_raises_naming
from torchmath.linalg import column_gram
from torchmath.linalg.gram import _syrk_gram


@pytest.fixture(autouse=True)
def _syrk_in_every_dtype():
    """float32 takes NumPy's syrk path too (by default only float64 does), so both paths
    are tested in both dtypes."""
    before = torchmath.get_cpu_blas()
    torchmath.set_cpu_blas("numpy")
    yield
    torchmath.set_cpu_blas(before)


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


def _layouts(n, d, dtype):
    wide = torch.randn(2 * n, 2 * d + 3, dtype=torch.float64).to(dtype)
    return {
        "C": wide[:n, :d].contiguous(),
        "F": wide[:d, :n].contiguous().T,
        "column slice": wide[:n, 1:d + 1],
        "row slice": wide[1:n + 1, :d],
        "strided": wide[::2, ::2][:n, :d],
        "transposed strided": wide[::2, ::2][:d, :n].T,
        "expanded": wide[:1, :d].expand(n, d),
        "negative view": torch._neg_view(wide[:n, :d]),
    }


@pytest.mark.parametrize("layout", ["C", "F", "column slice", "row slice", "strided",
                                    "transposed strided", "expanded", "negative view"])
def test_syrk_path_every_layout(layout, dtype):
    x = _layouts(37, 11, dtype)[layout]
    plain = x.double().resolve_neg().numpy()
    ref = plain.T @ plain
    got = column_gram(x)
    assert _syrk_gram([x], None, None) is not None  # the default takes NumPy's syrk here
    assert got.dtype == dtype and got.shape == (11, 11)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    assert_close(got.double(), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    assert torch.equal(got, got.mT)
    # and it equals torch's blocked product
    assert_close(got.double(), column_gram(x, block_columns=4).double(), rtol=rtol,
                 atol=rtol * np.abs(ref).max())


def test_syrk_path_weights():
    x = torch.randn(40, 9, dtype=torch.float64)
    w = torch.rand(40, dtype=torch.float64)
    w[3] = 0.0
    ref = x.numpy().T @ np.diag(w.numpy()) @ x.numpy()
    assert _syrk_gram([x], w, None) is not None
    got = column_gram(x, w)
    assert_close(got, ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(got, got.mT)
    signed = w - 0.5  # any sign: the torch path, same answer
    assert _syrk_gram([x], signed, None) is None
    ref = x.numpy().T @ np.diag(signed.numpy()) @ x.numpy()
    assert_close(column_gram(x, signed), ref, rtol=1e-12, atol=1e-12)
    # mixed precision is promoted first, as on the torch path
    got = column_gram(x.float(), w)
    assert got.dtype == torch.float64


def test_syrk_path_declined_where_torch_must_run():
    x = torch.randn(12, 5, dtype=torch.float64)
    assert _syrk_gram([x.requires_grad_()], None, None) is None  # a graph to record
    with torch.no_grad():
        assert _syrk_gram([x], None, None) is not None
    assert _syrk_gram([torch.randn(2, 12, 5, dtype=torch.float64)], None, None) is None  # batched
    assert _syrk_gram([x.detach().half()], None, None) is None
    import torchmath
    torchmath.set_cpu_blas("torch")
    try:
        assert _syrk_gram([x.detach()], None, None) is None  # the policy keeps torch's
        assert_close(column_gram(x.detach()), x.detach().mT @ x.detach(), rtol=1e-12,
                     atol=1e-12)
    finally:
        torchmath.set_cpu_blas("auto")
    seen = []
    torch.func.vmap(lambda t: seen.append(_syrk_gram([t], None, None)) or t)(
        x.detach().unsqueeze(0))
    assert seen == [None]


def test_default_path_gradients_and_transforms():
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(8, dtype=torch.float64, requires_grad=True)
    assert gradcheck(column_gram, (x,)) and gradgradcheck(column_gram, (x,))
    assert gradcheck(column_gram, (x, w)) and gradgradcheck(column_gram, (x, w))
    with torch.no_grad():
        assert not column_gram(x).requires_grad
    v = torch.randn_like(x)
    xd = x.detach()
    ref_t = v.mT @ xd + xd.mT @ v
    _, tangent = torch.func.jvp(column_gram, (xd,), (v,))
    assert_close(tangent, ref_t, rtol=1e-12, atol=1e-12)
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        out = column_gram(fwAD.make_dual(xd, v))
        assert_close(fwAD.unpack_dual(out).tangent, ref_t, rtol=1e-12, atol=1e-12)
    xb = torch.randn(3, 8, 5, dtype=torch.float64)
    assert_close(torch.func.vmap(column_gram)(xb), xb.mT @ xb, rtol=1e-12, atol=1e-12)
    compiled = torch.compile(column_gram, fullgraph=True)
    assert_close(compiled(xd), xd.mT @ xd, rtol=1e-12, atol=1e-12)


def _reference(blocks, weights=None, center=None):
    x = np.concatenate([b.double().numpy() for b in blocks], -1)
    if center is not None:
        x = x - center.double().numpy()
    w = np.ones(x.shape[0]) if weights is None else weights.double().numpy()
    return x.T @ (w[:, None] * x)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("torch_path", [False, True])
@pytest.mark.parametrize("chunks_by", ["torch", "numpy"])
def test_blocks_and_center(weighted, torch_path, chunks_by, monkeypatch):
    """Joined blocks about a centre, over several row chunks, on both paths (and on the
    NumPy path with chunks built by torch, narrow, or by NumPy, wide)."""
    import torchmath.linalg.gram as gram_module
    monkeypatch.setattr(gram_module, "CHUNK_BYTES", 8 * 3 * 8)  # 256-row chunks
    monkeypatch.setattr(gram_module, "TORCH_CHUNK_MAX_COLUMNS",
                        8 if chunks_by == "torch" else 7)
    X = torch.randn(700, 6, dtype=torch.float64) * 1e3 + 5e3
    Y = torch.randn(700, 2, dtype=torch.float64)
    c = torch.cat([X.mean(0), Y.mean(0)])
    w = torch.rand(700, dtype=torch.float64) if weighted else None
    block = 3 if torch_path else None
    assert (_syrk_gram([X, Y], w, c) is not None)  # the default takes NumPy's path
    got = column_gram((X, Y), w, center=c, block_columns=block)
    ref = _reference([X, Y], w, c)
    assert_close(got, ref, rtol=1e-11, atol=1e-9 * np.abs(ref).max())
    assert torch.equal(got, got.mT)
    # a strided block and a Fortran-ordered one are read as they are
    Xs = torch.randn(6, 1400, dtype=torch.float64).T[::2]
    Yf = torch.randn(2, 700, dtype=torch.float64).T
    ref = _reference([Xs, Yf], w)
    got = column_gram([Xs, Yf], w, block_columns=block)
    assert_close(got, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())


def test_center_float32_and_promotion():
    X = torch.randn(300, 5) + 100.0
    c = X.double().mean(0)
    got = column_gram(X, center=c)  # float32 data, float64 centre: float64 result
    assert got.dtype == torch.float64
    assert_close(got, _reference([X], None, c), rtol=1e-10, atol=1e-8)
    got32 = column_gram(X, center=X.mean(0))
    assert got32.dtype == torch.float32
    ref = _reference([X], None, X.mean(0))
    assert_close(got32, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("joined", [False, True])
def test_torch_chunks_reuse_one_buffer_and_agree_with_the_recording_path(joined,
                                                                         monkeypatch):
    """Plain tensors are joined and centred into one reused chunk buffer; the result
    agrees with the path that records a graph (fresh chunks) to float32 rounding (the
    product's kernel may round differently for differently aligned chunks), and is
    right. A centre
    whose batch broadcasts beyond the data's takes the fresh chunks, and is right too."""
    import torchmath.linalg.gram as gram_module
    monkeypatch.setattr(gram_module, "CHUNK_BYTES", 64 * 5 * 4)  # 64-row chunks
    X = torch.randn(300, 5) * 0.1 + 3.0
    blocks = (X[:, :2], X[:, 2:]) if joined else X
    c = X.mean(0)
    plain = column_gram(blocks, center=c)
    recorded = column_gram(blocks, center=c.clone().requires_grad_(True)).detach()
    assert_close(plain, recorded, rtol=1e-6, atol=1e-6 * float(recorded.abs().max()))
    ref = _reference([X], None, c)
    assert_close(plain, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    centres = torch.stack([c, c + 1.0])  # (2, d) against 2-D data: a batch of two
    got = column_gram(blocks, center=centres)
    assert got.shape == (2, 5, 5)
    for i in range(2):
        ref = _reference([X], None, centres[i])
        assert_close(got[i], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_center_gradients_and_transforms():
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 7, 2, dtype=torch.float64, requires_grad=True)
    c = torch.randn(5, dtype=torch.float64, requires_grad=True)
    w = torch.rand(7, dtype=torch.float64, requires_grad=True)

    def f(x, y, c, w):
        return column_gram((x, y), w, center=c)

    assert gradcheck(f, (x, y, c, w)) and gradgradcheck(f, (x, y, c, w))
    xd, yd, cd = x.detach(), y.detach(), c.detach()
    out = torch.func.vmap(lambda a, b: column_gram((a, b), center=cd))(xd, yd)
    for i in range(2):
        assert_close(out[i], _reference([xd[i], yd[i]], None, cd), rtol=1e-12, atol=1e-12)
    compiled = torch.compile(lambda a, b: column_gram((a, b), center=cd), fullgraph=True)
    assert_close(compiled(xd[0], yd[0]), _reference([xd[0], yd[0]], None, cd), rtol=1e-12,
                 atol=1e-12)


def test_empty_rows_on_both_paths():
    for block in (None, 2):
        got = column_gram((torch.empty(0, 2), torch.empty(0, 1)), center=torch.ones(3),
                          block_columns=block)
        assert torch.equal(got, torch.zeros(3, 3))


def test_bad_blocks_and_center():
    assert_raises_naming(ValueError, lambda: column_gram([]), "column_gram", "'x'")
    assert_raises_naming(ValueError, lambda: column_gram((torch.ones(3, 2), torch.ones(4, 1))),
                         "column_gram", "'x'")
    assert_raises_naming((TypeError, ValueError),
                         lambda: column_gram((torch.ones(3, 2), torch.ones(3, 1).long())),
                         "column_gram", "'x'")
    assert_raises_naming(ValueError, lambda: column_gram(torch.ones(3, 2), center=torch.ones(3)),
                         "column_gram", "'center'")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_propagates_without_warnings(bad):
    """NaN and inf reach the result on the NumPy path as on torch's, with no NumPy warning
    (pytest runs with warnings as errors)."""
    x = torch.randn(30, 4, dtype=torch.float64)
    x[3, 1] = bad
    for kwargs in ({}, {"center": x.mean(0)}, {"weights": torch.rand(30, dtype=x.dtype)}):
        got = column_gram(x, **kwargs)
        assert not torch.isfinite(got[1]).all() and torch.isfinite(got[0, [0, 2, 3]]).all()


def test_default_policy_keeps_float32_in_torch():
    torchmath.set_cpu_blas("auto")
    assert _syrk_gram([torch.randn(50, 127)], None, None) is None
    assert _syrk_gram([torch.randn(50, 8, dtype=torch.float64)], None, None) is not None
    x = torch.randn(50, 16)
    assert_close(column_gram(x), x.double().mT @ x.double(), rtol=1e-5, atol=1e-4)
