"""Streaming fits from a DataLoader against the in-memory fit (issue: scale out).

Two families. ``streaming_pca``/``streaming_gmm`` measure memory: the data are generated
batch by batch, see below. ``streaming_tensors_*`` measure torchmath's own streaming
overhead: the rows sit in a ``TensorDataset`` and a ``DataLoader`` whose sampler yields
one ``slice`` per batch hands out whole batches (a view per batch, no per-sample
collation), which is the fast way to stream tensors; goal <= 1.5x the in-memory fit.

The data are generated batch by batch by an ``IterableDataset`` (each batch from its own
seed), so they never sit in memory at once: the streaming fit's peak memory should stay
flat when n grows 10x, while the in-memory fit (the peer, torchmath on one tensor that was
materialized beforehand, untimed) holds all n rows. Both fits must reach the same model.
The streaming time includes generating the batches, which stands in for reading them.
Throughput is reported as GB/s of data processed (passes x n x d x 8 bytes). Peak memory
is each side's peak resident set, measured alone in a fresh process (imports included).
"""

from __future__ import annotations

import torch
from torch.utils.data import (
    DataLoader,
    IterableDataset,
    TensorDataset,
)

from benchmarks.harness import Peer, Workload, register
from torchmath import ConvergenceWarning
from torchmath.linalg import PCA
from torchmath.probability import GaussianMixture

BATCH = 8192


class _GeneratedBatches(IterableDataset):
    """n rows of a k-component Gaussian mixture in d dimensions, made one batch at a time."""

    def __init__(self, n: int, d: int, k: int, device: torch.device):
        self.n, self.d, self.k, self.device = n, d, k, device
        g = torch.Generator().manual_seed(0)
        self.centres = torch.randn(k, d, generator=g, dtype=torch.float64) * 4

    def __iter__(self):
        for i, start in enumerate(range(0, self.n, BATCH)):
            rows = min(BATCH, self.n - start)
            g = torch.Generator().manual_seed(1000 + i)
            labels = torch.randint(self.k, (rows,), generator=g)
            x = self.centres[labels] + torch.randn(rows, self.d, generator=g,
                                                   dtype=torch.float64)
            yield x.to(self.device)


def setup(params, device):
    stream = _GeneratedBatches(params["n"], params["d"], params["k"], device)
    return {"params": params, "loader": DataLoader(stream, batch_size=None)}


def _estimator(params):
    if params["model"] == "pca":
        return PCA(params["k"], solver="covariance")
    # A 10k-row initialization sample, so memory at n and 10n differs only by the stream.
    return GaussianMixture(params["k"], max_iter=params["iters"], tol=0.0, generator=0,
                           init_size=10_000)


def _summary(model, params):
    if params["model"] == "pca":
        return {"explained_variance": model.explained_variance, "mean": model.mean}
    return {"means": model.means, "weights": model.weights}


def run_streaming(state):
    model = _estimator(state["params"])
    import warnings

    with warnings.catch_warnings():  # tol=0: a fixed number of EM iterations, by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(state["loader"])
    return _summary(model, state["params"])


def prepare_in_memory(state):
    return {"params": state["params"], "X": torch.cat(list(state["loader"]))}


def run_in_memory(peer_state):
    model = _estimator(peer_state["params"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(peer_state["X"])
    return _summary(model, peer_state["params"])


def check(ours, theirs, state):
    if theirs is None:
        ok = all(bool(torch.isfinite(v).all()) for v in ours.values())
        return 0.0 if ok else float("inf")
    return max(float((ours[k] - theirs[k]).abs().max() / theirs[k].abs().max().clamp_min(1))
               for k in ours)


def _cases(model: str, sizes, d=16, k=8, iters=3):
    return [{"model": model, "n": n, "d": d, "k": k, "iters": iters} for n in sizes]


def _passes(p):
    return 1 if p["model"] == "pca" else p["iters"] + 2  # init sample + EM passes + final


for model in ("pca", "gmm"):
    register(Workload(
        name=f"streaming_{model}",
        area="scale_out",
        description=f"{model.upper()} fitted from a DataLoader of generated batches vs the "
                    "in-memory fit; peak MB should not grow with n",
        cases={"tiny": _cases(model, [2000], d=3, k=2, iters=2),
               "quick": _cases(model, [100_000, 1_000_000] if model == "pca"
                               else [20_000, 200_000]),
               "full": _cases(model, [50_000, 500_000, 5_000_000], iters=20)},
        setup=setup,
        run=run_streaming,
        peers=[Peer("torchmath in-memory", run_in_memory, prepare=prepare_in_memory,
                    cpu_only=False, options="whole tensor in memory")],
        check=check,
        tolerance=1e-8,
        bytes_moved=lambda p: _passes(p) * p["n"] * p["d"] * 8,
        scaling="n",
        memory_in_subprocess=True,
    ))


def tensor_loader(X: torch.Tensor, batch_size: int = BATCH) -> DataLoader:
    """A DataLoader that yields whole batches of in-memory tensors with no per-sample work:
    the sampler hands ``TensorDataset.__getitem__`` one ``slice`` per batch (a view, no
    copy) and ``batch_size=None`` turns off collation. (A ``BatchSampler`` passes Python
    lists of indices instead, whose conversion to an index tensor cost more than the fit.)
    """
    dataset = TensorDataset(X)
    slices = [slice(s, s + batch_size) for s in range(0, len(dataset), batch_size)]
    return DataLoader(dataset, sampler=slices, batch_size=None)


def setup_tensors(params, device):
    X = torch.cat(list(_GeneratedBatches(params["n"], params["d"], params["k"], device)))
    return {"params": params, "loader": tensor_loader(X), "X": X}


for model in ("pca", "gmm"):
    register(Workload(
        name=f"streaming_tensors_{model}",
        area="scale_out",
        description=f"{model.upper()} fitted from a DataLoader of slices over a TensorDataset "
                    "(views, no collation) vs the in-memory fit: torchmath's own streaming "
                    "overhead",
        cases={"tiny": _cases(model, [2000], d=3, k=2, iters=2),
               "quick": _cases(model, [1_000_000] if model == "pca" else [200_000]),
               "full": _cases(model, [500_000, 5_000_000], iters=20)},
        setup=setup_tensors,
        run=run_streaming,
        peers=[Peer("torchmath in-memory", run_in_memory, goal=1.5, cpu_only=False,
                    options="whole tensor in memory")],
        check=check,
        tolerance=1e-8,
        bytes_moved=lambda p: _passes(p) * p["n"] * p["d"] * 8,
        scaling="n",
    ))
