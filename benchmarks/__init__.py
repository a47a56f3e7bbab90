"""torchmath's benchmark suite: ``python -m benchmarks`` (see ``--help``)."""

import os
import sys

# scikit-learn's array-API mode (a second peer fed torch tensors) needs SciPy's array-API
# support, which SciPy reads once at import: set it before anything imports SciPy (and
# never behind the back of a process that already has, such as the test suite).
if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")
