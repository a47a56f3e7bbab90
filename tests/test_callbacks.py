"""torchmath.callbacks in real Lightning Trainers (tiny models, CPU, one batch per epoch)."""

from __future__ import annotations

import math
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import assert_raises_naming
from torchmath.callbacks import Augmentation, EarlyStopping, KLAnnealing, MCDropoutPrediction
from torchmath.learning_theory import mixup

TABLE = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0, 0.5, 0.4, 0.3, 0.2]


def loader(n=4, d=2, classes=None):
    x = torch.linspace(-1, 1, n * d).reshape(n, d)
    tensors = (x,) if classes is None else (x, torch.arange(n) % classes)
    return DataLoader(TensorDataset(*tensors), batch_size=n)


class TableModule(pl.LightningModule):
    """Logs ``val_loss = table[epoch]`` (per rank: ``tables[rank]``); SGD moves ``w`` each
    epoch, and the weights seen at each validation are recorded."""

    def __init__(self, tables, name="val_loss"):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.tables, self.name = tables, name
        self.seen: dict[int, torch.Tensor] = {}
        self.result: dict = {}

    def training_step(self, batch, batch_idx):
        return (batch[0] @ self.w - 1).square().mean() + (self.w - 3).square().sum()

    def validation_step(self, batch, batch_idx):
        table = self.tables[self.global_rank % len(self.tables)]
        self.seen[self.current_epoch] = self.w.detach().clone()
        self.log(self.name, table[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):  # runs after the callbacks' on_train_end
        es = next(c for c in self.trainer.callbacks if isinstance(c, EarlyStopping))
        self.result = {"rank": self.global_rank, "stopped_epoch": es.stopped_epoch,
                       "best_epoch": es.best_epoch, "best_score": es.best_score,
                       "w": self.w.detach().clone(), "current_epoch": self.current_epoch}
        if self.trainer.world_size > 1:
            torch.save(self.result, f"{self.trainer.default_root_dir}/rank{self.global_rank}.pt")


def trainer(callbacks, max_epochs=10, **kw):
    kw.setdefault("enable_checkpointing", False)
    return pl.Trainer(max_epochs=max_epochs, callbacks=callbacks, accelerator="cpu",
                      devices=kw.pop("devices", 1), logger=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, **kw)


def fit(module, callbacks, ckpt_path=None, **kw):
    trainer(callbacks, **kw).fit(module, loader(), loader(), ckpt_path=ckpt_path)
    return module


def test_loss_table_pins_stop_epoch_and_best_weights_are_restored():
    es = EarlyStopping("val_loss", patience=2)
    module = fit(TableModule([TABLE]), [es])
    # best 3.0 at epoch 2; epochs 3 and 4 do not improve: stop at epoch 4
    assert es.stopped_epoch == 4 and es.best_epoch == 2 and es.best_score == 3.0
    assert max(module.seen) == 4
    assert torch.equal(module.w.detach(), module.seen[2])
    assert not torch.equal(module.seen[4], module.seen[2])
    assert "no improvement" in es.stop_reason


def test_restores_best_weights_when_max_epochs_ends_training():
    es = EarlyStopping("val_loss", patience=5)
    module = fit(TableModule([[3.0, 1.0, 2.0]]), [es], max_epochs=3)
    assert es.stopped_epoch == 0 and es.best_epoch == 1
    assert torch.equal(module.w.detach(), module.seen[1])


def test_checkpoint_resume_keeps_best_score_and_weights(tmp_path):
    table = [5.0, 3.0, 4.0, 3.5, 3.2, 3.1, 0.1]
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = TableModule([table])
    es1 = EarlyStopping("val_loss", patience=3, restore_best_weights=False)
    fit(first, [es1, ckpt], max_epochs=3, enable_checkpointing=True)
    assert es1.best_epoch == 1 and es1.best_score == 3.0
    es2 = EarlyStopping("val_loss", patience=3)
    ckpt2 = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    second = fit(TableModule([table]), [es2, ckpt2], ckpt_path=str(tmp_path / "last.ckpt"),
                 enable_checkpointing=True)
    # resumed at epoch 3: epochs 2, 3, 4 did not improve on the best of run one
    assert es2.best_score == 3.0 and es2.best_epoch == 1 and es2.stopped_epoch == 4
    assert 1 not in second.seen  # the resumed run never saw epoch 1 ...
    assert torch.equal(second.w.detach(), first.seen[1])  # ... yet restores its weights


def test_missing_metric_names_it_and_lists_logged_ones():
    es = EarlyStopping("val_acc", patience=2)
    err = assert_raises_naming(RuntimeError, lambda: fit(TableModule([TABLE]), [es]),
                               "val_acc", "val_loss")
    assert "never logged" in str(err)


def test_nan_metric_stops_training_with_a_message(caplog):
    es = EarlyStopping("val_loss", patience=5)
    with caplog.at_level("WARNING", logger="torchmath.callbacks"):
        module = fit(TableModule([[2.0, 1.0, math.nan, 0.5, 0.1]]), [es])
    assert es.stopped_epoch == 2 and "nan" in es.stop_reason.lower()
    assert "val_loss" in caplog.text and "nan" in caplog.text.lower()
    assert torch.equal(module.w.detach(), module.seen[1])


def test_state_key_and_bad_arguments():
    assert EarlyStopping("a").state_key != EarlyStopping("a", mode="max").state_key
    assert_raises_naming(ValueError, lambda: EarlyStopping("val_loss", patience=-1),
                         "patience")
    assert_raises_naming(ValueError, lambda: EarlyStopping("val_loss", mode="up"), "mode")
    assert_raises_naming(ValueError, lambda: MCDropoutPrediction(1), "n_samples")
    assert_raises_naming(ValueError, lambda: KLAnnealing("beta", n_epochs=0), "n_steps")


def test_ddp_spawn_every_rank_stops_together(tmp_path):
    # rank 0 alone would stop at epoch 4, rank 1 alone would improve through epoch 5;
    # the callback decides on the mean over ranks: [5, 4, 3, 3, 3, ...] -> stop at epoch 4
    tables = [[5.0, 4.0, 3.0, 3.5, 3.4, 3.3, 3.2], [5.0, 4.0, 3.0, 2.5, 2.6, 2.0, 1.0]]
    es = EarlyStopping("val_loss", patience=2)
    module = TableModule(tables)
    trainer([es], strategy="ddp_spawn", devices=2, default_root_dir=str(tmp_path)).fit(
        module, loader(), loader())
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["stopped_epoch"] for r in results] == [4, 4]
    assert [r["best_epoch"] for r in results] == [2, 2]
    assert torch.equal(results[0]["w"], results[1]["w"])


class DropoutModule(pl.LightningModule):
    def __init__(self, p):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 1))

    def predict_step(self, batch, batch_idx):
        return self.net(batch[0])


def test_mc_dropout_prediction_returns_mean_and_variance():
    torch.manual_seed(0)
    variances = []
    for p in (0.5, 0.1, 0.0):
        module = DropoutModule(p)
        out = trainer([MCDropoutPrediction(n_samples=40)]).predict(module, loader())
        mean, var = out[0]
        assert mean.shape == var.shape == (4, 1)
        variances.append(float(var.mean()))
        assert "predict_step" not in module.__dict__  # the method is back
    assert variances[0] > variances[1] > 0 and variances[2] == 0


class AugmentedModule(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.beta = -1.0
        self.betas, self.targets = [], []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.betas.append(self.beta)
        self.targets.append(y)
        return -(y * torch.log_softmax(self.lin(x), -1)).sum(-1).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_augmentation_and_kl_annealing_in_one_fit():
    module = AugmentedModule()
    aug = Augmentation(partial(mixup, alpha=0.4, num_classes=3,
                               generator=torch.Generator().manual_seed(0)))
    pl_trainer = trainer([aug, KLAnnealing("beta", 0.0, 1.0, n_epochs=4)], max_epochs=6,
                         limit_val_batches=0)
    pl_trainer.fit(module, loader(classes=3))
    assert module.betas == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    for y in module.targets:  # soft mixup labels reached training_step
        assert y.shape == (4, 3) and torch.allclose(y.sum(-1), torch.ones(4))


def test_kl_annealing_needs_the_attribute():
    with pytest.raises(AttributeError, match="nope"):
        trainer([KLAnnealing("nope")], max_epochs=1, limit_val_batches=0).fit(
            AugmentedModule(), loader(classes=3))


def test_kl_annealing_reaches_a_submodule_attribute():
    # issue 15: torchmath's own VAE.beta inside a LightningModule
    from types import SimpleNamespace

    from torchmath.information import VAE

    class Holder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.vae = VAE(latent_dim=2, input_dim=3, hidden=(4,), beta=0.0)

    module = Holder()
    cb = KLAnnealing("vae.beta", 0.0, 1.0, n_epochs=4)
    cb.on_fit_start(None, module)
    cb.on_train_epoch_start(SimpleNamespace(current_epoch=2), module)
    assert module.vae.beta == 0.5
    step = KLAnnealing("vae.beta", 0.0, 1.0, n_epochs=4, by="step")
    step.on_train_batch_start(SimpleNamespace(global_step=1), module, None, 0)
    assert module.vae.beta == 0.25
    with pytest.raises(AttributeError, match="vae.nope"):
        KLAnnealing("vae.nope").on_fit_start(None, module)
    with pytest.raises(AttributeError, match="no 'enc'"):
        KLAnnealing("enc.beta").on_fit_start(None, module)
