"""OrderSampler (reshuffle / shuffle once / with replacement / sequential) and BootstrapSampler."""

import math
import pickle

import pytest
import torch
from scipy import stats

from torch_mlsd.sampling.bootstrap import BootstrapSampler
from torch_mlsd.sampling.orders import ORDERS, OrderSampler, order_indices, uniform_indices

ALPHA = 1e-3  # chi-square tests: fixed seeds, rejection level 0.1%


def _epochs(sampler, count):
    out = []
    for epoch in range(count):
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_reshuffle_is_a_new_permutation_every_epoch():
    epochs = _epochs(OrderSampler(50, order="reshuffle", seed=1), 4)
    assert all(sorted(e) == list(range(50)) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 4


def test_shuffle_once_repeats_one_permutation():
    epochs = _epochs(OrderSampler(50, order="shuffle_once", seed=1), 4)
    assert sorted(epochs[0]) == list(range(50)) and epochs[0] != list(range(50))
    assert all(e == epochs[0] for e in epochs)
    assert epochs[0] == list(OrderSampler(50, order="reshuffle", seed=1))  # the first reshuffle pass
    assert epochs[0] != list(OrderSampler(50, order="shuffle_once", seed=2))


def test_sequential():
    assert _epochs(OrderSampler(5, order="sequential"), 2) == [[0, 1, 2, 3, 4]] * 2
    assert _epochs(OrderSampler(5, order="sequential", num_samples=3), 3) == [[0, 1, 2], [3, 4, 0], [1, 2, 3]]


def test_with_replacement_is_uniform_and_repeats_as_it_should():
    n, epochs = 50, 400
    sampler = OrderSampler(n, order="with_replacement", seed=3)
    draws = torch.tensor(_epochs(sampler, epochs))
    counts = torch.bincount(draws.flatten(), minlength=n)
    assert stats.chisquare(counts.tolist()).pvalue > ALPHA
    # Distinct values among n draws from n: mean n (1 - (1 - 1/n)^n) = 31.79 at n = 50;
    # per epoch sd ~ 2.3, so the mean over 400 epochs has sd ~ 0.12: allow 5 sd.
    distinct = torch.tensor([len(set(row.tolist())) for row in draws], dtype=torch.float64)
    assert abs(float(distinct.mean()) - n * (1 - (1 - 1 / n) ** n)) < 0.6
    assert len({tuple(row.tolist()) for row in draws}) == epochs


def test_uniform_indices_cover_the_range_without_modulo_bias():
    g = torch.Generator().manual_seed(0)
    draws = uniform_indices(7, 70_000, g)
    assert draws.dtype == torch.int64 and int(draws.min()) == 0 and int(draws.max()) == 6
    assert stats.chisquare(torch.bincount(draws).tolist()).pvalue > ALPHA


@pytest.mark.parametrize("order", ["reshuffle", "shuffle_once", "sequential"])
def test_short_epochs_walk_through_the_stream(order):
    # num_samples < n: consecutive epochs continue the current pass before a new one.
    sampler = OrderSampler(10, order=order, num_samples=4, seed=5)
    stream = [i for e in _epochs(sampler, 5) for i in e]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    if order != "reshuffle":
        assert stream[:10] == stream[10:20]
    else:
        assert stream[:10] != stream[10:20]


def test_long_epochs_span_several_passes():
    epoch = list(OrderSampler(10, order="reshuffle", num_samples=25, seed=2))
    assert len(epoch) == 25
    assert sorted(epoch[:10]) == sorted(epoch[10:20]) == list(range(10)) and epoch[:10] != epoch[10:20]


def test_functional_matches_sampler_and_epoch_indices():
    for order in ORDERS:
        sampler = OrderSampler(20, order=order, seed=4, num_samples=15)
        sampler.set_epoch(3)
        expected = order_indices(20, order=order, num_samples=15, epoch=3, generator=torch.Generator().manual_seed(4))
        got = sampler.epoch_indices()
        assert torch.equal(got, expected) and got.dtype == torch.int64
        got.zero_()  # a copy: the sampler is unaffected
        assert list(sampler) == expected.tolist() and sampler.epoch == 3


def test_determinism_and_forgotten_set_epoch():
    a, b = OrderSampler(30, seed=6), OrderSampler(30, seed=6)
    e0, e1 = list(a), list(a)
    assert e0 == list(b) and e0 != e1 and a.epoch == 1
    b.set_epoch(1)
    assert list(b) == e1


@pytest.mark.parametrize("order", ORDERS)
def test_shards_disjoint_complete_equal_within_one_process(order):
    single = list(OrderSampler(23, order=order, seed=8))
    shares = [list(OrderSampler(23, order=order, seed=8, num_replicas=3, rank=r, shard="uneven")) for r in range(3)]
    assert [len(s) for s in shares] == [8, 8, 7]
    assert sorted(i for s in shares for i in s) == sorted(single)
    assert shares[1] == single[1::3]
    padded = [list(OrderSampler(23, order=order, seed=8, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(s) for s in padded] == [8, 8, 8]


@pytest.mark.parametrize("order", ORDERS)
def test_resume_mid_epoch_equals_uninterrupted_run(order):
    full = OrderSampler(100, order=order, seed=9, num_replicas=2, rank=0)
    full.set_epoch(2)
    expected = list(full)
    run = OrderSampler(100, order=order, seed=9, num_replicas=2, rank=0)
    run.set_epoch(2)
    it = iter(run)
    head = [next(it) for _ in range(17)]
    resumed = pickle.loads(pickle.dumps(OrderSampler(100, order=order, seed=9, num_replicas=2, rank=0)))
    resumed.load_state_dict(pickle.loads(pickle.dumps(run.state_dict())))
    assert head + list(resumed) == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"order": "random"}, ValueError, "`order` must be one of 'reshuffle', 'shuffle_once', 'with_replacement', 'sequential'"),
        ({"order": None}, ValueError, "`order` must be one of"),
        ({"n": 0}, ValueError, "`n` must be >= 1"),
        ({"n": True}, TypeError, "`n` must be an int"),
        ({"n": 5.0}, TypeError, "`n` must be an int"),
        ({"num_samples": 0}, ValueError, "`num_samples` must be >= 1"),
        ({"seed": -3}, ValueError, "`seed` must be >= 0"),
        ({"rank": 2, "num_replicas": 2}, ValueError, "`rank` must be in"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    kwargs = {"n": 10, **kwargs}
    with pytest.raises(error, match=match):
        OrderSampler(**kwargs)
    if set(kwargs) <= {"n", "order", "num_samples"}:
        with pytest.raises(error, match=match):
            order_indices(**kwargs)
    with pytest.raises(ValueError, match="`epoch` must be >= 0"):
        order_indices(10, epoch=-1)
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator or None, got int"):
        order_indices(10, generator=3)


# -- bootstrap -------------------------------------------------------------------------


def test_out_of_bag_fraction_matches_theory():
    # Fraction of examples left out of n draws from n: (1 - 1/n)^n = 0.3677 at n = 1000.
    # Empty-bin count variance ~ n e^-1 (1 - 2 e^-1) -> sd 0.0099 per bag; over 200 bags
    # the mean has sd 0.0007: allow 5 sd.
    n, bags = 1000, 200
    sampler = BootstrapSampler(n, seed=0)
    fractions = []
    for epoch in range(bags):
        sampler.set_epoch(epoch)
        fractions.append(len(sampler.out_of_bag_indices()) / n)
    assert abs(sum(fractions) / bags - (1 - 1 / n) ** n) < 0.0035
    assert abs((1 - 1 / n) ** n - math.exp(-1)) < 2e-4


def test_bag_counts_out_of_bag_and_iteration_agree():
    sampler = BootstrapSampler(200, seed=1)
    sampler.set_epoch(5)
    drawn = list(sampler)
    bag, counts, oob = sampler.bag(), sampler.in_bag_counts(), sampler.out_of_bag_indices()
    assert drawn == bag.tolist() and len(drawn) == 200
    assert torch.equal(counts, torch.bincount(torch.tensor(drawn), minlength=200)) and int(counts.sum()) == 200
    assert oob.tolist() == sorted(set(range(200)) - set(drawn))
    assert oob.dtype == torch.int64


def test_bootstrap_epochs_ranks_and_num_samples():
    sampler = BootstrapSampler(100, num_samples=50, seed=2)
    first_oob = sampler.out_of_bag_indices()
    list(sampler)
    assert torch.equal(sampler.out_of_bag_indices(), first_oob)  # still epoch 0 after iterating it
    second = list(sampler)  # forgotten set_epoch: epoch 1, a new bag
    assert len(second) == 50 and sampler.epoch == 1 and not torch.equal(sampler.out_of_bag_indices(), first_oob)
    shares = [BootstrapSampler(100, seed=3, num_replicas=2, rank=r, shard="uneven") for r in range(2)]
    union = sorted(i for s in shares for i in s)
    assert union == sorted(BootstrapSampler(100, seed=3).bag().tolist())
    assert torch.equal(shares[0].out_of_bag_indices(), shares[1].out_of_bag_indices())


def test_bootstrap_resume_and_bad_inputs():
    run = BootstrapSampler(64, seed=4)
    expected = list(BootstrapSampler(64, seed=4))
    it = iter(run)
    head = [next(it) for _ in range(10)]
    resumed = pickle.loads(pickle.dumps(BootstrapSampler(64, seed=4)))
    resumed.load_state_dict(run.state_dict())
    assert head + list(resumed) == expected
    with pytest.raises(ValueError, match="`n` must be >= 1"):
        BootstrapSampler(0)
    with pytest.raises(TypeError, match="`num_samples` must be an int"):
        BootstrapSampler(5, num_samples=2.5)
