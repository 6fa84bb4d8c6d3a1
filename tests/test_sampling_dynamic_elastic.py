"""Elastic resume of DynamicWeightedSampler (issue 15): an epoch saved on R ranks continues on R'.

Single-process simulations: every world is ``reps`` samplers iterated in lockstep, each
loading rank 0's state of the previous world; the collective ``update_weights`` is made
on every simulated rank with the same (all) updates, as under a process group.
"""

import itertools
from collections import Counter

import pytest
import torch

from torch_mlsd.sampling import DynamicWeightedSampler

stats = pytest.importorskip("scipy.stats")

N = 1003
WEIGHTS = (torch.arange(N) % 5).double()  # 802 positive items
POSITIVE = set((WEIGHTS > 0).nonzero().squeeze(1).tolist())
_BOOSTED = [i for i in range(0, N, 7) if i % 5]  # positive items only: the positive set stays
BOOST = (torch.tensor(_BOOSTED), torch.full((len(_BOOSTED),), 9.0))  # an update mid-segment
EPOCH = 3
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")


def _world(reps, state, take, shard, replacement, num_samples=None):
    """``reps`` ranks load ``state`` and take ``take`` items each (None: the rest), with
    ``BOOST`` applied after half of them; returns the shares, rank 0's state and ``len``s."""
    samplers = [
        DynamicWeightedSampler(
            WEIGHTS, num_samples, replacement=replacement, seed=7, num_replicas=reps, rank=r, shard=shard
        )
        for r in range(reps)
    ]
    for s in samplers:
        s.set_epoch(EPOCH)
        if state is not None:
            s.load_state_dict(state)
            s.set_epoch(EPOCH)  # a restarted loop calls it again: the position stays
    lengths = [len(s) for s in samplers]
    iters = [iter(s) for s in samplers]
    if take is None:
        return [list(it) for it in iters], samplers[0].state_dict(), lengths
    shares = [list(itertools.islice(it, take // 2)) for it in iters]
    for s in samplers:
        s.update_weights(*BOOST)
    shares = [a + list(itertools.islice(it, take - take // 2)) for a, it in zip(shares, iters, strict=True)]
    return shares, samplers[0].state_dict(), lengths


def _interleave(shares):
    return [x for x in itertools.chain.from_iterable(itertools.zip_longest(*shares)) if x is not None]


@pytest.mark.parametrize("shard", ["uneven", "pad", "drop"])
@pytest.mark.parametrize("worlds", [(2, 3, 1), (3, 1, 2)])
def test_without_replacement_every_item_at_most_once_over_all_worlds(worlds, shard):
    state, segments = None, []
    for i, reps in enumerate(worlds):
        last = i == len(worlds) - 1
        shares, state, lengths = _world(reps, state, None if last else 90, shard, replacement=False)
        for share in shares:
            assert len(set(share)) == len(share)
        within = Counter(x for share in shares for x in share)
        assert shard == "pad" or max(within.values()) == 1, "shares of one world are disjoint"
        if shard != "uneven":
            assert len({len(s) for s in shares}) == 1, "equal shares"
        if last:
            assert [len(s) for s in shares] == lengths, "len() is what each rank yields"
        segments.append(shares)
    yielded = [x for shares in segments for share in shares for x in share]
    counts = Counter(yielded)
    assert set(counts) <= POSITIVE
    # 90 per rank (< the first chunk of 256) leaves drawn, never yielded items in flight at
    # each save: they must come back, or the epoch would end short of items.
    left = len(POSITIVE) - sum(90 * r for r in worlds[:-1])
    if shard == "uneven":
        assert set(counts) == POSITIVE and len(yielded) == len(POSITIVE)
    elif shard == "pad":
        extra = counts - Counter(POSITIVE)
        assert set(counts) == POSITIVE and sum(extra.values()) == -left % worlds[-1]
        head = _interleave(segments[0])  # the epoch's first items (no world before padded)
        assert set(extra) <= set(head[: worlds[-1] - 1])
    else:
        assert max(counts.values()) == 1 and len(yielded) == len(POSITIVE) - left % worlds[-1]


@pytest.mark.parametrize("shard", ["uneven", "pad", "drop"])
@pytest.mark.parametrize("worlds", [(2, 3, 1), (3, 1, 2)])
def test_with_replacement_the_draws_left_are_made_by_the_new_world(worlds, shard):
    total, state, seen = 1500, None, 0
    for i, reps in enumerate(worlds):
        last = i == len(worlds) - 1
        shares, state, lengths = _world(reps, state, None if last else 120, shard, True, num_samples=total)
        assert set().union(*shares) <= POSITIVE
        assert len({tuple(s) for s in shares}) == reps, "every rank draws its own stream"
        if last:
            left = total - seen
            want = {"uneven": [left // reps + (r < left % reps) for r in range(reps)],
                    "pad": [-(-left // reps)] * reps, "drop": [left // reps] * reps}[shard]
            assert [len(s) for s in shares] == lengths == want
        seen += 120 * reps


def test_with_replacement_draws_after_an_elastic_resume_follow_the_current_weights():
    # The weights change from uniform to 1..10 right before the save; the 3 new ranks must
    # draw from 1..10 (and not from the weights the sampler was built with).
    counts = torch.zeros(10)
    for seed in range(4):
        old = [DynamicWeightedSampler(torch.ones(10), 20_000, seed=seed, num_replicas=2, rank=r) for r in range(2)]
        iters = [iter(s) for s in old]
        for it in iters:
            list(itertools.islice(it, 1000))
        for s in old:
            s.update_weights(torch.arange(10), torch.arange(1.0, 11.0))
        state = old[1].state_dict()
        for r in range(3):
            new = DynamicWeightedSampler(torch.ones(10), 20_000, seed=seed, num_replicas=3, rank=r)
            new.load_state_dict(state)
            draws = list(new)
            assert len(draws) == 6000  # (20,000 - 2 x 1000) / 3
            counts += torch.bincount(torch.tensor(draws), minlength=10)
    expected = torch.arange(1.0, 11.0) / 55 * counts.sum()
    assert stats.chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("replacement", [True, False])
def test_a_resumed_world_resumes_exactly_on_its_own_size(replacement):
    # 2 ranks save; 3 ranks continue from it, save again mid-way (after an update) and a
    # second 3-rank run continues exactly as the uninterrupted 3-rank run.
    num = 1500 if replacement else None
    _, first, _ = _world(2, None, 40, "pad", replacement, num)
    whole, _, _ = _world(3, first, None, "pad", replacement, num)

    samplers = [
        DynamicWeightedSampler(WEIGHTS, num, replacement=replacement, seed=7, num_replicas=3, rank=r) for r in range(3)
    ]
    for s in samplers:
        s.load_state_dict(first)
    iters = [iter(s) for s in samplers]
    head = [list(itertools.islice(it, 300)) for it in iters]  # past the first chunk
    states = [s.state_dict() for s in samplers]
    assert states[0]["start"] == 80 and states[0]["chunk"] is not None
    tails = []
    for r in range(3):
        s = DynamicWeightedSampler(WEIGHTS, num, replacement=replacement, seed=7, num_replicas=3, rank=r)
        s.load_state_dict(states[r])
        tails.append(list(s))
    assert [h + t for h, t in zip(head, tails, strict=True)] == whole


def test_ranks_at_different_positions_resume_from_the_smallest_without_losing_items():
    old = [
        DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7, num_replicas=2, rank=r, shard="uneven")
        for r in range(2)
    ]
    iters = [iter(s) for s in old]
    consumed = list(itertools.islice(iters[0], 60)) + list(itertools.islice(iters[1], 50))  # rank 0 is 10 ahead
    behind = min((s.state_dict() for s in old), key=lambda state: state["position"])
    rest = []
    for r in range(3):
        new = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7, num_replicas=3, rank=r, shard="uneven")
        new.load_state_dict(behind)
        rest += list(new)
    counts = Counter(consumed + rest)
    assert set(counts) == POSITIVE  # nothing skipped
    repeated = counts - Counter(POSITIVE)
    assert sum(repeated.values()) <= 10 and set(repeated) <= set(consumed[50:60])  # only rank 0's extra items


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("replacement", [True, False])
def test_stateful_dataloader_state_of_one_rank_continues_on_three(replacement, workers):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")

    def loader(reps, rank):
        sampler = DynamicWeightedSampler(WEIGHTS, 1500 if replacement else None, replacement=replacement, seed=3,
                                         num_replicas=reps, rank=rank, shard="uneven")
        return stateful.StatefulDataLoader(
            list(range(N)), sampler=sampler, batch_size=8, num_workers=workers, collate_fn=list
        )

    old = [loader(2, r) for r in range(2)]
    iters = [iter(x) for x in old]
    first = [i for it in iters for _ in range(5) for i in next(it)]
    state = old[0].state_dict()
    rest = []
    for r in range(3):
        new = loader(3, r)
        new.load_state_dict(state)
        rest += [i for batch in new for i in batch]
    if replacement:
        assert len(first) + len(rest) == 1500 and set(rest) <= POSITIVE
    else:
        assert sorted(first + rest) == sorted(POSITIVE)  # every item exactly once


def test_a_state_saved_after_set_epoch_starts_the_new_epoch_fresh():
    s = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7)
    list(s)  # several chunks
    s.set_epoch(EPOCH)
    state = s.state_dict()
    assert state["chunk"] is None and not bool(state["taken"].any()) and state["head"] == []
    fresh = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7, num_replicas=2, rank=1)
    fresh.set_epoch(EPOCH)
    resumed = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7, num_replicas=2, rank=1)
    resumed.load_state_dict(state)  # saved by 1 rank at position 0: the 2-rank epoch from its start
    assert list(resumed) == list(fresh)


def test_a_position_before_the_drawn_items_is_refused():
    s = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7)
    it = iter(s)
    list(itertools.islice(it, 100))
    s.update_weights(*BOOST)  # the chunk is cut: its 100 consumed items stay drawn, no chunk to replay
    state = s.state_dict()
    assert state["chunk"] is None and int(state["taken"].sum()) == 100
    state["position"] = 99
    with pytest.raises(ValueError, match=r"`state_dict\['position'\]` must cover the 100 items"):
        DynamicWeightedSampler(WEIGHTS, replacement=False, seed=7, num_replicas=3, rank=0).load_state_dict(state)


def test_with_replacement_a_world_size_seen_before_draws_a_new_stream():
    # 2 -> 3 -> 2 ranks: the second 2-rank world is keyed by its global offset, so it does
    # not draw the first world's sequence again.
    first, state, _ = _world(2, None, 120, "pad", True, num_samples=1500)
    _, state, _ = _world(3, state, 120, "pad", True, num_samples=1500)
    assert state["start"] == 240
    again, _, _ = _world(2, state, 120, "pad", True, num_samples=1500)
    assert all(a != b for a, b in zip(first, again, strict=True))
