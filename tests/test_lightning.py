"""EstimatorModule: fitting torchmath estimators from a Lightning Trainer, 1 and 2 processes."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchmath._estimator import Estimator
from torchmath.lightning import EstimatorModule
from torchmath.linalg import ScatterMatrix


class _MeanCov(Estimator):
    """Streaming mean and covariance through ScatterMatrix (a closed-form estimator)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.empty(0))
        self.register_buffer("covariance", torch.empty(0))

    def fit(self, data, *, sync=None):
        acc = None
        for (X,) in ((b,) if isinstance(b, torch.Tensor) else tuple(b) for b in data):
            acc = acc or ScatterMatrix(X.shape[-1], dtype=X.dtype)
            acc.update(X)
        acc.all_reduce(sync=sync)
        self.mean, self.covariance = acc.mean, acc.covariance(1)
        self._mark_fitted()
        return self

    def predict(self, X):
        self._check_fitted("predict")
        return X - self.mean


def _trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, **kwargs)


def _data(n=40):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) * 5 + 2


def test_single_process_fit_and_predict_equal_direct_fit():
    X = _data()
    est = _MeanCov()
    module = EstimatorModule(est)
    trainer = _trainer(devices=1)
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(X), batch_size=7))
    direct = _MeanCov().fit([X])
    torch.testing.assert_close(est.mean, direct.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(est.covariance, direct.covariance, rtol=1e-12, atol=1e-12)
    preds = trainer.predict(module, DataLoader(TensorDataset(X), batch_size=16))
    torch.testing.assert_close(torch.cat(preds), X - direct.mean)


def test_ddp_spawn_two_processes_give_the_whole_data_fit():
    X = _data(42)  # divisible by 2: DistributedSampler adds no padding
    module = EstimatorModule(_MeanCov())
    trainer = _trainer(devices=2, strategy="ddp_spawn")
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(X), batch_size=5))
    direct = _MeanCov().fit([X])
    # ddp_spawn sends rank 0's state back to this process: it must be the all-data fit.
    torch.testing.assert_close(module.estimator.mean, direct.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(module.estimator.covariance, direct.covariance, rtol=1e-12,
                               atol=1e-12)


def test_rejects_objects_without_fit():
    with pytest.raises(TypeError, match="EstimatorModule: expected 'estimator'"):
        EstimatorModule(torch.nn.Linear(2, 2))
