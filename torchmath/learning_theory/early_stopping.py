r"""Early stopping for a plain training loop, with the best weights kept and restored.

Stopping when a validation metric has not improved for ``patience`` checks is a form of
regularization: for a quadratic loss and gradient descent it acts like an L2 penalty of
strength about :math:`1/(\eta t)` (Goodfellow, Bengio & Courville 2016, Section 7.8).
:class:`torchmath.callbacks.EarlyStopping` is the Lightning shell over this class.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from torchmath._validation import check_choice, check_int, check_positive, fail

__all__ = ["EarlyStopping"]


def _copy_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class EarlyStopping:
    r"""Decide when to stop training from a monitored metric, and keep the best weights.

    With ``mode="min"`` a check improves when

    .. math::
        m_t < m^\star - \delta_{\min}

    (``mode="max"``: :math:`m_t > m^\star + \delta_{\min}`), where :math:`m^\star` is the
    best value so far. After ``patience`` checks in a row without improvement
    :meth:`step` returns ``True``. The first ``warmup`` checks are ignored entirely. A
    NaN or infinite metric stops at once (``stop_reason`` says why). Source: Prechelt
    (1998), "Early Stopping — But When?"; Goodfellow et al. (2016), Algorithm 7.1.

    Args:
        patience: stop at the ``patience``-th check in a row without improvement
            (``>= 0``; 0 and 1 both stop at the first check that does not improve).
        min_delta: smallest change that counts as an improvement (``>= 0``).
        mode: ``"min"`` or ``"max"``.
        restore_best_weights: when :meth:`step` decides to stop, load the best weights
            back into the model (also available as :meth:`restore`).
        warmup: checks ignored at the start of training.

    Attributes:
        best_score: the best metric so far (``inf``/``-inf`` before any).
        best_epoch: the check index (0-based, counting warm-up checks) of the best score,
            ``-1`` before any.
        wait: checks since the last improvement.
        epoch: checks seen so far.
        stopped: whether :meth:`step` has returned ``True``.
        stop_reason: a sentence saying why training stopped (``None`` while running).
        best_state: a copy of the model's ``state_dict`` at the best check.

    Raises:
        ValueError: ``patience < 0``, ``min_delta < 0``, ``warmup < 0`` or an unknown
            ``mode``.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(1, 1)
        >>> stopper = EarlyStopping(patience=1)
        >>> [stopper.step(loss, net) for loss in [3.0, 2.0, 2.5]]
        [False, False, True]
        >>> stopper.best_score, stopper.best_epoch
        (2.0, 1)
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0, mode: str = "min",
                 restore_best_weights: bool = True, warmup: int = 0):
        fn = "EarlyStopping"
        check_int(fn, "patience", patience, minimum=0)
        check_positive(fn, "min_delta", min_delta, strict=False)
        check_choice(fn, "mode", mode, ("min", "max"))
        check_int(fn, "warmup", warmup, minimum=0)
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.restore_best_weights, self.warmup = restore_best_weights, warmup
        self.reset()

    def reset(self) -> None:
        """Forget the history (start a new training run)."""
        self.best_score = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self.epoch = 0
        self.stopped = False
        self.stop_reason: str | None = None
        self.best_state: dict[str, Tensor] | None = None

    def is_improvement(self, value: float) -> bool:
        """Whether ``value`` beats the best score by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best_score - self.min_delta
        return value > self.best_score + self.min_delta

    def step(self, metric: float | Tensor, model: nn.Module | None = None) -> bool:
        """Record one check of ``metric``; return ``True`` when training should stop.

        ``model`` (optional) is copied when the metric improves and, if
        ``restore_best_weights``, restored when this call decides to stop.
        """
        if isinstance(metric, Tensor):
            if metric.numel() != 1:
                raise fail("EarlyStopping.step", "metric", "a single number",
                           f"a tensor of shape {tuple(metric.shape)}")
            metric = float(metric.detach())
        elif isinstance(metric, bool) or not isinstance(metric, int | float):
            raise fail("EarlyStopping.step", "metric", "a number or a one-element tensor",
                       type(metric).__name__, TypeError)
        value = float(metric)
        epoch = self.epoch
        self.epoch += 1
        if not math.isfinite(value):
            self.stopped = True
            self.stop_reason = (f"the monitored metric is {value} at check {epoch}; stopping "
                                f"(best {self.best_score:.6g} at check {self.best_epoch})")
            self._maybe_restore(model)
            return True
        if epoch < self.warmup:
            return False
        if self.is_improvement(value):
            self.best_score, self.best_epoch, self.wait = value, epoch, 0
            if model is not None:
                self.best_state = _copy_state(model)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped = True
            self.stop_reason = (f"no improvement of more than {self.min_delta:g} in "
                                f"{self.wait} checks; best {self.best_score:.6g} at check "
                                f"{self.best_epoch}")
            self._maybe_restore(model)
            return True
        return False

    def _maybe_restore(self, model: nn.Module | None) -> None:
        if self.restore_best_weights and model is not None:
            self.restore(model)

    def restore(self, model: nn.Module) -> bool:
        """Load the best weights into ``model``; returns whether there were any."""
        if self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, best weights included (tensors on the CPU)."""
        return {
            "patience": self.patience, "min_delta": self.min_delta, "mode": self.mode,
            "warmup": self.warmup, "best_score": self.best_score,
            "best_epoch": self.best_epoch, "wait": self.wait, "epoch": self.epoch,
            "stopped": self.stopped, "stop_reason": self.stop_reason,
            "best_state": None if self.best_state is None else
            {k: v.detach().cpu().clone() for k, v in self.best_state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (missing keys keep their defaults)."""
        for key in ("patience", "min_delta", "mode", "warmup", "best_score", "best_epoch",
                    "wait", "epoch", "stopped", "stop_reason", "best_state"):
            if key in state:
                value = state[key]
                if key == "best_score" and isinstance(value, Tensor):
                    value = float(value)
                setattr(self, key, value)

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"mode={self.mode!r}, best_score={self.best_score}, "
                f"best_epoch={self.best_epoch})")
