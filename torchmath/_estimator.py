"""The base class of torchmath's estimators: an ``nn.Module`` with fitted buffers.

Learned values are registered buffers, so ``.to(device)``, ``state_dict()`` and DDP
broadcasting work unchanged. Buffers whose shape is only known after fitting start
empty; :meth:`Estimator._load_from_state_dict` resizes them on load, so a freshly
constructed estimator can load a fitted one's state the way users save and load models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Estimator", "NotFittedError"]


class NotFittedError(RuntimeError):
    """Raised when an estimator is used before ``fit``."""


class Estimator(nn.Module):
    """Base for fitted models.

    Subclasses register every learned value with :meth:`register_buffer` (an empty
    tensor until fitted), set ``self.fitted_`` through :meth:`_mark_fitted` at the end of
    ``fit``, and call :meth:`_check_fitted` at the top of every method that needs it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_fitted", torch.zeros((), dtype=torch.bool))

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` (or a loaded fitted state) has set the model's values."""
        return bool(self._fitted)

    def _mark_fitted(self) -> None:
        self._fitted.fill_(True)

    def _check_fitted(self, method: str) -> None:
        if not bool(self._fitted):
            raise NotFittedError(
                f"{type(self).__name__}.{method}: this {type(self).__name__} is not fitted "
                f"yet; call fit(...) first (or load_state_dict a fitted one)"
            )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # Buffers whose size depends on the data start empty: take the saved shape.
        for name, buf in list(self._buffers.items()):
            key = prefix + name
            if buf is not None and key in state_dict:
                saved: Tensor = state_dict[key]
                if saved.shape != buf.shape or saved.dtype != buf.dtype:
                    self._buffers[name] = torch.empty(saved.shape, dtype=saved.dtype,
                                                      device=buf.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
