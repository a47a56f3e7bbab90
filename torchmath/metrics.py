r"""torchmetrics Metrics (thin shells over the areas).

Each metric accumulates additive statistics with ``add_state(..., dist_reduce_fx=...)``,
so it works over many batches and synchronizes across processes like any torchmetrics
metric, and computes its value with the functional core of :mod:`torchmath.information`.

Metrics torchmetrics already ships are used as they are, not rewritten:

- ``torchmetrics.regression.KLDivergence(log_prob=False)`` accumulates
  :math:`KL(p\|q) = \sum_i p_i \log(p_i/q_i)` per row for ``update(p, q)`` — the same
  quantity as ``torchmath.information.kl_divergence(p_probs=p, q_probs=q)``, averaged
  over rows with ``reduction="mean"``. It is re-exported here as :class:`KLDivergence`.
- ``torchmetrics.clustering.MutualInfoScore`` computes scikit-learn's
  ``mutual_info_score`` of two label vectors — the same as :class:`MutualInformation`
  with ``estimator="discrete"`` (in nats) — and is re-exported as :class:`MutualInfoScore`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.clustering import MutualInfoScore
from torchmetrics.regression import KLDivergence
from torchmetrics.utilities import dim_zero_cat

from torchmath._validation import check_choice, check_int, check_labels, fail
from torchmath.information import entropy, ksg_mutual_information, mutual_information

__all__ = ["ELBO", "Entropy", "KLDivergence", "MutualInfoScore", "MutualInformation"]


class Entropy(Metric):
    r"""Entropy of the empirical distribution of discrete observations.

    .. math::
        \hat H = -\sum_{c} \hat p_c \log \hat p_c, \qquad \hat p_c = \frac{n_c}{\sum_c n_c}

    ``update(labels)`` adds the counts :math:`n_c` of integer labels in
    ``[0, num_classes)``; counts are summed across processes.

    Args:
        num_classes: number of outcomes.
        base: logarithm base; ``None`` for nats.
        kwargs: passed to ``torchmetrics.Metric``.

    Shape:
        ``update``: integer labels of any shape; ``compute`` returns a scalar (float64).

    Raises:
        ValueError: ``num_classes`` is not a positive integer.

    Example:
        >>> import torch
        >>> m = Entropy(num_classes=2, base=2)
        >>> m.update(torch.tensor([0, 1]))
        >>> m.update(torch.tensor([0, 1, 1, 0]))
        >>> m.compute()
        tensor(1., dtype=torch.float64)

    Source: Shannon (1948); Cover & Thomas, *Elements of Information Theory*, §2.1.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, num_classes: int, base: float | None = None, **kwargs):
        super().__init__(**kwargs)
        check_int("Entropy", "num_classes", num_classes, minimum=1)
        self.num_classes, self.base = num_classes, base
        self.add_state("counts", default=torch.zeros(num_classes, dtype=torch.float64),
                       dist_reduce_fx="sum")

    def update(self, labels: Tensor) -> None:
        check_labels("Entropy.update", "labels", labels, self.num_classes)
        # index_add_, not bincount: bincount reads the largest label on the host
        flat = labels.reshape(-1)
        self.counts.index_add_(0, flat, torch.ones_like(flat, dtype=self.counts.dtype))

    def compute(self) -> Tensor:
        total = self.counts.sum()
        if not bool(total > 0):
            raise fail("Entropy.compute", "counts", "to be accumulated by update() first", 0)
        return entropy(probs=self.counts / total, base=self.base)


class MutualInformation(Metric):
    r"""Mutual information between two streams of observations.

    .. math::
        \text{discrete: } \hat I = \sum_{x,y}\hat p(x,y)\log\frac{\hat p(x,y)}
        {\hat p(x)\hat p(y)}, \qquad
        \text{ksg: } \hat I = \psi(k) + \psi(n) - \langle \psi(n_x+1) + \psi(n_y+1)\rangle

    ``estimator="discrete"`` accumulates the joint count table of integer labels
    (summed across processes) and applies
    :func:`~torchmath.information.mutual_information`. ``estimator="ksg"`` keeps the
    continuous samples (gathered across processes) and applies
    :func:`~torchmath.information.ksg_mutual_information` to all of them at ``compute``.

    Args:
        estimator: ``"discrete"`` or ``"ksg"``.
        num_classes_x, num_classes_y: label counts (discrete).
        k: neighbour order (ksg).
        base: logarithm base; ``None`` for nats.
        kwargs: passed to ``torchmetrics.Metric``.

    Shape:
        ``update(x, y)``: discrete, integer labels ``(B,)`` each; ksg, samples ``(B,)``
        or ``(B, d_x)`` and ``(B, d_y)``. ``compute`` returns a scalar.

    Raises:
        ValueError: an unknown ``estimator``; the discrete estimator without both label
            counts; a label count or ``k`` that is not a positive integer.

    Example:
        >>> import torch
        >>> m = MutualInformation(num_classes_x=2, num_classes_y=2, base=2)
        >>> m.update(torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 0, 1]))
        >>> m.compute()
        tensor(1., dtype=torch.float64)

    Source: Cover & Thomas, *Elements of Information Theory*, §2.3; Kraskov, Stögbauer &
    Grassberger (2004), "Estimating mutual information" (KSG).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, estimator: str = "discrete", *, num_classes_x: int | None = None,
                 num_classes_y: int | None = None, k: int = 3, base: float | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        fn = "MutualInformation"
        check_choice(fn, "estimator", estimator, ("discrete", "ksg"))
        self.estimator, self.k, self.base = estimator, k, base
        if estimator == "discrete":
            if num_classes_x is None or num_classes_y is None:
                raise fail(fn, "num_classes_x, num_classes_y",
                           "to be given for the discrete estimator",
                           (num_classes_x, num_classes_y))
            check_int(fn, "num_classes_x", num_classes_x, minimum=1)
            check_int(fn, "num_classes_y", num_classes_y, minimum=1)
            self.shape = (num_classes_x, num_classes_y)
            self.add_state("joint", default=torch.zeros(self.shape, dtype=torch.float64),
                           dist_reduce_fx="sum")
        else:
            check_int(fn, "k", k, minimum=1)
            self.add_state("xs", default=[], dist_reduce_fx="cat")
            self.add_state("ys", default=[], dist_reduce_fx="cat")

    def update(self, x: Tensor, y: Tensor) -> None:
        fn = "MutualInformation.update"
        if x.shape[0] != y.shape[0]:
            raise fail(fn, "y", f"to have as many rows as 'x' ({x.shape[0]})", y.shape[0])
        if self.estimator == "discrete":
            check_labels(fn, "x", x, self.shape[0])
            check_labels(fn, "y", y, self.shape[1])
            flat = x.reshape(-1) * self.shape[1] + y.reshape(-1)
            # index_add_, not bincount: bincount reads the largest label on the host
            self.joint.view(-1).index_add_(0, flat, torch.ones_like(flat, dtype=self.joint.dtype))
        else:
            self.xs.append(x.reshape(x.shape[0], -1))
            self.ys.append(y.reshape(y.shape[0], -1))

    def compute(self) -> Tensor:
        if self.estimator == "discrete":
            total = self.joint.sum()
            if not bool(total > 0):
                raise fail("MutualInformation.compute", "joint",
                           "to be accumulated by update() first", 0)
            return mutual_information(self.joint / total, base=self.base)
        x, y = dim_zero_cat(self.xs), dim_zero_cat(self.ys)
        return ksg_mutual_information(x, y, k=self.k, base=self.base)


class ELBO(Metric):
    r"""Mean evidence lower bound (and its terms) over a stream of batches.

    .. math::
        \overline{\text{ELBO}} = \frac1N \sum_{i=1}^N \big(-\text{NLL}_i - KL_i\big)

    ``update(recon_nll, kl)`` takes the per-sample reconstruction negative
    log-likelihood and KL, e.g. the ``"recon_nll"`` and ``"kl"`` outputs of
    :class:`~torchmath.information.VAE`; sums and the count are summed across processes.
    ``compute()`` returns the mean ELBO; :meth:`compute_terms` also the mean NLL and KL.

    Args:
        kwargs: passed to ``torchmetrics.Metric`` (``sync_on_compute``, ...).

    Shape:
        ``update``: ``recon_nll`` and ``kl`` ``(B,)`` (one value per sample);
        ``compute`` returns a scalar (float64).

    Example:
        >>> import torch
        >>> m = ELBO()
        >>> m.update(torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5]))
        >>> m.compute()
        tensor(-2.5000, dtype=torch.float64)

    Source: Kingma & Welling (2014), "Auto-encoding variational Bayes", eq. 3.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("nll_sum", "kl_sum", "count"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64),
                           dist_reduce_fx="sum")

    def update(self, recon_nll: Tensor, kl: Tensor) -> None:
        if recon_nll.shape != kl.shape:
            raise fail("ELBO.update", "kl", f"of the shape of 'recon_nll' "
                       f"{tuple(recon_nll.shape)}", tuple(kl.shape))
        self.nll_sum += recon_nll.detach().sum().to(self.nll_sum.dtype)
        self.kl_sum += kl.detach().sum().to(self.kl_sum.dtype)
        self.count += recon_nll.numel()

    def compute_terms(self) -> dict[str, Tensor]:
        """Mean ``elbo``, ``recon_nll`` and ``kl``."""
        if not bool(self.count > 0):
            raise fail("ELBO.compute", "count", "to be accumulated by update() first", 0)
        nll, kl = self.nll_sum / self.count, self.kl_sum / self.count
        return {"elbo": -(nll + kl), "recon_nll": nll, "kl": kl}

    def compute(self) -> Tensor:
        return self.compute_terms()["elbo"]
