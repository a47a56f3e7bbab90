"""torchmath._cpu_blas: products through NumPy's BLAS equal torch's, and only where safe."""

import math

import numpy as np
import pytest
import torch

from torchmath import _cpu_blas

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture(params=["numpy", "torch", "auto"])
def policy(request):
    before = _cpu_blas._POLICY
    _cpu_blas.set_cpu_blas(request.param)
    yield request.param
    _cpu_blas.set_cpu_blas(before)


@pytest.fixture
def numpy_policy():
    before = _cpu_blas._POLICY
    _cpu_blas.set_cpu_blas("numpy")
    yield
    _cpu_blas.set_cpu_blas(before)


@pytest.mark.parametrize("shapes", [((7, 5), (5, 3)), ((4, 7, 5), (4, 5, 3)), ((7, 5), (5,)),
                                    ((5,), (5,))])
def test_matmul_equals_numpy_product(policy, shapes):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(*shapes[0], generator=g, dtype=torch.float64)
    b = torch.randn(*shapes[1], generator=g, dtype=torch.float64)
    expected = np.asarray(np.matmul(a.numpy(), b.numpy()))
    torch.testing.assert_close(_cpu_blas.matmul(a, b), torch.from_numpy(expected),
                               rtol=1e-13, atol=1e-13)


def test_matmul_non_contiguous_and_out(numpy_policy):
    g = torch.Generator().manual_seed(1)
    a = torch.randn(9, 6, generator=g, dtype=torch.float32)[::2]  # strided rows
    b = torch.randn(4, 6, generator=g, dtype=torch.float32).mT    # transposed
    out = torch.full((5, 4), float("nan"))
    result = _cpu_blas.matmul(a, b, out=out)
    assert result is out
    torch.testing.assert_close(out, a @ b)


def test_gram_equals_xtx(policy):
    x = torch.randn(300, 17, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    G = _cpu_blas.gram(x)
    if policy != "torch":  # syrk computes one triangle and mirrors it
        assert torch.equal(G, G.mT)
    expected = x.numpy().T.astype(np.longdouble) @ x.numpy().astype(np.longdouble)
    np.testing.assert_allclose(G.numpy(), expected.astype(np.float64), rtol=1e-12)


def test_autograd_inputs_stay_in_torch(numpy_policy):
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, dtype=torch.float64)
    assert not _cpu_blas.uses_numpy(x, w)
    torch.autograd.gradcheck(lambda x: _cpu_blas.matmul(x, w), (x,))
    torch.autograd.gradcheck(_cpu_blas.gram, (x,))
    with torch.no_grad():
        assert _cpu_blas.uses_numpy(x, w)


def test_forward_mode_tangents_stay_in_torch(numpy_policy):
    import torch.autograd.forward_ad as fwAD
    x, t = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, t)
        assert not _cpu_blas.uses_numpy(dual)
        tangent = fwAD.unpack_dual(_cpu_blas.gram(dual)).tangent
    torch.testing.assert_close(tangent, t.mT @ x + x.mT @ t)


@pytest.mark.parametrize("layout", ["C", "F", "column slice", "row step"])
def test_gram_reads_every_layout(numpy_policy, layout):
    base = torch.randn(40, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = {"C": base, "F": base.mT.contiguous().mT, "column slice": base[:, 2:9],
         "row step": base[::3]}[layout]
    torch.testing.assert_close(_cpu_blas.gram(x), x.mT @ x, rtol=1e-13, atol=1e-12)


def test_transforms_stay_in_torch(numpy_policy):
    w = torch.randn(3, 2)
    xs = torch.randn(4, 5, 3)
    out = torch.func.vmap(lambda x: _cpu_blas.matmul(x, w))(xs)
    torch.testing.assert_close(out, xs @ w)
    compiled = torch.compile(lambda x: _cpu_blas.gram(x), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(xs[0]), xs[0].mT @ xs[0])


def test_non_finite_values_propagate_without_numpy_warnings(numpy_policy):
    a = torch.tensor([[math.inf, 1.0], [math.nan, 2.0], [1.0, 2.0]], dtype=torch.float64)
    out = _cpu_blas.matmul(a, torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert out[0] == math.inf and out[1].isnan() and out[2] == -1.0
    assert _cpu_blas.gram(a).isnan().any()


def test_other_dtypes_stay_in_torch(numpy_policy):
    assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.bfloat16))
    assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.int64))
    assert _cpu_blas.uses_numpy(torch.ones(2, 2))


def test_torch_policy_never_uses_numpy():
    before = _cpu_blas._POLICY
    _cpu_blas.set_cpu_blas("torch")
    try:
        assert not _cpu_blas.uses_numpy(torch.ones(2, 2), symmetric=True)
    finally:
        _cpu_blas.set_cpu_blas(before)


def test_numpy_blas_runs_with_torch_thread_count_and_restores_it(numpy_policy):
    libs = _cpu_blas._numpy_blas()[1]
    if not libs:
        pytest.skip("threadpoolctl finds no BLAS library behind NumPy here")
    seen = []
    torch_threads = torch.get_num_threads()
    original = [lib.get_num_threads() for lib in libs]
    try:
        torch.set_num_threads(1)
        for lib in libs:
            lib.set_num_threads(2)
        # a library built for one thread reports 1 whatever it is asked
        before = [lib.get_num_threads() for lib in libs]
        _cpu_blas.call(lambda np: seen.extend(lib.get_num_threads() for lib in libs))
        assert seen == [1] * len(libs)
        assert [lib.get_num_threads() for lib in libs] == before
    finally:
        torch.set_num_threads(torch_threads)
        for lib, n in zip(libs, original, strict=True):
            lib.set_num_threads(n)


def test_bad_policy_is_named():
    with pytest.raises(ValueError, match="set_cpu_blas: expected 'policy'"):
        _cpu_blas.set_cpu_blas("mkl")
