r"""Dropout as regularization and as approximate Bayesian inference (MC dropout).

Dropout multiplies activations by random masks :math:`m_j \sim \mathrm{Bernoulli}(1-p)/
(1-p)` during training (Srivastava et al. 2014). Keeping the masks at inference and
averaging :math:`T` stochastic forward passes approximates the predictive distribution of
a Bayesian network (Gal & Ghahramani 2016): the sample mean is the prediction and the
sample variance its (epistemic) uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchmath._validation import check_floating, check_in_range, check_int, fail

__all__ = ["DROPOUT_TYPES", "GaussianDropout", "MCDropout", "enable_mc_dropout",
           "mc_dropout_mode", "mc_predict"]


class MCDropout(nn.Module):
    r"""Dropout that stays active at inference (Monte Carlo dropout).

    .. math::
        y = \frac{m \odot x}{1 - p},\qquad m_j \sim \mathrm{Bernoulli}(1 - p)

    in training *and* evaluation mode, so repeated forward passes of a model in ``eval()``
    sample from its approximate posterior predictive. Source: Gal & Ghahramani (2016),
    "Dropout as a Bayesian Approximation".

    Args:
        p: drop probability in [0, 1).

    Shape:
        any; the output has the input's shape.

    Raises:
        ValueError: ``p`` outside [0, 1).

    Example:
        >>> layer = MCDropout(0.5).eval()
        >>> x = torch.ones(1000)
        >>> bool((layer(x) == 0).any())  # still dropping in eval mode
        True
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        check_in_range("MCDropout", "p", p, 0.0, 1.0, high_open=True)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GaussianDropout(nn.Module):
    r"""Multiplicative Gaussian noise with the mean and variance of dropout.

    .. math::
        y = x \odot \xi,\qquad \xi_j \sim \mathcal N\!\left(1, \frac{p}{1-p}\right)

    in training mode (identity in evaluation mode unless ``mc=True``, which
    :func:`enable_mc_dropout` sets). Its noise has the first two moments of
    :math:`\mathrm{Bernoulli}(1-p)/(1-p)` masks. Source: Srivastava et al. (2014),
    Section 10; Wang & Manning (2013).

    Args:
        p: the equivalent drop probability in [0, 1).
        mc: sample at inference too.

    Shape:
        any; the output has the input's shape.

    Raises:
        ValueError: ``p`` outside [0, 1).

    Example:
        >>> layer = GaussianDropout(0.2)
        >>> y = layer(torch.ones(100_000))
        >>> round(float(y.mean()), 1), round(float(y.var()), 2)  # 1 and p / (1 - p)
        (1.0, 0.25)
    """

    def __init__(self, p: float = 0.5, *, mc: bool = False):
        super().__init__()
        check_in_range("GaussianDropout", "p", p, 0.0, 1.0, high_open=True)
        self.p, self.mc = p, mc

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training or self.mc) or self.p == 0:
            return x
        std = math.sqrt(self.p / (1 - self.p))
        return x * (1 + std * torch.randn_like(x))

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}"


#: The layers :func:`enable_mc_dropout` and :func:`mc_predict` treat as dropout.
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                 nn.FeatureAlphaDropout)


class _AlwaysOn(nn.Module):
    """Wraps a torch dropout layer so it samples in evaluation mode too."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        self.layer.train(True)
        return self.layer(x)


def enable_mc_dropout(model: nn.Module) -> int:
    r"""Switch every dropout layer of an existing model to sampling at inference.

    .. math::
        f_{\text{eval}}(x) \to f(x; m),\ m \sim \text{dropout masks}

    ``nn.Dropout`` (and its 1d/2d/3d/alpha variants) are replaced in place by wrappers
    that always sample, so a later ``model.eval()`` does not switch them off;
    :class:`GaussianDropout` layers get ``mc=True``; :class:`MCDropout` already samples.
    Other layers (batch norm) keep their evaluation behaviour. Source: Gal & Ghahramani
    (2016).

    Args:
        model: the network, modified in place.

    Returns:
        the number of layers switched.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5)).eval()
        >>> enable_mc_dropout(net)
        1
        >>> a, b = net(torch.ones(1, 4)), net(torch.ones(1, 4))
    """
    if not isinstance(model, nn.Module):
        raise fail("enable_mc_dropout", "model", "an nn.Module", type(model).__name__,
                   TypeError)
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DROPOUT_TYPES):
                setattr(parent, name, _AlwaysOn(child))
                count += 1
            elif isinstance(child, GaussianDropout) and not child.mc:
                child.mc = True
                count += 1
    return count


def mc_predict(model: nn.Module, x: Tensor, n_samples: int = 50, *,
               chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    r"""Predictive mean and variance of a model with dropout, by Monte Carlo.

    .. math::
        \hat\mu(x) = \frac1T\sum_{t=1}^T f(x; m_t),\qquad
        \hat\sigma^2(x) = \frac1{T-1}\sum_{t=1}^T (f(x; m_t) - \hat\mu(x))^2

    The model runs in evaluation mode (batch norm uses its running statistics) with its
    dropout layers sampling; the ``T`` passes are one batched forward of ``x`` repeated
    ``T`` times (in chunks of ``chunk_size`` samples when given), and the model's modes
    are restored afterwards. Source: Gal & Ghahramani (2016), Section 4.

    Args:
        model: a network with dropout layers (torch's, :class:`MCDropout` or
            :class:`GaussianDropout`).
        x: ``(N, ...)`` a batch of inputs.
        n_samples: :math:`T \ge 2`.
        chunk_size: passes per forward call (default: all at once).

    Shape:
        ``x`` ``(N, ...)``; mean and variance have the model's output shape ``(N, ...)``.

    Returns:
        ``(mean, variance)``, without gradients.

    Raises:
        ValueError: ``n_samples < 2``. TypeError: ``x`` not floating.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(),
        ...                           torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        >>> mean, var = mc_predict(net, torch.randn(5, 3), n_samples=20)
        >>> mean.shape, bool((var > 0).all())
        (torch.Size([5, 1]), True)
    """
    fn = "mc_predict"
    check_floating(fn, "x", x)
    check_int(fn, "n_samples", n_samples, minimum=2)
    if chunk_size is not None:
        check_int(fn, "chunk_size", chunk_size, minimum=1)
    step = n_samples if chunk_size is None else chunk_size
    outs = []
    with mc_dropout_mode(model), torch.no_grad():
        for start in range(0, n_samples, step):
            t = min(step, n_samples - start)
            batch = x.unsqueeze(0).expand(t, *x.shape).reshape(t * x.shape[0], *x.shape[1:])
            out = model(batch)
            outs.append(out.reshape(t, x.shape[0], *out.shape[1:]))
    samples = torch.cat(outs)
    return samples.mean(0), samples.var(0, correction=1)


@contextmanager
def mc_dropout_mode(model: nn.Module) -> Iterator[nn.Module]:
    r"""Within the block, ``model`` is in evaluation mode except its dropout layers, which
    sample (Monte Carlo dropout); every module's mode is restored on exit.

    .. math::
        f(x; m),\ m \sim \text{dropout masks},\ \text{other layers in eval mode}

    Source: Gal & Ghahramani (2016).

    Args:
        model: the network.

    Returns:
        A context manager that yields ``model``.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
        >>> with mc_dropout_mode(net):
        ...     net[1].training, net[0].training
        (True, False)
        >>> net[0].training
        True
    """
    if not isinstance(model, nn.Module):
        raise fail("mc_dropout_mode", "model", "an nn.Module", type(model).__name__, TypeError)
    modes = {m: m.training for m in model.modules()}
    gaussian = {m: m.mc for m in model.modules() if isinstance(m, GaussianDropout)}
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, DROPOUT_TYPES):
                m.train(True)
            elif isinstance(m, GaussianDropout):
                m.mc = True
        yield model
    finally:
        for m, mode in modes.items():
            m.training = mode
        for m, mc in gaussian.items():
            m.mc = mc
