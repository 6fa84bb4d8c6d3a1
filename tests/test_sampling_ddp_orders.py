"""Order, bootstrap, stratified and class-balanced samplers under 2 real gloo processes.

One spawn runs every check (starting processes costs seconds): each rank builds the
samplers with num_replicas/rank read from the process group and returns what it
yields; the parent checks the shares against a single-process run.
"""

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling.bootstrap import BootstrapSampler
from torch_mlsd.sampling.class_balanced import ClassBalancedBatchSampler
from torch_mlsd.sampling.orders import ORDERS, OrderSampler
from torch_mlsd.sampling.stratified import StratifiedBatchSampler

LABELS = torch.repeat_interleave(torch.arange(3), torch.tensor([60, 25, 16]))  # 101 examples


def _shares(rank, world_size):
    out = {}
    for order in ORDERS:
        for shard in ("pad", "uneven"):
            sampler = OrderSampler(101, order=order, seed=5, shard=shard)
            sampler.set_epoch(2)
            out[order, shard] = (sampler.num_replicas, sampler.rank, len(sampler), list(sampler))
    boot = BootstrapSampler(101, seed=5, shard="uneven")
    out["bootstrap"] = (list(boot), boot.out_of_bag_indices().tolist())
    for shard in ("pad", "uneven", "drop"):
        strat = StratifiedBatchSampler(LABELS, 8, seed=5, shard=shard)
        out["stratified", shard] = (len(strat), list(strat))
    balanced = ClassBalancedBatchSampler(LABELS, classes_per_batch=2, samples_per_class=4, num_batches=13, seed=5)
    out["balanced"] = (len(balanced), list(balanced))
    out["seed_none"] = OrderSampler(101, seed=None).seed  # drawn once, broadcast from rank 0
    return out


@pytest.mark.slow
def test_shares_under_two_gloo_processes():
    r0, r1 = run_distributed(_shares, world_size=2)
    for order in ORDERS:
        for shard in ("pad", "uneven"):
            (reps0, rank0, len0, a), (reps1, rank1, len1, b) = r0[order, shard], r1[order, shard]
            assert (reps0, rank0, reps1, rank1) == (2, 0, 2, 1)
            single = OrderSampler(101, order=order, seed=5)
            single.set_epoch(2)
            expected = list(single)
            assert a == expected[0::2] and len(a) == len0 == 51
            if shard == "uneven":
                assert b == expected[1::2] and len(b) == len1 == 50  # disjoint slices, complete
            else:
                assert b == expected[1::2] + expected[:1] and len(b) == len1 == 51  # equal length
    (bag0, oob0), (bag1, oob1) = r0["bootstrap"], r1["bootstrap"]
    single_boot = BootstrapSampler(101, seed=5)
    assert sorted(bag0 + bag1) == sorted(single_boot.bag().tolist())
    assert oob0 == oob1 == single_boot.out_of_bag_indices().tolist()

    single_batches = list(StratifiedBatchSampler(LABELS, 8, seed=5))  # 13 batches, the last of 5
    for shard, lengths in (("pad", (7, 7)), ("uneven", (7, 6)), ("drop", (6, 6))):
        (len0, a), (len1, b) = r0["stratified", shard], r1["stratified", shard]
        assert (len(a), len(b)) == (len0, len1) == lengths
        flat = [i for batch in a + b for i in batch]
        if shard == "uneven":
            assert sorted(flat) == list(range(101))  # every example once over both ranks
        if shard == "drop":
            assert len(set(flat)) == len(flat) == 96
        assert a[:6] == single_batches[0:12:2] and b[:6] == single_batches[1:12:2]
    len0, a = r0["balanced"]
    len1, b = r1["balanced"]
    single_balanced = list(ClassBalancedBatchSampler(LABELS, classes_per_batch=2, samples_per_class=4, num_batches=13, seed=5))
    assert len0 == len1 == 7 and a == single_balanced[0::2] and b == single_balanced[1::2] + single_balanced[:1]  # padded
    assert r0["seed_none"] == r1["seed_none"]
