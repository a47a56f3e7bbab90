"""Cross-cutting tests over the registry of every public function (tests/opinfo.py):
gradients (gradcheck, gradgradcheck), vmap, torch.func transforms, fullgraph compile,
dtype following and promotion, the meta device, and the bad-input rule."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import Tensor
from torch.utils._pytree import tree_map

import torchmath
from tests.opinfo import EXCLUDED, OPS, OpInfo, floats

IDS = [op.name for op in OPS]


def _skip(op: OpInfo, test: str) -> None:
    if test in op.skips:
        pytest.skip(op.skips[test])


def _close(actual, expected, dtype=torch.float64) -> None:
    a, e = floats(actual), floats(expected)
    assert len(a) == len(e)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for x, y in zip(a, e, strict=True):
        torch.testing.assert_close(x, y.to(x.dtype), equal_nan=True, **tol)


def _is_sym(a) -> bool:
    return (isinstance(a, Tensor) and a.is_floating_point() and a.dim() >= 2
            and a.shape[-1] == a.shape[-2] and a.shape[-1] > 1
            and bool(torch.equal(a, a.mT)))


def _diff_fn(op: OpInfo, args: tuple, which: tuple[int, ...], *, constants: bool = True):
    """``op`` as a function of the arguments ``which``; symmetric matrix arguments are
    symmetrized inside, so a perturbation of one entry stays a symmetric matrix. Without
    ``constants``, outputs that do not depend on the inputs (no grad) are left out."""
    sym = {i for i in which if _is_sym(args[i])}

    def f(*diff):
        full = list(args)
        for i, t in zip(which, diff, strict=True):
            full[i] = (t + t.mT) / 2 if i in sym else t
        out = floats(op.op(*full))
        return out if constants else tuple(t for t in out if t.requires_grad)
    return f


def test_every_public_name_is_registered():
    registered = {op.name.split("[")[0] for op in OPS}
    missing = []
    for area in ("probability", "linalg", "optim", "information", "learning_theory"):
        module = importlib.import_module(f"torchmath.{area}")
        for name in module.__all__:
            key = f"{area}.{name}"
            if key not in registered and key not in EXCLUDED:
                missing.append(key)
    assert not missing, f"public names neither registered nor excluded with a reason: {missing}"
    assert not registered & set(EXCLUDED)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_reference(op):
    if op.reference is None:
        pytest.skip("no reference for this entry")
    for batch in ((), (2,)):
        args = op.sample(torch.float64, batch)
        expected = op.reference(*args)
        if expected is not None:
            _close(op.op(*args), expected)


@pytest.mark.parametrize("op", [op for op in OPS if op.grad], ids=[op.name for op in OPS
                                                                     if op.grad])
def test_gradcheck(op, no_validation):
    # validation off: gradcheck's perturbations step off a simplex by 1e-6
    _skip(op, "gradcheck")
    # fast_mode: PyTorch's randomized projection of the Jacobian (as its OpInfo tests do)
    for batch in ((),) if op.batched == () else ((), (2,)):
        args = op.sample(torch.float64, batch)
        inputs = tuple(args[i].detach().requires_grad_() for i in op.grad)
        f = _diff_fn(op, args, op.grad, constants=False)
        assert torch.autograd.gradcheck(f, inputs, fast_mode=True)
        if op.gradgrad:
            assert torch.autograd.gradgradcheck(f, inputs, fast_mode=True)
        else:
            assert "gradgradcheck" in op.skips, "say why there is no second derivative"


# torch's own note that some linalg batching rules fall back to a loop
@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_vmap_equals_loop(op):
    _skip(op, "vmap")
    args = op.sample(torch.float64, (3,))
    which = op.batched_args(args)
    if not which:
        pytest.skip("no batchable argument")
    in_dims = tuple(0 if i in which else None for i in range(len(args)))
    out = torch.func.vmap(op.op, in_dims=in_dims)(*args)
    loop = [op.op(*[a[j] if i in which else a for i, a in enumerate(args)]) for j in range(3)]
    stacked = [torch.stack(parts) for parts in zip(*(floats(o) for o in loop), strict=True)]
    _close(out, stacked)


@pytest.mark.parametrize("op", [op for op in OPS if op.grad], ids=[op.name for op in OPS
                                                                     if op.grad])
def test_torch_func_transforms_equal_autograd(op, no_validation):
    _skip(op, "func")
    args = op.sample(torch.float64)
    i = op.grad[0]

    def first(x):
        return _diff_fn(op, args, (i,))(x)[0]

    def total(x):
        return sum(t.sum() for t in _diff_fn(op, args, (i,))(x))

    x = args[i]
    ref_grad = torch.autograd.functional.jacobian(total, x)
    torch.testing.assert_close(torch.func.grad(total)(x), ref_grad)
    ref_jac = torch.autograd.functional.jacobian(first, x)
    torch.testing.assert_close(torch.func.jacrev(first)(x), ref_jac)
    if "jacfwd" not in op.skips and "func" not in op.skips:
        torch.testing.assert_close(torch.func.jacfwd(first)(x), ref_jac)
    if op.gradgrad and "hessian" not in op.skips:
        torch.testing.assert_close(torch.func.hessian(total)(x),
                                   torch.autograd.functional.hessian(total, x))


# torch's dynamo instantiates autograd.Function classes internally (its own warning)
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_compile_fullgraph_equals_eager(op, no_validation):
    _skip(op, "compile")
    args = op.sample(torch.float64)
    torch._dynamo.reset()
    compiled = torch.compile(op.op, fullgraph=True, backend="aot_eager")
    _close(compiled(*args), op.op(*args))


@pytest.mark.parametrize("op", OPS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_dtype_follows_inputs(op, dtype):
    _skip(op, "dtype")
    out = floats(op.op(*op.sample(dtype)))
    assert out, "no floating output"
    assert all(t.dtype == dtype for t in out), [t.dtype for t in out]


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_mixed_float32_float64_promotes(op):
    _skip(op, "dtype")
    _skip(op, "promote")
    args = op.sample(torch.float64)
    idx = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.is_floating_point()]
    if len(idx) < 2:
        pytest.skip("a single floating argument")
    mixed = list(args)
    mixed[idx[0]] = mixed[idx[0]].float()
    out = floats(op.op(*mixed))
    assert all(t.dtype == torch.float64 for t in out), [t.dtype for t in out]
    _close(out, op.op(*args), torch.float32)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_meta_device(op, no_validation):
    _skip(op, "meta")
    args = tree_map(lambda t: t.to("meta") if isinstance(t, Tensor) else t, op.sample())
    out = op.op(*args)
    leaves = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, Tensor)]
    assert leaves and all(t.device.type == "meta" for t in leaves)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_nan_is_never_masked(op):
    _skip(op, "nan")
    args = list(op.sample(torch.float64))
    a = args[op.nan_arg]
    if not (isinstance(a, Tensor) and a.is_floating_point()):
        pytest.skip("argument nan_arg is not floating")
    a = a.clone()
    a.view(-1)[0] = float("nan")
    if _is_sym(args[op.nan_arg]):
        a.mT.reshape(-1)  # keep the NaN symmetric below
        a = torch.where(torch.isnan(a) | torch.isnan(a.mT), float("nan"), a)
    args[op.nan_arg] = a
    assert torchmath.get_validate_args()
    if op.nan == "raise":
        name = op.nan_name or "?"
        with pytest.raises(ValueError, match=rf"{op.short.split('[')[0]}: .*'{name}"):
            op.op(*args)
    else:
        out = floats(op.op(*args))
        assert any(torch.isnan(t).any() for t in out), "a NaN input gave a NaN-free output"
