"""WeightedSampler and weighted_indices: exact probabilities, successive sampling, epochs, resume."""

import itertools
import math
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

import torch_mlsd.sampling._alias as alias_method
import torch_mlsd.sampling.weighted as weighted
from torch_mlsd.sampling.weighted import WeightedSampler, weighted_indices

stats = pytest.importorskip("scipy.stats")

ALPHA = 1e-3  # every chi-square test below rejects at this level (the seeds are fixed)


def _chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    counts, probs = counts.double().cpu(), probs.double().cpu()
    expected = probs / probs.sum() * counts.sum()
    return float(stats.chisquare(counts.numpy(), expected.numpy()).pvalue)


def _successive_probability(order: tuple[int, ...], w: list[float]) -> float:
    """Probability that successive sampling draws exactly ``order`` first."""
    left, p = sum(w), 1.0
    for i in order:
        p *= w[i] / left
        left -= w[i]
    return p


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 30_000])
@pytest.mark.parametrize("kind", ["uniform", "skewed", "zeros", "equal"])
def test_alias_table_gives_the_exact_probabilities(n, kind):
    g = torch.Generator().manual_seed(n)
    w = {
        "uniform": lambda: torch.rand(n, dtype=torch.float64, generator=g),
        "skewed": lambda: torch.exp(8 * torch.randn(n, dtype=torch.float64, generator=g)),
        "zeros": lambda: torch.rand(n, dtype=torch.float64, generator=g) * (torch.arange(n) % 3 == 0),
        "equal": lambda: torch.ones(n, dtype=torch.float64),
    }[kind]()
    table = alias_method.alias_table(w / w.max())
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    assert bool((prob >= 0).all() and (prob <= 1).all())
    # Probability of item i = (own bucket share + shares sent to it by other buckets) / n.
    implied = prob.clone().index_add_(0, alias, 1 - prob) / n
    target = w / w.sum()
    assert torch.allclose(implied, target, rtol=1e-9, atol=0)
    assert bool(((w[alias] > 0) | (prob == 1)).all())  # an alias is never a zero-weight item


def _implied(table: torch.Tensor) -> torch.Tensor:
    """Item probabilities an alias table gives: (own bucket share + shares sent to it) / n."""
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    return prob.clone().index_add_(0, alias, 1 - prob) / len(table)


@pytest.mark.parametrize("chunk", [1, 7, 64])
@pytest.mark.parametrize("kind", ["uniform", "skewed", "zeros", "one heavy"])
def test_alias_table_built_in_chunks_gives_the_exact_probabilities(chunk, kind, monkeypatch):
    # Chunks far smaller than n, so every chunk boundary case of the build is crossed.
    monkeypatch.setattr(alias_method, "_CPU_PIECE", chunk)
    n = 3000
    g = torch.Generator().manual_seed(chunk)
    w = {
        "uniform": lambda: torch.rand(n, dtype=torch.float64, generator=g),
        "skewed": lambda: torch.exp(8 * torch.randn(n, dtype=torch.float64, generator=g)),
        "zeros": lambda: torch.rand(n, dtype=torch.float64, generator=g) * (torch.arange(n) % 3 == 0),
        "one heavy": lambda: torch.ones(n, dtype=torch.float64).index_fill_(0, torch.tensor([n // 2]), 1e6),
    }[kind]()
    table = alias_method.alias_table(w)
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    assert bool((prob >= 0).all() and (prob <= 1).all())
    assert torch.allclose(_implied(table), w / w.sum(), rtol=1e-9, atol=0)
    assert bool(((w[alias] > 0) | (prob == 1)).all())


@pytest.mark.parametrize(
    "w",
    [
        torch.full((1001,), 0.1, dtype=torch.float64),  # every p is 1 up to rounding: no item is heavy
        torch.full((500,), 1e308, dtype=torch.float64),  # the sum overflows
        torch.tensor([5e-324, 1e-323, 0.0, 5e-324], dtype=torch.float64),  # n / sum overflows
    ],
    ids=["all-equal", "huge", "subnormal"],
)
def test_alias_table_extreme_weights(w):
    implied = _implied(alias_method.alias_table(w))
    target = w / w.sum() if bool(torch.isfinite(w.sum())) else torch.full_like(w, 1 / len(w))
    assert torch.allclose(implied, target, rtol=1e-12, atol=0)


@pytest.mark.slow
def test_alias_table_exact_at_a_million_items():
    # Larger n: the heavies' shares come from differences of long prefix sums, whose rounding
    # grows with n (measured: 2.9e-9 here, the same as the previous searchsorted build).
    n = 1_000_000
    w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 1e-3
    assert torch.allclose(_implied(alias_method.alias_table(w)), w / w.sum(), rtol=1e-8, atol=0)


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_alias_table_grid_when_a_piece_ends_on_an_integer(chunk, monkeypatch):
    # Deficits of exactly 1 (zero weights) and 1/2 put the running deficit on integers at
    # piece boundaries, the case where a grid point's first position starts a piece.
    monkeypatch.setattr(alias_method, "_CPU_PIECE", chunk)
    w = torch.tensor([0.0, 4.0, 0.5, 0.5, 0.0, 3.0, 1.0, 0.0, 0.5, 0.5, 2.0, 0.0], dtype=torch.float64)
    table = alias_method.alias_table(w)
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    assert torch.allclose(_implied(table), w / w.sum(), rtol=1e-12, atol=1e-15)
    assert bool(((w[alias] > 0) | (prob == 1)).all())


@pytest.mark.parametrize("draw", ["numpy (CPU)", "torch (GPU path)"])
def test_alias_draws_match_the_weights(draw):
    # Both draw paths, run on the CPU: the torch one is what a GPU runs.
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 0.0, 4.0, 3.0, 0.25, 1.5, 7.0], dtype=torch.float64)
    table = alias_method.alias_table(w)
    g = torch.Generator().manual_seed(11)
    if draw == "numpy (CPU)":
        idx = alias_method.draw_alias(table, 200_000, g)
    else:
        idx = alias_method._draw_alias_torch(table, 200_000, g)
    assert idx.dtype == torch.int64 and idx.shape == (200_000,)
    counts = torch.bincount(idx, minlength=len(w))
    assert int(counts[w == 0].sum()) == 0
    assert _chi2_pvalue(counts[w > 0], w[w > 0]) > ALPHA


def test_alias_draws_on_the_cpu_are_reproducible_and_piecewise(monkeypatch):
    # The same generator state gives the same draws; pieces far smaller than the draw change nothing
    # in the law (every piece continues the same numpy stream).
    w = torch.arange(1, 51, dtype=torch.float64)
    table = alias_method.alias_table(w)
    first = alias_method.draw_alias(table, 30_000, torch.Generator().manual_seed(4))
    assert torch.equal(first, alias_method.draw_alias(table, 30_000, torch.Generator().manual_seed(4)))
    monkeypatch.setattr(alias_method, "_CPU_PIECE", 7)
    small = alias_method.draw_alias(table, 30_000, torch.Generator().manual_seed(4))
    assert _chi2_pvalue(torch.bincount(small, minlength=50), w) > ALPHA


def test_alias_draws_do_not_depend_on_the_thread_count():
    # CPU pieces run on torch.get_num_threads() threads; each piece has its own stream.
    table = alias_method.alias_table(torch.arange(1, 101, dtype=torch.float64))
    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            draws.append(alias_method.draw_alias(table, 100_000, torch.Generator().manual_seed(2)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])


def test_sampler_with_replacement_hands_out_python_ints_across_blocks(monkeypatch):
    monkeypatch.setattr(weighted, "_BLOCK", 1000)  # several draw blocks, sliced in chunks
    w = torch.tensor([1.0, 0.0, 3.0, 6.0])
    items = list(WeightedSampler(w, 25_000, seed=2))
    assert len(items) == 25_000 and all(type(i) is int for i in items)
    counts = torch.bincount(torch.tensor(items), minlength=4)
    assert int(counts[1]) == 0 and _chi2_pvalue(counts[w > 0], w[w > 0]) > ALPHA


def test_with_replacement_frequencies_match_the_weights(device):
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 0.0, 4.0, 3.0, 0.25, 1.5, 7.0], device=device)
    g = torch.Generator(device=device).manual_seed(0)
    idx = weighted_indices(w, 200_000, generator=g)
    assert idx.device.type == device.type and idx.dtype == torch.int64 and idx.shape == (200_000,)
    counts = torch.bincount(idx, minlength=len(w))
    assert int(counts[w == 0].sum()) == 0
    assert _chi2_pvalue(counts[w > 0], w[w > 0]) > ALPHA


def test_sampler_with_replacement_frequencies_match_the_weights():
    w = torch.arange(1, 31, dtype=torch.float64) ** 1.5
    counts = torch.bincount(torch.tensor(list(WeightedSampler(w, 150_000, seed=5))), minlength=30)
    assert _chi2_pvalue(counts, w) > ALPHA


def test_without_replacement_orders_match_successive_sampling_exactly():
    # Full weighted permutations of 4 items (and one zero weight): 24 possible orders,
    # each with a probability computed by enumeration; chi-square over 24000 epochs.
    w = [1.0, 2.0, 0.0, 3.0, 4.0]
    sampler = WeightedSampler(w, replacement=False, seed=11)
    orders = list(itertools.permutations([0, 1, 3, 4]))
    index = {o: i for i, o in enumerate(orders)}
    counts = torch.zeros(len(orders))
    for _ in range(24_000):
        counts[index[tuple(sampler)]] += 1  # a new epoch each time (auto-advance)
    probs = torch.tensor([_successive_probability(o, w) for o in orders], dtype=torch.float64)
    assert math.isclose(float(probs.sum()), 1.0)
    assert _chi2_pvalue(counts, probs) > ALPHA


def test_without_replacement_inclusion_probabilities(device):
    # Draw 2 of 5 without replacement: the unordered pair follows the enumerated law.
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0], device=device)
    g = torch.Generator(device=device).manual_seed(3)
    pairs = list(itertools.combinations(range(5), 2))
    counts = torch.zeros(len(pairs))
    for _ in range(10_000):
        a, b = sorted(weighted_indices(w, 2, replacement=False, generator=g).tolist())
        counts[pairs.index((a, b))] += 1
    wl = w.tolist()
    probs = torch.tensor([_successive_probability((a, b), wl) + _successive_probability((b, a), wl) for a, b in pairs])
    assert _chi2_pvalue(counts, probs) > ALPHA


def test_without_replacement_uses_topk_and_sort_paths_consistently(device):
    w = torch.rand(1000, generator=torch.Generator().manual_seed(0)).to(device)
    w[::7] = 0
    for k in (10, 500, int((w > 0).sum())):  # 10 * 16 < 1000 takes topk, the others a full sort
        idx = weighted_indices(w, k, replacement=False, generator=torch.Generator(device=device).manual_seed(1))
        assert len(idx) == k and len(torch.unique(idx)) == k and bool((w[idx] > 0).all())
    full = weighted_indices(w, replacement=False, generator=torch.Generator(device=device).manual_seed(1))
    head = weighted_indices(w, 10, replacement=False, generator=torch.Generator(device=device).manual_seed(1))
    assert torch.equal(full[:10], head)  # the same keys: topk and the full sort agree


@pytest.mark.parametrize("replacement", [True, False])
def test_zero_weights_never_drawn_and_default_num_samples(replacement):
    w = torch.zeros(10_000, dtype=torch.float64)
    w[[3, 500, 9999]] = torch.tensor([1e-150, 1.0, 1e150], dtype=torch.float64)  # a 1e300 range
    s = WeightedSampler(w, replacement=replacement, seed=1)
    assert len(s) == (10_000 if replacement else 3)
    assert set(s) <= {3, 500, 9999}


@pytest.mark.parametrize("replacement", [True, False])
def test_determinism_epochs_and_auto_advance(replacement):
    w = torch.rand(500, generator=torch.Generator().manual_seed(0))
    a, b = (WeightedSampler(w, 300, replacement=replacement, seed=4) for _ in range(2))
    e0 = list(a)
    assert e0 == list(b)
    assert list(WeightedSampler(w, 300, replacement=replacement, seed=5)) != e0
    e1 = list(a)  # set_epoch forgotten: the epoch advances by itself
    assert e1 != e0 and a.epoch == 1
    b.set_epoch(1)
    assert list(b) == e1
    b.set_epoch(0)
    assert list(b) == e0


@pytest.mark.parametrize("replacement", [True, False])
def test_resume_mid_epoch_equals_the_uninterrupted_run(replacement, monkeypatch):
    monkeypatch.setattr(weighted, "_BLOCK", 1000)  # so the resume point falls inside a block
    w = torch.rand(5000, generator=torch.Generator().manual_seed(0)) + 0.1
    full = WeightedSampler(w, 4000, replacement=replacement, seed=9)
    full.set_epoch(2)
    expected = list(full)
    run = WeightedSampler(w, 4000, replacement=replacement, seed=9)
    run.set_epoch(2)
    it = iter(run)
    head = [next(it) for _ in range(2345)]
    state = pickle.loads(pickle.dumps(run.state_dict()))
    resumed = WeightedSampler(w, 4000, replacement=replacement, seed=9)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # a training loop calls this again on restart
    assert head + list(resumed) == expected
    assert list(resumed) != expected  # the epoch after the resumed one is new


def test_state_dict_right_after_set_epoch_starts_at_zero():
    s = WeightedSampler([1.0, 2.0, 3.0], 10)
    list(s)
    s.set_epoch(1)
    assert s.state_dict()["position"] == 0


@pytest.mark.parametrize("replacement", [True, False])
def test_works_with_dataloader_and_pickles(replacement):
    w = torch.tensor([0.0, 1.0, 1.0, 2.0, 5.0, 0.0, 3.0, 1.0])
    s = WeightedSampler(w, 6, replacement=replacement, seed=2)
    data = torch.arange(8) * 10
    batches = list(DataLoader(data, batch_size=4, sampler=s))
    s2 = pickle.loads(pickle.dumps(WeightedSampler(w, 6, replacement=replacement, seed=2)))
    assert torch.cat(batches).tolist() == [10 * i for i in s2]
    assert all(v // 10 not in (0, 5) for b in batches for v in b.tolist())


def test_shards_without_replacement_are_disjoint_and_complete():
    w = torch.rand(101, generator=torch.Generator().manual_seed(0))
    single = list(WeightedSampler(w, replacement=False, seed=3))
    shares = [
        list(WeightedSampler(w, replacement=False, seed=3, num_replicas=3, rank=r, shard="uneven")) for r in range(3)
    ]
    assert sorted(i for s in shares for i in s) == sorted(single)
    assert [i for t in itertools.zip_longest(*shares) for i in t if i is not None] == single
    padded = [WeightedSampler(w, replacement=False, num_replicas=3, rank=r) for r in range(3)]
    assert [len(s) for s in padded] == [34, 34, 34]


def test_shards_with_replacement_draw_their_own_stream():
    w = torch.rand(100, generator=torch.Generator().manual_seed(0))
    shares = [list(WeightedSampler(w, 1000, seed=3, num_replicas=2, rank=r)) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == 500 and shares[0] != shares[1]
    counts = torch.bincount(torch.tensor(shares[0] + shares[1]), minlength=100)
    assert _chi2_pvalue(counts, w.double()) > ALPHA


@pytest.mark.slow
def test_without_replacement_past_2_pow_24():
    # torch.multinomial (and WeightedRandomSampler) refuse more than 2^24 categories.
    n = 2**25
    w = torch.rand(n, generator=torch.Generator().manual_seed(0))
    w[:1000] = 0
    idx = weighted_indices(w, replacement=False, generator=torch.Generator().manual_seed(1))
    assert len(idx) == n - 1000
    counts = torch.bincount(idx, minlength=n)
    assert int(counts.max()) == 1 and int(counts[:1000].sum()) == 0
    # Heavier items come first: the first tenth has a higher mean weight than the last.
    assert float(w[idx[: n // 10]].mean()) > float(w[idx[-n // 10 :]].mean()) + 0.1


@pytest.mark.slow
def test_with_replacement_past_2_pow_24_has_the_right_mass():
    n = 2**24 + 10
    w = torch.ones(n)
    w[-10:] = 2**20  # the last 10 items hold ~38% of the mass
    idx = weighted_indices(w, 100_000, generator=torch.Generator().manual_seed(0))
    share = float((idx >= n - 10).double().mean())
    expected = 10 * 2**20 / (n - 10 + 10 * 2**20)
    assert abs(share - expected) < 5 * math.sqrt(expected * (1 - expected) / 100_000)  # 5 standard errors


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"weights": [1.0, -1.0]}, ValueError, "`weights` must be >= 0"),
        ({"weights": [1.0, float("nan")]}, ValueError, "`weights` must be finite"),
        ({"weights": [1.0, float("inf")]}, ValueError, "`weights` must be finite"),
        ({"weights": [0.0, 0.0]}, ValueError, "`weights` must have at least one positive"),
        ({"weights": [[1.0, 2.0]]}, ValueError, "`weights` must have 1 dimensions"),
        ({"weights": "abc"}, TypeError, "`weights`"),
        ({"num_samples": 0}, ValueError, "`num_samples` must be >= 1"),
        ({"num_samples": True}, TypeError, "`num_samples` must be an int"),
        ({"num_samples": 2.0}, TypeError, "`num_samples` must be an int"),
        ({"num_samples": 3, "replacement": False}, ValueError, r"`num_samples` must be <= the number of positive"),
        ({"replacement": 1}, TypeError, "`replacement` must be a bool"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, error, match):
    args = {"weights": [1.0, 0.0, 2.0], "num_samples": None, "replacement": True} | kwargs
    with pytest.raises(error, match=match):
        WeightedSampler(args["weights"], args["num_samples"], replacement=args["replacement"])
    with pytest.raises(error, match=match):
        weighted_indices(args["weights"], args["num_samples"], replacement=args["replacement"])


def test_bad_generator_and_sampler_options_raise():
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        weighted_indices([1.0, 2.0], 3, generator=0)
    with pytest.raises(ValueError, match="`shard` must be one of"):
        WeightedSampler([1.0], shard="none")
    with pytest.raises(ValueError, match="`rank` must be in"):
        WeightedSampler([1.0], num_replicas=2, rank=2)
    with pytest.raises(TypeError, match="`seed` must be an int"):
        WeightedSampler([1.0], seed=1.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_generator_on_another_device_raises():
    with pytest.raises(ValueError, match="`generator` must be on the weights' device"):
        weighted_indices(torch.ones(3, device="cuda"), 2, generator=torch.Generator())


def test_weights_are_not_modified():
    w = torch.tensor([3.0, 1.0, 2.0])
    before = w.clone()
    list(WeightedSampler(w, replacement=False))
    weighted_indices(w, 5)
    assert torch.equal(w, before)
