"""Naive Bayes against scikit-learn, streaming, round trips and bad input."""

import numpy as np
import pytest
import torch
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB

from tests.helpers import (
    assert_close,
    assert_raises_naming,
    uneven_batches,
)
from torchmath import NotFittedError
from torchmath.probability import BernoulliNaiveBayes, GaussianNaiveBayes, MultinomialNaiveBayes


def _data(rng, kind, n=120, d=5, k=3, scale=1.0):
    y = np.arange(n) % k
    rng.shuffle(y)
    if kind == "gaussian":
        X = rng.normal(size=(n, d)) * scale + y[:, None] * 0.7 * scale + 3 * scale
    elif kind == "multinomial":
        X = rng.poisson(2 + y[:, None], size=(n, d)).astype(float)
    else:
        X = (rng.random((n, d)) < 0.3 + 0.2 * (y[:, None] == np.arange(d) % k)).astype(float)
    return X, y


CASES = [("gaussian", GaussianNaiveBayes, GaussianNB, {"var_smoothing": 1e-9}),
         ("gaussian", GaussianNaiveBayes, GaussianNB, {"var_smoothing": 0.1}),
         ("multinomial", MultinomialNaiveBayes, MultinomialNB, {"alpha": 0.5}),
         ("bernoulli", BernoulliNaiveBayes, BernoulliNB, {"alpha": 1.0})]


@pytest.mark.parametrize("kind,ours,theirs,kw", CASES)
@pytest.mark.parametrize("shape", [(120, 5, 3), (60, 2, 2)])
def test_matches_scikit_learn(rng, kind, ours, theirs, kw, shape):
    n, d, k = shape
    X, y = _data(rng, kind, n, d, k)
    sk = theirs(**kw).fit(X, y)
    m = ours(**kw).fit(torch.from_numpy(X), torch.from_numpy(y))
    Xq = torch.from_numpy(X[:40])
    assert_close(m.predict_proba(Xq), sk.predict_proba(X[:40]), rtol=1e-6, atol=1e-10)
    assert_close(m.predict_log_proba(Xq), sk.predict_log_proba(X[:40]), rtol=1e-6, atol=1e-8)
    assert (m.predict(Xq).numpy() == sk.predict(X[:40])).all()
    # batched query shape
    assert m.predict_proba(Xq.reshape(4, 10, d)).shape == (4, 10, k)
    # float32 agrees at its own tolerance
    m32 = ours(**kw).fit(torch.from_numpy(X).float(), torch.from_numpy(y))
    assert_close(m32.predict_proba(Xq.float()), sk.predict_proba(X[:40]), rtol=1e-3, atol=1e-4)


def test_gaussian_features_of_scale_1e6(rng):
    X, y = _data(rng, "gaussian", scale=1.0)
    X = X + 1e6
    sk = GaussianNB().fit(X, y)
    m = GaussianNaiveBayes().fit(torch.from_numpy(X), torch.from_numpy(y))
    assert_close(m.theta, sk.theta_, rtol=1e-12)
    assert_close(m.var, sk.var_, rtol=1e-8)
    assert_close(m.predict_proba(torch.from_numpy(X)), sk.predict_proba(X), rtol=1e-6,
                 atol=1e-9)


@pytest.mark.parametrize("kind,ours,theirs,kw", CASES)
def test_streaming_and_partial_fit(rng, kind, ours, theirs, kw):
    X, y = _data(rng, kind)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    whole = ours(**kw).fit(Xt, yt)
    streamed = ours(**kw).fit(uneven_batches(Xt, yt))
    online = ours(**kw)
    for xb, yb in uneven_batches(Xt, yt):
        online.partial_fit(xb, yb)
    for other in (streamed, online):
        assert_close(other.predict_log_proba(Xt), whole.predict_log_proba(Xt), rtol=1e-10)


def test_forward_is_differentiable_in_x(rng):
    X, y = _data(rng, "gaussian")
    m = GaussianNaiveBayes().fit(torch.from_numpy(X), torch.from_numpy(y))
    x = torch.from_numpy(X[:3]).requires_grad_()
    torch.autograd.gradcheck(lambda x: m(x), (x,))


def test_bad_input():
    X, y = torch.randn(6, 2, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 0, 1])
    nb = GaussianNaiveBayes()
    with pytest.raises(NotFittedError, match="fit"):
        nb.predict(X)
    assert_raises_naming(ValueError, lambda: nb.fit(X, y[:5]), "'X'", "'y'")
    assert_raises_naming(TypeError, lambda: nb.fit(X, y.double()), "'y'")
    assert_raises_naming(ValueError, lambda: nb.fit(X.masked_fill(X > 0, float("nan")), y),
                         "'X'")
    assert_raises_naming(ValueError, lambda: GaussianNaiveBayes(num_classes=2).fit(X, y * 2),
                         "'y'")
    nb.fit(X, y)
    assert_raises_naming(ValueError, lambda: nb.predict(torch.randn(3, 3)), "'X'", "(..., 2)")
    assert_raises_naming(ValueError, lambda: MultinomialNaiveBayes().fit(-X.abs(), y), "'X'")
    assert_raises_naming(ValueError, lambda: MultinomialNaiveBayes(alpha=-1.0), "'alpha'")
    assert_raises_naming(ValueError, lambda: GaussianNaiveBayes(var_smoothing=-1.0),
                         "'var_smoothing'")


def test_partial_fit_classes_and_num_classes(rng):
    X, y = _data(rng, "gaussian")
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    labels = torch.tensor([3, 7, 11])
    whole = GaussianNaiveBayes().fit(Xt, labels[yt])
    online = GaussianNaiveBayes()
    first = yt != 2  # the first batch lacks label 11: classes= gives its column anyway
    online.partial_fit(Xt[first], labels[yt[first]], classes=[3, 7, 11])
    assert online.classes.tolist() == [3, 7, 11] and float(online.class_count[2]) == 0
    online.partial_fit(Xt[~first], labels[yt[~first]])
    assert_close(online.predict_log_proba(Xt), whole.predict_log_proba(Xt), rtol=1e-10)
    assert torch.equal(whole.predict(Xt), labels[whole.predict_log_proba(Xt).argmax(-1)])
    four = MultinomialNaiveBayes(num_classes=4).fit(torch.from_numpy(X).abs(), yt)
    assert four.classes.tolist() == [0, 1, 2, 3] and four.predict_proba(Xt.abs()).shape[-1] == 4
    assert_raises_naming(ValueError, lambda: MultinomialNaiveBayes(num_classes=2).fit(
        Xt.abs(), yt), "'y'")
