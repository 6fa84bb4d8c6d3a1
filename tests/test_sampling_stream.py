"""RebalancedStream and rebalance_copies: proportions, importance weights, shares, resume, errors."""

import copy
import pickle
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from torch_mlsd.sampling import ClassStats, RebalancedStream, rebalance_copies, running_counts

N, POSITIVE = 1_000_000, 0.01


@pytest.fixture(scope="module")
def labels():
    """A 1e6-long stream with 1% positives (i.i.d., fixed seed)."""
    return (torch.rand(N, generator=torch.Generator().manual_seed(0)) < POSITIVE).long()


def chunks(labels, size=65536):
    """``(ids, labels)`` chunks of a label tensor, the ids being positions in the stream."""
    return [(torch.arange(start, start + len(part)), part) for start, part in zip(range(0, N, size), labels.split(size))]


def run_chunked(labels, **kwargs):
    outs = list(RebalancedStream(chunks(labels), chunked=True, return_weights=True, **kwargs))
    return tuple(torch.cat([o[i] for o in outs]) for i in range(3))


@pytest.mark.parametrize("seed", [0, 1])
def test_balanced_million_stream_and_the_weights_recover_one_percent(labels, seed):
    ids, y, w = run_chunked(labels, seed=seed)
    y = y.double()
    assert torch.equal(labels[ids], y.long()) and bool((ids.diff() > 0).all())  # stream order, no repeats
    # Every positive is kept (the rare class is the anchor), about as many negatives.
    assert int(y.sum()) == int(labels.sum())
    # Balanced: the running output proportion stays within +-1 pp from the 1e4-th output on.
    running = y.cumsum(0) / torch.arange(1, len(y) + 1)
    assert float((running[10_000:] - 0.5).abs().max()) < 0.01
    assert abs(float(y[10_000:].mean()) - 0.5) < 0.01  # and so do the outputs after the first 1e4
    # Importance-weighted class frequencies recover the input's 1% within +-0.1 pp.
    weighted = float((w * y).sum() / w.sum())
    assert abs(weighted - float(labels.double().mean())) < 0.001 and abs(weighted - POSITIVE) < 0.001
    # Each output stands for 1 / m inputs: a positive for itself, a negative for about 99;
    # together they stand for the whole stream (Horvitz-Thompson).
    assert torch.equal(w[y == 1], torch.ones(int(y.sum()), dtype=torch.float64))
    assert float(w[y == 0].mean()) == pytest.approx(99, rel=0.1)
    assert float(w.sum()) == pytest.approx(N, rel=0.02)


def test_item_stream_makes_the_same_decisions_as_chunks(labels):
    pairs = list(zip(range(N), labels.tolist()))
    ds = RebalancedStream(pairs, seed=3, return_weights=True)
    out = list(ds)
    ids, y, w = run_chunked(labels, seed=3)
    assert [i for i, _, _ in out] == ids.tolist() and [c for _, c, _ in out] == y.tolist()
    assert torch.allclose(torch.tensor([x for *_, x in out], dtype=torch.float64), w)
    seen = int(labels.sum())
    assert ds.stats[1] == ClassStats(seen, seen, seen) and ds.stats[0].seen == N - seen
    assert ds.stats[0].kept == ds.stats[0].emitted == len(out) - seen
    assert ds.stats[0].dropped == N - len(out)


def test_proportions_target_and_weighted_input_proportions():
    g = torch.Generator().manual_seed(1)
    labels = torch.multinomial(torch.tensor([0.5, 0.3, 0.2]), 200_000, replacement=True, generator=g)
    target = {0: 0.1, 1: 0.3, 2: 0.6}
    ds = RebalancedStream([(torch.arange(len(labels)), labels)], target, seed=0, chunked=True, return_weights=True)
    (_, y, w), = list(ds)
    share = torch.bincount(y, minlength=3).double() / len(y)
    assert torch.allclose(share, torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64), atol=0.005)
    # Class 2 is the rarest relative to its target: kept whole; the others under-sampled.
    assert ds.stats[2].kept == ds.stats[2].seen and ds.stats[0].dropped > 0
    weighted = torch.bincount(y, weights=w, minlength=3) / w.sum()
    assert torch.allclose(weighted, torch.bincount(labels, minlength=3).double() / len(labels), atol=0.005)


def test_zero_target_class_is_never_emitted():
    pairs = [(i, "abc"[i % 3]) for i in range(3000)]
    ds = RebalancedStream(pairs, {"a": 0.5, "b": 0.5, "c": 0.0}, seed=0)
    out = Counter(label for _, label in ds)
    assert out["c"] == 0 and ds.stats["c"] == ClassStats(1000, 0, 0)
    assert abs(out["a"] - out["b"]) <= 5


def test_oversampling_repeats_the_rare_class():
    g = torch.Generator().manual_seed(2)
    labels = (torch.rand(100_000, generator=g) < 0.05).long()
    ds = RebalancedStream([(torch.arange(len(labels)), labels)], seed=0, chunked=True, max_repeats=4,
                          return_weights=True)
    (ids, y, w), = list(ds)
    stats = ds.stats
    # The positives come up to 4 times (repeats adjacent), the negatives are all kept at most once.
    repeats = torch.bincount(ids[y == 1])
    assert int(repeats.max()) == 4 and stats[1].emitted == pytest.approx(4 * stats[1].seen, rel=0.01)
    assert int(torch.bincount(ids[y == 0]).max()) == 1
    assert float(y.double().mean()) == pytest.approx(0.5, abs=0.01)
    assert stats[0].kept < stats[0].seen  # 4x positives = 20% of the input: negatives still under-sampled
    assert float((w * y).sum() / w.sum()) == pytest.approx(float(labels.double().mean()), abs=0.002)


def test_rate_sets_the_output_volume():
    g = torch.Generator().manual_seed(3)
    labels = (torch.rand(200_000, generator=g) < 0.2).long()
    ds = RebalancedStream([(torch.arange(len(labels)), labels)], seed=0, chunked=True, rate=0.05)
    (_, y), = list(ds)
    assert len(y) == pytest.approx(0.05 * len(labels), rel=0.03)
    assert float(y.double().mean()) == pytest.approx(0.5, abs=0.01)
    # A rate above what the target allows is limited to it: the same as no rate.
    high, default = (list(RebalancedStream([(torch.arange(len(labels)), labels)], seed=0, chunked=True, rate=rate))
                     for rate in (5.0, None))
    assert torch.equal(high[0][0], default[0][0])


@pytest.mark.parametrize("caps", [30, {0: 30, 1: 30}])
def test_caps_stop_a_class(caps):
    pairs = [(i, int(i % 10 == 0)) for i in range(5000)]
    ds = RebalancedStream(pairs, seed=0, max_per_class=caps)
    out = Counter(label for _, label in ds)
    assert out == {0: 30, 1: 30}
    assert ds.stats[1] == ClassStats(500, 30, 30) and ds.stats[1].dropped == 470


def test_label_fn_tensor_labels_and_weights():
    items = [{"x": i, "y": torch.tensor(int(i % 4 == 0))} for i in range(4000)]
    out = list(RebalancedStream(items, seed=0, label_fn=lambda item: item["y"], return_weights=True))
    assert all(isinstance(item, dict) and isinstance(w, float) for item, w in out)
    assert sum(int(item["y"]) for item, _ in out) == 1000
    pairs = [(i, torch.tensor(i % 2)) for i in range(100)]
    kept = [x for x, _ in RebalancedStream(pairs, seed=0)]  # balanced already: the running estimate
    assert kept == sorted(set(kept)) and len(kept) >= 90  # drops a few only while it settles


def test_same_seed_same_output_new_epoch_new_draw_and_pickle():
    pairs = [(i, int(i % 7 == 0)) for i in range(7000)]
    ds = RebalancedStream(pairs, seed=5)
    first = list(ds)
    assert first == list(ds) == list(pickle.loads(pickle.dumps(ds)))
    ds.set_epoch(1)
    assert list(ds) != first


def test_steering_is_unbiased_over_seeds():
    # Horvitz-Thompson: the weighted count of each class estimates its input count; averaged
    # over 100 seeds of a 20,000-item stream the estimate is within 3 standard errors.
    labels = (torch.rand(20_000, generator=torch.Generator().manual_seed(4)) < 0.03).long()
    estimates = []
    for seed in range(100):
        (_, y, w), = list(RebalancedStream([(torch.arange(len(labels)), labels)], seed=seed, chunked=True,
                                           return_weights=True, rate=0.02))
        estimates.append(float((w * y).sum() / w.sum()))
    estimates = torch.tensor(estimates, dtype=torch.float64)
    error = float(estimates.mean()) - float(labels.double().mean())
    assert abs(error) < 3 * float(estimates.std()) / 100**0.5


def test_memory_follows_a_drifting_stream():
    # 1% positives for 100,000 items, then 10%: the running estimate over everything lags
    # (the negatives stay under-accepted), one with a memory of 2,000 items follows.
    g = torch.Generator().manual_seed(6)
    labels = torch.cat([torch.rand(100_000, generator=g) < 0.01, torch.rand(100_000, generator=g) < 0.10]).long()
    deviation = {}
    for memory in (None, 2000.0):
        ds = RebalancedStream([(torch.arange(len(labels)), labels)], seed=0, chunked=True, memory=memory,
                              return_weights=True)
        (ids, y, w), = list(ds)
        late = ids >= 110_000  # after the change, once 10,000 items were seen
        deviation[memory] = abs(float(y[late].double().mean()) - 0.5)
        assert float((w * y).sum() / w.sum()) == pytest.approx(float(labels.double().mean()), abs=0.005)
    assert deviation[2000.0] < 0.02 < deviation[None]


def test_running_counts_decay():
    labels = torch.tensor([1, 0, 0, 1, 1])
    assert torch.equal(running_counts(labels, torch.tensor([3, 1])),
                       torch.tensor([[3, 2], [4, 2], [5, 2], [5, 3], [5, 4]], dtype=torch.float64))
    # Decayed counts computed piecewise (decay 0.5: pieces of 432 items) equal the recursion.
    labels = torch.randint(0, 3, (1000,), generator=torch.Generator().manual_seed(0))
    got, n = running_counts(labels, torch.tensor([1.0, 2.0, 3.0]), decay=0.5), torch.tensor([1.0, 2.0, 3.0])
    for i, c in enumerate(labels.tolist()):
        n = 0.5 * n
        n[c] += 1
        assert torch.allclose(got[i], n.double())


# -- DataLoader workers, resume -------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_workers_share_the_stream_without_duplicates(num_workers):
    pairs = [(i, int(i % 25 == 0)) for i in range(50_000)]
    ds = RebalancedStream(pairs, seed=1)
    got = [(int(x), int(y)) for x, y in DataLoader(ds, batch_size=None, num_workers=num_workers)]
    ids = [x for x, _ in got]
    assert len(ids) == len(set(ids)) and all(y == int(x % 25 == 0) for x, y in got)
    assert sum(y for _, y in got) == 2000  # every positive, once, from whichever share read it
    assert sum(y for _, y in got) / len(got) == pytest.approx(0.5, abs=0.01)
    again = [(int(x), int(y)) for x, y in DataLoader(ds, batch_size=None, num_workers=num_workers)]
    assert sorted(again) == sorted(got)
    if num_workers == 2:  # share w reads items w, w + 2, ...: both shares contribute
        assert {x % 2 for x in ids} == {0, 1}


@pytest.mark.parametrize("stop", [0, 1, 17, 50, 51, 120])
def test_resume_continues_exactly(stop):
    pairs = [(i, int(i % 30 == 0)) for i in range(9000)]  # 9 blocks of 1024 items, about 600 outputs
    whole = list(RebalancedStream(pairs, seed=2, return_weights=True))
    ds = RebalancedStream(pairs, seed=2, return_weights=True)
    it = iter(ds)
    head = [next(it) for _ in range(stop)]
    state = copy.deepcopy(ds.state_dict())
    resumed = RebalancedStream(pairs, seed=2, return_weights=True)
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    assert head + list(resumed) == whole
    finished = RebalancedStream(pairs, seed=2)
    finished.load_state_dict(resumed.state_dict())
    assert list(finished) == []  # a state saved at the end continues with nothing


def test_resume_chunked_and_stats_after_resume():
    labels = (torch.rand(50_000, generator=torch.Generator().manual_seed(5)) < 0.1).long()
    data = [(torch.arange(s, s + 5000), labels[s:s + 5000]) for s in range(0, 50_000, 5000)]
    whole = RebalancedStream(data, seed=0, chunked=True)
    expected = list(whole)
    ds = RebalancedStream(data, seed=0, chunked=True)
    it = iter(ds)
    head = [next(it) for _ in range(4)]
    resumed = RebalancedStream(data, seed=0, chunked=True)
    resumed.load_state_dict(ds.state_dict())
    got = head + list(resumed)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected, strict=True))
    assert resumed.stats == whole.stats


def test_state_from_another_share_or_seed_is_rejected():
    pairs = [(i, i % 2) for i in range(100)]
    ds = RebalancedStream(pairs, seed=0)
    next(iter(ds))
    state = ds.state_dict()
    with pytest.raises(ValueError, match="seed"):
        RebalancedStream(pairs, seed=1).load_state_dict(state)
    state["share"] = (1, 2)
    other = RebalancedStream(pairs, seed=0)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="share"):
        next(iter(other))
    with pytest.raises(ValueError, match="keys"):
        other.load_state_dict({"seed": 0})


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": "equal"}, ValueError, "`target` must be 'balanced'"),
        ({"target": {}}, TypeError, "non-empty mapping"),
        ({"target": [0.5, 0.5]}, TypeError, "`target` must be"),
        ({"target": {0: 0.5, 1: 0.6}}, ValueError, "sum to 1"),
        ({"target": {0: 1.5, 1: -0.5}}, ValueError, r"`target\[0\]` must be <= 1"),
        ({"target": {0: 0.5, 1: -0.5}}, ValueError, r"`target\[1\]` must be >= 0"),
        ({"target": {0: float("nan"), 1: 1.0}}, ValueError, "finite"),
        ({"max_per_class": -1}, ValueError, "`max_per_class` must be >= 0"),
        ({"max_per_class": {0: -2}}, ValueError, r"`max_per_class\[0\]` must be >= 0"),
        ({"max_repeats": 0}, ValueError, "`max_repeats` must be >= 1"),
        ({"max_repeats": True}, TypeError, "`max_repeats` must be an int"),
        ({"rate": 0.0}, ValueError, "`rate` must be > 0"),
        ({"memory": 1.0}, ValueError, "`memory` must be >= 2"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"label_fn": 3}, TypeError, "`label_fn` must be callable"),
        ({"return_weights": 1}, TypeError, "`return_weights` must be a bool"),
        ({"chunked": True, "target": {"a": 1.0}}, ValueError, "class ids"),
        ({"chunked": True, "label_fn": len}, ValueError, "`label_fn` must be None"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RebalancedStream([(0, 0)], **kwargs)


def test_bad_streams():
    with pytest.raises(TypeError, match="`stream` must be iterable"):
        RebalancedStream(5)
    with pytest.raises(TypeError, match=r"\(example, label\) pairs"):
        list(RebalancedStream([1, 2, 3], seed=0))
    with pytest.raises(TypeError, match="labels must be hashable"):
        list(RebalancedStream([(0, [1])], seed=0))
    with pytest.raises(ValueError, match="key of `target`"):
        list(RebalancedStream([(0, "a"), (1, "z")], {"a": 1.0}, seed=0))
    with pytest.raises(ValueError, match="key of `target`"):
        list(RebalancedStream([(torch.arange(3), torch.tensor([0, 2, 1]))], {0: 0.5, 1: 0.5}, chunked=True, seed=0))
    with pytest.raises(TypeError, match=r"\(examples, labels\) chunks"):
        list(RebalancedStream([torch.arange(3)], chunked=True, seed=0))
    with pytest.raises(ValueError, match=">= 0"):
        list(RebalancedStream([(torch.arange(2), torch.tensor([0, -1]))], chunked=True, seed=0))
    with pytest.raises(ValueError, match="same length"):
        list(RebalancedStream([(torch.arange(3), torch.tensor([0, 1]))], chunked=True, seed=0))
    with pytest.raises(ValueError, match="`epoch` must be >= 0"):
        RebalancedStream([(0, 0)]).set_epoch(-1)


def test_rebalance_copies_checks_its_inputs():
    zero = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"`labels` must be class ids in \[0, 2\)"):
        rebalance_copies(torch.tensor([0, 2]), zero, zero)
    with pytest.raises(TypeError, match="`labels` must have a integer dtype|integer"):
        rebalance_copies(torch.tensor([0.0]), zero, zero)
    with pytest.raises(ValueError, match="`emitted` must have 2 counts"):
        rebalance_copies(torch.tensor([0]), zero, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="`target` must be 2 finite values"):
        rebalance_copies(torch.tensor([0]), zero, zero, target=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="`decay` must be >= 0.5"):
        rebalance_copies(torch.tensor([0]), zero, zero, decay=0.1)
    with pytest.raises(ValueError, match="`seen` must be finite counts >= 0"):
        rebalance_copies(torch.tensor([0]), torch.tensor([-1, 0]), zero)
    with pytest.raises(ValueError, match="`horizon` must be > 0"):
        rebalance_copies(torch.tensor([0]), zero, zero, horizon=0.0)
    copies, weights = rebalance_copies(torch.zeros(0, dtype=torch.long), zero, zero)
    assert copies.shape == weights.shape == (0,)


def test_rebalance_copies_caps_and_steering():
    labels = torch.tensor([0, 1] * 50)
    g = torch.Generator().manual_seed(0)
    copies, _ = rebalance_copies(labels, torch.zeros(2, dtype=torch.long), torch.tensor([0, 0]),
                                 max_per_class=torch.tensor([3, 100]), generator=g)
    assert int(copies[labels == 0].sum()) == 3 and int(copies[labels == 1].sum()) == 50
    # Class 0 is 20 outputs short of balance (460 vs 500): the steering raises its acceptance
    # above the base one (about 0.48 here) by 1 + 20/32; the same uniforms give more copies.
    seen, emitted = torch.tensor([1000, 500]), torch.tensor([460, 500])
    labels = torch.zeros(40, dtype=torch.long)
    steered, w_steered = rebalance_copies(labels, seen, emitted, generator=torch.Generator().manual_seed(1))
    plain, w_plain = rebalance_copies(labels, seen, emitted, horizon=1e12, generator=torch.Generator().manual_seed(1))
    assert bool((steered >= plain).all()) and int(steered.sum()) >= int(plain.sum()) + 5
    assert torch.allclose(w_plain / w_steered, torch.full((40,), 1 + 20 / 32, dtype=torch.float64))


def test_chunks_stay_on_their_device_and_match_the_cpu(device):
    labels = (torch.rand(30_000, generator=torch.Generator().manual_seed(7)) < 0.05).long()
    examples = torch.randn(30_000, 3)
    outs = {}
    for where in (torch.device("cpu"), device):
        data = [(examples.to(where), labels.to(where))]
        (x, y, w), = list(RebalancedStream(data, seed=0, chunked=True, return_weights=True))
        assert x.device == y.device == w.device == where and y.dtype == torch.int64 and w.dtype == torch.float64
        outs[where.type] = (x.cpu(), y.cpu(), w.cpu())
    # Decisions are made on the CPU from the labels: the same rows on any device.
    assert all(torch.equal(a, b) for a, b in zip(outs["cpu"], outs[device.type]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.uint16, torch.uint32, torch.uint64])
def test_chunked_labels_of_any_integer_dtype_give_the_int64_stream(dtype):
    x = torch.arange(1000)
    y = (x % 10 == 0).long()
    chunks = [(x[i : i + 100], y[i : i + 100]) for i in range(0, 1000, 100)]
    wide = list(RebalancedStream(chunks, chunked=True, seed=0))
    narrow = list(RebalancedStream([(a, b.to(dtype)) for a, b in chunks], chunked=True, seed=0))
    assert len(narrow) == len(wide)
    assert all(torch.equal(n[0], w[0]) and torch.equal(n[1].long(), w[1]) for n, w in zip(narrow, wide, strict=True))
    if dtype == torch.uint64:
        with pytest.raises(ValueError, match=r"`labels` must hold values below 2\*\*63"):
            list(RebalancedStream([(x[:2], torch.tensor([2**63 + 1, 0], dtype=torch.uint64))], chunked=True, seed=0))
