"""Reservoirs: uniform and weighted inclusion, tensor chunks, merging, checkpoints, datasets."""

import itertools
import math
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

import torch_mlsd.sampling.reservoir as reservoir
from torch_mlsd.sampling.reservoir import (
    TensorReservoir,
    reservoir_sample,
    weighted_reservoir_sample,
)
from torch_mlsd.sampling.reservoir_dataset import ReservoirDataset

stats = pytest.importorskip("scipy.stats")

ALPHA = 1e-3  # every chi-square test below rejects at this level (the seeds are fixed)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inclusion_pvalue(counts: torch.Tensor, runs: int, k: int) -> float:
    """Chi-square test that each of n items was kept in k/n of the runs.

    Inclusion indicators of a uniform k-subset have variance p(1-p) and covariance
    -p(1-p)/(n-1), so sum((c - e)^2) / (e (1 - p) n / (n - 1)) is chi-square with n - 1
    degrees of freedom (the counts always sum to runs * k).
    """
    n = len(counts)
    p = k / n
    expected = runs * p
    statistic = float(((counts.double() - expected) ** 2).sum()) / (expected * (1 - p) * n / (n - 1))
    return float(stats.chi2.sf(statistic, n - 1))


def _chi2_pvalue(counts, probs) -> float:
    counts = torch.as_tensor(counts, dtype=torch.float64)
    probs = torch.as_tensor(probs, dtype=torch.float64)
    return float(stats.chisquare(counts.numpy(), (probs / probs.sum() * counts.sum()).numpy()).pvalue)


def _successive_probability(order, w) -> float:
    left, p = sum(w), 1.0
    for i in order:
        p *= w[i] / left
        left -= w[i]
    return p


# -- Algorithm L --------------------------------------------------------------------
def test_algorithm_l_inclusion_is_uniform():
    n, k, runs = 50, 5, 20_000
    counts = torch.zeros(n)
    for seed in range(runs):
        counts[reservoir_sample(range(n), k, generator=_gen(seed))] += 1
    assert _inclusion_pvalue(counts, runs, k) > ALPHA


def test_algorithm_l_every_subset_is_equally_likely():
    subsets = list(itertools.combinations(range(6), 2))
    counts = torch.zeros(len(subsets))
    for seed in range(9_000):
        counts[subsets.index(tuple(reservoir_sample(iter(range(6)), 2, generator=_gen(seed))))] += 1
    assert _chi2_pvalue(counts, torch.ones(len(subsets))) > ALPHA


def test_algorithm_l_stream_order_short_streams_and_determinism():
    sample = reservoir_sample((i * i for i in range(10_000)), 20, generator=_gen(3))
    assert len(sample) == 20 and sample == sorted(sample) and len(set(sample)) == 20
    assert sample == reservoir_sample((i * i for i in range(10_000)), 20, generator=_gen(3))
    assert sample != reservoir_sample((i * i for i in range(10_000)), 20, generator=_gen(4))
    assert reservoir_sample([3, 1, 2], 3, generator=_gen(0)) == [3, 1, 2]
    assert reservoir_sample([3, 1, 2], 10) == [3, 1, 2]
    assert reservoir_sample([], 1) == []


def test_algorithm_l_reads_a_long_stream_once_with_few_draws(monkeypatch):
    # Algorithm L draws 3 numbers per insertion and expects k ln(n / k) insertions:
    # 1000 * ln(1e4) ~ 9200 here, against 1e7 for Algorithm R. Bound: 4 k (1 + ln(n / k)).
    draws = 0
    original = reservoir._uniforms

    def counting(seed):
        nonlocal draws
        for u in original(seed):
            draws += 1
            yield u

    monkeypatch.setattr(reservoir, "_uniforms", counting)
    n, k = 10_000_000, 1000
    sample = reservoir.reservoir_sample(iter(range(n)), k, generator=_gen(0))
    assert len(sample) == k and sample[-1] > 9_900_000 and sample[0] < 100_000
    assert 2 * k * math.log(n / k) < draws < 4 * k * (1 + math.log(n / k))


# -- A-ExpJ ---------------------------------------------------------------------------
def test_weighted_reservoir_first_pick_follows_the_weights():
    w = [1.0, 2.0, 0.0, 3.0, 4.0, 0.5]
    counts = torch.zeros(len(w))
    for seed in range(12_000):
        counts[weighted_reservoir_sample(enumerate(w), 3, generator=_gen(seed))[0]] += 1
    assert counts[2] == 0
    assert _chi2_pvalue(counts[[0, 1, 3, 4, 5]], [1.0, 2.0, 3.0, 4.0, 0.5]) > ALPHA


def test_weighted_reservoir_pairs_match_exact_enumeration():
    # k = 2 of 5: the unordered pair's law is the sum of both successive-sampling orders.
    w = [1.0, 2.0, 3.0, 4.0, 10.0]
    pairs = list(itertools.combinations(range(5), 2))
    counts = torch.zeros(len(pairs))
    for seed in range(10_000):
        a, b = sorted(weighted_reservoir_sample(range(5), 2, weights=w, generator=_gen(seed)))
        counts[pairs.index((a, b))] += 1
    probs = [_successive_probability((a, b), w) + _successive_probability((b, a), w) for a, b in pairs]
    assert _chi2_pvalue(counts, probs) > ALPHA


def test_weighted_reservoir_long_stream_inclusion():
    # After many jumps: 100 items of weight 1 and 100 of weight 3, keep 10; the heavy
    # half must dominate. Exact inclusion is hard to enumerate here, so compare the
    # heavy share with the first-order value for k << n: about 3/4 (tolerance 0.03 is
    # more than 5 standard errors of a mean over 2000 runs of 10 items).
    heavy, weights = 0, [1.0] * 100 + [3.0] * 100
    for seed in range(2000):
        heavy += sum(i >= 100 for i in weighted_reservoir_sample(range(200), 10, weights=weights, generator=_gen(seed)))
    assert abs(heavy / 20_000 - 0.75) < 0.03


def test_weighted_reservoir_zero_weights_and_short_streams():
    assert weighted_reservoir_sample([("a", 0), ("b", 2.0), ("c", 0)], 5, generator=_gen(0)) == ["b"]
    out = weighted_reservoir_sample(range(1000), 10, weights=[0.0] * 990 + [1.0] * 10, generator=_gen(0))
    assert sorted(out) == list(range(990, 1000))
    stream = ((i, 0.0 if i % 2 else 1.0) for i in range(10_000))
    assert all(i % 2 == 0 for i in weighted_reservoir_sample(stream, 50, generator=_gen(1)))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([("a", -1.0)], 1), {}, ValueError, "`weights` must be finite and >= 0, got -1.0"),
        ((["a", "b"], 1), {"weights": [1.0, float("nan")]}, ValueError, "`weights` must be finite"),
        ((range(5), 1), {"weights": [1.0, 2.0, 3.0, 4.0, float("inf")]}, ValueError, "`weights` must be finite"),
        ((range(3), 1), {"weights": [1.0, 2.0]}, ValueError, "`weights` must have as many entries"),
        (([1, 2, 3], 1), {}, TypeError, r"`iterable` must yield \(item, weight\) pairs"),
        (([("a", "x")], 1), {}, TypeError, r"`iterable` must yield \(item, weight\) pairs"),
        ((5, 1), {}, TypeError, "`iterable` must be iterable"),
        ((range(3), 0), {}, ValueError, "`k` must be >= 1"),
        ((range(3), True), {}, TypeError, "`k` must be an int"),
        ((range(3), 1), {"weights": [1, 1, 1], "generator": 3}, TypeError, "`generator` must be a torch.Generator"),
    ],
)
def test_weighted_reservoir_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        weighted_reservoir_sample(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((5, 1), {}, TypeError, "`iterable` must be iterable"),
        ((range(3), 0), {}, ValueError, "`k` must be >= 1"),
        ((range(3), 2.0), {}, TypeError, "`k` must be an int"),
        ((range(3), 1), {"generator": 1.5}, TypeError, "`generator` must be a torch.Generator"),
        ((range(3), 5), {"seed": 2}, TypeError, "unexpected keyword argument 'seed'"),
    ],
)
def test_reservoir_sample_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        reservoir_sample(*args, **kwargs)


# -- TensorReservoir ------------------------------------------------------------------
def _feed(reservoir: TensorReservoir, data: torch.Tensor, sizes) -> TensorReservoir:
    for chunk in torch.split(data, list(sizes)):
        reservoir.update(chunk)
    return reservoir


def test_tensor_reservoir_inclusion_is_uniform(device):
    n, k, runs = 50, 5, 2500
    data = torch.arange(n, device=device)
    counts = torch.zeros(n)
    for seed in range(runs):
        kept = _feed(TensorReservoir(k, seed=seed), data, [3, 9, 13, 25]).sample()
        counts[kept.cpu()] += 1
    assert kept.device.type == device.type
    assert _inclusion_pvalue(counts, runs, k) > ALPHA


def test_tensor_reservoir_far_into_the_stream():
    # Later chunks use only geometric jumps: 50 chunks of 1000 rows, k = 20. Rows kept
    # per decile of the stream must match a uniform sample (chi-square, 10 cells x 200 runs).
    counts = torch.zeros(10)
    data = torch.arange(50_000)
    for seed in range(200):
        kept = _feed(TensorReservoir(20, seed=seed), data, [1000] * 50).sample()
        assert len(torch.unique(kept)) == 20
        counts += torch.bincount(kept // 5_000, minlength=10)
    # Counts per decile are hypergeometric-like; their variance is below the multinomial's,
    # so the Pearson test is conservative here.
    assert _chi2_pvalue(counts, torch.ones(10)) > ALPHA


def test_tensor_reservoir_rows_stay_whole_and_dtype_kept(device):
    data = torch.arange(3000, device=device).reshape(1000, 3).to(torch.int32)
    r = _feed(TensorReservoir(7, seed=1), data, [100] * 10)
    kept = r.sample()
    assert kept.shape == (7, 3) and kept.dtype == torch.int32 and kept.device.type == device.type
    assert torch.equal(kept[:, 1] - kept[:, 0], torch.ones(7, dtype=torch.int32, device=device))
    assert r.num_seen == 1000 and len(r) == 7


def test_tensor_reservoir_fewer_rows_than_k_and_empty():
    r = TensorReservoir(10, seed=0)
    assert r.sample().shape == (0,)
    r.update(torch.arange(4)).update(torch.arange(4, 4)).update(torch.arange(4, 7))
    assert sorted(r.sample().tolist()) == list(range(7))


def test_tensor_reservoir_resume_equals_uninterrupted_run(tmp_path):
    data = torch.randn(5000, 2)
    full = _feed(TensorReservoir(16, seed=4), data, [500] * 10)
    half = _feed(TensorReservoir(16, seed=4), data[:2500], [500] * 5)
    torch.save(half.state_dict(), tmp_path / "r.pt")
    resumed = TensorReservoir(16, seed=4)
    resumed.load_state_dict(torch.load(tmp_path / "r.pt"))
    _feed(resumed, data[2500:], [500] * 5)
    assert torch.equal(resumed.sample(), full.sample()) and resumed.num_seen == 5000
    restored = pickle.loads(pickle.dumps(full))
    assert torch.equal(restored.sample(), full.sample())
    drawn = TensorReservoir(16)  # seed=None: adopts the saved seed
    drawn.load_state_dict(torch.load(tmp_path / "r.pt"))
    _feed(drawn, data[2500:], [500] * 5)
    assert drawn.seed == 4 and torch.equal(drawn.sample(), full.sample())


def test_merged_reservoirs_are_uniform_over_the_union():
    n, k, runs = 40, 4, 2500
    counts = torch.zeros(n)
    for run in range(runs):
        a = _feed(TensorReservoir(k, seed=2 * run), torch.arange(10), [10])
        b = _feed(TensorReservoir(k, seed=2 * run + 1), torch.arange(10, n), [12, 18])
        merged = a.merge(b)
        counts[merged.sample()] += 1
    assert merged.num_seen == n
    assert _inclusion_pvalue(counts, runs, k) > ALPHA


def test_merge_with_an_empty_reservoir_and_into_an_empty_one():
    a = TensorReservoir(3, seed=1).update(torch.arange(10))
    assert torch.equal(a.merge(TensorReservoir(3, seed=2)).sample().sort().values, a.sample().sort().values)
    empty = TensorReservoir(3, seed=3).merge(a)
    assert empty.num_seen == 10 and len(empty) == 3
    empty.update(torch.arange(10, 20))  # keeps consuming after a merge
    assert empty.num_seen == 20


def test_tensor_reservoir_bad_inputs():
    r = TensorReservoir(3, seed=0).update(torch.zeros(4, 2))
    with pytest.raises(TypeError, match="`chunk` must be a torch.Tensor"):
        r.update([1, 2])
    with pytest.raises(ValueError, match="`chunk` must have a leading item dimension"):
        TensorReservoir(3).update(torch.tensor(1.0))
    with pytest.raises(ValueError, match="`chunk` must have item shape"):
        r.update(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="`chunk` must have item shape"):
        r.update(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="`other` must have k=3"):
        r.merge(TensorReservoir(4, seed=1))
    with pytest.raises(ValueError, match="`other` must have been filled with another seed"):
        r.merge(TensorReservoir(3, seed=0))
    with pytest.raises(ValueError, match="`other` must have item shape"):
        r.merge(TensorReservoir(3, seed=5).update(torch.zeros(4, 5)))
    with pytest.raises(TypeError, match="`other` must be a TensorReservoir"):
        r.merge([1])
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        TensorReservoir(0)
    with pytest.raises(ValueError, match=r"`state_dict\['seed'\]` must equal"):
        TensorReservoir(3, seed=1).load_state_dict(r.state_dict())
    with pytest.raises(ValueError, match="`state_dict` must have the key 'items'"):
        TensorReservoir(3, seed=0).load_state_dict({"k": 3, "seed": 0, "num_seen": 0})


# -- ReservoirDataset -----------------------------------------------------------------
def test_reservoir_dataset_single_process_is_uniform_and_follows_epochs():
    ds = ReservoirDataset(list(range(30)), 3, seed=5)
    first = list(ds)
    assert len(first) == 3 and first == list(ds)
    ds.set_epoch(1)
    assert list(ds) != first
    counts = torch.zeros(30)
    for epoch in range(3000):
        ds.set_epoch(epoch)
        counts[list(ds)] += 1
    assert _inclusion_pvalue(counts, 3000, 3) > ALPHA


def test_reservoir_dataset_with_workers_has_no_duplicates():
    ds = ReservoirDataset(range(1000), 10, seed=2)
    got = [int(x) for x in DataLoader(ds, batch_size=None, num_workers=2)]
    assert len(got) == 10 and len(set(got)) == 10
    # Worker w reads items w, w + 2, ...: each keeps 5 of its own slice.
    assert sorted(x % 2 for x in got) == [0] * 5 + [1] * 5
    again = pickle.loads(pickle.dumps(ds))
    assert sorted(int(x) for x in DataLoader(again, batch_size=None, num_workers=2)) == sorted(got)


def test_reservoir_dataset_bad_inputs():
    with pytest.raises(TypeError, match="`source` must be iterable"):
        ReservoirDataset(3, 2)
    with pytest.raises(ValueError, match="`k` must be >= 1"):
        ReservoirDataset([1], 0)
    with pytest.raises(ValueError, match="`epoch` must be >= 0"):
        ReservoirDataset([1], 1).set_epoch(-1)


# -- ReservoirDataset: exact resume ---------------------------------------------------------


class _CountingSource:
    """A re-iterable range that counts how many items were read from it."""

    def __init__(self, n: int) -> None:
        self.n, self.read = n, 0

    def __iter__(self):
        for i in range(self.n):
            self.read += 1
            yield i


@pytest.mark.parametrize("seed", [4, None])
def test_reservoir_dataset_resumes_exactly_from_any_point(seed):
    whole = ReservoirDataset(range(10_000), 12, seed=4)
    whole.set_epoch(2)
    expected = list(whole)
    for stop in range(13):
        ds = ReservoirDataset(range(10_000), 12, seed=4)
        ds.set_epoch(2)
        it = iter(ds)
        head = list(itertools.islice(it, stop))
        state = pickle.loads(pickle.dumps(ds.state_dict()))
        assert state["position"] == stop and state["sample"] == expected and state["share"] == (0, 1)
        source = _CountingSource(10_000)
        resumed = ReservoirDataset(source, 12, seed=seed)  # a drawn seed adopts the saved one
        resumed.load_state_dict(state)
        assert head + list(resumed) == expected
        assert source.read == 0  # the saved sample is yielded: the source is not read again
        assert resumed.epoch == 2 and resumed.seed == 4
        assert list(resumed) == expected and source.read == 10_000  # the next pass draws afresh


def test_reservoir_dataset_state_before_the_draw_starts_the_pass():
    ds = ReservoirDataset(range(500), 5, seed=1)
    state = ds.state_dict()
    assert state["sample"] is None and state["position"] == 0
    other = ReservoirDataset(range(500), 5, seed=1)
    other.set_epoch(3)
    other.load_state_dict(state)  # epoch 0, nothing drawn yet
    assert list(other) == list(ds)


def test_reservoir_dataset_rejects_bad_states():
    ds = ReservoirDataset(range(100), 4, seed=0)
    it = iter(ds)
    next(it)
    state = ds.state_dict()
    with pytest.raises(TypeError, match="`state_dict` must be a mapping"):
        ds.load_state_dict([("seed", 0)])
    with pytest.raises(ValueError, match="`state_dict` must have the key 'sample'"):
        ds.load_state_dict({k: v for k, v in state.items() if k != "sample"})
    with pytest.raises(ValueError, match=r"`state_dict\['seed'\]` must equal this dataset's seed 1, got 0"):
        ReservoirDataset(range(100), 4, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"`state_dict\['k'\]` must equal this dataset's k 5, got 4"):
        ReservoirDataset(range(100), 5, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match=r"`state_dict\['position'\]` must be <= 4"):
        ds.load_state_dict(dict(state, position=5))
    with pytest.raises(ValueError, match=r"`state_dict\['sample'\]` must be a list of items or None"):
        ds.load_state_dict(dict(state, sample=7))
    with pytest.raises(ValueError, match=r"`state_dict\['share'\]` must be a pair \(shard, shards\)"):
        ds.load_state_dict(dict(state, share=(2, 2)))
    with pytest.raises(ValueError, match=r"`state_dict\['epoch'\]` must be >= 0"):
        ds.load_state_dict(dict(state, epoch=-1))
    # Checked when the pass starts, where the shard is known.
    ds.load_state_dict(dict(state, share=(1, 2)))
    with pytest.raises(ValueError, match=r"`state_dict\['share'\]` must be this iteration's \(shard, shards\) "
                                         r"\(0, 1\), got \(1, 2\)"):
        iter(ds)
    ds.load_state_dict(dict(state, sample=list(range(3)) + state["sample"], position=0))
    with pytest.raises(ValueError, match=r"`state_dict\['sample'\]` must hold at most 4 items"):
        iter(ds)
