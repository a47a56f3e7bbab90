"""Variational autoencoder and the variational information bottleneck."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchmath._validation import check_choice, check_int, check_positive, fail
from torchmath.information.losses import gaussian_kl_loss, iwae_bound, reconstruction_nll

__all__ = ["VAE", "VariationalInformationBottleneck", "mlp"]

_LOG_2PI = math.log(2 * math.pi)


def mlp(sizes: tuple[int, ...] | list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A plain multilayer perceptron: ``Linear``, activation, ..., ``Linear``.

    Args:
        sizes: the layer widths, input first: ``[d_in, h_1, ..., d_out]``.
        activation: the activation module class placed between linear layers.

    Returns:
        An ``nn.Sequential`` with no activation after the last layer.

    Example:
        >>> mlp([4, 8, 2])
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=2, bias=True)
        )
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def _split(fn: str, h: Tensor, latent_dim: int) -> tuple[Tensor, Tensor]:
    if h.shape[-1] != 2 * latent_dim:
        raise fail(fn, "encoder", f"to output 2 * latent_dim = {2 * latent_dim} features "
                   "(mean, log-variance)", h.shape[-1])
    mean, log_var = h.chunk(2, dim=-1)
    return mean, log_var


class VAE(nn.Module):
    r"""Variational autoencoder with a diagonal-Gaussian encoder and a standard-normal
    prior, trained by the reparameterization trick.

    .. math::
        q_\phi(z\mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)),\quad
        z = \mu + \sigma \odot \epsilon,\ \epsilon\sim\mathcal N(0, I),\quad
        \text{ELBO}(x) = \mathbb E_q[\log p_\theta(x\mid z)] - \beta\,
        KL(q_\phi(z\mid x)\,\|\,\mathcal N(0, I))

    The encoder maps ``x`` to ``2 * latent_dim`` features (mean, then log-variance); the
    decoder maps ``z`` to the mean (``"gaussian"``, with fixed variance ``obs_var``) or
    logits (``"bernoulli"``) of ``x``. Without them, MLPs with ``hidden`` layers are built
    (``input_dim`` is then required).

    Args:
        encoder: ``x -> (..., 2 * latent_dim)``, or ``None`` for the default MLP.
        decoder: ``z -> (..., input_dim)``, or ``None`` for the default MLP.
        latent_dim: size of :math:`z`.
        likelihood: ``"gaussian"`` or ``"bernoulli"``.
        beta: KL weight (1: the ELBO; :math:`\beta`-VAE otherwise).
        input_dim: data size, for the default networks.
        hidden: hidden widths of the default networks.
        obs_var: Gaussian decoder variance.
        free_bits: KL floor per latent dimension, in nats.

    Shape:
        ``x``: ``(B, input_dim)``.

    Raises:
        ValueError: ``latent_dim`` not a positive integer, an unknown ``likelihood``, a
            negative ``beta``, a non-positive ``obs_var``, or no ``input_dim`` for a default
            network.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> vae = VAE(latent_dim=2, input_dim=6, hidden=(16,))
        >>> out = vae(torch.randn(8, 6))
        >>> sorted(out)
        ['elbo', 'kl', 'log_var', 'loss', 'mean', 'recon', 'recon_nll', 'z']

    Source: Kingma & Welling (2014), "Auto-encoding variational Bayes"; Rezende et al.
    (2014).
    """

    def __init__(self, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 latent_dim: int = 2, likelihood: str = "gaussian", beta: float = 1.0, *,
                 input_dim: int | None = None, hidden: tuple[int, ...] = (256,),
                 obs_var: float = 1.0, free_bits: float = 0.0):
        super().__init__()
        fn = "VAE"
        check_int(fn, "latent_dim", latent_dim, minimum=1)
        check_choice(fn, "likelihood", likelihood, ("gaussian", "bernoulli"))
        check_positive(fn, "beta", beta, strict=False)
        check_positive(fn, "obs_var", obs_var)
        if (encoder is None or decoder is None) and input_dim is None:
            raise fail(fn, "input_dim", "to be given when the default encoder or decoder "
                       "is used", None)
        self.encoder = encoder if encoder is not None else \
            mlp([input_dim, *hidden, 2 * latent_dim])
        self.decoder = decoder if decoder is not None else \
            mlp([latent_dim, *reversed(hidden), input_dim])
        self.latent_dim, self.likelihood, self.beta = latent_dim, likelihood, beta
        self.obs_var, self.free_bits = obs_var, free_bits

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each ``(B, latent_dim)``."""
        return _split("VAE", self.encoder(x), self.latent_dim)

    def reparameterize(self, mean: Tensor, log_var: Tensor) -> Tensor:
        """:math:`z = \\mu + e^{\\log\\sigma^2/2} \\odot \\epsilon`."""
        return mean + (0.5 * log_var).exp() * torch.randn_like(mean)

    def _nll(self, x: Tensor, recon: Tensor) -> Tensor:
        return reconstruction_nll(x.reshape(x.shape[0], -1) if x.dim() > 2 else x,
                                  recon.reshape(recon.shape[0], -1) if recon.dim() > 2
                                  else recon, likelihood=self.likelihood,
                                  obs_var=self.obs_var)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Loss terms for a batch: ``loss`` (the mean negative ELBO with ``beta``, to
        minimize), per-sample ``recon_nll``, ``kl`` and ``elbo`` (with ``beta = 1``), and
        ``mean``, ``log_var``, ``z``, ``recon``."""
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var)
        recon = self.decoder(z)
        nll = self._nll(x, recon)
        kl = gaussian_kl_loss(mean, log_var, reduction="none").sum(-1)
        kl_train = kl if self.free_bits == 0 else gaussian_kl_loss(
            mean, log_var, free_bits=self.free_bits, reduction="none").sum(-1)
        loss = (nll + self.beta * kl_train).mean()
        return {"loss": loss, "recon_nll": nll, "kl": kl, "elbo": -(nll + kl),
                "mean": mean, "log_var": log_var, "z": z, "recon": recon}

    def elbo(self, x: Tensor) -> Tensor:
        """Per-sample ELBO (one reparameterized sample, analytic KL), shape ``(B,)``."""
        return self.forward(x)["elbo"]

    def iwae(self, x: Tensor, k: int = 16) -> Tensor:
        """Per-sample importance-weighted bound :func:`iwae_bound` with ``k`` samples."""
        check_int("VAE.iwae", "k", k, minimum=1)
        mean, log_var = self.encode(x)
        eps = torch.randn(k, *mean.shape, dtype=mean.dtype, device=mean.device)
        z = mean + (0.5 * log_var).exp() * eps
        recon = self.decoder(z.reshape(-1, self.latent_dim)).reshape(k, x.shape[0], -1)
        flat_x = x.reshape(x.shape[0], -1)
        log_lik = -torch.stack([self._nll(flat_x, recon[i]) for i in range(k)])
        log_prior = -0.5 * (z.square() + _LOG_2PI).sum(-1)
        log_post = -0.5 * (eps.square() + log_var + _LOG_2PI).sum(-1)
        return iwae_bound(log_lik, log_prior, log_post)

    def _output(self, recon: Tensor) -> Tensor:
        return torch.sigmoid(recon) if self.likelihood == "bernoulli" else recon

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` draws of the prior: the decoder's mean (probabilities for a
        Bernoulli decoder), shape ``(n, input_dim)``."""
        check_int("VAE.sample", "n", n, minimum=1)
        p = next(self.parameters())
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=p.dtype,
                        device=p.device)
        return self._output(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the posterior mean of ``x``: the decoder's mean of the reconstruction."""
        mean, _ = self.encode(x)
        return self._output(self.decoder(mean))


class VariationalInformationBottleneck(nn.Module):
    r"""Deep variational information bottleneck classifier.

    .. math::
        \mathcal L = \mathbb E_{q(z|x)}[-\log q(y \mid z)]
        + \beta\, KL\big(q(z\mid x) \,\|\, \mathcal N(0, I)\big)
        \;\ge\; -I(Z; Y) + H(Y) + \beta\, I(Z; X) \text{ (variationally)}

    The stochastic encoder compresses :math:`x` into :math:`z` (small :math:`\beta`: keep
    what predicts :math:`y`; large :math:`\beta`: forget more of :math:`x`); the classifier
    reads :math:`y` from :math:`z`. The cross-entropy is ``F.cross_entropy``.

    Args:
        encoder: ``x -> (..., 2 * latent_dim)`` or ``None`` (MLP; needs ``input_dim``).
        classifier: ``z -> logits`` or ``None`` (linear; needs ``num_classes``).
        latent_dim: size of :math:`z`.
        beta: weight of the compression term.
        input_dim, num_classes, hidden: for the default networks.
        n_samples: latent samples averaged in :meth:`predict_proba`.

    Shape:
        ``x``: ``(B, input_dim)``, ``y``: ``(B,)`` class labels.

    Raises:
        ValueError: ``latent_dim`` not a positive integer, a negative ``beta``, or no
            ``input_dim``/``num_classes`` for a default network.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> vib = VariationalInformationBottleneck(latent_dim=2, beta=1e-3, input_dim=4,
        ...                                        num_classes=3, hidden=(8,))
        >>> out = vib(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
        >>> sorted(out)
        ['ce', 'kl', 'logits', 'loss', 'mean', 'z']

    Source: Alemi, Fischer, Dillon & Murphy (2017), "Deep variational information
    bottleneck", eq. (7).
    """

    def __init__(self, encoder: nn.Module | None = None, classifier: nn.Module | None = None,
                 latent_dim: int = 2, beta: float = 1e-3, *, input_dim: int | None = None,
                 num_classes: int | None = None, hidden: tuple[int, ...] = (128,),
                 n_samples: int = 12):
        super().__init__()
        fn = "VariationalInformationBottleneck"
        check_int(fn, "latent_dim", latent_dim, minimum=1)
        check_positive(fn, "beta", beta, strict=False)
        if encoder is None and input_dim is None:
            raise fail(fn, "input_dim", "to be given for the default encoder", None)
        if classifier is None and num_classes is None:
            raise fail(fn, "num_classes", "to be given for the default classifier", None)
        self.encoder = encoder if encoder is not None else \
            mlp([input_dim, *hidden, 2 * latent_dim])
        self.classifier = classifier if classifier is not None else \
            nn.Linear(latent_dim, num_classes)
        self.latent_dim, self.beta, self.n_samples = latent_dim, beta, n_samples

    def forward(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        """``logits`` at one reparameterized sample, per-sample ``kl``, the ``mean`` and
        ``z``; with labels ``y`` also per-sample ``ce`` and the batch ``loss``."""
        mean, log_var = _split("VariationalInformationBottleneck", self.encoder(x),
                               self.latent_dim)
        z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
        logits = self.classifier(z)
        kl = gaussian_kl_loss(mean, log_var, reduction="none").sum(-1)
        out = {"logits": logits, "kl": kl, "mean": mean, "z": z}
        if y is not None:
            ce = F.cross_entropy(logits, y, reduction="none")
            out["ce"] = ce
            out["loss"] = (ce + self.beta * kl).mean()
        return out

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities averaged over ``n_samples`` draws of :math:`z`."""
        mean, log_var = _split("VariationalInformationBottleneck", self.encoder(x),
                               self.latent_dim)
        eps = torch.randn(self.n_samples, *mean.shape, dtype=mean.dtype, device=mean.device)
        z = mean + (0.5 * log_var).exp() * eps
        return self.classifier(z).softmax(-1).mean(0)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Most probable class under :meth:`predict_proba`."""
        return self.predict_proba(x).argmax(-1)
