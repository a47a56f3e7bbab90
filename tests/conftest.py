"""Shared fixtures: devices, dtypes and a seeded RNG for every test."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

# Lightning and Jupyter read these; keep runs quiet and offline.
os.environ.setdefault("PL_DISABLE_FORK", "1")
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not CUDA, reason="no CUDA device on this machine"))]
DTYPES = [torch.float32, torch.float64]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device test runs on ``cpu``, and on ``cuda`` where one exists."""
    return torch.device(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    """float32 and float64."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same seeds, so statistical tests are reproducible."""
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002  (third-party code may draw from the global RNG)
    random.seed(0)
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator for reference data."""
    return np.random.default_rng(0)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded torch CPU generator."""
    return torch.Generator().manual_seed(0)


@pytest.fixture
def no_validation():
    """Validation switched off for one test (``torchmath.set_validate_args(False)``)."""
    import torchmath

    before = torchmath.get_validate_args()
    torchmath.set_validate_args(False)
    yield
    torchmath.set_validate_args(before)
