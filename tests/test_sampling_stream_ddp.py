"""RebalancedStream under DDP: 2 real gloo processes, each rank reads its own share of the stream.

Also the seeds: ``seed=None`` gives every rank rank 0's drawn seed (RebalancedStream and
ReservoirDataset), and different given seeds are refused.
"""

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling import RebalancedStream, ReservoirDataset

ITEMS = 40_000


def _pairs():
    return [(i, int(i % 49 == 0)) for i in range(ITEMS)]  # about 2% positives, on both ranks


def _body(rank, world_size):
    ds = RebalancedStream(_pairs(), seed=7, return_weights=True)
    out = list(ds)
    state = ds.state_dict()
    # Every rank saw the same seed; its draws are its own (seed mixed with epoch, rank, worker).
    gathered = [None] * world_size
    torch.distributed.all_gather_object(gathered, [x for x, _, _ in out])
    drawn = [RebalancedStream(_pairs(), shuffle_buffer=64).seed for _ in range(3)]
    reservoir = ReservoirDataset(range(100), 10)
    try:
        RebalancedStream(_pairs(), seed=rank)
        mismatch = None
    except ValueError as exc:
        mismatch = str(exc)
    return {"out": out, "stats": ds.stats, "share": state["share"], "gathered": gathered, "drawn": drawn,
            "reservoir": (reservoir.seed, list(reservoir)), "mismatch": mismatch}


@pytest.fixture(scope="module")
def results():
    return run_distributed(_body, world_size=2)


def test_ranks_read_disjoint_shares_and_yield_nothing_twice(results):
    ids = [[x for x, _, _ in r["out"]] for r in results]
    assert [r["share"] for r in results] == [(0, 2), (1, 2)]
    assert all(x % 2 == rank for rank, share in enumerate(ids) for x in share)  # item i goes to share i mod 2
    assert not set(ids[0]) & set(ids[1]) and all(len(s) == len(set(s)) for s in ids)
    assert results[0]["gathered"] == results[1]["gathered"] == ids


def test_each_rank_is_balanced_and_counts_only_its_share(results):
    for r in results:
        labels = [y for _, y, _ in r["out"]]
        assert sum(labels) / len(labels) == pytest.approx(0.5, abs=0.02)
        assert r["stats"][0].seen + r["stats"][1].seen == ITEMS // 2
    # Every positive of the stream comes out once, from the rank that read it.
    positives = [x for r in results for x, y, _ in r["out"] if y == 1]
    assert sorted(positives) == list(range(0, ITEMS, 49))


def test_a_drawn_seed_is_rank_zeros_on_every_rank(results):
    drawn = [r["drawn"] for r in results]
    assert drawn[0] == drawn[1] and len(set(drawn[0])) == 3  # three streams, three fresh seeds, shared
    (seed0, sample0), (seed1, sample1) = (r["reservoir"] for r in results)
    assert seed0 == seed1
    # One seed, two shards: rank r keeps 5 of the items r, r + 2, ...: disjoint halves of one draw.
    assert sorted(x % 2 for x in sample0 + sample1) == [0] * 5 + [1] * 5


def test_different_given_seeds_are_refused(results):
    for r in results:
        assert r["mismatch"] == ("`seed` must be the same on every rank (every rank's draws come from one seed), "
                                 "got [0, 1]")
