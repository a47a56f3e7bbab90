"""The all-reduce helper: a no-op without a process group, a sum across real processes."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from torchmath.distributed import all_gather_rows, all_reduce_sum, should_sync, world_size


def test_no_process_group_is_a_no_op():
    a, b = torch.ones(2), torch.arange(3.0)
    assert not should_sync()
    assert world_size() == 1
    ra, rb = all_reduce_sum(a, b)
    assert ra is a and rb is b
    assert all_gather_rows(a) is a


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        total, count = all_reduce_sum(torch.full((2, 2), rank + 1.0, dtype=torch.float64),
                                      torch.tensor([rank + 1]))
        local = all_reduce_sum(torch.ones(1), sync=False)
        rows = all_gather_rows(torch.full((rank, 2), float(rank)))  # rank 0: empty shard
        out[rank] = (total, count, local, rows)
    finally:
        dist.destroy_process_group()


def test_two_processes_over_gloo():
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    out = manager.dict()
    mp.start_processes(_worker, args=(2, _free_port(), out), nprocs=2, start_method="spawn")
    for rank in range(2):
        total, count, local, rows = out[rank]
        assert torch.equal(total, torch.full((2, 2), 3.0, dtype=torch.float64))
        assert total.dtype == torch.float64
        assert int(count) == 3
        assert torch.equal(local, torch.ones(1))
        assert torch.equal(rows, torch.ones(1, 2))
