r"""Bias–variance decomposition by bootstrap, for squared and 0-1 loss.

The training set is resampled ``n_rounds`` times; a model is fitted on each resample and
predicts the test points. The spread of those predictions is the *variance*; the gap
between their centre and the target is the *bias*. When the model is a torch module
(described by :class:`TorchModel`), all bootstrap models are trained together as one
batched model with :func:`torch.func.stack_module_state` and :func:`torch.func.vmap`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from torchmath._validation import (
    check_choice,
    check_floating,
    check_int,
    check_positive,
    check_same_size,
    check_tensor,
    fail,
    promote,
)

__all__ = ["BiasVariance", "TorchModel", "bias_variance_decomposition",
           "bias_variance_from_predictions"]


class BiasVariance(NamedTuple):
    """What :func:`bias_variance_decomposition` returns (a ``NamedTuple`` of 0-d tensors).

    Attributes:
        expected_loss: mean over test points and bootstrap rounds of the loss to ``y_test``.
        bias_squared: the (squared) bias, averaged over test points.
        variance: the variance of the predictions, averaged over test points.
        net_variance: the variance term that enters the identity (equal to ``variance``
            for the squared loss; Domingos's signed variance for the 0-1 loss).
        noise: the noise term when ``y_true`` was given, else ``None``.
    """

    expected_loss: Tensor
    bias_squared: Tensor
    variance: Tensor
    net_variance: Tensor
    noise: Tensor | None


def bias_variance_from_predictions(predictions: Tensor, y_test: Tensor, *, loss: str = "mse",
                                   y_true: Tensor | None = None) -> BiasVariance:
    r"""Decompose the expected loss of a set of models' predictions.

    **Squared loss** (``loss="mse"``), with :math:`\bar f(x) = \frac1R\sum_r f_r(x)` and
    target :math:`t` (``y_true`` when given, else ``y_test``):

    .. math::
        \frac1R\sum_r (y - f_r)^2 = (y - \bar f)^2 + \frac1R \sum_r (f_r - \bar f)^2

    exactly (to rounding) when ``y_true`` is not given: ``expected_loss = bias_squared +
    variance``. With ``y_true`` :math:`= \mathbb E[y|x]`, ``bias_squared`` is
    :math:`(t - \bar f)^2`, ``noise`` is :math:`(y - t)^2`, and
    ``expected_loss = bias_squared + variance + noise`` holds in expectation over the test
    noise (Geman, Bienenstock & Doursat 1992).

    **0-1 loss** (``loss="0-1"``, integer class predictions), Domingos (2000): main
    prediction :math:`y_m = \mathrm{mode}_r f_r(x)` (ties to the smallest class), bias
    :math:`B = 1[y_m \ne t]`, variance :math:`V = P_r(f_r \ne y_m)`, and

    .. math::
        P_r(f_r \ne t) = B + c V,\qquad c = \begin{cases} 1 & B = 0 \\
        -P_r(f_r = t \mid f_r \ne y_m) & B = 1 \end{cases}

    exactly, per point; averaged, ``expected_loss = bias_squared + net_variance`` with
    ``net_variance`` the mean of :math:`cV` (``bias_squared`` is the mean of :math:`B = B^2`).
    With ``y_true`` (the Bayes-optimal label) ``noise`` is :math:`P(y \ne t)` and the
    identity holds in expectation over the noise in the two-class case.

    Args:
        predictions: ``(R, n_test, ...)`` predictions of ``R`` models (floating for
            ``"mse"``; integer labels ``(R, n_test)`` for ``"0-1"``).
        y_test: ``(n_test, ...)`` observed test targets.
        loss: ``"mse"`` or ``"0-1"``.
        y_true: ``(n_test, ...)`` noise-free targets, if known (synthetic data).

    Shape:
        every returned field is a 0-d tensor.

    Returns:
        :class:`BiasVariance`.

    Raises:
        ValueError: unknown ``loss``, or shapes that do not match.

    Example:
        >>> preds = torch.tensor([[1.0, 2.0], [3.0, 2.0]])  # 2 models, 2 test points
        >>> r = bias_variance_from_predictions(preds, torch.tensor([2.0, 0.0]))
        >>> r.expected_loss, r.bias_squared, r.variance
        (tensor(2.5000), tensor(2.), tensor(0.5000))

    Source: Geman, Bienenstock & Doursat (1992) (squared loss); Domingos (2000), "A
    unified bias-variance decomposition" (0-1 loss).
    """
    fn = "bias_variance_from_predictions"
    check_choice(fn, "loss", loss, ("mse", "0-1"))
    check_tensor(fn, "predictions", predictions)
    check_tensor(fn, "y_test", y_test)
    if predictions.dim() < 1 or predictions.shape[1:] != y_test.shape:
        raise fail(fn, "predictions", f"of shape (R, {', '.join(map(str, y_test.shape))}) "
                   "to match 'y_test'", tuple(predictions.shape))
    if y_true is not None and y_true.shape != y_test.shape:
        raise fail(fn, "y_true", f"of the shape of 'y_test' {tuple(y_test.shape)}",
                   tuple(y_true.shape))
    target = y_test if y_true is None else y_true
    if loss == "mse":
        check_floating(fn, "predictions", predictions)
        (predictions, y_test, target), _ = promote(predictions, y_test, target)
        y_true = None if y_true is None else target
        mean = predictions.mean(0)
        variance = (predictions - mean).square().mean(0).mean()
        bias_sq = (target - mean).square().mean()
        expected = (y_test - predictions).square().mean()
        noise = None if y_true is None else (y_test - y_true).square().mean()
        return BiasVariance(expected, bias_sq, variance, variance, noise)
    if predictions.is_floating_point():
        raise fail(fn, "predictions", "integer class labels for loss='0-1'",
                   predictions.dtype, TypeError)
    main = torch.mode(predictions, dim=0).values
    float_dtype = torch.get_default_dtype()
    bias = (main != target).to(float_dtype)
    var = (predictions != main).to(float_dtype).mean(0)
    hit_target = (predictions == target).to(float_dtype).mean(0)
    net = torch.where(bias > 0, -hit_target, var)
    expected = (predictions != y_test).to(float_dtype).mean()
    noise = None if y_true is None else (y_test != y_true).to(float_dtype).mean()
    return BiasVariance(expected, bias.mean(), var.mean(), net.mean(), noise)


_LOSSES = {
    "mse": lambda out, y: F.mse_loss(out.reshape(y.shape), y),
    "cross_entropy": F.cross_entropy,
}


class TorchModel:
    r"""How to build and train a torch model, so that bootstrap models train together.

    ``bias_variance_decomposition(TorchModel(...), ...)`` builds ``n_rounds`` copies of
    ``factory()`` (initialized from the decomposition's seed), stacks their parameters
    with :func:`torch.func.stack_module_state`, and trains all of them at once: one
    :func:`torch.func.vmap` of :func:`torch.func.functional_call` over the stacked
    parameters and the stacked bootstrap samples, full-batch, for ``epochs`` steps of
    ``optimizer``. Element-wise optimizers (Adam, SGD) on the stacked parameters take
    exactly the steps each model would take alone, so ``vectorize=False`` (one model
    after another, the reference and the benchmark's peer) gives the same models.

    .. math::
        \theta_r \leftarrow \mathrm{step}\left(\theta_r, \nabla_{\theta_r}
        \frac1n\sum_i \ell(f_{\theta_r}(x_{ri}), y_{ri})\right),\quad r = 1..R
        \text{ in one batched call}

    Args:
        factory: ``() -> nn.Module``; called once per bootstrap round.
        loss: ``"mse"``, ``"cross_entropy"`` or a callable ``(output, target) -> scalar``.
        optimizer: a ``torch.optim.Optimizer`` class (default ``torch.optim.Adam``).
        lr: learning rate.
        epochs: full-batch gradient steps.
        vectorize: train all models together (``True``) or one after another.
        classify: predictions are ``argmax`` class labels (for the 0-1 loss); default:
            ``loss == "cross_entropy"``.

    Raises:
        TypeError: ``factory`` is not callable.
        ValueError: an unknown ``loss`` name, a non-positive ``lr`` or a negative
            ``epochs``.

    Example:
        >>> spec = TorchModel(lambda: torch.nn.Linear(1, 1), lr=0.1, epochs=5)
        >>> X = torch.randn(8, 1); y = 2 * X[:, 0]
        >>> spec.fit_predict_many(X.expand(3, 8, 1), y.expand(3, 8), X[:2], seed=0).shape
        torch.Size([3, 2])
    """

    def __init__(self, factory: Callable[[], nn.Module], *, loss: str | Callable = "mse",
                 optimizer: type[torch.optim.Optimizer] = torch.optim.Adam, lr: float = 1e-2,
                 epochs: int = 100, vectorize: bool = True, classify: bool | None = None):
        fn = "TorchModel"
        if not callable(factory):
            raise fail(fn, "factory", "a callable returning an nn.Module",
                       type(factory).__name__, TypeError)
        if isinstance(loss, str):
            check_choice(fn, "loss", loss, tuple(_LOSSES))
        check_positive(fn, "lr", lr)
        check_int(fn, "epochs", epochs, minimum=0)
        self.factory = factory
        self.loss = loss
        self.loss_fn = _LOSSES[loss] if isinstance(loss, str) else loss
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.vectorize = vectorize
        self.classify = (loss == "cross_entropy") if classify is None else classify

    def _models(self, n: int, seed: int, device) -> list[nn.Module]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [self.factory().to(device) for _ in range(n)]

    def fit_predict_many(self, X_boot: Tensor, y_boot: Tensor, X_test: Tensor, *,
                         seed: int = 0) -> Tensor:
        """Train one model per leading index of ``X_boot``/``y_boot`` and predict ``X_test``.

        Shape:
            ``X_boot`` ``(R, n, ...)``, ``y_boot`` ``(R, n, ...)``, ``X_test``
            ``(n_test, ...)``; returns ``(R, n_test, ...)`` outputs (labels when
            ``classify``; a trailing output dimension of size 1 is dropped).
        """
        models = self._models(X_boot.shape[0], seed, X_boot.device)
        if self.vectorize:
            out = self._train_vectorized(models, X_boot, y_boot, X_test)
        else:
            out = self._train_sequential(models, X_boot, y_boot, X_test)
        if self.classify:
            return out.argmax(-1)
        return out.squeeze(-1) if out.shape[-1] == 1 else out

    def _train_vectorized(self, models, X_boot, y_boot, X_test) -> Tensor:
        params, buffers = stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")
        loss_fn = self.loss_fn

        def one_loss(p, b, x, y):
            return loss_fn(functional_call(base, (p, b), (x,)), y)

        batched_loss = vmap(one_loss)
        opt = self.optimizer(list(params.values()), lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad(set_to_none=True)
            # models are independent: the gradient of the sum is each model's own gradient
            batched_loss(params, buffers, X_boot, y_boot).sum().backward()
            opt.step()
        with torch.no_grad():
            return vmap(lambda p, b: functional_call(base, (p, b), (X_test,)))(params, buffers)

    def _train_sequential(self, models, X_boot, y_boot, X_test) -> Tensor:
        outs = []
        for model, x, y in zip(models, X_boot, y_boot, strict=True):
            opt = self.optimizer(model.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                opt.zero_grad(set_to_none=True)
                self.loss_fn(model(x), y).backward()
                opt.step()
            with torch.no_grad():
                outs.append(model(X_test))
        return torch.stack(outs)


def bias_variance_decomposition(fit_predict: Callable[[Tensor, Tensor, Tensor], Tensor]
                                | TorchModel, X_train: Tensor, y_train: Tensor,
                                X_test: Tensor, y_test: Tensor, *, n_rounds: int = 200,
                                loss: str = "mse", generator: int | torch.Generator = 0,
                                y_true: Tensor | None = None) -> BiasVariance:
    r"""Bias–variance decomposition of a learning algorithm's expected test loss, by
    bootstrap resampling of the training set.

    .. math::
        \mathbb E_D\,\ell(y, f_D(x)) = \mathrm{bias}^2 + \mathrm{variance}
        \ [+\ \mathrm{noise}]

    where :math:`D` ranges over ``n_rounds`` bootstrap resamples (drawn with replacement,
    of the training set's size) — the identities and the 0-1 loss's decomposition
    (Domingos 2000) are those of :func:`bias_variance_from_predictions`. Source:
    Geman, Bienenstock & Doursat (1992); Domingos (2000), "A Unified Bias-Variance
    Decomposition"; bootstrap estimation as in Efron & Tibshirani (1993).

    Args:
        fit_predict: either a callable ``(X_boot, y_boot, X_test) -> predictions`` called
            once per round, or a :class:`TorchModel`, whose models are all trained together
            with ``vmap``.
        X_train, y_train: ``(n, ...)`` training data.
        X_test, y_test: ``(n_test, ...)`` test data.
        n_rounds: number of bootstrap rounds ``R``.
        loss: ``"mse"`` or ``"0-1"`` (integer class predictions).
        generator: the resampling's randomness: an int seeds it (the default, so results
            repeat), a ``torch.Generator`` is drawn from (one draw gives the seed of the
            resampling and of a :class:`TorchModel`'s initializations).
        y_true: noise-free test targets, when known, to separate the noise.

    Shape:
        every returned field is a 0-d tensor.

    Returns:
        :class:`BiasVariance` (``expected_loss``, ``bias_squared``, ``variance``,
        ``net_variance``, ``noise``).

    Raises:
        ValueError: unknown ``loss``, ``n_rounds < 1``, mismatched sizes, a ``generator``
            that is neither an int nor a ``torch.Generator``.

    Example:
        >>> X = torch.linspace(0, 1, 20).unsqueeze(-1); y = 3 * X[:, 0]
        >>> mean_model = lambda Xb, yb, Xt: yb.mean().expand(Xt.shape[0])
        >>> r = bias_variance_decomposition(mean_model, X, y, X, y, n_rounds=50)
        >>> bool(torch.isclose(r.expected_loss, r.bias_squared + r.variance))
        True
    """
    fn = "bias_variance_decomposition"
    check_choice(fn, "loss", loss, ("mse", "0-1"))
    check_int(fn, "n_rounds", n_rounds, minimum=1)
    if isinstance(generator, torch.Generator):
        seed = int(torch.randint(2**62, (), generator=generator))
    else:
        check_int(fn, "generator", generator)
        seed = generator
    for name, t in (("X_train", X_train), ("y_train", y_train), ("X_test", X_test),
                    ("y_test", y_test)):
        check_tensor(fn, name, t)
    check_same_size(fn, ["X_train", "y_train"], [X_train, y_train])
    check_same_size(fn, ["X_test", "y_test"], [X_test, y_test])
    n = X_train.shape[0]
    if n < 1:
        raise fail(fn, "X_train", "at least one row", 0)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(n, (n_rounds, n), generator=gen).to(X_train.device)
    if isinstance(fit_predict, TorchModel):
        preds = fit_predict.fit_predict_many(X_train[idx], y_train[idx], X_test, seed=seed)
    elif callable(fit_predict):
        preds = torch.stack([torch.as_tensor(fit_predict(X_train[i], y_train[i], X_test),
                                             device=X_test.device) for i in idx])
    else:
        raise fail(fn, "fit_predict", "a callable or a TorchModel", type(fit_predict).__name__,
                   TypeError)
    return bias_variance_from_predictions(preds, y_test, loss=loss, y_true=y_true)
