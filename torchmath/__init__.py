"""torchmath: the mathematics of machine learning as differentiable, batched PyTorch.

The library follows a five-part course; each part is a subpackage:

- :mod:`torchmath.probability` -- probability and statistics
- :mod:`torchmath.linalg` -- linear algebra
- :mod:`torchmath.optim` -- optimization
- :mod:`torchmath.information` -- information theory
- :mod:`torchmath.learning_theory` -- learning theory

Lightning callbacks live in :mod:`torchmath.callbacks` and torchmetrics metrics in
:mod:`torchmath.metrics`; both are imported on demand so that ``import torchmath``
stays light. Every estimator follows one contract (:class:`torchmath._estimator.Estimator`:
settings, fitted buffers, saving and loading, :class:`NotFittedError`,
:class:`ConvergenceWarning`), checked by :func:`torchmath.testing.check_estimator`.
"""

from torchmath._cpu_blas import get_cpu_blas, set_cpu_blas
from torchmath._estimator import ConvergenceWarning, NotFittedError
from torchmath._validation import get_validate_args, set_validate_args

__version__ = "0.1.0"

from torchmath import (  # noqa: E402  (subpackages import the names above)
    information,
    learning_theory,
    linalg,
    optim,
    probability,
)

__all__ = [
    "ConvergenceWarning",
    "NotFittedError",
    "__version__",
    "get_cpu_blas",
    "get_validate_args",
    "information",
    "learning_theory",
    "linalg",
    "optim",
    "probability",
    "set_cpu_blas",
    "set_validate_args",
]
