"""One VAE training step on 784-dimensional inputs (issue: information theory).

torchmath's ``VAE`` (Bernoulli decoder, analytic KL, Adam) against the same model written
as a plain PyTorch loop (``nn.Sequential`` encoder/decoder, the loss spelled out), from
identical weights and noise, so both report the same loss. The cost is known (three
matrix products per linear layer, forward and backward), so the report gives GFLOP/s and
the fraction of the float32 matmul ceiling.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.harness import Peer, Workload, register
from torchmath.information import VAE

D, H, LATENT = 784, 512, 32


def setup(params, device):
    torch.manual_seed(0)
    batch = params["batch"]
    x = (torch.rand(batch, D) > 0.5).float().to(device)
    model = VAE(latent_dim=LATENT, likelihood="bernoulli", input_dim=D, hidden=(H,)).to(device)
    initial = copy.deepcopy(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return {"x": x, "model": model, "opt": opt, "initial": initial, "device": device}


def run_torchmath(state):
    torch.manual_seed(1)
    loss = state["model"](state["x"])["loss"]
    state["opt"].zero_grad(set_to_none=True)
    loss.backward()
    state["opt"].step()
    return loss.detach()


def prepare_plain(state):
    enc = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * LATENT))
    dec = nn.Sequential(nn.Linear(LATENT, H), nn.ReLU(), nn.Linear(H, D))
    weights = state["initial"]
    enc.load_state_dict({k[len("encoder."):]: v for k, v in weights.items()
                         if k.startswith("encoder.")})
    dec.load_state_dict({k[len("decoder."):]: v for k, v in weights.items()
                         if k.startswith("decoder.")})
    enc, dec = enc.to(state["device"]), dec.to(state["device"])
    params = list(enc.parameters()) + list(dec.parameters())
    return {"x": state["x"], "enc": enc, "dec": dec,
            "opt": torch.optim.Adam(params, lr=1e-3)}


def run_plain(s):
    torch.manual_seed(1)
    x = s["x"]
    mean, log_var = s["enc"](x).chunk(2, dim=-1)
    z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
    logits = s["dec"](z)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = 0.5 * (log_var.exp() + mean.square() - 1 - log_var).sum(-1)
    loss = (nll + kl).mean()
    s["opt"].zero_grad(set_to_none=True)
    loss.backward()
    s["opt"].step()
    return loss.detach()


def check(ours, theirs, state):
    if theirs is None:
        return 0.0 if bool(torch.isfinite(ours)) else float("inf")
    return float((ours - theirs).abs() / theirs.abs().clamp_min(1.0))


def _flops(p):
    b = p["batch"]
    per_sample = D * H + H * 2 * LATENT + LATENT * H + H * D  # multiply-adds, forward
    return 3 * 2 * b * per_sample  # forward + two backward products per layer


register(Workload(
    name="vae_train_step",
    area="information",
    description="VAE (784-512-32, Bernoulli decoder) Adam step on a batch",
    cases={"tiny": [{"batch": 8, "dtype": "float32"}],
           "quick": [{"batch": 256, "dtype": "float32"}],
           "full": [{"batch": b, "dtype": "float32"} for b in (64, 256, 1024, 4096)]},
    setup=setup,
    run=run_torchmath,
    peers=[Peer("plain PyTorch loop", run_plain, prepare=prepare_plain, requires=(),
                cpu_only=False, options="same model and noise, loss written by hand")],
    check=check,
    tolerance=1e-5,
    flops=_flops,
    scaling="batch",
))
