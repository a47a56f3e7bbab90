"""Two real processes (gloo): PCA(covariance), LinearRegression, RidgeRegression and RidgeCV
fitted on shards equal the single-process fit on all the data (uneven and empty shards)."""

import torch

from tests.helpers import assert_close, run_distributed, uneven_batches
from torchmath.linalg import PCA, LinearRegression, RidgeCV, RidgeRegression

ALPHAS = [0.01, 0.3, 3.0, 30.0]


def _data():
    g = torch.Generator().manual_seed(11)
    X = torch.randn(80, 5, generator=g, dtype=torch.float64) * 4 + 2
    y = X @ torch.randn(5, 2, generator=g, dtype=torch.float64) + torch.randn(
        80, 2, generator=g, dtype=torch.float64)
    return X, y


def _models():
    return {"pca": PCA(3, solver="covariance"), "linear": LinearRegression(),
            "ridge": RidgeRegression(0.7), "path": RidgeRegression(torch.tensor(ALPHAS,
                                                                   dtype=torch.float64)),
            "ridgecv": RidgeCV(ALPHAS)}


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _fit_on_shards(rank, world):
    X, y = _data()
    # Uneven shards: rank 0 holds 23 rows, rank 1 the other 57, both as uneven batches.
    cut = 23
    Xs, ys = (X[:cut], y[:cut]) if rank == 0 else (X[cut:], y[cut:])
    out = {}
    for name, model in _models().items():
        data = uneven_batches(Xs) if name == "pca" else uneven_batches(Xs, ys)
        out[("uneven", name)] = _state(model.fit(data))
    # An empty shard: rank 1 has no rows (an empty list for some, a 0-row tensor for others).
    for i, (name, model) in enumerate(_models().items()):
        if rank == 0:
            data = X if name == "pca" else (X, y)
        elif i % 2:
            data = []
        else:
            data = X[:0] if name == "pca" else (X[:0], y[:0])
        out[("empty", name)] = _state(model.fit(data))
    # sync=False fits each rank's own data.
    out["local"] = _state(LinearRegression().fit(Xs, ys, sync=False))
    return out


def test_distributed_fit_equals_single_process_fit():
    results = run_distributed(_fit_on_shards)
    X, y = _data()
    for name, model in _models().items():
        single = _state(model.fit(X) if name == "pca" else model.fit(X, y))
        for rank_out in results:
            for kind in ("uneven", "empty"):
                got = rank_out[(kind, name)]
                for key, value in single.items():
                    if value.is_floating_point() and value.numel():
                        assert_close(got[key], value, rtol=1e-10, atol=1e-10,
                                     msg=f"{kind} {name} {key}")
    local = LinearRegression().fit(X[:23], y[:23])
    assert_close(results[0]["local"]["coef"], local.coef, rtol=1e-10)
