r"""PyTorch Lightning callbacks: thin shells over :mod:`torchmath.learning_theory`.

- :class:`EarlyStopping` — stops like Lightning's own and, unlike it, restores the best
  weights at the end of training and keeps them in checkpoints.
- :class:`MCDropoutPrediction` — ``trainer.predict`` returns the MC-dropout predictive
  mean and variance.
- :class:`Augmentation` — applies an augmentation (mixup, CutMix, noise, crops) to every
  training batch.
- :class:`KLAnnealing` — schedules a weight attribute (the ELBO's :math:`\beta`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor

from torchmath._validation import check_choice, check_int, fail
from torchmath.learning_theory.dropout import mc_dropout_mode
from torchmath.learning_theory.early_stopping import EarlyStopping as _EarlyStoppingCore
from torchmath.learning_theory.schedules import annealed_weight

__all__ = ["Augmentation", "EarlyStopping", "KLAnnealing", "MCDropoutPrediction"]

log = logging.getLogger(__name__)


class EarlyStopping(Callback):
    r"""Stop training when a monitored metric stops improving, and restore the best weights.

    The decision is that of :class:`torchmath.learning_theory.EarlyStopping` (improvement
    when :math:`m_t < m^\star - \delta_{\min}` in ``"min"`` mode; stop at the
    ``patience``-th check in a row without one). It differs from Lightning's
    ``EarlyStopping`` — which it otherwise follows: ``state_key`` from its arguments,
    checks after validation, one decision for all DDP ranks — in that it keeps a copy of
    the module's ``state_dict`` at the best check, loads it back at every end of training
    (stopped early, ``max_epochs`` reached, or interrupted), and stores it in checkpoints,
    so a resumed run keeps its best score and weights. Under DDP the monitored value is
    averaged over ranks before the decision, so every rank stops at the same check and
    restores the same weights. Source: Prechelt (1998); Lightning's
    ``callbacks/early_stopping.py`` for the hook protocol.

    Args:
        monitor: the logged metric to watch (``self.log(monitor, ...)``).
        patience: checks without improvement before stopping (``>= 0``).
        min_delta: smallest change that counts as an improvement (``>= 0``).
        mode: ``"min"`` or ``"max"``.
        restore_best_weights: load the best weights at the end of training.
        warmup: checks ignored at the start.
        strict: raise when ``monitor`` was never logged (else skip the check).
        check_on_train_epoch_end: check at the end of the training epoch (after that
            epoch's validation) rather than at the end of each validation run; by default
            as Lightning decides (train epoch end when validating once per epoch).
        verbose: log improvements and the stop at INFO level.

    Attributes:
        best_score, best_epoch, stopped_epoch, stop_reason: the state of the run
        (``best_epoch`` and ``stopped_epoch`` are trainer epochs).

    Raises:
        ValueError: bad ``patience``, ``min_delta``, ``mode``, ``warmup`` (at construction).
        RuntimeError: ``monitor`` never logged while ``strict`` (names the metric and
            lists those that were logged).

    Example:
        >>> from torchmath.callbacks import EarlyStopping
        >>> stopper = EarlyStopping("val_loss", patience=2)
        >>> stopper.state_key
        "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
    """

    def __init__(self, monitor: str, patience: int = 3, min_delta: float = 0.0,
                 mode: str = "min", restore_best_weights: bool = True, *, warmup: int = 0,
                 strict: bool = True, check_on_train_epoch_end: bool | None = None,
                 verbose: bool = False):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise fail("EarlyStopping", "monitor", "the name of a logged metric", repr(monitor),
                       TypeError)
        self.monitor = monitor
        self.restore_best_weights = restore_best_weights
        self.strict, self.verbose = strict, verbose
        self._check_on_train_epoch_end = check_on_train_epoch_end
        self.core = _EarlyStoppingCore(patience=patience, min_delta=min_delta, mode=mode,
                                       restore_best_weights=False, warmup=warmup)
        self.stopped_epoch = 0
        self._epochs: list[int] = []  # trainer epoch of each check

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.core.mode)

    @property
    def mode(self) -> str:
        return self.core.mode

    @property
    def patience(self) -> int:
        return self.core.patience

    @property
    def best_score(self) -> float:
        return self.core.best_score

    @property
    def best_epoch(self) -> int:
        """The trainer epoch of the best check (``-1`` before any)."""
        i = self.core.best_epoch
        return self._epochs[i] if 0 <= i < len(self._epochs) else -1

    @property
    def stop_reason(self) -> str | None:
        return self.core.stop_reason

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            self._check_on_train_epoch_end = (trainer.val_check_interval == 1.0
                                              and trainer.check_val_every_n_epoch == 1)

    def _skip(self, trainer: pl.Trainer) -> bool:
        from pytorch_lightning.trainer.states import TrainerFn

        return (trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking
                or bool(trainer.fast_dev_run))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._check_on_train_epoch_end and not self._skip(trainer):
            self._check(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._check_on_train_epoch_end and not self._skip(trainer):
            self._check(trainer, pl_module)

    def _check(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logs = trainer.callback_metrics
        if self.monitor not in logs:
            if not self.strict:
                return
            logged = ", ".join(f"'{k}'" for k in logs) or "nothing"
            raise RuntimeError(
                f"EarlyStopping: expected 'monitor' to name a logged metric, got "
                f"'{self.monitor}', which was never logged; logged metrics: {logged}. "
                f"Log it with self.log('{self.monitor}', value) or pass one of those.")
        current = torch.as_tensor(logs[self.monitor]).detach().squeeze()
        # average over ranks first: every rank then takes the same decision
        current = trainer.strategy.reduce(current.to(pl_module.device, torch.float64),
                                          reduce_op="mean")
        was_best = self.core.best_epoch
        self._epochs.append(trainer.current_epoch)
        should_stop = self.core.step(current, pl_module)
        if self.verbose and self.core.best_epoch != was_best:
            log.info("EarlyStopping: %s improved to %.6g at epoch %d", self.monitor,
                     self.core.best_score, trainer.current_epoch)
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch
            if self.core.stop_reason is None:  # another rank decided
                self.core.stop_reason = "another process decided to stop"
            value = float(current)
            level = logging.WARNING if not math.isfinite(value) else logging.INFO
            if self.verbose or level == logging.WARNING:
                log.log(level, "EarlyStopping on '%s' stops training at epoch %d: %s",
                        self.monitor, trainer.current_epoch, self.core.stop_reason)

    def _restore(self, pl_module: pl.LightningModule) -> None:
        if self.restore_best_weights and self.core.best_state is not None:
            pl_module.load_state_dict(self.core.best_state)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self._restore(pl_module)

    def state_dict(self) -> dict[str, Any]:
        state = self.core.state_dict()
        state.update(monitor=self.monitor, stopped_epoch=self.stopped_epoch,
                     check_epochs=list(self._epochs))
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # tolerant of states saved by older versions: missing keys keep their defaults
        self.core.load_state_dict(state_dict)
        self.stopped_epoch = state_dict.get("stopped_epoch", 0)
        self._epochs = list(state_dict.get("check_epochs", range(self.core.epoch)))


class MCDropoutPrediction(Callback):
    r"""Make ``trainer.predict`` return the Monte Carlo dropout mean and variance.

    .. math::
        \hat\mu = \frac1T\sum_t f(x; m_t),\qquad
        \hat\sigma^2 = \frac1{T-1}\sum_t (f(x; m_t) - \hat\mu)^2

    During prediction the module's ``predict_step`` runs ``n_samples`` times per batch
    with its dropout layers sampling and everything else in evaluation mode
    (:func:`torchmath.learning_theory.mc_dropout_mode`); each batch's prediction becomes
    the pair ``(mean, variance)``. Source: Gal & Ghahramani (2016).

    Args:
        n_samples: :math:`T \ge 2` stochastic passes per batch.

    Raises:
        ValueError: ``n_samples < 2``. TypeError: a ``predict_step`` that does not return
            a tensor.

    Example:
        >>> from torchmath.callbacks import MCDropoutPrediction
        >>> MCDropoutPrediction(n_samples=30).n_samples
        30
    """

    def __init__(self, n_samples: int = 50):
        super().__init__()
        check_int("MCDropoutPrediction", "n_samples", n_samples, minimum=2)
        self.n_samples = n_samples

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        original = pl_module.predict_step
        n_samples = self.n_samples

        def mc_predict_step(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
            with mc_dropout_mode(pl_module):
                outs = [original(*args, **kwargs) for _ in range(n_samples)]
            if not isinstance(outs[0], Tensor):
                raise fail("MCDropoutPrediction", "predict_step", "to return a tensor",
                           type(outs[0]).__name__, TypeError)
            samples = torch.stack(outs)
            return samples.mean(0), samples.var(0, correction=1)

        pl_module.predict_step = mc_predict_step  # instance attribute shadows the method

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.__dict__.pop("predict_step", None)


class Augmentation(Callback):
    r"""Apply an augmentation to every training batch (before ``training_step``).

    .. math::
        (x, y) \mapsto \mathrm{fn}(x, y)\quad\text{or}\quad x \mapsto \mathrm{fn}(x)

    The batch (a list or dict, as ``DataLoader`` collates) is updated in place at
    ``on_train_batch_start``; validation and prediction batches are left alone. Use
    ``functools.partial`` to fix arguments, e.g.
    ``Augmentation(partial(mixup, alpha=0.2, num_classes=10))``.

    Args:
        fn: ``(x, y) -> (x, y)`` when ``targets`` is given, else ``x -> x``.
        inputs: index (or key) of the inputs in the batch.
        targets: index (or key) of the targets, or ``None`` to augment inputs only.

    Raises:
        TypeError: ``fn`` not callable; a batch that cannot be updated in place (a tuple).

    Example:
        >>> from functools import partial
        >>> from torchmath.callbacks import Augmentation
        >>> from torchmath.learning_theory import add_gaussian_noise
        >>> aug = Augmentation(partial(add_gaussian_noise, std=0.1), targets=None)
    """

    def __init__(self, fn: Callable[..., Any], *, inputs: int | str = 0,
                 targets: int | str | None = 1):
        super().__init__()
        if not callable(fn):
            raise fail("Augmentation", "fn", "a callable", type(fn).__name__, TypeError)
        self.fn, self.inputs, self.targets = fn, inputs, targets

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if isinstance(batch, Tensor) and self.targets is None:
            batch.copy_(self.fn(batch))
            return
        if not isinstance(batch, list | dict):
            raise fail("Augmentation", "batch", "a list or dict (updated in place)",
                       type(batch).__name__, TypeError)
        if self.targets is None:
            batch[self.inputs] = self.fn(batch[self.inputs])
        else:
            batch[self.inputs], batch[self.targets] = self.fn(batch[self.inputs],
                                                              batch[self.targets])


class KLAnnealing(Callback):
    r"""Schedule a weight attribute of the LightningModule (the ELBO's KL weight).

    .. math::
        \beta_e = \beta_0 + (\beta_1 - \beta_0)\, g(\min(e / E, 1))

    set before every training epoch (``by="epoch"``) or batch (``by="step"``, with the
    global step for :math:`e`), with :math:`g` of
    :func:`torchmath.learning_theory.annealed_weight`. Source: Bowman et al. (2016).

    Args:
        attr: name of the module's attribute (it must exist, e.g. ``self.beta = 0.0``);
            a dotted path reaches a submodule's attribute (``"vae.beta"`` for a
            :class:`~torchmath.information.VAE` held as ``self.vae``).
        start, end: :math:`\beta_0`, :math:`\beta_1`.
        n_epochs: :math:`E`, the length of the ramp (epochs, or steps with ``by="step"``).
        kind: ``"linear"``, ``"cosine"`` or ``"sigmoid"``.
        by: ``"epoch"`` or ``"step"``.
        cycles: repeat the ramp (cyclical annealing).

    Raises:
        ValueError: bad schedule arguments. AttributeError: the module has no ``attr``.

    Example:
        >>> from torchmath.callbacks import KLAnnealing
        >>> KLAnnealing("beta", 0.0, 1.0, n_epochs=10).value(5)
        0.5
    """

    def __init__(self, attr: str = "beta", start: float = 0.0, end: float = 1.0,
                 n_epochs: int = 10, *, kind: str = "linear", by: str = "epoch",
                 cycles: int = 1):
        super().__init__()
        check_choice("KLAnnealing", "by", by, ("epoch", "step"))
        annealed_weight(0, start, end, n_epochs, kind=kind, cycles=cycles)  # validates
        self.attr, self.start, self.end, self.n_epochs = attr, start, end, n_epochs
        self.kind, self.by, self.cycles = kind, by, cycles

    def value(self, t: int) -> float:
        """The weight at epoch (or step) ``t``."""
        return annealed_weight(t, self.start, self.end, self.n_epochs, kind=self.kind,
                               cycles=self.cycles)

    def _owner(self, pl_module: pl.LightningModule) -> tuple[Any, str]:
        """The object holding the attribute and its last name: ``"vae.beta"`` is the
        ``beta`` of the submodule ``pl_module.vae`` (a dotted path, as ``get_submodule``)."""
        *path, name = self.attr.split(".")
        owner = pl_module
        for part in path:
            if not hasattr(owner, part):
                raise AttributeError(f"KLAnnealing: expected 'attr' to name an attribute of "
                                     f"{type(pl_module).__name__}, got '{self.attr}' (no "
                                     f"'{part}')")
            owner = getattr(owner, part)
        if not hasattr(owner, name):
            raise AttributeError(f"KLAnnealing: expected 'attr' to name an attribute of "
                                 f"{type(pl_module).__name__}, got '{self.attr}'")
        return owner, name

    def _set(self, pl_module: pl.LightningModule, t: int) -> None:
        owner, name = self._owner(pl_module)
        setattr(owner, name, self.value(t))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._owner(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.by == "epoch":
            self._set(pl_module, trainer.current_epoch)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if self.by == "step":
            self._set(pl_module, trainer.global_step)
