"""The single-pass optimizer kernels compiled by torch.compile (torchmath/optim/_compiled.py):
the compiled Adam step follows torch.optim's trajectories, touches only the parameters' own
elements on every layout, and every way it cannot run (compiling fails, switched off,
too many variants, autograd on, a user's compiled step) falls back to the eager path with
the same answer.

The compiled path normally takes steps of at least ``MIN_TOTAL`` elements, ``BATCH``
tensor groups to a call; here it is forced onto the small float64 test models, and the
tests check that it did run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import torchmath.optim._compiled as compiled
import torchmath.optim.adam as adam
from tests.helpers import assert_close
from tests.optim._trajectory import mlp_params, mlp_trajectory
from torchmath.optim import Adam

#: compiled variants shared by the tests of this file (each compiles once per process)
_VARIANTS: dict = {}


@pytest.fixture
def forced(monkeypatch):
    """The compiled path on for every tensor; returns the list of tensors (numbers of
    elements) that the eager per-parameter path received."""
    monkeypatch.setattr(compiled, "MIN_TOTAL", 1)
    monkeypatch.setattr(compiled, "MAX_VARIANTS", 64)
    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(compiled, "_failed", [])
    monkeypatch.setattr(adam._ADAM_PASS, "variants", _VARIANTS)
    eager = []
    chunked = adam._chunked_adam

    def spy(params, *args, **kwargs):
        eager.extend(p.numel() for p in params)
        return chunked(params, *args, **kwargs)

    monkeypatch.setattr(adam, "_chunked_adam", spy)
    return eager


def _torch_adam(kwargs):
    kwargs = dict(kwargs)
    cls = torch.optim.AdamW if kwargs.pop("decoupled_weight_decay", False) else torch.optim.Adam
    return lambda ps: cls(ps, **kwargs, foreach=False)


COMBOS = [{"lr": 0.01},
          {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
          {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
          {"lr": 0.01, "maximize": True, "betas": (0.3, 0.95), "eps": 1e-6}]


@pytest.mark.parametrize("kwargs", COMBOS, ids=["default", "amsgrad-l2", "adamw-amsgrad",
                                                "maximize-small-beta1"])
def test_compiled_per_parameter_path_follows_torch(forced, kwargs):
    """foreach=False on CPU runs the compiled single pass; 25 steps agree with torch's
    for-loop to 1e-10 (the parity matrix's tolerance), flags included."""
    result, _, _ = mlp_trajectory(lambda ps: Adam(ps, **kwargs, foreach=False))
    reference, _, _ = mlp_trajectory(_torch_adam(kwargs))
    # every tensor went to the compiled path but the 1-element bias (dynamo specializes
    # sizes 0 and 1, so those stay eager)
    assert forced == [1] * 25
    assert (result[-1] - result[0]).abs().max() > 1e-3
    assert_close(result, reference, rtol=0, atol=1e-10)


LAYOUTS = {
    "column": lambda base: base[:, 1],
    "block": lambda base: base[::2, 1:3],
    "transposed": lambda base: base.t(),
    "every-other-column": lambda base: base[:, ::2],
}


@pytest.mark.parametrize("path", [{}, {"foreach": False}], ids=["default", "for-loop"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_compiled_strided_views_in_place(forced, layout, path):
    """A parameter that is a strided view into a larger storage is updated in place by
    the compiled kernel, as torch moves it, and nothing else in the storage changes."""
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    shape = LAYOUTS[layout](start).shape
    grads = [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3)]
    kwargs = {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1}
    bases = []
    for make in (lambda ps: Adam(ps, **kwargs, **path), _torch_adam(kwargs)):
        base = start.clone()
        p = torch.nn.Parameter(LAYOUTS[layout](base))
        assert not p.is_contiguous()
        opt = make([p])
        for g in grads:
            p.grad = g.clone()
            opt.step()
        bases.append(base)
    assert forced == []
    assert_close(bases[0], bases[1], rtol=0, atol=1e-12)
    mask = torch.ones_like(start, dtype=torch.bool)
    LAYOUTS[layout](mask).fill_(False)
    assert torch.equal(bases[0][mask], start[mask])


def test_parameters_sharing_a_storage(forced):
    """Parameters that are views of one storage (the even and the odd columns, and a row
    overlapping both) go to separate compiled calls, in their order: the storage ends as
    torch's for-loop leaves it, with no warning and nothing left to the eager path."""
    def run(make):
        gen = torch.Generator().manual_seed(4)
        base = torch.randn(6, 8, generator=gen, dtype=torch.float64)
        params = [torch.nn.Parameter(view)
                  for view in (base[:, ::2], base[:, 1::2], base[2], base[3:5].t())]
        opt = make(params)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            opt.step()
        return base

    result = run(lambda ps: Adam(ps, lr=0.1, foreach=False))
    assert forced == [] and not compiled._failed
    assert_close(result, run(_torch_adam({"lr": 0.1})), rtol=0, atol=1e-12)


def test_batches_keep_groups_sharing_memory_apart(monkeypatch):
    """No two groups of a batch share a storage, and a group waits behind an earlier
    group it shares memory with."""
    monkeypatch.setattr(compiled, "BATCH", 3)
    storages = [[1], [2], [1, 5], [3], [5], [6], [7], [8], [9]]
    members = [([i], None, None, None, st) for i, st in enumerate(storages)]
    batches = [[m[0][0] for m in b] for b in compiled._batches(members)]
    assert batches == [[0, 1, 3], [2, 5, 6], [4, 7, 8]]
    plain = [([i], None, None, None, [i]) for i in range(7)]
    assert [[m[0][0] for m in b] for b in compiled._batches(plain)] == [[0, 1, 2], [3, 4, 5], [6]]


def test_overlapping_parameter_goes_to_the_eager_path_and_is_refused(forced):
    """An expanded tensor (one address for several elements) is never handed to the
    compiled kernel; the eager path raises torch's error, writing nothing."""
    storage = torch.zeros(1, dtype=torch.float64)
    p = torch.nn.Parameter(storage.expand(4))
    p.grad = torch.ones(4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="memory location"):
        Adam([p], lr=0.1, foreach=False).step()
    assert forced == [4]
    assert torch.equal(storage, torch.zeros(1, dtype=torch.float64))


def test_internal_overlap_test():
    base = torch.zeros(6, 4)
    for view in (base, base[:, 1], base[::2, 1:3], base.t(), base[:, ::2],
                 torch.zeros(3, 1, 5)[:, :, ::2]):
        assert compiled._distinct(view.shape, view.stride())
    for view in (base[0].expand(3, 4), torch.zeros(10).as_strided((3, 3), (2, 1))):
        assert not compiled._distinct(view.shape, view.stride())


def test_failed_compile_falls_back_with_one_warning(forced, monkeypatch):
    """When compiling fails (no C++ compiler, an inductor error), one RuntimeWarning says
    so and every step runs on the eager path with torch's answer."""
    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found")
        return run

    monkeypatch.setattr(compiled.torch, "compile", broken)
    monkeypatch.setattr(adam._ADAM_PASS, "variants", {})
    with pytest.warns(RuntimeWarning, match="InvalidCxxCompiler") as record:
        result, _, _ = mlp_trajectory(lambda ps: Adam(ps, lr=0.01, foreach=False))
    assert len(record) == 1
    reference, _, _ = mlp_trajectory(_torch_adam({"lr": 0.01}))
    assert torch.equal(result, reference)  # the eager path is torch's arithmetic, bit for bit
    assert compiled._failed and len(forced) == 25 * 4


def test_switched_off_and_variant_bound(forced, monkeypatch):
    """TORCHMATH_COMPILE=0 (ENABLED) and a full variant budget both leave every tensor to
    the eager path, compiling nothing."""
    fresh: dict = {}
    monkeypatch.setattr(adam._ADAM_PASS, "variants", fresh)
    monkeypatch.setattr(compiled, "ENABLED", False)
    mlp_trajectory(lambda ps: Adam(ps, lr=0.01, foreach=False), steps=2)
    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(compiled, "MAX_VARIANTS", 0)
    result, _, _ = mlp_trajectory(lambda ps: Adam(ps, lr=0.01, foreach=False), steps=3)
    reference, _, _ = mlp_trajectory(_torch_adam({"lr": 0.01}), steps=3)
    assert fresh == {} and len(forced) == 5 * 4
    assert torch.equal(result, reference)
    code = "import torchmath.optim._compiled as c; print(c.ENABLED)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TORCHMATH_COMPILE": "0"}, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_autograd_on_with_leaf_parameters_keeps_torchs_error(forced):
    """The functional kernel called with grad mode on, on leaves that require grad:
    torch's in-place error, as on the eager path (the compiled call would hide it)."""
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    state = [torch.zeros(3, dtype=torch.float64) for _ in range(2)]
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        adam.adam_update([p], [torch.ones(3, dtype=torch.float64)], [state[0]], [state[1]],
                         None, [torch.tensor(0.0)], lr=0.1, foreach=False)


def test_concurrent_optimizers_in_threads(forced):
    """Two optimizers stepping at once in two threads (the first step compiles): each
    trajectory equals torch's."""
    reference, _, _ = mlp_trajectory(_torch_adam({"lr": 0.02}))
    results, errors = {}, []

    def run(name):
        try:
            results[name] = mlp_trajectory(lambda ps: Adam(ps, lr=0.02, foreach=False))[0]
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for result in results.values():
        assert_close(result, reference, rtol=0, atol=1e-10)


def test_inside_a_users_compiled_training_step(forced):
    """A training step wrapped in torch.compile traces the optimizer's eager ops (the
    compiled kernel is not called inside tracing) and follows torch's trajectory."""
    from tests.optim._trajectory import make_data

    def run(make):
        X, y = make_data()
        params = mlp_params()
        opt = make(params)

        def step():
            opt.zero_grad()
            W1, b1, W2, b2 = params
            hidden = torch.addmm(b1, X, W1.t()).tanh()
            torch.nn.functional.mse_loss(torch.addmm(b2, hidden, W2.t()), y).backward()
            opt.step()

        compiled_step = torch.compile(step, backend="aot_eager")
        out = []
        for _ in range(5):
            compiled_step()
            out.append(torch.cat([p.detach().reshape(-1) for p in params]))
        return torch.stack(out)

    result = run(lambda ps: Adam(ps, lr=0.01, foreach=False))
    reference = run(_torch_adam({"lr": 0.01}))
    assert_close(result, reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("packed", [False, True], ids=["unpacked", "packed"])
def test_groups_go_in_batches_with_fillers(forced, monkeypatch, packed):
    """Groups of any sizes go BATCH to a compiled call; a batch short of BATCH is filled
    with private zero groups of its layout (one compiled kernel for every count); small
    flat groups are packed into one group (copied in, written back). Every answer is
    torch's, and nothing is left to the eager path."""
    monkeypatch.setattr(compiled, "BATCH", 4)
    monkeypatch.setattr(compiled, "PACK_NUMEL", 4096 if packed else 0)
    calls = []
    run = adam._ADAM_PASS._run

    def spy(key, hyper, flags, tensors, width):
        calls.append((key[3], key[4], len(tensors) // width))
        return run(key, hyper, flags, tensors, width)

    monkeypatch.setattr(adam._ADAM_PASS, "_run", spy)
    gen = torch.Generator().manual_seed(9)
    shapes = [(3, 4), (5,), (2, 3, 2), (7,), (4, 4), (3, 4), (9,)]
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    start.append(torch.randn(6, 8, generator=gen, dtype=torch.float64))  # strided below
    grads = [[torch.randn(s.shape, generator=gen, dtype=torch.float64) for s in start]
             for _ in range(3)]
    finals = []
    for make in (lambda ps: Adam(ps, lr=0.1, foreach=False), _torch_adam({"lr": 0.1})):
        params = [torch.nn.Parameter(s.clone()) for s in start[:-1]]
        base = torch.zeros(6, 16, dtype=torch.float64)
        base[:, ::2] = start[-1]
        params.append(torch.nn.Parameter(base[:, ::2]))
        opt = make(params)
        for gs in grads:
            for p, g in zip(params, gs, strict=True):
                p.grad = g.clone()
            opt.step()
        finals.append(torch.cat([p.detach().reshape(-1) for p in params] + [base.view(-1)]))
    assert forced == []
    strided = ((1, (False, True, True, True)), 4, 4)  # a 2-D view: never packed
    if packed:  # the 7 contiguous groups are one group, filled to 4
        assert calls == [strided, (("flat",), 4, 4)] * 3
    else:  # 7 contiguous groups: a full call and one filled to 4 (so is the strided one)
        assert calls == [(("flat",), 4, 4), (("flat",), 4, 4), strided] * 3
    assert_close(finals[0], finals[1], rtol=0, atol=1e-12)


def test_packed_group_writes_back_into_strided_bias(forced):
    """A small 1-D parameter that is every other element of a buffer is packed with the
    contiguous ones and written back into its own elements only: the buffer's other
    elements keep their values, and every answer is torch's."""
    gen = torch.Generator().manual_seed(4)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in (5, 7, 6)]
    grads = [[torch.randn(s.shape, generator=gen, dtype=torch.float64) for s in start]
             for _ in range(3)]
    finals = []
    for make in (lambda ps: Adam(ps, lr=0.1, foreach=False), _torch_adam({"lr": 0.1})):
        base = torch.full((10,), 7.0, dtype=torch.float64)
        base[::2] = start[0]
        params = [torch.nn.Parameter(base[::2])]
        params += [torch.nn.Parameter(s.clone()) for s in start[1:]]
        opt = make(params)
        for gs in grads:
            for p, g in zip(params, gs, strict=True):
                p.grad = g.clone()
            opt.step()
        assert torch.equal(base[1::2], torch.full((5,), 7.0, dtype=torch.float64))
        finals.append(torch.cat([p.detach().reshape(-1) for p in params]))
    assert forced == []
    assert_close(finals[0], finals[1], rtol=0, atol=1e-12)


def _coalesced(tensors):
    layout = compiled._layout_of(tensors)
    views = compiled._views(tensors, layout)
    return views, (len(layout[0]), layout[2])


def test_coalesced_views():
    """A group's tensors are cut to their fewest dimensions together: every other column
    of a matrix is one dimension of stride 2; a transposed tensor next to a contiguous
    one keeps two, and so do rows that do not continue where the previous one stopped
    (size-1 dimensions dropped)."""
    base = torch.zeros(6, 8)
    views, family = _coalesced([base[:, ::2], torch.zeros(6, 4)])
    assert [(v.shape, v.stride()) for v in views] == [((24,), (2,)), ((24,), (1,))]
    assert views[0].data_ptr() == base.data_ptr() and family == (1, (False, True))
    views, family = _coalesced([base.t(), torch.zeros(8, 6)])
    assert [(tuple(v.shape), v.stride()) for v in views] == [((8, 6), (1, 8)), ((8, 6), (6, 1))]
    assert family == (2, (False, True))
    views, family = _coalesced([torch.zeros(3, 1, 5)[:, :, ::2], torch.zeros(3, 1, 3)])
    assert [(tuple(v.shape), v.stride()) for v in views] == [((3, 3), (5, 2)),
                                                                 ((3, 3), (3, 1))]
    assert family == (2, (False, True))
    assert compiled._layout_of([torch.zeros(1).expand(3, 4), torch.zeros(3, 4)]) is None


def test_small_steps_are_not_compiled(forced, monkeypatch):
    """A step over fewer than MIN_TOTAL elements stays eager (no compile stall for small
    models), bit for bit torch's for-loop."""
    monkeypatch.setattr(compiled, "MIN_TOTAL", 10**6)
    fresh: dict = {}
    monkeypatch.setattr(adam._ADAM_PASS, "variants", fresh)
    result, _, _ = mlp_trajectory(lambda ps: Adam(ps, lr=0.01, foreach=False), steps=3)
    reference, _, _ = mlp_trajectory(_torch_adam({"lr": 0.01}), steps=3)
    assert fresh == {} and len(forced) == 3 * 4
    assert torch.equal(result, reference)
