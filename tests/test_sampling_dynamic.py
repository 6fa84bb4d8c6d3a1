"""DynamicWeightedSampler: probabilities, update granularity, without replacement, shares, resume, errors."""

import itertools
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from torch_mlsd.sampling import DynamicWeightedSampler, WeightedSampler
from torch_mlsd.sampling._sum_tree import SumTree

stats = pytest.importorskip("scipy.stats")

ALPHA = 1e-3  # every chi-square test below rejects at this level (the seeds are fixed)


def _chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs.double() / probs.double().sum() * counts.sum()
    return float(stats.chisquare(counts.double().numpy(), expected.numpy()).pvalue)


def _take(it, k):
    return list(itertools.islice(it, k))


# -- the sum tree ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5, 13, 1000, 4097])
def test_sum_tree_updates_equal_a_fresh_build_bit_for_bit(n):
    g = torch.Generator().manual_seed(n)
    w = torch.rand(n, dtype=torch.float64, generator=g)
    tree = SumTree(w)
    for _ in range(3):
        idx = torch.randperm(n, generator=g)[: max(1, n // 3)]
        vals = torch.rand(len(idx), dtype=torch.float64, generator=g) * (torch.rand(len(idx), generator=g) > 0.3)
        tree.set(idx, vals)
        w[idx] = vals
    fresh = SumTree(w)
    assert all(torch.equal(a, b) for a, b in zip(tree.levels, fresh.levels))
    assert tree.total() == pytest.approx(float(w.sum()), rel=1e-12)


def test_sum_tree_draws_follow_the_leaves_and_skip_zeros():
    w = torch.tensor([0.0, 1.0, 0.0, 3.0, 0.0, 0.5, 2.0, 0.0, 0.0, 1.5, 0.0], dtype=torch.float64)
    tree = SumTree(w)
    u = torch.rand(300_000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(tree.find(u), minlength=len(w))
    assert int(counts[w == 0].sum()) == 0
    assert _chi2_pvalue(counts[w > 0], w[w > 0]) > ALPHA
    # the extreme uniforms land on the first and last positive leaves
    assert tree.find(torch.tensor([0.0, 1.0 - 2**-53], dtype=torch.float64)).tolist() == [1, 9]


# -- drawing ------------------------------------------------------------------------------------
def test_with_replacement_frequencies_match_the_weights():
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 0.0, 4.0, 3.0, 0.25, 1.5, 7.0])
    sampler = DynamicWeightedSampler(w, 200_000, seed=1)
    counts = torch.bincount(torch.tensor(list(sampler)), minlength=len(w))
    assert int(counts[w == 0].sum()) == 0
    assert _chi2_pvalue(counts[w > 0], w[w > 0]) > ALPHA


def test_without_replacement_orders_match_successive_sampling():
    # P(first two = (i, j)) = w_i / W * w_j / (W - w_i), over 6000 epochs of 2 draws.
    w = [1.0, 2.0, 3.0, 4.0]
    sampler = DynamicWeightedSampler(w, 2, replacement=False, seed=5)
    counts = torch.zeros(4, 4)
    for epoch in range(6000):
        sampler.set_epoch(epoch)
        i, j = list(sampler)
        counts[i, j] += 1
    total = sum(w)
    probs = torch.tensor([[w[i] / total * w[j] / (total - w[i]) if i != j else 0.0 for j in range(4)] for i in range(4)])
    mask = probs > 0
    assert int(counts[~mask].sum()) == 0
    assert _chi2_pvalue(counts[mask], probs[mask]) > ALPHA


@pytest.mark.parametrize("replacement", [True, False])
def test_determinism_epochs_and_auto_advance(replacement):
    w = torch.arange(1.0, 201.0)
    a, b = DynamicWeightedSampler(w, 150, replacement=replacement, seed=3), DynamicWeightedSampler(w, 150, replacement=replacement, seed=3)
    first = list(a)
    assert first == list(b) and len(first) == len(a) == 150
    second = list(a)  # no set_epoch: the epoch advances by itself
    assert second != first and a.epoch == 1
    a.set_epoch(0)
    assert list(a) == first
    if not replacement:
        assert len(set(first)) == 150


def test_without_replacement_draws_every_positive_item_once():
    w = torch.rand(5000, generator=torch.Generator().manual_seed(0)) * (torch.arange(5000) % 4 != 0)
    items = list(DynamicWeightedSampler(w, replacement=False, seed=2))
    assert sorted(items) == (w > 0).nonzero().squeeze(1).tolist()


# -- updates --------------------------------------------------------------------------------------
@pytest.mark.parametrize("consumed", [0, 1, 100, 255, 256, 257, 1000])
def test_an_update_applies_from_the_next_yielded_index(consumed):
    n = 50
    sampler = DynamicWeightedSampler(torch.ones(n), 2000, seed=0)
    it = iter(sampler)
    head = _take(it, consumed)
    sampler.update_weights(torch.arange(n - 1), torch.zeros(n - 1))  # only item n-1 is left
    rest = list(it)
    assert len(head) + len(rest) == 2000
    assert set(rest) == {n - 1}
    assert sampler.position() == 2000


def test_an_empty_update_changes_nothing():
    a, b = DynamicWeightedSampler(torch.ones(50), 3000, seed=0), DynamicWeightedSampler(torch.ones(50), 3000, seed=0)
    it = iter(a)
    head = _take(it, 300)
    a.update_weights([], [])
    a.update_weights(torch.zeros(0, dtype=torch.int64), torch.zeros(0))
    assert head + list(it) == list(b)


def test_an_update_before_iteration_applies_to_the_whole_epoch():
    sampler = DynamicWeightedSampler(torch.ones(10), 1000, seed=0)
    sampler.update_weights([3, 7], [5.0, 0.0])
    counts = torch.bincount(torch.tensor(list(sampler)), minlength=10)
    assert counts[7] == 0
    probs = torch.tensor([1.0] * 10)
    probs[3], probs[7] = 5.0, 0.0
    assert _chi2_pvalue(counts[probs > 0], probs[probs > 0]) > ALPHA


def test_update_mid_epoch_shifts_the_frequencies_of_the_rest():
    sampler = DynamicWeightedSampler(torch.ones(4), 40_000, seed=0)
    it = iter(sampler)
    head = torch.tensor(_take(it, 20_000))
    sampler.update_weights([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0])
    rest = torch.tensor(list(it))
    assert _chi2_pvalue(torch.bincount(head, minlength=4), torch.ones(4)) > ALPHA
    assert _chi2_pvalue(torch.bincount(rest, minlength=4), torch.tensor([1.0, 2.0, 3.0, 4.0])) > ALPHA


def test_without_replacement_update_reaches_undrawn_items_only():
    n = 100
    sampler = DynamicWeightedSampler(torch.ones(n), replacement=False, seed=4)
    it = iter(sampler)
    head = _take(it, 30)
    fresh = next(i for i in range(n) if i not in head)
    # A huge weight on an undrawn item makes it the very next index; on drawn items it is
    # stored for the next epoch and they are not drawn again.
    sampler.update_weights([fresh] + head[:5], [1e12] + [1e12] * 5)
    rest = list(it)
    assert rest[0] == fresh
    assert sorted(head + rest) == list(range(n))
    assert sampler.weights[head[:5]].tolist() == [1e12] * 5
    sampler.set_epoch(1)
    nxt = list(sampler)
    assert set(nxt[:6]) == {fresh, *head[:5]}


def test_updates_keep_the_sampler_equal_to_one_built_with_the_final_weights():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(1000, generator=g, dtype=torch.float64)
    sampler = DynamicWeightedSampler(w, 500, seed=9)
    for _ in range(5):
        idx = torch.randperm(1000, generator=g)[:50]
        vals = torch.rand(50, generator=g, dtype=torch.float64)
        sampler.update_weights(idx, vals)
        w[idx] = vals
    sampler.set_epoch(3)
    fresh = DynamicWeightedSampler(w, 500, seed=9)
    fresh.set_epoch(3)
    assert list(sampler) == list(fresh)
    assert torch.equal(sampler.weights, w)
    assert torch.allclose(sampler.probabilities(torch.arange(1000)), w / w.sum(), rtol=1e-12, atol=0)


def test_caller_tensors_are_not_modified():
    w = torch.ones(10)
    idx, vals = torch.tensor([1, 2]), torch.tensor([3.0, 0.0])
    sampler = DynamicWeightedSampler(w, 5, replacement=False)
    sampler.update_weights(idx, vals)
    list(sampler)
    assert w.tolist() == [1.0] * 10 and idx.tolist() == [1, 2] and vals.tolist() == [3.0, 0.0]


# -- shares -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shard", ["pad", "drop", "uneven"])
def test_shares_without_replacement_stay_disjoint_through_updates(shard):
    n, reps = 1003, 3
    samplers = [DynamicWeightedSampler(torch.ones(n), replacement=False, seed=1, num_replicas=reps, rank=r, shard=shard) for r in range(reps)]
    iters = [iter(s) for s in samplers]
    shares = [_take(it, 100) for it in iters]
    for s in samplers:  # without a process group every rank is given the same (all) updates
        s.update_weights(torch.arange(0, n, 2), torch.full((len(range(0, n, 2)),), 50.0))
    shares = [a + list(it) for a, it in zip(shares, iters)]
    assert [len(s) for s in shares] == [len(s) for s in samplers]
    flat = [i for s in shares for i in s]
    if shard == "pad":
        assert len(set(flat)) == n and len(flat) == reps * -(-n // reps)
    elif shard == "drop":
        assert len(set(flat)) == len(flat) == n - n % reps
    else:
        assert sorted(flat) == list(range(n))
    # after the update even items dominate the rest of every share
    later = [i for s in shares for i in s[100:200]]
    assert sum(i % 2 == 0 for i in later) / len(later) > 0.9


def test_shares_with_replacement_draw_their_own_stream():
    a = DynamicWeightedSampler(torch.ones(100), 1000, seed=1, num_replicas=2, rank=0)
    b = DynamicWeightedSampler(torch.ones(100), 1000, seed=1, num_replicas=2, rank=1)
    assert len(a) == len(b) == 500 and list(a) != list(b)


# -- resume ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("reps", [1, 2])
@pytest.mark.parametrize("cut", [0, 7, 300, 850])
def test_resume_mid_epoch_with_updates_equals_the_uninterrupted_run(replacement, reps, cut):
    n = 2000
    w0 = torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.1

    def run(stop=None, state=None):
        out, samplers = [], []
        for r in range(reps):
            s = DynamicWeightedSampler(w0, 1800, replacement=replacement, seed=11, num_replicas=reps, rank=r)
            s.set_epoch(1)
            samplers.append(s)
        if state is not None:
            for s, st in zip(samplers, state):
                s.load_state_dict(pickle.loads(pickle.dumps(st)))
        iters = [iter(s) for s in samplers]
        start = samplers[0].position()
        for step in range(start, len(samplers[0]), 50):
            if stop is not None and step >= stop:
                return out, [s.state_dict() for s in samplers]
            batches = [_take(it, 50) for it in iters]
            out.append(batches)
            if step % 100 == 0:  # a collective update of the items just drawn
                idx = torch.tensor(sorted({i for b in batches for i in b}))
                for s in samplers:
                    s.update_weights(idx, 1.0 + (idx % 7).double())
        return out, None

    full, _ = run()
    head, state = run(stop=cut)
    tail, _ = run(state=state)
    assert head + tail == full


def test_resume_before_any_chunk_and_at_the_end():
    s = DynamicWeightedSampler(torch.ones(20), replacement=False, seed=0)
    state = s.state_dict()
    assert state["chunk"] is None and state["position"] == 0
    epoch = list(s)
    t = DynamicWeightedSampler(torch.ones(20), replacement=False, seed=0)
    t.load_state_dict(state)
    assert list(t) == epoch
    t.load_state_dict(s.state_dict())  # at the end of the epoch: nothing is left
    assert list(t) == []


def test_state_dict_round_trips_weights_and_update_after_resume():
    s = DynamicWeightedSampler(torch.ones(30), 60, seed=2)
    it = iter(s)
    _take(it, 10)
    s.update_weights([4], [100.0])
    _take(it, 5)
    t = DynamicWeightedSampler(torch.ones(30), 60, seed=2)
    t.load_state_dict(s.state_dict())
    assert torch.equal(t.weights, s.weights)
    t.update_weights(torch.arange(29), torch.zeros(29))  # before iterating the resumed epoch
    assert set(t) == {29}


def test_position_before_the_chunk_is_refused_without_replacement():
    s = DynamicWeightedSampler(torch.ones(2000), replacement=False, seed=0)
    it = iter(s)
    _take(it, 1000)
    state = s.state_dict()
    state["position"] = state["chunk"][0] - 1
    with pytest.raises(ValueError, match="position"):
        DynamicWeightedSampler(torch.ones(2000), replacement=False, seed=0).load_state_dict(state)


# -- integration and contract ------------------------------------------------------------------
@pytest.mark.parametrize("replacement", [True, False])
def test_contract_pickle_dataloader(replacement):
    make = lambda: DynamicWeightedSampler(torch.arange(1.0, 101.0), 40, replacement=replacement, seed=3)  # noqa: E731
    a = make()
    a.set_epoch(2)
    clone = pickle.loads(pickle.dumps(a))
    assert list(clone) == list(a)
    loader = DataLoader(list(range(100)), batch_size=8, sampler=make())
    batches = [b.tolist() for b in loader]
    assert sum(len(b) for b in batches) == 40
    ref = make()
    ref.set_epoch(0)
    assert [i for b in batches for i in b] == list(ref)


def test_same_distribution_as_weighted_sampler_without_updates():
    w = torch.tensor([0.5, 0.0, 2.0, 1.0, 3.0])
    ours = torch.bincount(torch.tensor(list(DynamicWeightedSampler(w, 100_000, seed=0))), minlength=5)
    peer = torch.bincount(torch.tensor(list(WeightedSampler(w, 100_000, seed=0))), minlength=5)
    table = torch.stack([ours, peer])[:, w > 0].numpy()
    assert stats.chi2_contingency(table).pvalue > ALPHA


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "indices, weights, error, match",
    [
        ([1, 1], [1.0, 2.0], ValueError, "repeat"),
        ([10], [1.0], ValueError, r"in \[0, 10\)"),
        ([-1], [1.0], ValueError, r"in \[0, 10\)"),
        ([1.5], [1.0], TypeError, "integer"),
        (torch.tensor([True]), [1.0], TypeError, "integer"),
        ([1], [-1.0], ValueError, ">= 0"),
        ([1], [float("nan")], ValueError, "finite"),
        ([1], [float("inf")], ValueError, "finite"),
        ([1, 2], [1.0], ValueError, "length"),
        ([[1]], [1.0], ValueError, "dimensions"),
        ([1], ["a"], TypeError, "weights"),
        ("ab", [1.0], TypeError, "indices"),
    ],
)
def test_bad_updates_raise_and_change_nothing(indices, weights, error, match):
    s = DynamicWeightedSampler(torch.ones(10), 20, seed=0)
    before = s.weights
    with pytest.raises(error, match=match):
        s.update_weights(indices, weights)
    assert torch.equal(s.weights, before)


def test_updates_that_starve_the_sampler_raise():
    s = DynamicWeightedSampler(torch.ones(5), 10, seed=0)
    with pytest.raises(ValueError, match="at least one positive"):
        s.update_weights(torch.arange(5), torch.zeros(5))
    s = DynamicWeightedSampler(torch.ones(5), 4, replacement=False, seed=0)
    with pytest.raises(ValueError, match="num_samples=4"):
        s.update_weights([0, 1], [0.0, 0.0])
    it = iter(s)
    head = _take(it, 2)
    rest = [i for i in range(5) if i not in head]
    with pytest.raises(ValueError, match="not yet drawn"):
        s.update_weights(rest[:2], [0.0, 0.0])  # 2 left would be needed, 1 left
    s.update_weights(rest[:1], [0.0])
    assert sorted(head + list(it)) == sorted(set(range(5)) - {rest[0]})


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(weights=[-1.0, 1.0]), ValueError),
        (dict(weights=[0.0, 0.0]), ValueError),
        (dict(weights=[1.0, float("nan")]), ValueError),
        (dict(weights=[1.0, 0.0], num_samples=2, replacement=False), ValueError),
        (dict(weights=[1.0], num_samples=0), ValueError),
        (dict(weights=[1.0], replacement=1), TypeError),
    ],
)
def test_bad_construction_raises(kwargs, error):
    with pytest.raises(error):
        DynamicWeightedSampler(**kwargs)


def test_bad_state_dict_raises():
    s = DynamicWeightedSampler(torch.ones(5), replacement=False)
    state = s.state_dict()
    with pytest.raises(ValueError, match="shape"):
        DynamicWeightedSampler(torch.ones(6), replacement=False).load_state_dict(state)
    del state["taken"]
    with pytest.raises(ValueError, match="taken"):
        s.load_state_dict(state)
