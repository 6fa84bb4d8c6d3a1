"""Elastic resume (issue 15) and resume without a seed (issue 11, defect 7).

An epoch started on R ranks is saved from one rank and continued on R' ranks (state of
that one rank loaded on every new rank): what every old rank consumed never comes again,
nothing left is skipped, the new shares are disjoint and of equal length (``"pad"`` /
``"drop"``), and the union of all segments is the single-process epoch exactly once plus
only ``"pad"``'s repeats of the epoch's first items.
"""

from collections import Counter
from itertools import chain, zip_longest

import pytest
import torch

from torch_mlsd.sampling import (
    BootstrapSampler,
    ClassBalancedBatchSampler,
    ImportanceSampler,
    ImportanceWeighted,
    OrderSampler,
    StratifiedBatchSampler,
    WeightedSampler,
)
from torch_mlsd.sampling._base import EpochSampler

LABELS = torch.repeat_interleave(torch.arange(4), torch.tensor([50, 30, 15, 6]))  # 101 examples
WEIGHTS = torch.arange(1, 102, dtype=torch.float64) % 5  # 101 items, 81 positive

# Every sampler whose epoch is one global order; (items per epoch, what a rank yields).
GLOBAL_ORDER = {
    "OrderSampler": lambda **kw: OrderSampler(101, **kw),
    "OrderSampler(with_replacement)": lambda **kw: OrderSampler(101, order="with_replacement", **kw),
    "WeightedSampler(no replacement)": lambda **kw: WeightedSampler(WEIGHTS, replacement=False, **kw),
    "StratifiedBatchSampler": lambda **kw: StratifiedBatchSampler(LABELS, 4, **kw),
    "ClassBalancedBatchSampler": lambda **kw: ClassBalancedBatchSampler(
        LABELS, classes_per_batch=2, samples_per_class=2, num_batches=25, **kw
    ),
    "BootstrapSampler": lambda **kw: BootstrapSampler(101, **kw),
}
EVERY_SAMPLER = {
    **GLOBAL_ORDER,
    "WeightedSampler": lambda **kw: WeightedSampler(WEIGHTS, 60, **kw),
    "ImportanceSampler": lambda **kw: ImportanceSampler(torch.arange(1.0, 102.0), num_samples=60, **kw),
}
EPOCH = 3
# torchdata 0.11's StatefulDataLoader calls torch's deprecated `set_vital` when it is built.
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")


def _key(item):
    return tuple(item) if isinstance(item, list) else item


def _segment(make, reps, state, take, shard):
    """``reps`` ranks in lockstep, each loading ``state``; each takes ``take`` items (None: all)."""
    samplers = [make(seed=7, num_replicas=reps, rank=r, shard=shard) for r in range(reps)]
    shares = []
    for s in samplers:
        s.set_epoch(EPOCH)
        if state is not None:
            s.load_state_dict(state)
            s.set_epoch(EPOCH)  # a restarted loop calls it again: the position must stay
        it = iter(s)
        shares.append([_key(x) for x in (it if take is None else (next(it) for _ in range(take)))])
    lengths = {len(s) for s in samplers}
    return shares, samplers[0].state_dict(), lengths


def _interleave(shares):
    return [x for x in chain.from_iterable(zip_longest(*shares)) if x is not None]


@pytest.mark.parametrize("shard", ["uneven", "pad", "drop"])
@pytest.mark.parametrize("name", GLOBAL_ORDER)
@pytest.mark.parametrize("worlds", [(2, 3, 1), (3, 1, 2), (2, 2, 4)])
def test_epoch_continues_on_any_number_of_ranks(name, shard, worlds):
    make = GLOBAL_ORDER[name]
    single = make(seed=7)
    single.set_epoch(EPOCH)
    epoch = [_key(x) for x in single]
    n = len(epoch)
    state, yielded, repeats_allowed = None, [], 0
    for i, reps in enumerate(worlds):
        last = i == len(worlds) - 1
        shares, state, lengths = _segment(make, reps, state, None if last else 3, shard)
        if shard != "uneven":
            assert len({len(s) for s in shares}) == 1, "equal shares"
            if last:
                assert lengths == {len(shares[0])}, "len() is what each rank yields"
        yielded += _interleave(shares)
        repeats_allowed += reps - 1
    assert state["epoch"] == EPOCH and set(state) >= {"start", "position", "seed", "num_replicas"}
    got, want = Counter(yielded), Counter(epoch)
    if shard == "uneven":
        assert yielded == epoch  # in order, every item exactly once
    elif shard == "pad":
        extra = got - want
        assert not want - got, "nothing skipped"
        assert sum(extra.values()) <= repeats_allowed and set(extra) <= set(epoch[:repeats_allowed])
    else:
        assert not got - want, "nothing repeated"
        assert len(yielded) >= n - max(worlds) and yielded == epoch[: len(yielded)]


def test_same_world_resume_is_exact_and_padding_repeats_the_epochs_head():
    make = GLOBAL_ORDER["StratifiedBatchSampler"]  # 26 batches
    full, _, _ = _segment(make, 4, None, None, "pad")
    head, state, _ = _segment(make, 4, None, 2, "pad")
    rest, _, _ = _segment(make, 4, state, None, "pad")
    assert [h + r for h, r in zip(head, rest, strict=True)] == full
    # 26 batches on 3 ranks from global offset 8 (4 ranks x 2): 18 left, no padding;
    # on 4 ranks from 26 - 2: ranks 2 and 3 repeat batches 0 and 1 of the epoch.
    epoch = _interleave(full)[:26]
    three, _, _ = _segment(make, 3, state, None, "pad")
    assert _interleave(three) == epoch[8:]
    late = dict(state, position=6)
    four, _, _ = _segment(make, 4, late, None, "pad")
    assert [s for s in four] == [[epoch[24]], [epoch[25]], [epoch[0]], [epoch[1]]]


def test_a_finished_epoch_stays_finished_and_the_next_epoch_is_fresh():
    make = GLOBAL_ORDER["OrderSampler"]
    _, done, _ = _segment(make, 2, None, None, "drop")  # 50 each, item 100 dropped
    s = make(seed=7, num_replicas=3, rank=1, shard="drop")
    s.load_state_dict(done)
    assert list(s) == [] and len(s) == 0
    fresh = make(seed=7, num_replicas=3, rank=1, shard="drop")
    fresh.set_epoch(EPOCH + 1)
    assert list(s) == list(fresh) and len(s) == 33


def test_weighted_with_replacement_continues_with_the_right_distribution():
    weights = torch.tensor([1.0, 2.0, 0.0, 5.0])
    counts = torch.zeros(4)
    for trial in range(40):
        old = WeightedSampler(weights, 1000, seed=trial, num_replicas=2, rank=0)
        it = iter(old)
        [next(it) for _ in range(100)]
        state = old.state_dict()
        shares = []
        for r in range(3):
            new = WeightedSampler(weights, 1000, seed=trial, num_replicas=3, rank=r)
            new.load_state_dict(state)
            shares.append(list(new))
        assert [len(s) for s in shares] == [267] * 3  # ceil(800 / 3): the epoch's 800 draws left
        assert len({tuple(s) for s in shares}) == 3
        counts += torch.bincount(torch.tensor(sum(shares, [])), minlength=4)
    # 32,040 draws; expected shares 1/8, 2/8, 0, 5/8; binomial sd < 0.003: allow 5 sd.
    freq = counts / counts.sum()
    assert counts[2] == 0 and torch.allclose(freq, torch.tensor([0.125, 0.25, 0.0, 0.625]), atol=0.015)


class _OwnShares(EpochSampler[int]):
    """A subclass that makes its own shares and does not declare the elastic hook."""

    def _num_global_items(self) -> int:
        return 10

    def _rank_items(self):
        return torch.arange(self.rank, 10, self.num_replicas)


def test_a_subclass_with_its_own_shares_refuses_another_world_size():
    state = _OwnShares(num_replicas=2, rank=0).state_dict()
    with pytest.raises(ValueError, match=r"`state_dict\['num_replicas'\]` must equal .* cannot resume an epoch"):
        _OwnShares(num_replicas=3, rank=0).load_state_dict(state)
    _OwnShares(num_replicas=2, rank=1).load_state_dict(state)  # same world: fine


@pytest.mark.parametrize("name", EVERY_SAMPLER)
def test_the_shard_mode_is_saved_and_must_match_on_the_same_world(name):
    make = EVERY_SAMPLER[name]
    run = make(seed=7, num_replicas=2, rank=0, shard="uneven")
    it = iter(run)
    head = [next(it) for _ in range(3)]
    state = run.state_dict()
    rest = list(it)
    assert state["shard"] == "uneven" and head
    for other in ("pad", "drop"):
        with pytest.raises(ValueError, match=rf"`state_dict\['shard'\]` must equal this sampler's shard '{other}' "
                                             r"on the same num_replicas \(each rank continues its own share\), "
                                             r"got 'uneven'"):
            make(seed=7, num_replicas=2, rank=0, shard=other).load_state_dict(state)
    with pytest.raises(ValueError, match=r"`state_dict\['shard'\]` must be one of 'pad', 'drop', 'uneven'"):
        make(seed=7, num_replicas=2, rank=0, shard="uneven").load_state_dict(dict(state, shard="even"))
    same = make(seed=7, num_replicas=2, rank=0, shard="uneven")
    same.load_state_dict(state)
    assert list(same) == rest
    # A state saved before "shard" existed is read as saved under the loading sampler's mode.
    legacy = make(seed=7, num_replicas=2, rank=0, shard="uneven")
    legacy.load_state_dict({k: v for k, v in state.items() if k != "shard"})
    assert list(legacy) == rest


def test_the_saved_shard_mode_reads_the_position_on_another_world():
    make = GLOBAL_ORDER["OrderSampler"]
    _, done, _ = _segment(make, 2, None, None, "drop")  # 50 each: the "drop" shares are used up
    assert done["shard"] == "drop"
    for shard in ("pad", "uneven"):  # another world shares the rest afresh, under its own mode
        resumed = [make(seed=7, num_replicas=3, rank=r, shard=shard) for r in range(3)]
        for s in resumed:
            s.load_state_dict(done)
        assert [list(s) for s in resumed] == [[], [], []]  # the epoch was finished, item 100 included
    # A state without "shard" is read with the loading sampler's "pad": position 50 < 51 leaves
    # item 100 (the one "drop" left out) to share, padded to one item per rank.
    legacy = [make(seed=7, num_replicas=3, rank=r, shard="pad") for r in range(3)]
    for s in legacy:
        s.load_state_dict({k: v for k, v in done.items() if k != "shard"})
    assert [len(list(s)) for s in legacy] == [1, 1, 1]


# -- resume without a seed (issue 11, defect 7) ------------------------------------------


@pytest.mark.parametrize("name", EVERY_SAMPLER)
def test_a_drawn_seed_is_adopted_and_a_given_one_must_match(name):
    make = EVERY_SAMPLER[name]
    run = make(seed=None)
    run.set_epoch(2)
    it = iter(run)
    head = [next(it) for _ in range(5)]
    state = run.state_dict()
    rest = list(it)
    other = make(seed=None)
    assert other.seed != run.seed  # 63 random bits
    other.load_state_dict(state)
    assert other.seed == run.seed and head + list(other) == head + rest
    with pytest.raises(ValueError, match=r"`state_dict\['seed'\]` must equal this sampler's seed 5"):
        make(seed=5).load_state_dict(state)


# -- through torchdata's StatefulDataLoader ------------------------------------------------

BATCH = 4


def _loader(sampler, workers):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    data = ImportanceWeighted(list(range(101))) if isinstance(sampler, ImportanceSampler) else list(range(101))
    if isinstance(sampler, (StratifiedBatchSampler, ClassBalancedBatchSampler)):
        return stateful.StatefulDataLoader(data, batch_sampler=sampler, num_workers=workers, collate_fn=list)
    return stateful.StatefulDataLoader(data, sampler=sampler, batch_size=BATCH, num_workers=workers, collate_fn=list)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", ["OrderSampler", "WeightedSampler", "StratifiedBatchSampler", "ImportanceSampler",
                                  "ClassBalancedBatchSampler", "BootstrapSampler", "WeightedSampler(no replacement)"])
def test_stateful_dataloader_resumes_a_sampler_without_seed(name, workers):
    make = EVERY_SAMPLER[name]
    loader = _loader(make(seed=None), workers)
    it = iter(loader)
    head = [next(it) for _ in range(3)]
    state = loader.state_dict()
    rest = list(it)
    again = _loader(make(seed=None), workers)
    again.load_state_dict(state)
    assert head + list(again) == head + rest and len(rest) > 0


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", ["OrderSampler", "StratifiedBatchSampler", "WeightedSampler(no replacement)"])
def test_stateful_dataloader_state_of_one_rank_continues_on_three(name, workers):
    make = GLOBAL_ORDER[name]
    single = make(seed=7)
    epoch = list(_loader(single, 0))  # batches of the single-process epoch
    flat = [i for b in epoch for i in b]
    loaders = [_loader(make(seed=7, num_replicas=2, rank=r, shard="uneven"), workers) for r in range(2)]
    its = [iter(x) for x in loaders]
    first = [[next(it) for _ in range(3)] for it in its]
    state = loaders[0].state_dict()  # rank 0's state, loaded on every new rank
    assert state is not None
    rest = []
    for r in range(3):
        loader = _loader(make(seed=7, num_replicas=3, rank=r, shard="uneven"), workers)
        loader.load_state_dict(state)
        rest.append(list(loader))
    seen = [i for share in first + rest for b in share for i in b]
    assert sorted(seen) == sorted(flat)  # every item of the epoch exactly once


def test_ranks_at_different_positions_resume_from_the_smallest_without_skipping():
    make = GLOBAL_ORDER["OrderSampler"]
    old = [make(seed=7, num_replicas=2, rank=r, shard="uneven") for r in range(2)]
    its = [iter(s) for s in old]
    consumed = [next(its[0]) for _ in range(9)] + [next(its[1]) for _ in range(6)]  # rank 0 is 3 ahead
    behind = min((s.state_dict() for s in old), key=lambda state: state["position"])
    assert behind["position"] == 6
    rest = []
    for r in range(3):
        new = make(seed=7, num_replicas=3, rank=r, shard="uneven")
        new.load_state_dict(behind)
        rest += list(new)
    repeated = Counter(consumed + rest) - Counter(range(101))
    assert set(consumed + rest) == set(range(101))  # nothing skipped
    assert sum(repeated.values()) == 3 and set(repeated) <= set(consumed[6:9])  # rank 0's 3 extra items
