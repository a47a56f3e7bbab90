"""Area 2 of the course: linear algebra.

Inner products and norms, decompositions that stay differentiable, PCA, projections and
least squares, linear and ridge regression. ``linalg`` is the lowest area: the others may
import from it, it imports from none of them.
"""

from torchmath.linalg.cholesky import CholeskyJitterWarning, safe_cholesky, tril_solve
from torchmath.linalg.scatter import ScatterMatrix

__all__ = ["CholeskyJitterWarning", "ScatterMatrix", "safe_cholesky", "tril_solve"]
