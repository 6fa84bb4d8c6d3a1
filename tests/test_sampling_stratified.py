"""Stratified and class-balanced batch samplers: quotas, coverage, regularity, epochs, resume, errors."""

import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader

from torch_mlsd.sampling.class_balanced import ClassBalancedBatchSampler, class_balanced_batch_indices
from torch_mlsd.sampling.stratified import StratifiedBatchSampler, stratified_batch_indices

ALPHA = 1e-3  # chi-square tests: fixed seeds, rejection level 0.1%


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pk(classes_per_batch: int, samples_per_class: int) -> dict:
    return {"classes_per_batch": classes_per_batch, "samples_per_class": samples_per_class}


def _labels(counts, seed=0):
    """Labels with the given class counts, in a random order."""
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


def _check_quotas(labels, batches, total=None):
    """Every batch holds floor or ceil of size * n_c / N examples of every class c."""
    labels = torch.as_tensor(labels)
    classes, counts = torch.unique(labels, return_counts=True)
    total = len(labels) if total is None else total
    for batch in batches:
        got = (labels[torch.tensor(batch)][:, None] == classes[None, :]).sum(0)
        floor = len(batch) * counts // total
        assert bool(((got == floor) | (got == floor + 1)).all()), (len(batch), got.tolist(), floor.tolist())
        assert bool(((got == floor) | (len(batch) * counts % total != 0)).all())  # ceil only where a remainder is


CONFIGS = [  # (class counts, batch size)
    ([900, 90, 10], 32),
    ([500, 300, 150, 49, 1], 64),
    ([7, 5, 3], 4),
    ([1000], 10),
    ([3] * 40, 16),  # more classes than the batch size
    ([250, 250, 250, 250], 100),  # remainders all zero
    ([13, 2], 1),
]


@pytest.mark.parametrize(("counts", "batch_size"), CONFIGS)
@pytest.mark.parametrize("drop_last", [False, True])
def test_every_example_once_and_batches_follow_the_quota(counts, batch_size, drop_last):
    labels = _labels(counts)
    sampler = StratifiedBatchSampler(labels, batch_size, drop_last=drop_last, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        n = len(labels)
        assert len(batches) == len(sampler) == (n // batch_size if drop_last else -(-n // batch_size))
        flat = [i for b in batches for i in b]
        assert len(set(flat)) == len(flat)
        if drop_last:
            assert all(len(b) == batch_size for b in batches) and len(flat) == n - n % batch_size
        else:
            assert sorted(flat) == list(range(n))
        _check_quotas(labels, batches)


def test_random_configurations_keep_the_quota():
    g = torch.Generator().manual_seed(11)
    for trial in range(40):
        classes = int(torch.randint(1, 30, (1,), generator=g))
        n = int(torch.randint(1, 2000, (1,), generator=g))
        batch_size = int(torch.randint(1, 200, (1,), generator=g))
        weights = torch.rand(classes, generator=g) ** 4 + 1e-3
        labels = torch.multinomial(weights, n, replacement=True, generator=g)
        out = stratified_batch_indices(labels, batch_size, generator=_gen(trial))
        assert sorted(out.tolist()) == list(range(n))
        _check_quotas(labels, [out[j : j + batch_size].tolist() for j in range(0, n, batch_size)])


def test_rare_class_comes_at_regular_intervals():
    # 0.5% class, batches of 64: 0.32 of an example per batch on average. Plain random
    # batches leave it out of runs of about 20 batches in an epoch of 1562. Ours follow
    # a golden-ratio rotation (alpha = 0.618): an arc of 0.32 lies between |2 alpha| =
    # 0.236 and |alpha| = 0.382 from the nearest integer, so the gaps are 2, 3 or 5
    # batches (the grid ranks may shorten one to 1); allow 6.
    labels = _labels([99_000, 500, 500])
    sampler = StratifiedBatchSampler(labels, 64, drop_last=True, seed=0)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        present = torch.tensor([bool((labels[b] == 1).any()) for b in sampler])
        where = present.nonzero().flatten()
        assert int(present.sum()) in (499, 500)  # at most one rare example in the dropped tail
        assert int(where.diff().max()) <= 6 and int(where[0]) <= 6
        assert int(where.diff().min()) >= 1


def test_one_percent_class_in_every_batch_of_256():
    labels = _labels([1_900, 100] * 5)  # five 1% classes
    for batch in StratifiedBatchSampler(labels, 256, seed=1):
        got = torch.bincount(labels[batch], minlength=10)[1::2]
        assert set(got.tolist()) <= ({2, 3} if len(batch) == 256 else {0, 1, 2, 3})


def test_members_of_a_class_are_exchangeable():
    # Which example of a class lands in the first batch is uniform over the class: count
    # over 600 epochs how often each example of class 1 is in batch 0; chi-square test.
    labels = _labels([30, 12, 6])
    sampler = StratifiedBatchSampler(labels, 8, seed=5)
    members = (labels == 1).nonzero().flatten().tolist()
    hits = dict.fromkeys(members, 0)
    for epoch in range(600):
        sampler.set_epoch(epoch)
        for i in next(iter(sampler)):
            if i in hits:
                hits[i] += 1
    assert stats.chisquare(list(hits.values())).pvalue > ALPHA


def test_batches_are_shuffled_inside():
    labels = _labels([500, 500])
    batches = list(StratifiedBatchSampler(labels, 20, seed=0))
    sorted_like = sum(labels[b].tolist() in (sorted(labels[b].tolist()), sorted(labels[b].tolist(), reverse=True)) for b in batches)
    assert sorted_like <= 1  # a random order of 10 + 10 is sorted with probability 2 / C(20, 10)


def test_seed_and_epoch_determinism():
    labels = _labels([70, 20, 10])
    a, b = StratifiedBatchSampler(labels, 16, seed=7), StratifiedBatchSampler(labels, 16, seed=7)
    first = list(a)
    assert first == list(b)
    second = list(a)  # a forgotten set_epoch still moves to epoch 1
    assert second != first and sorted(map(sorted, second)) != sorted(map(sorted, first))
    b.set_epoch(1)
    assert list(b) == second
    assert list(StratifiedBatchSampler(labels, 16, seed=8)) != first


def test_functional_matches_the_sampler_layout(device):
    labels = _labels([40, 25, 10]).to(device)
    out = stratified_batch_indices(labels, 8, generator=_gen(2))
    assert out.device.type == device.type and out.dtype == torch.int64
    assert torch.equal(out.cpu(), stratified_batch_indices(labels.cpu(), 8, generator=_gen(2)))
    assert len(stratified_batch_indices(labels, 8, drop_last=True)) == 72


def test_label_containers_and_sparse_ids():
    ids = [1000, 3, 3, 77, 1000, 3, 3, 77, 3, 3]
    by_list = stratified_batch_indices(ids, 5, generator=_gen(0))
    assert torch.equal(by_list, stratified_batch_indices(np.array(ids, dtype=np.int32), 5, generator=_gen(0)))
    assert torch.equal(by_list, stratified_batch_indices(torch.tensor(ids, dtype=torch.int16), 5, generator=_gen(0)))
    _check_quotas(ids, [by_list[:5].tolist(), by_list[5:].tolist()])


def test_sharding_by_batch_within_one_process():
    labels = _labels([60, 30, 13])  # 103 examples -> 11 batches of 10 (last has 3)
    single = list(StratifiedBatchSampler(labels, 10, seed=4))
    for shard in ("pad", "drop", "uneven"):
        shares = [list(StratifiedBatchSampler(labels, 10, seed=4, num_replicas=3, rank=r, shard=shard)) for r in range(3)]
        lengths = {"pad": [4, 4, 4], "drop": [3, 3, 3], "uneven": [4, 4, 3]}[shard]
        assert [len(s) for s in shares] == lengths
        for r, share in enumerate(shares):
            expected = (single + single)[r::3][: lengths[r]]
            assert share == expected


def test_resume_mid_epoch_equals_uninterrupted_run():
    labels = _labels([300, 90, 10])
    full = StratifiedBatchSampler(labels, 16, seed=9, num_replicas=2, rank=1)
    full.set_epoch(3)
    expected = list(full)
    run = StratifiedBatchSampler(labels, 16, seed=9, num_replicas=2, rank=1)
    run.set_epoch(3)
    it = iter(run)
    head = [next(it) for _ in range(5)]
    state = pickle.loads(pickle.dumps(run.state_dict()))
    assert state["position"] == 5
    resumed = StratifiedBatchSampler(labels, 16, seed=9, num_replicas=2, rank=1)
    resumed.load_state_dict(state)
    resumed.set_epoch(3)
    assert head + list(resumed) == expected


def test_resume_across_chunks_with_large_batches():
    labels = _labels([2**15 * 3, 2**15 * 2])  # batches of 2**15: two batches per chunk
    sampler = StratifiedBatchSampler(labels, 2**15, seed=1)
    expected = list(sampler)
    sampler.set_epoch(0)
    it = iter(sampler)
    head = [next(it) for _ in range(3)]
    assert sampler.position() == 3
    resumed = StratifiedBatchSampler(labels, 2**15, seed=1)
    resumed.load_state_dict(sampler.state_dict())
    assert head + list(resumed) == expected


def test_pickles_and_works_as_a_dataloader_batch_sampler():
    labels = _labels([30, 10])
    sampler = pickle.loads(pickle.dumps(StratifiedBatchSampler(labels, 8, seed=2)))
    assert list(sampler) == list(StratifiedBatchSampler(labels, 8, seed=2))
    loader = DataLoader(torch.arange(40), batch_sampler=StratifiedBatchSampler(labels, 8, seed=2))
    assert sorted(torch.cat(list(loader)).tolist()) == list(range(40))


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "`labels` must not be empty"),
        ([0, -1, 2], {}, ValueError, "`labels` must be >= 0"),
        (torch.tensor([0.0, 1.0]), {}, TypeError, "`labels` must have an integer dtype"),
        ([0.5, 1.0], {}, TypeError, "`labels` must have an integer dtype"),
        (torch.tensor([True, False]), {}, TypeError, "`labels` must have an integer dtype"),
        (torch.zeros(2, 2, dtype=torch.long), {}, ValueError, "`labels` must be 1-D"),
        (["a", "b"], {}, TypeError, "`labels`"),
        ([0, 1], {"batch_size": 0}, ValueError, "`batch_size` must be >= 1"),
        ([0, 1], {"batch_size": True}, TypeError, "`batch_size` must be an int"),
        ([0, 1], {"batch_size": 2.0}, TypeError, "`batch_size` must be an int"),
        ([0, 1], {"drop_last": 1}, TypeError, "`drop_last` must be a bool"),
        ([0, 1], {"shard": "bogus"}, ValueError, "`shard` must be one of"),
        ([0, 1], {"seed": -1}, ValueError, "`seed` must be >= 0"),
    ],
)
def test_bad_inputs(labels, kwargs, error, match):
    kwargs = {"batch_size": 2, **kwargs}
    batch_size = kwargs.pop("batch_size")
    with pytest.raises(error, match=match):
        StratifiedBatchSampler(labels, batch_size, **kwargs)


# -- class-balanced ------------------------------------------------------------------


def _class_blocks(labels, batch, per_class):
    return torch.as_tensor(labels)[torch.tensor(batch)].view(-1, per_class)


@pytest.mark.parametrize(("counts", "per_batch", "per_class"), [([20, 20, 20, 20], 2, 4), ([50, 9, 30, 7, 12], 3, 5), ([8, 8], 2, 8)])
def test_each_batch_has_p_classes_times_k_samples(counts, per_batch, per_class):
    labels = _labels(counts)
    sampler = ClassBalancedBatchSampler(labels, classes_per_batch=per_batch, samples_per_class=per_class, seed=1)
    assert len(sampler) == sum(counts) // (per_batch * per_class)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for batch in sampler:
            blocks = _class_blocks(labels, batch, per_class)
            assert bool((blocks == blocks[:, :1]).all())  # K of one class, side by side
            assert len(set(blocks[:, 0].tolist())) == per_batch  # P distinct classes
            for block_start in range(0, len(batch), per_class):
                block = batch[block_start : block_start + per_class]
                if counts[int(labels[block[0]])] >= per_class:
                    assert len(set(block)) == per_class  # no example twice when the class has K


def test_small_class_is_sampled_with_replacement():
    labels = _labels([40, 40, 2])
    out = class_balanced_batch_indices(labels, num_batches=20, generator=_gen(0), **_pk(3, 5))
    for batch in out:
        small = batch[labels[batch] == 2]
        uses = torch.bincount(small)
        assert sorted(uses[uses > 0].tolist()) == [2, 3]  # both examples, 5 draws


def test_classes_appear_equally_often():
    # C = 6, P = 3: every round of 2 batches shows every class once.
    labels = _labels([30, 20, 10, 40, 5, 15])
    out = class_balanced_batch_indices(labels, num_batches=100, generator=_gen(3), **_pk(3, 2))
    per_class = torch.bincount(labels[out[:, ::2]].flatten(), minlength=6)
    assert per_class.tolist() == [50] * 6
    # C = 7, P = 3: one class sits out each round, at random: counts ~ Binomial(rounds, 6/7).
    labels = _labels([10] * 7)
    out = class_balanced_batch_indices(labels, num_batches=1400, generator=_gen(3), **_pk(3, 1))
    per_class = torch.bincount(labels[out.flatten()], minlength=7)
    assert stats.chisquare(per_class.tolist()).pvalue > ALPHA


def test_examples_of_a_class_are_used_evenly():
    labels = _labels([12, 12])
    out = class_balanced_batch_indices(labels, num_batches=30, generator=_gen(0), **_pk(2, 4))
    uses = torch.bincount(out.flatten(), minlength=24)
    assert uses.tolist() == [10] * 24  # 30 batches x 4 per class = 10 passes of 12


def test_class_balanced_resume_shards_and_determinism():
    labels = _labels([25, 25, 25, 25])
    kwargs = {"classes_per_batch": 2, "samples_per_class": 3, "num_batches": 15, "seed": 4}
    single = list(ClassBalancedBatchSampler(labels, **kwargs))
    assert single == list(ClassBalancedBatchSampler(labels, **kwargs))
    shares = [list(ClassBalancedBatchSampler(labels, **kwargs, num_replicas=2, rank=r)) for r in range(2)]
    assert shares[0] == single[0::2] and shares[1] == single[1::2] + [single[0]]  # pad
    run = ClassBalancedBatchSampler(labels, **kwargs)
    it = iter(run)
    head = [next(it) for _ in range(4)]
    resumed = pickle.loads(pickle.dumps(ClassBalancedBatchSampler(labels, **kwargs)))
    resumed.load_state_dict(run.state_dict())
    assert head + list(resumed) == single
    nxt = ClassBalancedBatchSampler(labels, **kwargs)
    nxt.set_epoch(1)
    assert list(nxt) != single


def test_class_balanced_functional_on_device(device):
    labels = _labels([6, 6, 6]).to(device)
    out = class_balanced_batch_indices(labels, classes_per_batch=2, samples_per_class=3, generator=_gen(1))
    assert out.device.type == device.type and out.shape == (3, 6)
    again = class_balanced_batch_indices(labels.cpu(), classes_per_batch=2, samples_per_class=3, generator=_gen(1))
    assert torch.equal(out.cpu(), again)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"classes_per_batch": 4}, ValueError, r"`classes_per_batch` must be <= the number of classes in `labels` \(3\)"),
        ({"classes_per_batch": 0}, ValueError, "`classes_per_batch` must be >= 1"),
        ({"classes_per_batch": True}, TypeError, "`classes_per_batch` must be an int"),
        ({"samples_per_class": 0}, ValueError, "`samples_per_class` must be >= 1"),
        ({"samples_per_class": 1.5}, TypeError, "`samples_per_class` must be an int"),
        ({"num_batches": 0}, ValueError, "`num_batches` must be >= 1"),
        ({"samples_per_class": 100}, ValueError, "`num_batches` must be given"),
        ({"shard": "all"}, ValueError, "`shard` must be one of"),
    ],
)
def test_class_balanced_bad_inputs(kwargs, error, match):
    kwargs = {"classes_per_batch": 2, "samples_per_class": 2, **kwargs}
    with pytest.raises(error, match=match):
        ClassBalancedBatchSampler([0, 1, 2, 0, 1, 2], **kwargs)
    with pytest.raises(TypeError, match="`labels` must have an integer dtype"):
        ClassBalancedBatchSampler([0.0, 1.0], classes_per_batch=1, samples_per_class=1)
