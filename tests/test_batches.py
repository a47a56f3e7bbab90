"""Normalizing fit's data argument into batches."""

import pytest
import torch

from tests.helpers import assert_raises_naming, uneven_batches
from torchmath._batches import as_batches, row_chunks


def test_tensor_pair_and_loader_forms():
    X, y = torch.randn(20, 3), torch.arange(20)
    assert [len(b) for b in as_batches(X, fn="f")] == [1]
    assert [len(b) for b in as_batches(X, y=y, fn="f")] == [2]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=6)
    batches = list(as_batches(loader, fn="f", arity=2))
    assert torch.equal(torch.cat([b[0] for b in batches]), X)
    assert len(list(as_batches(loader, fn="f"))) == 4  # re-iterable


def test_uneven_batches_helper_covers_everything():
    X = torch.arange(40.0)
    parts = uneven_batches(X, n_batches=7)
    assert len(parts) == 7 and parts[0][0].shape[0] == 1
    assert torch.equal(torch.cat([p[0] for p in parts]), X)


def test_a_tuple_is_one_batch_and_a_list_is_many():
    X1, X2 = torch.randn(3, 2), torch.randn(5, 2)
    assert [b[0].shape[0] for b in as_batches([X1, X2], fn="f")] == [3, 5]
    assert [len(b) for b in as_batches((X2, torch.zeros(5)), fn="f")] == [2]


def test_generator_is_one_pass():
    X = torch.randn(4, 2)
    batches = as_batches((x for x in [X, X]), fn="fit")
    assert not batches.reiterable
    assert len(list(batches)) == 2
    assert_raises_naming(ValueError, lambda: list(batches), "fit", "'data'", "re-iterable")


def test_bad_forms():
    assert_raises_naming(TypeError, lambda: as_batches(3, fn="fit"), "fit", "'data'")
    assert_raises_naming(ValueError, lambda: as_batches(torch.zeros(3, 2), y=torch.zeros(4),
                                                       fn="fit"), "'X'", "'y'")
    with pytest.raises(ValueError, match="pairs"):
        list(as_batches([torch.zeros(2, 2)], fn="fit", arity=2))


def test_row_chunks():
    assert row_chunks(10, 8, budget_bytes=32) == 4
    assert row_chunks(3, 8) == 3


def test_intake_checks_detaches_and_learns_the_layout():
    from torchmath._batches import Intake

    X = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    y = torch.arange(10)
    intake = Intake([(X[:4], y[:4].double()), (X[4:], y[4:])], fn="M.fit", y_kind="targets")
    batches = intake.read()
    assert all(not b[0].requires_grad and b[1].dtype == torch.float64 for b in batches)
    intake.agree()
    assert (intake.n_features, intake.n_targets, intake.y_1d, intake.n_rows) == (3, 1, True, 10)
    labels = Intake((X, y * 3 + 1), fn="M.fit", y_kind="labels")
    labels.read()
    assert labels.classes().tolist() == [3 * i + 1 for i in range(10)]


@pytest.mark.parametrize("y_kind", ["none", "targets", "labels"])
def test_intake_one_wording_per_rule(y_kind):
    from torchmath._batches import Intake

    X = torch.randn(6, 2, dtype=torch.float64)
    y = torch.arange(6) if y_kind == "labels" else torch.randn(6, dtype=torch.float64)

    def read(*args, **kw):
        return lambda: Intake(*args, fn="M.fit", y_kind=y_kind, **kw).read()

    nan = X.clone()
    nan[2, 1] = float("nan")
    assert_raises_naming(ValueError, read(nan, y), "M.fit", "'X'", "finite")
    ragged = [X, X[:, :1]] if y_kind == "none" else [(X, y), (X[:, :1], y)]
    assert_raises_naming(ValueError, read(ragged, None), "M.fit", "'X'", "2 features")
    assert_raises_naming(ValueError, read(X[:, :0], y), "M.fit", "'X'", "at least one feature")
    assert_raises_naming(TypeError, read(X.long(), y), "M.fit", "'X'")
    assert_raises_naming(TypeError, read(iter([X]), None, multi_pass=True), "M.fit", "'data'")
    if y_kind != "none":
        assert_raises_naming(ValueError, read([X], None), "M.fit", "'y'")
        assert_raises_naming(ValueError, read(X, y[:5]), "'X'", "'y'")
    if y_kind == "labels":
        assert_raises_naming(TypeError, read(X, y.double()), "M.fit", "'y'", "integer")
    empty = Intake(X[:0], y[:0], fn="M.fit", y_kind=y_kind)
    empty.read()
    assert_raises_naming(ValueError, empty.agree, "M.fit", "'data'")


def test_encode_labels():
    from torchmath._batches import encode_labels

    classes = torch.tensor([3, 7, 11])
    assert encode_labels("f", torch.tensor([11, 3, 7, 7]), classes).tolist() == [2, 0, 1, 1]
    assert_raises_naming(ValueError, lambda: encode_labels("f", torch.tensor([4]), classes),
                         "f", "'y'", "[4]")


def test_streamed_small_batches_are_grouped_exactly_even_far_from_the_origin():
    """Many small batches (grouped into one buffer and merged by the shifted-data
    formula) give the covariance of all rows: rows 1e6 from the origin whose mean drifts
    across the stream, against NumPy's two-pass covariance of the joined rows."""
    import numpy as np

    from torchmath.linalg import PCA

    g = torch.Generator().manual_seed(0)
    batches = [1e6 + 3.0 * i + torch.randn(200, 4, generator=g, dtype=torch.float64)
               for i in range(40)]
    pca = PCA(4, solver="covariance").fit(batches)
    X = torch.cat(batches).numpy()
    want = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]
    torch.testing.assert_close(pca.explained_variance, torch.from_numpy(want.copy()),
                               rtol=1e-9, atol=0)
    torch.testing.assert_close(pca.mean, torch.from_numpy(X.mean(0)), rtol=1e-12, atol=0)


def test_a_nan_in_a_grouped_batch_is_refused_by_name():
    from torchmath.linalg import PCA

    batches = [torch.randn(100, 3, dtype=torch.float64) for _ in range(5)]
    batches[3][7, 1] = float("nan")
    assert_raises_naming(ValueError, lambda: PCA(2, solver="covariance").fit(batches),
                         "PCA.fit", "X")
