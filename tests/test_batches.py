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
