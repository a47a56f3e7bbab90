"""InfoNCE, NWJ, MINE bounds and the VAE / VIB models."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tests.helpers import assert_close, assert_raises_naming, check_gradients
from torchmath.information import (
    MINE,
    NWJ,
    VAE,
    ConcatCritic,
    InfoNCE,
    SeparableCritic,
    VariationalInformationBottleneck,
    dv_bound,
    gaussian_mutual_information,
    infonce_bound,
    nwj_bound,
)


def test_bounds_by_hand_and_cross_entropy_link():
    S = torch.randn(5, 5, dtype=torch.float64)
    ce = F.cross_entropy(S, torch.arange(5))
    assert_close(infonce_bound(S), math.log(5) - ce)
    off = S[~torch.eye(5, dtype=torch.bool)]
    assert_close(nwj_bound(S), S.diagonal().mean() - (off - 1).exp().mean())
    assert_close(dv_bound(S), S.diagonal().mean() - off.exp().mean().log())
    assert float(infonce_bound(S * 100)) <= math.log(5) + 1e-12
    Sb = torch.randn(3, 4, 4, dtype=torch.float64)
    assert_close(infonce_bound(Sb), torch.stack([infonce_bound(s) for s in Sb]))


def test_optimal_critic_makes_bounds_tight():
    """With f = log p(y|x)/p(y) (+1 for NWJ) the bounds approach the true MI."""
    torch.manual_seed(0)
    rho = 0.8
    n = 1500
    x = torch.randn(n, dtype=torch.float64)
    y = rho * x + math.sqrt(1 - rho ** 2) * torch.randn(n, dtype=torch.float64)
    v = 1 - rho ** 2

    def log_ratio(a, b):
        return (-0.5 * (b - rho * a) ** 2 / v - 0.5 * math.log(v)) + 0.5 * b ** 2

    S = log_ratio(x[:, None], y[None, :])
    true = -0.5 * math.log(v)
    assert abs(float(dv_bound(S)) - true) < 0.08
    assert abs(float(nwj_bound(S + 1)) - true) < 0.08
    assert abs(float(infonce_bound(S)) - true) < 0.08


def test_modules_learn_a_gaussian_mi():
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    true = float(gaussian_mutual_information(cov.double(), [0], [1]))
    L = torch.linalg.cholesky(cov)
    estimates = {}
    for name, cls in (("infonce", InfoNCE), ("nwj", NWJ), ("mine", MINE)):
        torch.manual_seed(1)
        model = cls(SeparableCritic(1, 1, embed_dim=8, hidden=(16,)))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            z = torch.randn(64, 2) @ L.T
            loss = -model(z[:, :1], z[:, 1:])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            z = torch.randn(512, 2) @ L.T
            estimates[name] = float(model(z[:, :1], z[:, 1:]))
    # Lower bounds: below the truth (up to noise) and clearly above 0 once trained.
    for name, est in estimates.items():
        assert 0.2 < est < true + 0.15, (name, est, true)


def test_separable_critic_and_gradients():
    critic = SeparableCritic(2, 3, embed_dim=4, hidden=(8,)).double()
    x, y = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    S = InfoNCE(critic).scores(x, y)
    assert_close(S, critic.g(x) @ critic.h(y).T)
    for fn in (infonce_bound, nwj_bound, dv_bound):
        check_gradients(fn, torch.randn(2, 3, 3))


def test_mine_gradient_uses_moving_average():
    torch.manual_seed(0)
    critic = ConcatCritic(1, 1, hidden=(4,))
    mine = MINE(critic, ema_decay=0.5)
    x, y = torch.randn(8, 1), torch.randn(8, 1)
    value = mine(x, y)
    assert_close(value.detach(), dv_bound(mine.scores(x, y)).detach())
    assert torch.isfinite(mine.ema)
    value.backward()
    assert all(p.grad is not None for p in critic.parameters())


def test_vae_forward_sample_reconstruct_and_training():
    torch.manual_seed(0)
    x = torch.rand(64, 10)
    vae = VAE(latent_dim=2, likelihood="bernoulli", input_dim=10, hidden=(32,))
    out = vae(x)
    assert out["loss"].shape == () and out["elbo"].shape == (64,)
    assert_close(out["elbo"], -(out["recon_nll"] + out["kl"]))
    assert vae.sample(5).shape == (5, 10) and vae.reconstruct(x).shape == (64, 10)
    assert ((vae.sample(3) >= 0) & (vae.sample(3) <= 1)).all()
    assert vae.iwae(x[:4], k=8).shape == (4,)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(vae(x)["loss"])
    for _ in range(100):
        loss = vae(x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(vae(x)["loss"]) < first
        # IWAE with more samples is (on average) a tighter bound than the ELBO.
        torch.manual_seed(1)
        elbo = torch.stack([vae.elbo(x) for _ in range(20)]).mean()
        assert float(vae.iwae(x, k=64).mean()) >= float(elbo) - 1e-3


def test_vib_loss_and_prediction():
    torch.manual_seed(0)
    X = torch.randn(200, 4)
    y = (X[:, 0] > 0).long()
    vib = VariationalInformationBottleneck(latent_dim=2, beta=1e-3, input_dim=4, num_classes=2,
                                           hidden=(16,))
    out = vib(X, y)
    assert_close(out["loss"], (F.cross_entropy(out["logits"], y, reduction="none")
                               + 1e-3 * out["kl"]).mean())
    opt = torch.optim.Adam(vib.parameters(), lr=1e-2)
    for _ in range(150):
        loss = vib(X, y)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float((vib.predict(X) == y).float().mean()) > 0.9
    assert_close(vib.predict_proba(X).sum(-1), torch.ones(200))


def test_bad_input():
    assert_raises_naming(ValueError, lambda: VAE(latent_dim=2), "input_dim")
    assert_raises_naming(ValueError, lambda: VAE(latent_dim=2, input_dim=3,
                                                 likelihood="poisson"), "likelihood")
    vae = VAE(encoder=torch.nn.Linear(3, 3), latent_dim=2, input_dim=3)
    assert_raises_naming(ValueError, lambda: vae(torch.randn(2, 3)), "encoder")
    assert_raises_naming(ValueError, lambda: VariationalInformationBottleneck(
        latent_dim=2, input_dim=3), "num_classes")
    assert_raises_naming(ValueError, lambda: infonce_bound(torch.zeros(2, 3)), "scores")
    assert_raises_naming(ValueError, lambda: MINE(ConcatCritic(1, 1), ema_decay=1.0),
                         "ema_decay")
    assert_raises_naming(TypeError, lambda: InfoNCE(3), "critic")
