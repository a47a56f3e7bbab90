"""Layout safety: every optimizer on every path (per-parameter, foreach, fused, default)
updates exactly its parameters' own elements, as torch.optim's per-parameter path does,
whatever their layout; bad shapes are refused with a clear error."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close
from torchmath.optim import (
    AdaGrad,
    Adam,
    GradientDescent,
    Momentum,
    ProximalGradient,
    RMSProp,
    adagrad_update,
    adam_update,
    gradient_descent_update,
    momentum_update,
    rmsprop_update,
)

#: name -> (ours, torch's, keywords, paths)
ALL_PATHS = ("for-loop", "foreach", "fused", "default")
OPTIMIZERS = {
    "Adam": (Adam, torch.optim.Adam, {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1},
             ALL_PATHS),
    "AdamW": (lambda ps, **kw: Adam(ps, decoupled_weight_decay=True, **kw),
              torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.1}, ALL_PATHS),
    "Momentum": (Momentum, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True},
                 ALL_PATHS),
    "GradientDescent": (GradientDescent, torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.1},
                        ALL_PATHS),
    "RMSProp": (RMSProp, torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True},
                ("for-loop", "foreach", "default")),
    "AdaGrad": (AdaGrad, torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01}, ALL_PATHS),
    # with no prox, ISTA is gradient descent (its gradient step is gradient_descent_update)
    "ProximalGradient": (lambda ps, **kw: ProximalGradient(ps, prox=None, **kw),
                         torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.1},
                         ("for-loop", "foreach", "default")),
}
PATHS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True},
         "fused": {"fused": True}, "default": {}}
CASES = [pytest.param(name, path, id=f"{name}-{path}")
         for name, (_, _, _, paths) in OPTIMIZERS.items() for path in paths]


def _run(make, params, grads_per_step):
    opt = make(params)
    for grads in grads_per_step:
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()
    return opt


def _both(name, path, build, grads_per_step):
    """Run ours (on ``path``) and torch's per-parameter path on two copies of a layout;
    ``build()`` returns ``(storage, params)``."""
    ours, theirs, kw, _ = OPTIMIZERS[name]
    mine, ref = build(), build()
    _run(lambda ps: ours(ps, **kw, **PATHS[path]), mine[1], grads_per_step)
    _run(lambda ps: theirs(ps, **kw, foreach=False), ref[1], grads_per_step)
    return mine, ref


def _grads(shapes, steps=3, dtype=torch.float64, seed=5):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype) for s in shapes] for _ in range(steps)]


def test_issue_reproduction_column_of_a_matrix():
    base = torch.zeros(4, 2)
    w = torch.nn.Parameter(base[:, 0])
    opt = Adam([w], lr=0.1)
    w.sum().backward()
    opt.step()
    assert torch.equal(base[:, 1], torch.zeros(4))  # not a parameter: untouched
    # every element of w moved by lr (Adam's first step), to float32 rounding
    assert_close(base[:, 0], torch.full((4,), -0.1), rtol=1e-6, atol=0)


LAYOUTS = {
    # a column: stride 3, neighbours on both sides in the same storage
    "column": lambda base: base[:, 1],
    # a block of a larger matrix: rows strided, columns cut
    "block": lambda base: base[::2, 1:3],
    # a transposed matrix: dense but not contiguous
    "transposed": lambda base: base.t(),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(("name", "path"), CASES)
def test_strided_parameter_sharing_storage(name, path, layout):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 3, generator=gen, dtype=torch.float64)

    def build():
        base = start.clone()
        return base, [torch.nn.Parameter(LAYOUTS[layout](base))]

    shape = LAYOUTS[layout](start).shape
    (mine, [p]), (ref, [q]) = _both(name, path, build, _grads([shape]))
    assert not p.is_contiguous()
    assert_close(mine, ref, rtol=0, atol=1e-12)  # the parameter as torch moves it...
    mask = torch.ones_like(start, dtype=torch.bool)
    LAYOUTS[layout](mask).fill_(False)
    assert torch.equal(mine[mask], start[mask])  # ...and nothing else
    assert not torch.equal(mine[~mask], start[~mask])


@pytest.mark.parametrize(("name", "path"), CASES)
def test_strided_gradients(name, path):
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    grads = [[torch.randn(3, 8, generator=gen, dtype=torch.float64)[:, ::2].t()]
             for _ in range(3)]
    assert not grads[0][0].is_contiguous() and grads[0][0].shape == (4, 3)
    kept = [g[0].clone() for g in grads]
    (_, [p]), (_, [q]) = _both(name, path, lambda: (None, [torch.nn.Parameter(start.clone())]),
                               grads)
    assert_close(p.detach(), q.detach(), rtol=0, atol=1e-12)
    assert all(torch.equal(g[0], k) for g, k in zip(grads, kept, strict=True))  # grads kept


@pytest.mark.parametrize(("name", "path"), CASES)
def test_empty_and_zero_dim_parameters(name, path):
    shapes = [(0,), (0, 3), (), (5,)]
    gen = torch.Generator().manual_seed(2)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    (_, ps), (_, qs) = _both(name, path,
                             lambda: (None, [torch.nn.Parameter(s.clone()) for s in start]),
                             _grads(shapes))
    for p, q, s in zip(ps, qs, shapes, strict=True):
        assert p.shape == s
        assert_close(p.detach(), q.detach(), rtol=0, atol=1e-12)
    assert not torch.equal(ps[2].detach(), start[2])


@pytest.mark.parametrize(("name", "path"), CASES)
def test_mixed_dtypes_in_one_group(name, path):
    shapes = [(3, 2), (4,), (2,)]
    dtypes = [torch.float64, torch.float32, torch.float64]
    gen = torch.Generator().manual_seed(3)
    start = [torch.randn(s, generator=gen, dtype=d) for s, d in zip(shapes, dtypes,
                                                                   strict=True)]
    grads = [[g.to(d) for g, d in zip(gs, dtypes, strict=True)] for gs in _grads(shapes)]
    (_, ps), (_, qs) = _both(name, path,
                             lambda: (None, [torch.nn.Parameter(s.clone()) for s in start]),
                             grads)
    for p, q in zip(ps, qs, strict=True):
        assert p.dtype == q.dtype
        assert_close(p.detach(), q.detach(), rtol=0, atol=1e-6 if p.dtype == torch.float32
                     else 1e-12)


@pytest.mark.parametrize(("name", "path"), CASES)
def test_overlapping_parameter_is_refused_as_torch_refuses_it(name, path):
    """An expanded tensor (several elements at one address) cannot be updated in place;
    torch's per-parameter path raises, and so does every path here, writing nothing."""
    ours, theirs, kw, _ = OPTIMIZERS[name]
    errors = []
    for make in (lambda ps: theirs(ps, **kw, foreach=False),
                 lambda ps: ours(ps, **kw, **PATHS[path])):
        storage = torch.zeros(1, dtype=torch.float64)
        p = torch.nn.Parameter(storage.expand(4))
        with pytest.raises(RuntimeError) as info:
            _run(make, [p], [[torch.ones(4, dtype=torch.float64)]])
        errors.append(info.value)
    assert "memory location" in str(errors[0]) and "memory location" in str(errors[1])


@pytest.mark.parametrize(("name", "path"), CASES)
def test_complex_parameters(name, path):
    ours, theirs, kw, _ = OPTIMIZERS[name]
    gen = torch.Generator().manual_seed(4)
    start = torch.randn(3, 2, generator=gen, dtype=torch.complex128)
    grads = [[torch.randn(3, 2, generator=gen, dtype=torch.complex128)] for _ in range(3)]
    if path == "fused":  # torch's fused kernels take real parameters only
        with pytest.raises(RuntimeError, match="floating point"):
            _run(lambda ps: ours(ps, **kw, fused=True), [torch.nn.Parameter(start.clone())],
                 grads)
        return
    (_, [p]), (_, [q]) = _both(name, path, lambda: (None, [torch.nn.Parameter(start.clone())]),
                               grads)
    assert_close(torch.view_as_real(p.detach()), torch.view_as_real(q.detach()), rtol=0,
                 atol=1e-12)


@pytest.mark.parametrize(("name", "path"), CASES)
def test_sparse_gradients_as_torch(name, path):
    """AdaGrad and the SGD family accept sparse gradients (off the fused path) as torch
    does; Adam and RMSProp refuse them with torch's message."""
    ours, theirs, kw, _ = OPTIMIZERS[name]
    if name == "ProximalGradient":  # a prox acts on dense parameters: sparse refused
        emb = torch.nn.Embedding(4, 2, sparse=True)
        emb(torch.tensor([1])).sum().backward()
        with pytest.raises(RuntimeError, match="^ProximalGradient does not support sparse"):
            ours(emb.parameters(), **kw, **PATHS[path]).step()
        return
    if name == "GradientDescent" or name == "AdaGrad":
        kw = {**kw, "weight_decay": 0.0}

    def run(make):
        emb = torch.nn.Embedding(6, 2, sparse=True).double()
        with torch.no_grad():
            emb.weight.copy_(torch.arange(12, dtype=torch.float64).reshape(6, 2) / 10)
        opt = make(emb.parameters())
        for rows in ([1, 3], [3, 4]):
            opt.zero_grad()
            (emb(torch.tensor(rows)) ** 2).sum().backward()
            opt.step()
        return emb.weight.detach()

    try:
        # torch's Adagrad builds sparse tensors without opting in or out of invariant
        # checks (a warning); opt out around the reference run
        with torch.sparse.check_sparse_tensor_invariants(enable=False):
            expected = run(lambda ps: theirs(ps, **kw, **PATHS[path]))
        torch_error = None
    except RuntimeError as error:
        expected, torch_error = None, error
    if torch_error is not None:
        with pytest.raises(RuntimeError) as info:
            run(lambda ps: ours(ps, **kw, **PATHS[path]))
        # torch's message, naming our class (RMSProp for torch's RMSprop)
        assert str(torch_error).lower() in str(info.value).lower()
        return
    got = run(lambda ps: ours(ps, **kw, **PATHS[path]))
    assert_close(got, expected, rtol=0, atol=1e-12)
    assert torch.equal(got[[0, 2, 5]], expected[[0, 2, 5]])


@pytest.mark.parametrize("name", ["Adam", "Momentum", "RMSProp", "AdaGrad"])
def test_state_of_another_size_is_refused(name):
    """A parameter resized after its state was created (``p.data = ...``): a clear error
    naming the state, not a read past its end."""
    ours, _, kw, paths = OPTIMIZERS[name]
    for path in paths:
        p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
        opt = ours([p], **kw, **PATHS[path])
        p.grad = torch.ones(4, dtype=torch.float64)
        opt.step()
        p.data = torch.ones(8, dtype=torch.float64)
        p.grad = torch.ones(8, dtype=torch.float64)
        with pytest.raises(ValueError, match=r"_update: expected '\w+\[0\]' of shape \(8,\)"):
            opt.step()


def _kernels(n=2, shape=(3,), bad=None, dtype=torch.float64):
    """Each functional kernel with its arguments; ``bad`` = (argument, tensor) replaces
    the second entry of that argument."""
    def lists():
        out = {k: [torch.zeros(shape, dtype=dtype) for _ in range(n)]
               for k in ("params", "grads", "s1", "s2", "s3")}
        out["steps"] = [torch.tensor(0.0) for _ in range(n)]
        return out

    return {
        "adam_update": (lambda a, **kw: adam_update(a["params"], a["grads"], a["s1"], a["s2"],
                                                    a["s3"], a["steps"], lr=0.1,
                                                    amsgrad=True, **kw),
                        {"s1": "exp_avgs", "s2": "exp_avg_sqs", "s3": "max_exp_avg_sqs"},
                        ("foreach", "for-loop", "fused")),
        "rmsprop_update": (lambda a, **kw: rmsprop_update(a["params"], a["grads"], a["s1"],
                                                          a["s2"], a["s3"], a["steps"],
                                                          lr=0.1, momentum=0.5,
                                                          centered=True, **kw),
                           {"s1": "square_avgs", "s2": "grad_avgs", "s3": "momentum_buffers"},
                           ("foreach", "for-loop")),
        "adagrad_update": (lambda a, **kw: adagrad_update(a["params"], a["grads"], a["s1"],
                                                          a["steps"], lr=0.1, **kw),
                           {"s1": "state_sums"}, ("foreach", "for-loop", "fused")),
        "momentum_update": (lambda a, **kw: momentum_update(a["params"], a["grads"], a["s1"],
                                                            lr=0.1, momentum=0.9, **kw),
                            {"s1": "momentum_buffers"}, ("foreach", "for-loop", "fused")),
        "gradient_descent_update": (
            lambda a, **kw: gradient_descent_update(a["params"], a["grads"], lr=0.1, **kw),
            {}, ("foreach", "for-loop", "fused")),
    }, lists


@pytest.mark.parametrize("kernel", ["adam_update", "rmsprop_update", "adagrad_update",
                                    "momentum_update", "gradient_descent_update"])
def test_functional_kernels_refuse_wrong_sizes_naming_the_argument(kernel):
    table, lists = _kernels()
    call, states, paths = table[kernel]
    for path in paths:
        for key, argument in [("grads", "grads"), *states.items()]:
            for bad in (torch.zeros(4, dtype=torch.float64),      # too long
                        torch.zeros(1, dtype=torch.float64),      # would broadcast
                        torch.zeros(3, dtype=torch.float32)):     # another dtype
                args = lists()
                args[key][1] = bad
                before = [p.clone() for p in args["params"]]
                with pytest.raises(ValueError, match=rf"^{kernel}: expected '{argument}\[1\]'"):
                    call(args, **PATHS[path])
                assert all(torch.equal(p, b) for p, b in zip(args["params"], before,
                                                             strict=True))
        args = lists()
        args["grads"] = args["grads"][:1]
        with pytest.raises(ValueError, match=rf"^{kernel}: expected 'grads' to hold one"):
            call(args, **PATHS[path])


@pytest.mark.parametrize("kernel", ["adam_update", "rmsprop_update", "adagrad_update",
                                    "momentum_update", "gradient_descent_update"])
def test_functional_kernels_on_strided_views(kernel):
    """The kernels themselves (fused path included) update strided views in place,
    equal to the same kernel on contiguous copies."""
    table, lists = _kernels(shape=(4, 3))
    call, _, paths = table[kernel]
    gen = torch.Generator().manual_seed(6)
    for path in paths:
        contiguous, strided = lists(), lists()
        storage = []
        for key in ("params", "grads", "s1", "s2", "s3"):
            for i in range(2):
                value = torch.rand(4, 3, generator=gen, dtype=torch.float64)
                big = torch.zeros(3, 8, dtype=torch.float64)
                big[:, 1::2] = value.t()
                view = big[:, 1::2].t()
                contiguous[key][i] = value.clone()
                strided[key][i] = view
                storage.append(big)
        if kernel == "momentum_update":
            contiguous["s1"] = [None, None]
            strided["s1"] = [None, None]
        for _ in range(2):
            call(contiguous, **PATHS[path])
            call(strided, **PATHS[path])
        for key in ("params", "s1", "s2", "s3"):
            for a, b in zip(strided[key], contiguous[key], strict=True):
                assert_close(a, b, rtol=0, atol=1e-14, msg=f"{kernel} {path} {key}")
        assert all(torch.equal(big[:, ::2], torch.zeros(3, 4, dtype=torch.float64))
                   for big in storage)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_per_parameter_path_in_pieces_is_torchs_arithmetic(monkeypatch, name):
    """The per-parameter paths run each tensor in cache-sized pieces; with pieces of 5
    elements (and ragged ends) the result is bit for bit torch's for-loop."""
    import torchmath.optim._common as common

    monkeypatch.setattr(common, "CHUNK", 5)
    ours, theirs, kw, _ = OPTIMIZERS[name]
    variants = [{}, {"maximize": True}]
    for extra in variants:
        shapes = [(7, 3), (4,), (11,)]
        gen = torch.Generator().manual_seed(7)
        start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        grads = _grads(shapes, steps=4)
        built = [[torch.nn.Parameter(s.clone()) for s in start] for _ in range(2)]
        _run(lambda ps, extra=extra: ours(ps, **kw, **extra, foreach=False), built[0], grads)
        _run(lambda ps, extra=extra: theirs(ps, **kw, **extra, foreach=False), built[1],
             grads)
        for p, q in zip(*built, strict=True):
            assert torch.equal(p.detach(), q.detach()), (name, extra)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize(("name", "path"), CASES)
def test_cuda_strided_parameter_as_torch(name, path):
    """On CUDA (multi-tensor default, fused kernels on device): a strided column moves as
    torch's per-parameter path moves it, and its neighbours stay put."""
    ours, theirs, kw, _ = OPTIMIZERS[name]
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 3, generator=gen, dtype=torch.float64).cuda()
    grads = [[g.cuda()] for (g,) in _grads([(6,)])]
    bases = [start.clone(), start.clone()]
    _run(lambda ps: ours(ps, **kw, **PATHS[path]), [torch.nn.Parameter(bases[0][:, 1])], grads)
    _run(lambda ps: theirs(ps, **kw, foreach=False), [torch.nn.Parameter(bases[1][:, 1])],
         grads)
    assert_close(bases[0], bases[1], rtol=0, atol=1e-12)
    assert torch.equal(bases[0][:, [0, 2]], start[:, [0, 2]])


@pytest.mark.parametrize("extra", [{}, {"maximize": True, "weight_decay": 0.1},
                                   {"momentum": 0.5}])
def test_rmsprop_default_in_pieces(monkeypatch, extra):
    """RMSProp's CPU default (plain RMSProp through torch's fused Adam kernel, in
    cache-sized pieces with a zeroed first-moment scratch) equals torch's RMSprop, ragged
    pieces, a strided parameter and a gradient with an infinity in an earlier piece
    included (the scratch never carries it over)."""
    import torchmath.optim._common as common

    monkeypatch.setattr(common, "CHUNK", 5)
    gen = torch.Generator().manual_seed(8)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in [(7, 3), (11,)]]
    strided = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    grads = _grads([(7, 3), (11,), (4, 3)], steps=4)
    grads[0][0][0, 0] = float("inf")
    results = []
    for make in (lambda ps: RMSProp(ps, lr=0.01, **extra),
                 lambda ps: torch.optim.RMSprop(ps, lr=0.01, foreach=False, **extra)):
        base = strided.clone()
        params = [torch.nn.Parameter(s.clone()) for s in start]
        params.append(torch.nn.Parameter(base[:, ::2]))
        _run(make, params, grads)
        results.append([p.detach() for p in params] + [base])
    for a, b in zip(*results, strict=True):
        assert torch.equal(a.isnan(), b.isnan())
        assert_close(a[~a.isnan()], b[~b.isnan()], rtol=0, atol=1e-12)
    assert results[0][1].isfinite().all()  # the second parameter never saw the inf
