"""PCA of an n x d float32 matrix to k components (issue: linear algebra).

torchmath's ``PCA`` with each solver against scikit-learn's ``PCA`` with the matching
``svd_solver`` ("full", "covariance_eigh", "randomized"; same oversampling and power
iterations), and against scikit-learn in array-API mode fed torch tensors (a second
peer: what a user gets without changing libraries). The accuracy check is equal
explained variance: both answers within the tolerance of the float64 exact values
(relative, over the k components), computed untimed in ``setup``.

The data have a mean offset of 0.5. At larger offsets scikit-learn's float32
``covariance_eigh`` (``XᵀX - n μμᵀ``) loses accuracy to cancellation (6.7e-3 relative at
an offset of 3, where torchmath's centred, merged scatter stays at 2e-6), and the row
would be an accuracy failure of the peer rather than a speed comparison.

scikit-learn's array-API mode needs ``SCIPY_ARRAY_API=1`` in the environment before SciPy
is first imported; when the benchmark process imported SciPy without it, that peer is
reported as unavailable with this reason.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.harness import ARRAY_API_REASON, ArrayAPIPeer, Peer, Workload, register, to_numpy
from torchmath.linalg import PCA

SKLEARN_SOLVER = {"full": "full", "covariance": "covariance_eigh", "randomized": "randomized"}




def setup(params, device):
    g = torch.Generator().manual_seed(0)
    n, d = params["n"], params["d"]
    # A spectrum that decays like real data (a few strong directions, a long tail).
    scales = 1.0 / (1.0 + torch.arange(d, dtype=torch.float64) / 4)
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    X = (torch.randn(n, d, generator=g, dtype=torch.float64) * scales) @ basis.T + 0.5
    exact = PCA(params["k"], solver="covariance").fit(X).explained_variance
    return {"X": X.to(torch.float32).to(device), "k": params["k"],
            "solver": params["solver"], "exact": exact.numpy()}


def run_torchmath(state):
    pca = PCA(state["k"], solver=state["solver"]).fit(state["X"])
    return {"explained_variance": pca.explained_variance, "components": pca.components}


def _sklearn_pca(state, **options):
    from sklearn.decomposition import PCA as SkPCA
    return SkPCA(state["k"], svd_solver=SKLEARN_SOLVER[state["solver"]], random_state=0,
                 **options)


def prepare_sklearn(state):
    return dict(state, X=to_numpy(state["X"]).astype(np.float32))


def run_sklearn(peer_state):
    pca = _sklearn_pca(peer_state).fit(peer_state["X"])
    return {"explained_variance": pca.explained_variance_}


def run_sklearn_array_api(peer_state):
    import sklearn
    with sklearn.config_context(array_api_dispatch=True):
        # The array API has no LU: QR re-normalization (scikit-learn warns otherwise).
        pca = _sklearn_pca(peer_state, power_iteration_normalizer="QR").fit(peer_state["X"])
    return {"explained_variance": pca.explained_variance_}


def check(ours, theirs, state):
    if theirs is None:  # orthonormal components, non-increasing variances
        V = ours["components"].double()
        eye = torch.eye(V.shape[0], dtype=V.dtype, device=V.device)
        ortho = float((V @ V.T - eye).abs().max())
        ev = ours["explained_variance"]
        return ortho if bool((ev[:-1] >= ev[1:]).all()) else float("inf")
    exact = state["exact"]
    return max(float(np.max(np.abs(to_numpy(answer["explained_variance"]) - exact) / exact))
               for answer in (ours, theirs))


def _flops(p):
    """The n x d product's arithmetic: 2 n d^2 for the data-matrix solvers; for
    "covariance" the scatter is a symmetric rank-k update (BLAS syrk, one multiply-add
    per pair j <= k and row: n d^2), as for ridge and the elastic net. The small d x d
    eigendecomposition is not counted."""
    return p["n"] * p["d"] ** 2 if p["solver"] == "covariance" else 2 * p["n"] * p["d"] ** 2


def _cases(n, d, k):
    return [{"n": n, "d": d, "k": k, "solver": s, "dtype": "float32"} for s in SKLEARN_SOLVER]


register(Workload(
    name="pca",
    area="linalg",
    description="PCA of an n x d float32 matrix to k components, per solver",
    cases={"tiny": _cases(200, 16, 4),
           "quick": _cases(20_000, 512, 32),
           "full": [c for n in (2_500, 10_000, 40_000, 160_000)
                    for c in _cases(n, 512, 32)]},
    setup=setup,
    run=run_torchmath,
    peers=[
        Peer("scikit-learn", run_sklearn, prepare=prepare_sklearn, requires=("sklearn",),
             goal=1.0, options="matching svd_solver, random_state=0"),
        ArrayAPIPeer("scikit-learn array API (torch)", run_sklearn_array_api,
                     requires=(ARRAY_API_REASON,), goal=1.0, cpu_only=False,
                     options="array_api_dispatch=True, torch tensors"),
    ],
    check=check,
    tolerance=lambda p: 2e-3,
    flops=_flops,
    scaling="n",
))
