"""The test helpers themselves work: real gloo processes, errors propagate."""

import pytest
import torch
import torch.distributed as dist

from tests._distributed import run_distributed


def _sum_ranks(rank: int, world_size: int) -> int:
    t = torch.tensor([rank + 1])
    dist.all_reduce(t)
    return int(t.item())


def _fail(rank: int, world_size: int) -> None:
    if rank == 1:
        raise ValueError("boom on rank 1")


def test_run_distributed_all_reduce():
    assert run_distributed(_sum_ranks, world_size=2) == [3, 3]


def test_run_distributed_propagates_errors():
    with pytest.raises(RuntimeError, match="boom on rank 1"):
        run_distributed(_fail, world_size=2)


def test_device_fixture(device):
    assert torch.zeros(1, device=device).device.type == device.type
