"""The estimator base: not-fitted errors and loading into a fresh estimator."""

import pytest
import torch

import torchmath
from tests.helpers import state_dict_round_trip
from torchmath._estimator import Estimator


class _Mean(Estimator):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.empty(0))

    def fit(self, X):
        self.mean = X.mean(0)
        self._mark_fitted()
        return self

    def forward(self, X):
        self._check_fitted("forward")
        return X - self.mean


def test_not_fitted_error_says_to_call_fit():
    with pytest.raises(torchmath.NotFittedError, match=r"_Mean.forward.*call fit"):
        _Mean()(torch.zeros(2, 3))
    assert issubclass(torchmath.NotFittedError, RuntimeError)


def test_fresh_estimator_loads_fitted_state_with_new_shapes_and_dtype():
    X = torch.randn(10, 3, dtype=torch.float64)
    fitted = _Mean().fit(X)
    fresh = state_dict_round_trip(fitted, _Mean())
    assert fresh.is_fitted
    assert fresh.mean.dtype == torch.float64
    assert torch.equal(fresh(X), fitted(X))
