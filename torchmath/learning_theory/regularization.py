r"""L1, L2 and elastic-net penalties, and a regularizer that adds them to a loss.

The proximal operators of these penalties (:func:`soft_threshold`,
:func:`prox_elastic_net`) live in :mod:`torchmath.optim.proximal` and are re-exported
here; the estimators :class:`~torchmath.learning_theory.Lasso` and
:class:`~torchmath.learning_theory.ElasticNet` are in :mod:`.elastic_net`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from torchmath._validation import check_in_range, check_positive, fail
from torchmath.learning_theory._common import model_parameters
from torchmath.optim import prox_elastic_net, soft_threshold

__all__ = ["Regularizer", "elastic_net_penalty", "l1_penalty", "l2_penalty",
           "prox_elastic_net", "soft_threshold"]


def _total(fn: str, params: Any, per_tensor: Callable[[Tensor], Tensor]) -> Tensor:
    tensors = model_parameters(fn, params)
    if not tensors:
        raise fail(fn, "params", "at least one tensor", "none")
    total = per_tensor(tensors[0])
    for p in tensors[1:]:
        total = total + per_tensor(p).to(total.device)
    return total


def l1_penalty(params: Tensor | nn.Module | Iterable[Tensor]) -> Tensor:
    r"""The L1 norm of all entries of a set of parameters (the lasso penalty).

    .. math::
        \Omega_1(\theta) = \|\theta\|_1 = \sum_j |\theta_j|

    Its proximal operator is :func:`soft_threshold`; it drives coefficients to exactly
    zero. Source: Tibshirani (1996); Hastie, Tibshirani & Friedman (2009), Section 3.4.2.

    Args:
        params: a tensor, an ``nn.Module`` (its parameters) or an iterable of tensors.

    Shape:
        returns a 0-d tensor.

    Returns:
        the penalty, differentiable in every parameter.

    Raises:
        TypeError: ``params`` of the wrong type. ValueError: no tensors.

    Example:
        >>> l1_penalty([torch.tensor([1.0, -2.0]), torch.tensor([[3.0]])])
        tensor(6.)
    """
    return _total("l1_penalty", params, lambda p: p.abs().sum())


def l2_penalty(params: Tensor | nn.Module | Iterable[Tensor]) -> Tensor:
    r"""The squared L2 norm of all entries of a set of parameters (the ridge penalty).

    .. math::
        \Omega_2(\theta) = \|\theta\|_2^2 = \sum_j \theta_j^2

    Adding :math:`\frac\lambda2\Omega_2` to a loss is weight decay :math:`\lambda` for
    SGD. Source: Hoerl & Kennard (1970); Goodfellow, Bengio & Courville (2016), 7.1.1.

    Args:
        params: a tensor, an ``nn.Module`` (its parameters) or an iterable of tensors.

    Shape:
        returns a 0-d tensor.

    Returns:
        the penalty, differentiable in every parameter.

    Raises:
        TypeError: ``params`` of the wrong type. ValueError: no tensors.

    Example:
        >>> l2_penalty(torch.tensor([3.0, -4.0]))
        tensor(25.)
    """
    return _total("l2_penalty", params, lambda p: p.square().sum())


def elastic_net_penalty(params: Tensor | nn.Module | Iterable[Tensor],
                        l1_ratio: float = 0.5) -> Tensor:
    r"""The elastic-net penalty, a convex mix of L1 and half the squared L2 norm.

    .. math::
        \Omega_{\rho}(\theta) = \rho\,\|\theta\|_1 + \frac{1-\rho}{2}\|\theta\|_2^2

    (scikit-learn's convention: ``alpha * elastic_net_penalty(w, l1_ratio)`` is the
    penalty of its ``ElasticNet``). Source: Zou & Hastie (2005).

    Args:
        params: a tensor, an ``nn.Module`` or an iterable of tensors.
        l1_ratio: :math:`\rho \in [0, 1]` (1 = lasso, 0 = ridge).

    Shape:
        returns a 0-d tensor.

    Returns:
        the penalty, differentiable in every parameter.

    Raises:
        ValueError: ``l1_ratio`` outside [0, 1].

    Example:
        >>> elastic_net_penalty(torch.tensor([3.0, -4.0]), l1_ratio=0.5)
        tensor(9.7500)
    """
    fn = "elastic_net_penalty"
    check_in_range(fn, "l1_ratio", l1_ratio, 0.0, 1.0)
    return _total(fn, params, lambda p: l1_ratio * p.abs().sum()
                  + (1 - l1_ratio) / 2 * p.square().sum())


class Regularizer:
    r"""Adds an L1 / L2 penalty on chosen parameters of a module to a loss.

    .. math::
        \mathcal L_{\text{reg}}(\theta) = \mathcal L(\theta)
        + \lambda_1 \|\theta_S\|_1 + \lambda_2 \|\theta_S\|_2^2

    where :math:`\theta_S` are the parameters selected by ``include``. The selection is
    made once, at construction, so the per-step cost is one pass over those tensors.

    Args:
        module: the model whose parameters are penalized.
        l1: :math:`\lambda_1 \ge 0`.
        l2: :math:`\lambda_2 \ge 0` (note: no factor 1/2; ``l2 = wd / 2`` is weight decay
            ``wd``).
        include: which parameters: ``None`` (all), ``"weights"`` (parameters with 2 or more
            dimensions, i.e. not biases or norms' scales), a glob pattern or a list of
            them matched against parameter names (``"encoder.*.weight"``), or a callable
            ``(name, parameter) -> bool``.

    Shape:
        ``penalty()`` and ``__call__(loss)`` return 0-d tensors.

    Raises:
        ValueError: negative ``l1``/``l2``, or ``include`` selecting no parameter.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = net.weight.copy_(torch.tensor([[1.0, -2.0]])); _ = net.bias.fill_(5.0)
        >>> reg = Regularizer(net, l1=0.1, l2=0.5, include="weights")
        >>> reg.penalty()  # 0.1 * 3 + 0.5 * 5
        tensor(2.8000, grad_fn=<AddBackward0>)
        >>> loss = reg(torch.tensor(1.0))  # loss + penalty

    Source: Tikhonov (1963) and Hoerl & Kennard (1970) (L2); Tibshirani (1996) (L1);
    Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, sec. 3.4.
    """

    def __init__(self, module: nn.Module, *, l1: float = 0.0, l2: float = 0.0,
                 include: None | str | Iterable[str] | Callable[[str, Tensor], bool] = None):
        fn = "Regularizer"
        if not isinstance(module, nn.Module):
            raise fail(fn, "module", "an nn.Module", type(module).__name__, TypeError)
        check_positive(fn, "l1", l1, strict=False)
        check_positive(fn, "l2", l2, strict=False)
        self.l1, self.l2, self.include = l1, l2, include
        self.names = [name for name, p in module.named_parameters() if self._keep(name, p)]
        self.params = dict(module.named_parameters())
        self.params = {k: self.params[k] for k in self.names}
        if not self.params:
            raise fail(fn, "include", "a selection matching at least one parameter",
                       repr(include))

    def _keep(self, name: str, p: Tensor) -> bool:
        inc = self.include
        if inc is None:
            return True
        if inc == "weights":
            return p.dim() >= 2
        if callable(inc):
            return bool(inc(name, p))
        patterns = [inc] if isinstance(inc, str) else list(inc)
        return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)

    def penalty(self) -> Tensor:
        """:math:`\\lambda_1\\|\\theta_S\\|_1 + \\lambda_2\\|\\theta_S\\|_2^2` (differentiable)."""
        tensors = list(self.params.values())
        total = torch.zeros((), dtype=tensors[0].dtype, device=tensors[0].device)
        if self.l1:
            total = total + self.l1 * l1_penalty(tensors)
        if self.l2:
            total = total + self.l2 * l2_penalty(tensors)
        return total

    def __call__(self, loss: Tensor) -> Tensor:
        """``loss + penalty()``."""
        return loss + self.penalty()

    def __repr__(self) -> str:
        return f"Regularizer(l1={self.l1}, l2={self.l2}, parameters={self.names})"
