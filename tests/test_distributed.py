"""The all-reduce helper: a no-op without a process group, a sum across real processes."""

import torch

from tests.helpers import run_distributed
from torchmath.distributed import all_gather_rows, all_reduce_sum, should_sync, world_size
from torchmath.linalg import ScatterMatrix


def test_no_process_group_is_a_no_op():
    a, b = torch.ones(2), torch.arange(3.0)
    assert not should_sync()
    assert world_size() == 1
    ra, rb = all_reduce_sum(a, b)
    assert ra is a and rb is b
    assert all_gather_rows(a) is a


def _worker(rank: int, world: int, data: torch.Tensor):
    total, count = all_reduce_sum(torch.full((2, 2), rank + 1.0, dtype=torch.float64),
                                  torch.tensor([rank + 1]))
    local = all_reduce_sum(torch.ones(1), sync=False)
    rows = all_gather_rows(torch.full((rank, 2), float(rank)))  # rank 0: empty shard
    scatter = ScatterMatrix(3, dtype=torch.float64)
    if rank == 1:  # rank 0 holds an empty shard
        scatter.update(data)
    scatter.all_reduce()
    return total, count, local, rows, scatter.mean, scatter.scatter, scatter.n_rows


def test_two_processes_over_gloo():
    data = torch.randn(9, 3, dtype=torch.float64)
    for rank, out in enumerate(run_distributed(_worker, data)):
        total, count, local, rows, mean, scatter, n_rows = out
        assert torch.equal(total, torch.full((2, 2), 3.0, dtype=torch.float64)), rank
        assert int(count) == 3
        assert torch.equal(local, torch.ones(1))
        assert torch.equal(rows, torch.ones(1, 2))
        centred = data - data.mean(0)
        torch.testing.assert_close(mean, data.mean(0), rtol=0, atol=1e-12)
        torch.testing.assert_close(scatter, centred.T @ centred, rtol=1e-12, atol=1e-12)
        assert n_rows == 9
