"""Shared helpers for the optimizer tests: a small float64 model, trajectories, resumes."""

from __future__ import annotations

import io

import torch

from tests.helpers import assert_close


def make_model() -> torch.nn.Module:
    """A small two-layer network in float64 with fixed initial weights."""
    gen = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model.double()


def make_data():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 1, generator=gen, dtype=torch.float64)
    return X, y


def groups(model, lrs):
    """Two param groups (first layer, second layer) with their own learning rates."""
    return [{"params": model[0].parameters(), "lr": lrs[0]},
            {"params": model[2].parameters(), "lr": lrs[1]}]


def trajectory(make_opt, steps: int = 100, *, model=None, opt=None, scheduler=None,
               closure_step: bool = False):
    """Flattened parameters after each of ``steps`` steps."""
    X, y = make_data()
    model = make_model() if model is None else model
    opt = make_opt(model) if opt is None else opt
    sched = scheduler(opt) if scheduler is not None else None
    out = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(X), y)
            loss.backward()
            return loss
        if closure_step:
            opt.step(closure)
        else:
            closure()
            opt.step()
        if sched is not None:
            sched.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    return torch.stack(out), model, opt


def assert_same_trajectory(ours, theirs, steps: int = 25, scheduler=None, *,
                           foreach=(None,), **kwargs):
    """Every step's parameters agree to 1e-10 (float64). With ``foreach=(True, False)``,
    ``ours(model, foreach)`` is run on both paths against one reference run."""
    b, _, _ = trajectory(theirs, steps, scheduler=scheduler, **kwargs)
    for fe in foreach:
        make = ours if fe is None else (lambda m, fe=fe: ours(m, fe))
        a, _, _ = trajectory(make, steps, scheduler=scheduler, **kwargs)
        assert torch.isfinite(a).all()
        assert (a[-1] - a[0]).abs().max() > 1e-3, "the trajectory did not move"
        assert_close(a, b, rtol=0, atol=1e-10, msg=f"foreach={fe}")


def assert_resume_equals_uninterrupted(make_opt, steps: int = 12, **kwargs):
    """Stop mid-training, save model and optimizer state through torch.save /
    torch.load(weights_only=True), load into fresh objects, and continue: the result equals
    never stopping."""
    full, _, _ = trajectory(make_opt, 2 * steps, **kwargs)
    first, model, opt = trajectory(make_opt, steps, **kwargs)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh_model = make_model()
    fresh_model.load_state_dict(saved["model"])
    fresh_opt = make_opt(fresh_model)
    fresh_opt.load_state_dict(saved["opt"])
    second, _, _ = trajectory(None, steps, model=fresh_model, opt=fresh_opt, **kwargs)
    assert_close(torch.cat([first, second]), full, rtol=0, atol=0)


#: shapes of the raw two-layer MLP below: (W1, b1, W2, b2)
MLP_SHAPES = [(8, 5), (8,), (1, 8), (1,)]


def mlp_params() -> list[torch.Tensor]:
    """The four float64 parameters of a 5-8-1 tanh network, fixed by a seed."""
    gen = torch.Generator().manual_seed(3)
    return [(torch.randn(s, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()
            for s in MLP_SHAPES]


def mlp_trajectory(make_opt, steps: int = 25, *, params=None, opt=None):
    """Flattened parameters after each of ``steps`` plain-loop steps (zero_grad, backward,
    step) of a small float64 MLP regression; returns ``(trajectory, params, opt)``."""
    X, y = make_data()
    params = mlp_params() if params is None else params
    opt = make_opt(params) if opt is None else opt
    out = []
    for _ in range(steps):
        opt.zero_grad()
        W1, b1, W2, b2 = params
        hidden = torch.addmm(b1, X, W1.t()).tanh()
        torch.nn.functional.mse_loss(torch.addmm(b2, hidden, W2.t()), y).backward()
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(out), params, opt


def mlp_resume_equals_uninterrupted(make_opt, steps: int = 12) -> None:
    """Save after ``steps`` steps through torch.save / torch.load(weights_only=True), load
    into fresh parameters and a fresh optimizer, continue: bit for bit the uninterrupted
    run."""
    full, _, _ = mlp_trajectory(make_opt, 2 * steps)
    first, params, opt = mlp_trajectory(make_opt, steps)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh = [p.detach().clone().requires_grad_() for p in saved["params"]]
    fresh_opt = make_opt(fresh)
    fresh_opt.load_state_dict(saved["opt"])
    second, _, _ = mlp_trajectory(None, steps, params=fresh, opt=fresh_opt)
    assert torch.equal(torch.cat([first, second]), full)
