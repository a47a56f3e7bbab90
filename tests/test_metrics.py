"""torchmetrics metrics of the information area: values, streaming, and a 2-process run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.metrics import mutual_info_score

from tests.helpers import assert_close, assert_raises_naming, run_distributed
from torchmath.information import kl_divergence, ksg_mutual_information
from torchmath.metrics import ELBO, Entropy, KLDivergence, MutualInformation, MutualInfoScore


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (301,), generator=g)
    other = (labels + torch.randint(0, 2, (301,), generator=g)) % 3
    x = torch.randn(301, generator=g, dtype=torch.float64)
    y = x + 0.5 * torch.randn(301, generator=g, dtype=torch.float64)
    nll = torch.rand(301, generator=g, dtype=torch.float64) * 5
    kl = torch.rand(301, generator=g, dtype=torch.float64)
    return labels, other, x, y, nll, kl


def _metrics():
    return {"entropy": Entropy(num_classes=4),
            "mi": MutualInformation(num_classes_x=4, num_classes_y=3),
            "ksg": MutualInformation("ksg", k=3),
            "elbo": ELBO()}


def _feed(metrics, labels, other, x, y, nll, kl, rows):
    for chunk in np.array_split(rows, 5):
        if len(chunk) == 0:
            continue
        idx = torch.as_tensor(chunk)
        metrics["entropy"].update(labels[idx])
        metrics["mi"].update(labels[idx], other[idx])
        metrics["ksg"].update(x[idx], y[idx])
        metrics["elbo"].update(nll[idx], kl[idx])


def _compute(metrics):
    return {k: m.compute() for k, m in metrics.items()}


def test_metrics_match_references_over_uneven_batches():
    labels, other, x, y, nll, kl = _data()
    metrics = _metrics()
    _feed(metrics, labels, other, x, y, nll, kl, np.arange(301))
    out = _compute(metrics)
    assert_close(out["entropy"], scipy.stats.entropy(np.bincount(labels.numpy(), minlength=4)))
    assert_close(out["mi"], mutual_info_score(labels.numpy(), other.numpy()))
    assert_close(out["ksg"], ksg_mutual_information(x, y, k=3), rtol=0, atol=0)
    assert_close(out["elbo"], -(nll + kl).mean())
    terms = metrics["elbo"].compute_terms()
    assert_close(terms["kl"], kl.mean())


def test_torchmetrics_metrics_we_reuse_agree_with_our_functions():
    labels, other, *_ = _data()
    m = MutualInfoScore()
    with warnings.catch_warnings():  # torch 2.13 notes sparse checks inside torchmetrics
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        m.update(labels, other)
        value = m.compute()
    assert_close(value.double(), mutual_info_score(labels.numpy(), other.numpy()),
                 rtol=1e-5)
    p = torch.softmax(torch.randn(6, 4, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(6, 4, dtype=torch.float64), -1)
    k = KLDivergence()
    k.update(p, q)
    assert_close(k.compute(), kl_divergence(p_probs=p, q_probs=q).mean())


def test_bad_input():
    assert_raises_naming(ValueError, lambda: Entropy(num_classes=2).update(torch.tensor([3])),
                         "labels")
    assert_raises_naming(ValueError, lambda: MutualInformation(), "num_classes_x")
    assert_raises_naming(ValueError, lambda: MutualInformation("plugin"), "estimator")
    assert_raises_naming(ValueError, lambda: ELBO().update(torch.zeros(2), torch.zeros(3)),
                         "kl")
    # torchmetrics warns that compute ran before update; ours then raises.
    with pytest.warns(UserWarning, match="update"), pytest.raises(ValueError, match="update"):
        Entropy(num_classes=2).compute()


def _distributed_metrics(rank, world, shards):
    data = _data()
    metrics = _metrics()
    _feed(metrics, *data, shards[rank])
    return {k: v.item() for k, v in _compute(metrics).items()}


def test_metrics_synchronize_across_two_processes():
    data = _data()
    whole = _metrics()
    _feed(whole, *data, np.arange(301))
    expected = {k: v.item() for k, v in _compute(whole).items()}
    # Uneven shards (rank 0 gets 250 rows, rank 1 gets 51).
    perm = np.random.default_rng(0).permutation(301)
    results = run_distributed(_distributed_metrics, [perm[:250], perm[250:]])
    for rank_out in results:
        for key, value in expected.items():
            assert rank_out[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key


def test_elbo_compute_before_update_raises():
    # issue 15: it returned NaN (0 / 0); torchmetrics warns too, we refuse by name
    with pytest.warns(UserWarning, match="before the ``update`` method"):
        assert_raises_naming(ValueError, lambda: ELBO().compute(), "ELBO.compute", "update")
