"""DynamicWeightedSampler under a real 2-process gloo group: collective updates."""

import itertools

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling import DynamicWeightedSampler

N = 400


def _body(rank: int, world_size: int) -> dict:
    out: dict = {}
    # Without replacement: every 40 steps each rank lowers the weight of the items it drew
    # (its own share, different k per rank) and raises items 0..19 on rank 0 only.
    s = DynamicWeightedSampler(torch.ones(N, dtype=torch.float64), replacement=False, seed=7)
    it = iter(s)
    share: list[int] = []
    weights_seen = []
    for step in range(5):
        batch = list(itertools.islice(it, 40))
        share += batch
        idx = torch.tensor(batch[: 10 + 5 * rank])
        vals = torch.full((len(idx),), 0.5)
        if rank == 0 and step == 0:
            boost = torch.tensor([i for i in range(20) if i not in share])
            idx, vals = torch.cat([idx, boost]), torch.cat([vals, torch.full((len(boost),), 1000.0)])
        s.update_weights(idx, vals)
        weights_seen.append(s.weights)
    share += list(it)
    out["share"], out["weights"], out["len"] = share, weights_seen, len(s)
    out["state"] = s.state_dict()

    # With replacement: rank 1 zeroes every item but 3 (its update alone steers both ranks).
    r = DynamicWeightedSampler(torch.ones(N), 2000, seed=7)
    it = iter(r)
    head = list(itertools.islice(it, 100))
    if rank == 1:
        r.update_weights(torch.arange(N - 1), torch.zeros(N - 1))
    else:
        r.update_weights([], [])
    out["replacement"] = (head, list(it))

    # Bad input on one rank: every rank raises, nobody hangs, nothing changes.
    before = r.weights
    errors = []
    for idx in ([5, 5], [N]):
        try:
            r.update_weights(idx if rank == 0 else [1], [1.0] * len(idx) if rank == 0 else [2.0])
        except ValueError as exc:
            errors.append(str(exc))
    try:  # the same index from both ranks: a duplicate after gathering
        r.update_weights([9], [1.0])
    except ValueError as exc:
        errors.append(str(exc))
    out["errors"], out["unchanged"] = errors, torch.equal(before, r.weights)
    return out


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_distributed(_body, world_size=2)


def test_weights_are_identical_on_every_rank_after_each_update(results):
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        assert torch.equal(a, b)
    first, final = results[0]["weights"][0], results[0]["weights"][-1]
    # what both ranks passed was applied: rank 0's boost and both ranks' own halvings
    assert int((first == 1000.0).sum()) > 10 and int((first == 0.5).sum()) == 10 + 15
    assert int((final == 0.5).sum()) == 5 * (10 + 15)


def test_shares_stay_disjoint_and_complete_through_updates(results):
    shares = [r["share"] for r in results]
    assert [len(s) for s in shares] == [r["len"] for r in results] == [N // 2, N // 2]
    assert sorted(shares[0] + shares[1]) == list(range(N))
    # the boosted items (weight 1000 vs <= 1) are drawn right after the first update
    boosted = set(range(20)) - set(shares[0][:40]) - set(shares[1][:40])
    next_steps = set(shares[0][40:80]) | set(shares[1][40:80])
    assert boosted <= next_steps


def test_one_ranks_update_steers_every_rank_with_replacement(results):
    for r in results:
        head, rest = r["replacement"]
        assert len(head) == 100 and len(rest) == 900 and set(rest) == {N - 1}


def test_bad_input_on_one_rank_raises_on_every_rank(results):
    for r in results:
        assert len(r["errors"]) == 3 and r["unchanged"]
        assert "repeat" in r["errors"][2]
    assert "repeat" in results[0]["errors"][0] and "rank(s) [0]" in results[1]["errors"][0]
    assert "[0, 400)" in results[0]["errors"][1] and "rank(s) [0]" in results[1]["errors"][1]


def test_a_checkpoint_from_one_rank_has_the_global_weights(results):
    assert torch.equal(results[0]["state"]["weights"], results[1]["state"]["weights"])
    assert torch.equal(results[0]["state"]["taken"], results[1]["state"]["taken"])
