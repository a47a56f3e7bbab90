"""Every probability estimator fitted across 2 processes equals the one-process fit.

One spawn covers all estimators, with uneven shards (as uneven batches) and with an
empty shard on rank 1.
"""

import torch

from tests.helpers import assert_close, run_distributed
from torchmath.probability import (
    BayesianLinearRegression,
    BernoulliNaiveBayes,
    GaussianMixture,
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
    RunningMoments,
)


def _data():
    g = torch.Generator().manual_seed(3)
    n, d = 90, 3
    y = torch.arange(n) % 3
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + 3 * y[:, None]
    counts = torch.poisson(torch.full((n, d), 2.0, dtype=torch.float64) + y[:, None],
                           generator=g)
    t = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + \
        0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return X, y, counts, t


def _fits(parts):
    """Fit every estimator on ``parts``: a list of row ranges (this rank's shard)."""
    X, y, counts, t = _data()
    rows = [(X[a:b], y[a:b], counts[a:b], t[a:b]) for a, b in parts]
    out = {}
    out["moments"] = RunningMoments(3).fit([(r[0],) for r in rows], dtype=torch.float64).cov()
    nb = GaussianNaiveBayes().fit([(r[0], r[1]) for r in rows])
    out["gnb"] = nb.predict_log_proba(X)
    out["mnb"] = MultinomialNaiveBayes().fit([(r[2], r[1]) for r in rows]).predict_log_proba(
        counts)
    out["bnb"] = BernoulliNaiveBayes(binarize=2.0).fit(
        [(r[2], r[1]) for r in rows]).predict_log_proba(counts)
    blr = BayesianLinearRegression(fit_hyperparameters=True).fit([(r[0], r[3]) for r in rows])
    out["blr"] = torch.cat([blr.posterior_mean, blr.posterior_cov.reshape(-1),
                            blr.alpha.reshape(1), blr.beta.reshape(1)])
    gm = GaussianMixture(3, n_init=2, max_iter=15, tol=1e-9)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torchmath.ConvergenceWarning)  # 15 iterations: not converged
        gm.fit([(r[0],) for r in rows])
    out["gmm_trajectory"] = gm.lower_bounds
    out["gmm_means"] = gm.means
    return {k: v.detach().numpy() for k, v in out.items()}


def _worker(rank, world):
    uneven = [[(0, 7), (7, 30)], [(30, 31), (31, 60), (60, 90)]][rank]
    empty = [[(0, 50), (50, 90)], []][rank]
    return {"uneven": _fits(uneven), "empty": _fits(empty)}


def test_two_processes_equal_one_process():
    reference = _fits([(0, 90)])
    results = run_distributed(_worker)
    for rank_result in results:
        for layout in ("uneven", "empty"):
            for key, expected in reference.items():
                rtol = 1e-8 if key.startswith("gmm") else 1e-10
                assert_close(rank_result[layout][key], expected, rtol=rtol, atol=1e-10,
                             msg=f"{layout} {key}")
