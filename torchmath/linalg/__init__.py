"""Area 2 of the course: linear algebra.

Inner products and norms, decompositions that stay differentiable, PCA, projections and
least squares, linear and ridge regression. ``linalg`` is the lowest area: the others may
import from it, it imports from none of them.
"""

from torchmath.linalg.cholesky import CholeskyJitterWarning, safe_cholesky, tril_solve
from torchmath.linalg.eigen import (
    EighResult,
    SVDResult,
    lanczos_eigsh,
    power_iteration,
    safe_eigh,
    safe_svd,
)
from torchmath.linalg.gram import column_gram
from torchmath.linalg.image import ImagePCAResult, image_pca
from torchmath.linalg.pca import PCA
from torchmath.linalg.products import (
    condition_number,
    gram_matrix,
    inner,
    is_positive_definite,
    mahalanobis,
    norm,
)
from torchmath.linalg.projections import (
    LstsqResult,
    lstsq,
    orthogonal_complement,
    project,
    projection_matrix,
)
from torchmath.linalg.qr import gram_schmidt, householder_qr
from torchmath.linalg.regression import LinearRegression, RidgeCV, RidgeRegression
from torchmath.linalg.scatter import ScatterMatrix
from torchmath.linalg.svd import randomized_svd, svd_flip, truncated_svd

__all__ = [
    "CholeskyJitterWarning",
    "EighResult",
    "ImagePCAResult",
    "LinearRegression",
    "LstsqResult",
    "PCA",
    "RidgeCV",
    "RidgeRegression",
    "SVDResult",
    "ScatterMatrix",
    "column_gram",
    "condition_number",
    "gram_matrix",
    "gram_schmidt",
    "householder_qr",
    "image_pca",
    "inner",
    "is_positive_definite",
    "lanczos_eigsh",
    "lstsq",
    "mahalanobis",
    "norm",
    "orthogonal_complement",
    "power_iteration",
    "project",
    "projection_matrix",
    "randomized_svd",
    "safe_cholesky",
    "safe_eigh",
    "safe_svd",
    "svd_flip",
    "tril_solve",
    "truncated_svd",
]
