"""Adam (AMSGrad, AdamW) against torch.optim.Adam and torch.optim.AdamW."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close
from tests.optim._trajectory import (
    assert_resume_equals_uninterrupted,
    assert_same_trajectory,
    groups,
)
from torchmath.optim import Adam, adam_update

PATHS = (True, False, "fused")


def _path(fe):
    return {"fused": True} if fe == "fused" else {"foreach": fe}


@pytest.mark.parametrize("amsgrad", [False, True])
def test_decoupled_equals_adamw(amsgrad):
    assert_same_trajectory(
        lambda m, fe: Adam(m.parameters(), lr=0.01, weight_decay=0.1, amsgrad=amsgrad,
                           decoupled_weight_decay=True, **_path(fe)),
        lambda m: torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1,
                                    amsgrad=amsgrad), foreach=PATHS)


def test_param_groups_closure_and_scheduler():
    sched = lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=25)
    assert_same_trajectory(lambda m: Adam(groups(m, (0.01, 0.003))),
                           lambda m: torch.optim.Adam(groups(m, (0.01, 0.003))),
                           scheduler=sched, closure_step=True, steps=25)


@pytest.mark.parametrize("path", [False, "fused"])
def test_state_dict_resume(path):
    assert_resume_equals_uninterrupted(
        lambda m: Adam(m.parameters(), lr=0.01, amsgrad=True, **_path(path)))


def test_default_path_is_fused_on_cpu_and_leaves_grads():
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    a.grad = torch.randn(5, dtype=torch.float64)
    g = a.grad.clone()
    p0 = a.detach().clone()
    opt = Adam([a], lr=0.1, maximize=True, weight_decay=0.1)
    opt.step()
    assert torch.equal(a.grad, g)
    ref = p0.clone().requires_grad_(True)
    ref.grad = g.clone()
    torch.optim.Adam([ref], lr=0.1, maximize=True, weight_decay=0.1, foreach=False).step()
    assert_close(a.detach(), ref.detach(), rtol=0, atol=1e-15)
    with pytest.raises(RuntimeError, match="^Adam: `fused` and `foreach` cannot be"):
        Adam([a], fused=True, foreach=True)


def test_first_step_has_length_lr(dtype):
    # m_1 / sqrt(v_1) = sign(g) after bias correction: every coordinate moves by lr
    p = torch.tensor([1.0, -1.0, 2.0], dtype=dtype)
    g = torch.tensor([3.0, -0.01, 100.0], dtype=dtype)
    m, v = [torch.zeros(3, dtype=dtype)], [torch.zeros(3, dtype=dtype)]
    adam_update([p], [g], m, v, None, [torch.tensor(0.0)], lr=0.1, eps=0.0)
    assert_close(p, [0.9, -0.9, 1.9], dtype=dtype)


def test_params_without_grad_are_skipped():
    a = torch.zeros(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.sum().backward()
    opt.step()
    assert torch.equal(b, torch.ones(2)) and len(opt.state[b]) == 0
    assert_close(a, torch.full((2,), -0.1))


def test_bad_hyperparameters():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="^Adam: Invalid learning rate: -0.001"):
        Adam(p, lr=-1e-3)
    with pytest.raises(ValueError, match="^Adam: Invalid beta parameter at index 0: 1.0"):
        Adam(p, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: -0.1"):
        Adam(p, betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        Adam(p, eps=-1.0)
    with pytest.raises(ValueError, match="Invalid weight_decay value"):
        Adam(p, weight_decay=-1.0)
    # Tensor hyperparameters get torch's Tensor messages, not a float's
    with pytest.raises(ValueError, match="^Adam: Tensor lr must be 1-element"):
        Adam(p, lr=torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"^Adam: Invalid learning rate: -0.1"):
        Adam(p, lr=torch.tensor(-0.1))
    with pytest.raises(ValueError, match="^Adam: lr as a Tensor is not supported for "
                                         "capturable=False and foreach=True"):
        Adam(p, lr=torch.tensor(0.1), foreach=True)
    with pytest.raises(ValueError, match=r"^Adam: betas\[0\] as a Tensor is not supported"):
        Adam(p, betas=(torch.tensor(0.9), torch.tensor(0.99)), foreach=True)
    with pytest.raises(ValueError, match="^Adam: betas must be either both floats or both"):
        Adam(p, betas=(torch.tensor(0.9), 0.99))
    with pytest.raises(ValueError, match=r"^Adam: Invalid beta parameter at index 1: 1.5"):
        Adam(p, betas=(torch.tensor(0.9), torch.tensor(1.5)))
    with pytest.raises(RuntimeError, match="^Adam: `fused` does not support `differentiable`"):
        Adam(p, fused=True, differentiable=True)
    with pytest.raises(RuntimeError, match="^Adam: `fused=True` requires all the params"):
        q = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
        q.grad = torch.ones(2, dtype=torch.complex64)
        Adam([q], fused=True).step()


def test_sparse_gradients_are_refused():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = Adam(emb.parameters())
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="^Adam does not support sparse gradients, please "
                                           "consider SparseAdam instead"):
        opt.step()
