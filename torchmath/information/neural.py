r"""Neural (variational) lower bounds on mutual information: InfoNCE, NWJ and MINE.

Each bound is a function of a critic's score matrix :math:`S_{ij} = f(x_i, y_j)` over
all pairs of a batch — diagonal entries are samples of the joint :math:`p(x, y)`,
off-diagonal ones of the product of marginals :math:`p(x)p(y)` — and an ``nn.Module``
that holds the critic, scores the batch and returns the bound (maximize it, or minimize
its negative). Source: Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On variational
bounds of mutual information".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from torchmath._validation import check_floating, check_in_range, check_matrix_square, fail

__all__ = [
    "MINE",
    "NWJ",
    "ConcatCritic",
    "InfoNCE",
    "SeparableCritic",
    "dv_bound",
    "infonce_bound",
    "nwj_bound",
]


def _scores(fn: str, scores: Tensor) -> Tensor:
    check_floating(fn, "scores", scores)
    check_matrix_square(fn, "scores", scores)
    if scores.shape[-1] < 2:
        raise fail(fn, "scores", "to score at least 2 samples", tuple(scores.shape))
    return scores


def _off_diagonal(scores: Tensor) -> Tensor:
    """The ``n (n - 1)`` off-diagonal entries of ``(..., n, n)``, without a boolean mask
    (whose indexing is a host sync): dropping the first of the flattened entries and
    reading the rest as ``(n - 1, n + 1)`` rows puts the diagonal in the last column."""
    n = scores.shape[-1]
    flat = scores.flatten(-2)[..., 1:]
    return flat.unflatten(-1, (n - 1, n + 1))[..., :-1].flatten(-2)


def infonce_bound(scores: Tensor) -> Tensor:
    r"""InfoNCE lower bound on :math:`I(X;Y)` from a critic's score matrix.

    .. math::
        I_{\text{NCE}} = \frac1n\sum_{i=1}^n \Big[S_{ii} - \log\frac1n\sum_{j=1}^n
        e^{S_{ij}}\Big] \;\le\; I(X; Y), \qquad I_{\text{NCE}} \le \log n

    It is the negative of ``nn.CrossEntropyLoss()(scores, arange(n))`` plus
    :math:`\log n`. Low variance, but it cannot exceed :math:`\log n`.

    Args:
        scores: :math:`S_{ij} = f(x_i, y_j)`.

    Shape:
        ``(..., n, n)``; returns ``(...)``.

    Returns:
        The bound in nats.

    Raises:
        ValueError: ``scores`` not square or smaller than 2 x 2.

    Example:
        >>> import torch
        >>> infonce_bound(torch.zeros(4, 4))   # an uninformative critic
        tensor(0.)

    Source: van den Oord, Li & Vinyals (2018), "Representation learning with contrastive
    predictive coding"; Poole et al. (2019), eq. (12).
    """
    scores = _scores("infonce_bound", scores)
    n = scores.shape[-1]
    diag = scores.diagonal(dim1=-2, dim2=-1)
    return (diag - torch.logsumexp(scores, dim=-1)).mean(-1) + math.log(n)


def nwj_bound(scores: Tensor) -> Tensor:
    r"""NWJ (f-divergence, "MINE-f") lower bound on :math:`I(X;Y)`.

    .. math::
        I_{\text{NWJ}} = \mathbb E_{p(x,y)}[f] - e^{-1}\,\mathbb E_{p(x)p(y)}[e^{f}]

    The joint expectation averages the diagonal of ``scores``, the marginal one the
    off-diagonal entries. Unbiased, tight at :math:`f = 1 + \log p(y|x)/p(y)`, high
    variance.

    Args:
        scores: :math:`S_{ij} = f(x_i, y_j)`.

    Shape:
        ``(..., n, n)``; returns ``(...)``.

    Returns:
        The bound in nats.

    Raises:
        ValueError: ``scores`` not square or smaller than 2 x 2.

    Example:
        >>> import torch
        >>> nwj_bound(torch.ones(3, 3))      # f = 1: 1 - e^0 = 0
        tensor(0.)

    Source: Nguyen, Wainwright & Jordan (2010); Poole et al. (2019), eq. (6).
    """
    scores = _scores("nwj_bound", scores)
    joint = scores.diagonal(dim1=-2, dim2=-1).mean(-1)
    marginal = torch.logsumexp(_off_diagonal(scores) - 1, dim=-1) \
        - math.log(scores.shape[-1] * (scores.shape[-1] - 1))
    return joint - marginal.exp()


def dv_bound(scores: Tensor) -> Tensor:
    r"""Donsker–Varadhan lower bound on :math:`I(X;Y)` (the bound MINE maximizes).

    .. math::
        I_{\text{DV}} = \mathbb E_{p(x,y)}[f] - \log \mathbb E_{p(x)p(y)}[e^{f}]

    Args:
        scores: :math:`S_{ij} = f(x_i, y_j)`.

    Shape:
        ``(..., n, n)``; returns ``(...)``.

    Returns:
        The bound in nats.

    Raises:
        ValueError: ``scores`` not square or smaller than 2 x 2.

    Example:
        >>> import torch
        >>> dv_bound(torch.zeros(3, 3))
        tensor(0.)

    Source: Donsker & Varadhan (1983); Belghazi et al. (2018), "MINE", eq. (7).
    """
    scores = _scores("dv_bound", scores)
    n = scores.shape[-1]
    joint = scores.diagonal(dim1=-2, dim2=-1).mean(-1)
    return joint - (torch.logsumexp(_off_diagonal(scores), dim=-1) - math.log(n * (n - 1)))


class ConcatCritic(nn.Module):
    r"""Critic :math:`f(x, y) = \mathrm{MLP}([x, y])` evaluated on broadcast pairs.

    Args:
        x_dim, y_dim: input sizes.
        hidden: hidden layer widths.

    Shape:
        ``x``: ``(..., x_dim)``, ``y``: ``(..., y_dim)`` broadcasting; returns ``(...)``.

    Example:
        >>> import torch
        >>> f = ConcatCritic(1, 1, hidden=(8,))
        >>> f(torch.zeros(5, 1, 1), torch.zeros(1, 5, 1)).shape
        torch.Size([5, 5])

    Source: Poole et al. (2019), "On variational bounds of mutual information" (the
    concatenated critic of their experiments).
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = x_dim + y_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        shape = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        xy = torch.cat((x.expand(*shape, x.shape[-1]), y.expand(*shape, y.shape[-1])), -1)
        return self.net(xy).squeeze(-1)


class SeparableCritic(nn.Module):
    r"""Critic :math:`f(x, y) = g(x)^\top h(y)`: all :math:`n^2` scores from one matrix
    product.

    Args:
        x_dim, y_dim: input sizes.
        embed_dim: size of the embeddings :math:`g(x), h(y)`.
        hidden: hidden layer widths of both embedding networks.

    Shape:
        ``x``: ``(..., x_dim)``, ``y``: ``(..., y_dim)`` broadcasting; returns ``(...)``.

    Example:
        >>> import torch
        >>> f = SeparableCritic(2, 3, embed_dim=4, hidden=(8,))
        >>> f(torch.zeros(5, 1, 2), torch.zeros(1, 5, 3)).shape
        torch.Size([5, 5])

    Source: Poole et al. (2019), "On variational bounds of mutual information" (the
    separable critic of their experiments); van den Oord et al. (2018).
    """

    def __init__(self, x_dim: int, y_dim: int, embed_dim: int = 32,
                 hidden: tuple[int, ...] = (64,)):
        super().__init__()

        def mlp(d_in: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for h in hidden:
                layers += [nn.Linear(d_in, h), nn.ReLU()]
                d_in = h
            layers.append(nn.Linear(d_in, embed_dim))
            return nn.Sequential(*layers)

        self.g, self.h = mlp(x_dim), mlp(y_dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.g(x) * self.h(y)).sum(-1)


class _Bound(nn.Module):
    def __init__(self, critic: nn.Module):
        super().__init__()
        if not callable(critic):
            raise fail(type(self).__name__, "critic", "to be a callable critic(x, y)",
                       type(critic).__name__, TypeError)
        self.critic = critic

    def scores(self, x: Tensor, y: Tensor) -> Tensor:
        """All-pairs scores :math:`S_{ij} = f(x_i, y_j)`, shape ``(n, n)``."""
        s = self.critic(x.unsqueeze(-2), y.unsqueeze(-3))
        return s.squeeze(-1) if s.dim() == x.dim() + 1 else s


class InfoNCE(_Bound):
    r"""InfoNCE lower bound on :math:`I(X;Y)` with a learned critic (maximize it).

    .. math::
        I_{\text{NCE}} = \frac1n\sum_i \Big[f(x_i, y_i) - \log\frac1n\sum_j
        e^{f(x_i, y_j)}\Big]

    See :func:`infonce_bound`.

    Args:
        critic: ``critic(x, y)`` scoring broadcast pairs, e.g. :class:`SeparableCritic`.

    Shape:
        ``x``: ``(n, d_x)``, ``y``: ``(n, d_y)``; returns a scalar.

    Raises:
        TypeError: ``critic`` is not callable.

    Example:
        >>> import torch
        >>> bound = InfoNCE(ConcatCritic(1, 1, hidden=(8,)))
        >>> bound(torch.randn(16, 1), torch.randn(16, 1)).shape
        torch.Size([])

    Source: van den Oord et al. (2018); Poole et al. (2019).
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return infonce_bound(self.scores(x, y))


class NWJ(_Bound):
    r"""NWJ lower bound on :math:`I(X;Y)` with a learned critic (maximize it).

    .. math::
        I_{\text{NWJ}} = \mathbb E_{p(x,y)}[f] - e^{-1}\,\mathbb E_{p(x)p(y)}[e^{f}]

    See :func:`nwj_bound`.

    Args:
        critic: ``critic(x, y)`` scoring broadcast pairs.

    Shape:
        ``x``: ``(n, d_x)``, ``y``: ``(n, d_y)``; returns a scalar.

    Raises:
        TypeError: ``critic`` is not callable.

    Example:
        >>> import torch
        >>> NWJ(ConcatCritic(1, 1, hidden=(8,)))(torch.randn(8, 1), torch.randn(8, 1)).shape
        torch.Size([])

    Source: Nguyen, Wainwright & Jordan (2010); Poole et al. (2019).
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return nwj_bound(self.scores(x, y))


class MINE(_Bound):
    r"""MINE: the Donsker–Varadhan bound with a learned critic and bias-corrected
    gradients (maximize it).

    .. math::
        I_{\text{DV}} = \mathbb E_{p(x,y)}[f] - \log \mathbb E_{p(x)p(y)}[e^{f}]

    The returned value is the DV bound of the batch; its gradient replaces the
    minibatch denominator of :math:`\nabla \log \mathbb E[e^f]` by an exponential
    moving average of :math:`\mathbb E[e^f]` (kept in the buffer ``ema``, updated in
    training mode), which removes the bias of the minibatch gradient.

    Args:
        critic: ``critic(x, y)`` scoring broadcast pairs.
        ema_decay: decay of the moving average, in ``[0, 1)``.

    Shape:
        ``x``: ``(n, d_x)``, ``y``: ``(n, d_y)``; returns a scalar.

    Raises:
        TypeError: ``critic`` is not callable.
        ValueError: ``ema_decay`` outside ``[0, 1)``.

    Example:
        >>> import torch
        >>> MINE(ConcatCritic(1, 1, hidden=(8,)))(torch.randn(8, 1), torch.randn(8, 1)).shape
        torch.Size([])

    Source: Belghazi et al. (2018), "Mutual information neural estimation", §3.2.
    """

    def __init__(self, critic: nn.Module, ema_decay: float = 0.99):
        super().__init__(critic)
        check_in_range("MINE", "ema_decay", ema_decay, 0.0, 1.0, high_open=True)
        self.ema_decay = ema_decay
        self.register_buffer("ema", torch.tensor(float("nan")))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        scores = self.scores(x, y)
        value = dv_bound(scores)
        if not torch.is_grad_enabled() or not scores.requires_grad:
            return value
        n = scores.shape[-1]
        mean_exp = (torch.logsumexp(_off_diagonal(scores), -1) - math.log(n * (n - 1))).exp()
        if self.training:
            with torch.no_grad():
                m = mean_exp.detach().to(self.ema)
                self.ema = torch.where(torch.isnan(self.ema), m,
                                       self.ema_decay * self.ema + (1 - self.ema_decay) * m)
        # no host sync: the first step (ema still NaN) divides by the batch's own value
        ema = self.ema.to(mean_exp)
        denom = torch.where(torch.isnan(ema), mean_exp.detach(), ema)
        surrogate = scores.diagonal(dim1=-2, dim2=-1).mean(-1) - mean_exp / denom
        return value.detach() + (surrogate - surrogate.detach())
