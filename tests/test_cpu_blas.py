"""torchmath._cpu_blas: XᵀX through NumPy's syrk (column_gram's route) equals torch's, and is
taken only where safe."""

import math

import numpy as np
import pytest
import torch

from torchmath import _cpu_blas
from torchmath.linalg import column_gram

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


def test_gram_equals_xtx(policy):
    x = torch.randn(300, 17, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    G = column_gram(x)
    if policy != "torch":  # syrk computes one triangle and mirrors it
        assert torch.equal(G, G.mT)
    expected = x.numpy().T.astype(np.longdouble) @ x.numpy().astype(np.longdouble)
    np.testing.assert_allclose(G.numpy(), expected.astype(np.float64), rtol=1e-12)


def test_autograd_inputs_stay_in_torch(numpy_policy):
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert not _cpu_blas.uses_numpy(x)
    torch.autograd.gradcheck(column_gram, (x,))
    with torch.no_grad():
        assert _cpu_blas.uses_numpy(x)


def test_forward_mode_tangents_stay_in_torch(numpy_policy):
    import torch.autograd.forward_ad as fwAD
    x, t = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, t)
        assert not _cpu_blas.uses_numpy(dual)
        tangent = fwAD.unpack_dual(column_gram(dual)).tangent
    torch.testing.assert_close(tangent, t.mT @ x + x.mT @ t)


@pytest.mark.parametrize("layout", ["C", "F", "column slice", "row step"])
def test_gram_reads_every_layout(numpy_policy, layout):
    base = torch.randn(40, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x = {"C": base, "F": base.mT.contiguous().mT, "column slice": base[:, 2:9],
         "row step": base[::3]}[layout]
    torch.testing.assert_close(column_gram(x), x.mT @ x, rtol=1e-13, atol=1e-12)


def test_transforms_stay_in_torch(numpy_policy):
    xs = torch.randn(4, 5, 3)
    out = torch.func.vmap(column_gram)(xs)
    torch.testing.assert_close(out, xs.mT @ xs)
    compiled = torch.compile(column_gram, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(xs[0]), xs[0].mT @ xs[0])


def test_non_finite_values_propagate_without_numpy_warnings(numpy_policy):
    a = torch.tensor([[math.inf, 1.0], [math.nan, 2.0], [1.0, 2.0]], dtype=torch.float64)
    G = column_gram(a)
    assert G.isnan().any() and G[1, 1] == 9.0


def test_other_dtypes_stay_in_torch(numpy_policy):
    assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.bfloat16))
    assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.int64))
    assert _cpu_blas.uses_numpy(torch.ones(2, 2))


def test_auto_policy_routes_float64_only():
    before = _cpu_blas._POLICY
    _cpu_blas.set_cpu_blas("auto")
    try:
        assert _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.float64))
        assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.float32))
    finally:
        _cpu_blas.set_cpu_blas(before)


def test_torch_policy_never_uses_numpy():
    before = _cpu_blas._POLICY
    _cpu_blas.set_cpu_blas("torch")
    try:
        assert not _cpu_blas.uses_numpy(torch.ones(2, 2, dtype=torch.float64))
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
