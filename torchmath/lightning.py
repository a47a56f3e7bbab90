"""Fit torchmath estimators inside a PyTorch Lightning ``Trainer`` (one or many processes).

A thin shell on top of the areas: it hands the Trainer's (sharded) training DataLoader to
the estimator's ``fit``, so under ``strategy="ddp"`` each process reads its own shard, the
estimator all-reduces its sufficient statistics, and every rank ends with the model of all
the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from torchmath._validation import fail

__all__ = ["EstimatorModule"]


class _OnDevice:
    """Re-iterable view of a DataLoader whose tensors are moved to ``device``."""

    def __init__(self, loader: Iterable, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            if isinstance(batch, torch.Tensor):
                yield batch.to(self.device)
            else:
                yield type(batch)(t.to(self.device) for t in batch)


class EstimatorModule(pl.LightningModule):
    """Drive ``estimator.fit`` from a Lightning ``Trainer``.

    ``trainer.fit(EstimatorModule(est), train_dataloaders=loader)`` calls
    ``est.fit(loader_on_device, **fit_kwargs)`` once, at the start of the first epoch,
    then stops the Trainer: the fit itself makes as many passes over the loader as it
    needs (one for closed-form estimators, one per EM iteration for mixtures). Under a
    DDP strategy Lightning gives each process a ``DistributedSampler`` shard and the
    estimator synchronizes its statistics, so every rank (and, with ``ddp_spawn``, the
    main process) holds the whole-data model. ``trainer.predict`` calls
    ``estimator.predict`` (or ``forward``) on each batch's inputs.

    Note:
        ``DistributedSampler`` pads the data by repeating a few samples so every process
        gets the same number; for an exact whole-data fit use a dataset whose length is
        a multiple of the number of processes, or pass ``use_distributed_sampler=False``
        to the Trainer with loaders that you shard yourself.

        PyTorch's ``DistributedDataParallel`` refuses modules without a trainable
        parameter, so this module carries one unused scalar, ``_ddp_anchor``.

    Args:
        estimator: a torchmath estimator whose ``fit`` accepts an iterable of batches.
        fit_kwargs: extra keyword arguments for ``fit``.

    Shape:
        the batches are what the estimator's ``fit`` takes: ``X`` ``(B, d)`` or
        ``(X, y)`` pairs with ``y`` ``(B,)`` or ``(B, k)``.

    Raises:
        TypeError: ``estimator`` has no ``fit`` method.

    Example:
        >>> import torch, pytorch_lightning as pl
        >>> from torchmath.linalg import LinearRegression
        >>> X = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0]],
        ...                  dtype=torch.float64)
        >>> y = X @ torch.tensor([1.0, 2.0], dtype=torch.float64) + 3
        >>> loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y),
        ...                                      batch_size=3)
        >>> est = LinearRegression()
        >>> trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False,
        ...                      enable_checkpointing=False, enable_progress_bar=False,
        ...                      enable_model_summary=False)
        >>> trainer.fit(EstimatorModule(est), train_dataloaders=loader)
        >>> est.coef.round(decimals=6), est.intercept.round(decimals=6)
        (tensor([1., 2.], dtype=torch.float64), tensor(3., dtype=torch.float64))
    """

    def __init__(self, estimator: nn.Module, *, fit_kwargs: dict[str, Any] | None = None):
        super().__init__()
        if not callable(getattr(estimator, "fit", None)):
            raise fail("EstimatorModule", "estimator", "a torchmath estimator with a fit method",
                       type(estimator).__name__, TypeError)
        self.estimator = estimator
        self.fit_kwargs = dict(fit_kwargs or {})
        self.automatic_optimization = False
        self._ddp_anchor = nn.Parameter(torch.zeros(()))

    def configure_optimizers(self):
        return []  # nothing is trained by gradient: the estimator fits in closed form / EM

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        self.estimator.fit(_OnDevice(loader, self.device), **self.fit_kwargs)
        self.trainer.should_stop = True

    def training_step(self, batch, batch_idx):  # pragma: no cover - the Trainer stops first
        return None

    def forward(self, *args, **kwargs):
        return self.estimator(*args, **kwargs)

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        X = batch if isinstance(batch, torch.Tensor) else batch[0]
        predict = getattr(self.estimator, "predict", None) or self.estimator
        return predict(X)
