"""Weighted sampling and reservoirs under a real 2-process gloo group."""

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd._random import mix_seed
from torch_mlsd.sampling.reservoir import TensorReservoir
from torch_mlsd.sampling.reservoir_dataset import ReservoirDataset
from torch_mlsd.sampling.weighted import WeightedSampler

WEIGHTS = torch.arange(1, 102, dtype=torch.float64) % 7  # 101 items, some of weight 0


def _body(rank: int, world_size: int) -> dict:
    out = {}
    no_repl = WeightedSampler(WEIGHTS, replacement=False, seed=5)  # replicas/rank read from the group
    no_repl.set_epoch(3)
    out["no_replacement"] = list(no_repl)
    out["no_replacement_meta"] = (no_repl.num_replicas, no_repl.rank, len(no_repl))
    dropped = WeightedSampler(WEIGHTS, replacement=False, seed=5, shard="drop")
    dropped.set_epoch(3)
    out["no_replacement_drop"] = list(dropped)
    repl = WeightedSampler(WEIGHTS, 1001, seed=5)
    repl.set_epoch(3)
    out["replacement"] = list(repl)
    # Each rank keeps a reservoir of its own half of the stream, with its own seed.
    reservoir = TensorReservoir(8, seed=mix_seed(1, rank))
    for start in range(rank * 500, rank * 500 + 500, 100):
        reservoir.update(torch.arange(start, start + 100))
    out["local_state"] = reservoir.state_dict()
    merged = reservoir.merged_across_ranks()
    out["merged"] = (merged.sample(), merged.num_seen)
    out["dataset"] = list(ReservoirDataset(range(1000), 9, seed=2))
    return out


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_distributed(_body, world_size=2)


def test_without_replacement_shares_are_disjoint_equal_and_the_global_draw(results):
    single = WeightedSampler(WEIGHTS, replacement=False, seed=5)
    single.set_epoch(3)
    expected = list(single)  # the 87 positive weights, in single-process order
    assert len(expected) == 87
    # "pad": equal shares of 44; the union is the global draw plus its first index again.
    shares = [r["no_replacement"] for r in results]
    assert [r["no_replacement_meta"] for r in results] == [(2, 0, 44), (2, 1, 44)]
    assert [i for pair in zip(*shares) for i in pair] == expected + expected[:1]
    assert set(shares[0]) & set(shares[1]) == {expected[0]}
    # "drop": equal, strictly disjoint shares of 43; the last index is dropped.
    drop = [r["no_replacement_drop"] for r in results]
    assert len(drop[0]) == len(drop[1]) == 43 and not set(drop[0]) & set(drop[1])
    assert [i for pair in zip(*drop) for i in pair] == expected[:86]
    assert all(WEIGHTS[i] > 0 for s in shares for i in s)


def test_with_replacement_each_rank_draws_its_own_equal_share(results):
    shares = [r["replacement"] for r in results]
    assert len(shares[0]) == len(shares[1]) == 501 and shares[0] != shares[1]
    for rank, share in enumerate(shares):
        local = WeightedSampler(WEIGHTS, 1001, seed=5, num_replicas=2, rank=rank)
        local.set_epoch(3)
        assert list(local) == share  # depends only on (seed, epoch, rank)
    assert all(WEIGHTS[i] > 0 for s in shares for i in s)


def test_reservoirs_merge_across_ranks(results):
    (s0, n0), (s1, n1) = results[0]["merged"], results[1]["merged"]
    assert n0 == n1 == 1000 and torch.equal(s0, s1)
    local = TensorReservoir.from_state_dict(results[0]["local_state"])
    local.merge(TensorReservoir.from_state_dict(results[1]["local_state"]))
    assert torch.equal(local.sample(), s0)
    assert len(torch.unique(s0)) == 8


def test_reservoir_dataset_splits_the_stream_over_ranks(results):
    a, b = results[0]["dataset"], results[1]["dataset"]
    assert len(a) == 5 and len(b) == 4 and not set(a) & set(b)
    assert all(x % 2 == 0 for x in a) and all(x % 2 == 1 for x in b)
