"""RebalancedStream under DDP: 2 real gloo processes, each rank reads its own share of the stream."""

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling import RebalancedStream

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
    return {"out": out, "stats": ds.stats, "share": state["share"], "gathered": gathered}


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
