"""torchmath's benchmark suite: ``python -m benchmarks`` (see ``--help``)."""

import os

# scikit-learn's array-API mode (a second peer fed torch tensors) needs SciPy's array-API
# support, which SciPy reads once at import: set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
