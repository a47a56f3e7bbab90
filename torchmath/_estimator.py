"""The base class of torchmath's estimators: one contract, held in one place.

An estimator is an ``nn.Module`` whose learned values are registered buffers (so
``.to(device)``, ``state_dict()`` and DDP broadcasting work unchanged) and whose settings
are plain attributes named as the arguments of ``__init__``. The base does the shared
work once, declaratively, as scikit-learn's ``BaseEstimator`` does (without its NumPy
coercion): see :class:`Estimator`.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from torchmath._validation import check_finite, check_floating, fail

__all__ = ["ConvergenceWarning", "Estimator", "NotFittedError"]


class NotFittedError(RuntimeError):
    """Raised when an estimator is used before ``fit``."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at ``max_iter`` before meeting its tolerance.

    Raised by every iterative estimator (``GaussianMixture``, ``LogisticRegression``,
    ``Lasso``, ``ElasticNet``, ``BayesianLinearRegression(fit_hyperparameters=True)``),
    which also record ``n_iter`` and ``converged``. Silence it with
    ``warnings.simplefilter("ignore", torchmath.ConvergenceWarning)``.
    """


def _same(a: Any, b: Any) -> bool:
    """Equality of two settings (tensors by value, on the CPU; NaN equals NaN)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            return False
        a, b = a.detach().cpu(), b.detach().cpu()
        return a.shape == b.shape and a.dtype == b.dtype and \
            bool(torch.equal(a, b) or (a.is_floating_point() and torch.allclose(
                a, b, rtol=0, atol=0, equal_nan=True)))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError, RuntimeError):  # pragma: no cover - exotic settings
        return a is b


def _portable(value: Any) -> Any:
    """A setting as ``torch.load(weights_only=True)`` can read it back."""
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, tuple):
        return [_portable(v) for v in value]
    return value


def _short(value: Any) -> str:
    if isinstance(value, Tensor):
        if value.numel() <= 6:
            return f"tensor({value.detach().cpu().tolist()})"
        return f"tensor(shape={tuple(value.shape)})"
    return repr(value)


class Estimator(nn.Module):
    """Base of every torchmath estimator.

    The contract, implemented here once:

    - **Settings** are the arguments of ``__init__``, stored unchanged as attributes of
      the same name (validated, never rewritten). :meth:`get_params` and
      :meth:`set_params` read and write them (so ``sklearn.base.clone`` works), and the
      ``repr`` shows those that differ from their defaults.
    - **Fitted values** are buffers, declared once in ``_fitted_buffers`` (registered
      empty here; their shape is known only after ``fit``). A freshly constructed
      estimator can ``load_state_dict`` a fitted one's state: empty buffers take the
      saved shape and dtype.
    - The settings named in ``_state_settings`` (those that shape the fitted state) travel
      in ``state_dict`` as extra state, and ``load_state_dict`` refuses a state fitted
      under other values with a ``ValueError`` naming the estimator and the setting.
    - Use before ``fit`` raises :class:`NotFittedError`. Whether the model is fitted is a
      Python flag, so no method costs a host sync for it.
    - **Inputs of another dtype or device** (to ``predict``, ``transform``,
      ``score_samples``, ``score``, ...) are cast to the model's dtype and moved to its
      device, in every estimator; the result is on the model's device in its dtype,
      differentiable in the input. Non-floating inputs are a ``TypeError``; a wrong
      feature count a ``ValueError``; while validation is on
      (:func:`torchmath.set_validate_args`), NaN or inf entries a ``ValueError`` naming
      the method and the argument. With validation off nothing syncs with the device.
    - Iterative fits that stop at ``max_iter`` warn with :class:`ConvergenceWarning`.

    Subclasses write ``__init__`` (validate, store the settings, ``super().__init__()``
    first), ``fit`` (data through :class:`torchmath._batches.Intake`, then
    :meth:`_mark_fitted`) and the methods that use the model (through :meth:`_input`).
    """

    #: Buffers holding the learned values, registered empty by ``__init__``.
    _fitted_buffers: tuple[str, ...] = ()
    #: Settings that shape the fitted state: saved in ``state_dict`` and checked on load.
    _state_settings: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._is_fitted = False
        for name in self._fitted_buffers:
            self.register_buffer(name, torch.empty(0))

    # -- settings ----------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and
                p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings, as passed to ``__init__`` (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Change settings (validated as ``__init__`` validates them); returns ``self``.

        Changing a setting that shapes the fitted state (``_state_settings``) discards the
        fitted values, so the model is unfitted until the next ``fit``.
        """
        names = self._param_names()
        for key in params:
            if key not in names:
                raise fail(f"{type(self).__name__}.set_params", key,
                           f"to be one of the settings {names}", "an unknown name")
        merged = {**self.get_params(), **params}
        type(self)(**merged)  # the constructor's own checks, one wording
        reset = any(key in self._state_settings and not _same(getattr(self, key), value)
                    for key, value in params.items())
        for key, value in params.items():
            setattr(self, key, value)
        if reset:
            self._reset()
        return self

    def extra_repr(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in self._param_names():
            value = getattr(self, name)
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                parts.append(f"{name}={_short(value)}")
        return ", ".join(parts)

    # -- fitted state ------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or a loaded fitted state) has set the model's values."""
        return self._is_fitted

    def _mark_fitted(self) -> None:
        self._is_fitted = True

    def _reset(self) -> None:
        """Forget the fitted values (empty buffers, unfitted)."""
        for name in self._fitted_buffers:
            buf = getattr(self, name)
            self._buffers[name] = torch.empty(0, device=buf.device)
        self._is_fitted = False

    def _check_fitted(self, method: str) -> None:
        if not self._is_fitted:
            raise NotFittedError(
                f"{type(self).__name__}.{method}: this {type(self).__name__} is not fitted "
                f"yet; call fit(...) first (or load_state_dict a fitted one)"
            )

    def _like(self) -> Tensor:
        """A fitted floating buffer: its dtype and device are the model's."""
        for name in self._fitted_buffers:
            buf = getattr(self, name)
            if buf.is_floating_point() and buf.numel():
                return buf
        return torch.empty(0)

    def _n_features(self) -> int:
        """The number of features the model was fitted on (subclasses)."""
        raise NotImplementedError

    def _input(self, method: str, X: Any, n_features: int | None = None,
               name: str = "X") -> Tensor:
        """Check a prediction-time input and cast it to the model's dtype and device
        (``n_features``: the expected last size, by default :meth:`_n_features`)."""
        fn = f"{type(self).__name__}.{method}"
        self._check_fitted(method)
        if n_features is None:
            n_features = self._n_features()
        check_floating(fn, name, X)
        if X.dim() < 1 or X.shape[-1] != n_features:
            raise fail(fn, name, f"of shape (..., {n_features})", f"shape {tuple(X.shape)}")
        like = self._like()
        X = X.to(dtype=like.dtype, device=like.device)
        check_finite(fn, name, X)
        return X

    def _warn_not_converged(self, fn: str, max_iter: int | None = None,
                            detail: str = "") -> None:
        max_iter = getattr(self, "max_iter", None) if max_iter is None else max_iter
        warnings.warn(f"{fn}: stopped at max_iter={max_iter} before meeting "
                      f"tol={getattr(self, 'tol', None)}{detail}; raise max_iter (or tol)",
                      ConvergenceWarning, stacklevel=3)

    # -- saving and loading ------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {"settings": {name: _portable(getattr(self, name))
                             for name in self._state_settings},
                "fitted": self._is_fitted}

    def set_extra_state(self, state: Any) -> None:
        self._is_fitted = bool(state.get("fitted", False)) if isinstance(state, dict) \
            else False
        self._after_load()

    def _after_load(self) -> None:
        """Restore Python-side values derived from the buffers (subclasses)."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        extra = state_dict.get(prefix + "_extra_state")
        if isinstance(extra, dict):
            saved = extra.get("settings", {})
            for name in self._state_settings:
                if name in saved and not _same(saved[name], _portable(getattr(self, name))):
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: expected a state fitted "
                        f"with {name}={_short(getattr(self, name))}, got one fitted with "
                        f"{name}={_short(saved[name])}")
        # Buffers whose size depends on the data start empty: take the saved shape.
        for name, buf in list(self._buffers.items()):
            key = prefix + name
            if buf is not None and key in state_dict:
                saved_t: Tensor = state_dict[key]
                if saved_t.shape != buf.shape or saved_t.dtype != buf.dtype:
                    self._buffers[name] = torch.empty(saved_t.shape, dtype=saved_t.dtype,
                                                      device=buf.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


def r2_score(pred: Tensor, y: Tensor) -> Tensor:
    r"""Coefficient of determination :math:`1 - \sum (y-\hat y)^2 / \sum (y-\bar y)^2`,
    averaged over target columns (scikit-learn's ``r2_score``, ``"uniform_average"``).
    ``pred`` may carry leading dimensions (a path of alphas): one score per leading index.
    """
    y = y.to(dtype=pred.dtype, device=pred.device)
    dim = -1 if y.dim() == 1 else -2
    ss_res = (y - pred).square().sum(dim)
    ss_tot = (y - y.mean(0)).square().sum(0)
    return (1 - ss_res / ss_tot).mean(-1) if y.dim() == 2 else 1 - ss_res / ss_tot
