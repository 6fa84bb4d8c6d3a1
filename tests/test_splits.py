"""Splits: each promise (proportions, rare classes, groups apart, time order, gap, ties),
scikit-learn's fold sizes where they must coincide, determinism, devices, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torch_mlsd.evaluation import (
    group_kfold,
    group_split,
    stratified_kfold,
    stratified_split,
    temporal_split,
    time_series_folds,
)

FRACTIONS = [(0.8, 0.2), (0.7, 0.15, 0.15), (0.5, 0.3, 0.2), (0.25, 0.25, 0.25, 0.25)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_labels(seed: int, min_size: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n_classes = int(torch.randint(1, 40, (1,), generator=g))
    sizes = torch.randint(min_size, 80, (n_classes,), generator=g)
    labels = torch.repeat_interleave(torch.arange(n_classes) * 3 - 5, sizes)  # negative, gapped labels
    return labels[torch.randperm(len(labels), generator=g)], sizes


def _assert_partition(parts, n: int) -> None:
    every = torch.cat(list(parts))
    assert torch.equal(torch.sort(every).values, torch.arange(n)), "splits must partition the rows"
    for p in parts:
        assert torch.equal(p, torch.sort(p).values), "indices must be increasing"
        assert p.dtype == torch.int64


# ------------------------------------------------------------------ stratified


@pytest.mark.parametrize("seed", range(40))
def test_stratified_split_proportions(seed):
    """Each class within one row of its share in every split; split sizes within one row."""
    labels, sizes = _random_labels(seed)
    fractions = FRACTIONS[seed % len(FRACTIONS)]
    parts = stratified_split(labels, fractions=fractions, generator=_gen(seed))
    _assert_partition(parts, len(labels))
    classes = torch.unique(labels)
    for f, part in zip(fractions, parts):
        assert abs(len(part) - f * len(labels)) < 1
        counts = torch.stack([(labels[part] == c).sum() for c in classes])
        share = torch.stack([(labels == c).sum() for c in classes]).double() * f
        assert bool(((counts - share).abs() < 1 + 1e-9).all())


def test_rare_classes_appear_in_every_split():
    labels = torch.tensor([0] * 97 + [1] * 3 + [2] * 3)
    train, val, test = stratified_split(labels, test_size=0.05, val_size=0.05, generator=_gen(3))
    for part in (train, val, test):
        assert set(labels[part].tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match=r"`y`.*class 1 \(2 rows\), class 2 \(1 row\)"):
        stratified_split(torch.tensor([0] * 10 + [1] * 2 + [2]), fractions=(0.6, 0.2, 0.2))
    train, test = stratified_split(torch.tensor([0] * 50 + [1] * 2), test_size=0.01)
    assert (torch.tensor([0] * 50 + [1] * 2)[test] == 1).sum() == 1


def test_one_example_class_cannot_appear_in_both_splits():
    with pytest.raises(ValueError, match=r"`y`.*class 7 \(1 row\)"):
        stratified_split(torch.tensor([0, 0, 0, 7]), test_size=0.5)


def test_stratified_split_is_seeded_and_device_independent(device):
    labels, _ = _random_labels(1)
    a = stratified_split(labels.to(device), test_size=0.3, generator=_gen(5))
    b = stratified_split(labels, test_size=0.3, generator=_gen(5))
    c = stratified_split(labels, test_size=0.3, generator=_gen(6))
    assert a[0].device.type == device.type
    assert all(torch.equal(x.cpu(), y) for x, y in zip(a, b))
    assert not torch.equal(b[1], c[1])


def test_fraction_arguments_are_equivalent():
    labels, _ = _random_labels(2)
    a = stratified_split(labels, test_size=0.2, val_size=0.1, generator=_gen(1))
    b = stratified_split(labels, fractions=[0.7, 0.1, 0.2], generator=_gen(1))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len(stratified_split(labels)[1]) == pytest.approx(0.2 * len(labels), abs=1)  # default 80/20


@pytest.mark.parametrize("seed", range(10))
def test_stratified_kfold_counts_match_sklearn(seed):
    sk = pytest.importorskip("sklearn.model_selection")
    labels, sizes = _random_labels(seed)
    k = 2 + seed % 4
    folds = stratified_kfold(labels, k, generator=_gen(seed))
    theirs = list(sk.StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels.numpy()))
    _assert_partition([test for _, test in folds], len(labels))
    for c in torch.unique(labels):
        ours_c = sorted(int((labels[test] == c).sum()) for _, test in folds)
        theirs_c = sorted(int((labels.numpy()[test] == c.item()).sum()) for _, test in theirs)
        assert ours_c == theirs_c
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, test in folds:
        assert torch.equal(torch.sort(torch.cat([train, test])).values, torch.arange(len(labels)))


def test_stratified_kfold_needs_n_splits_rows_per_class():
    with pytest.raises(ValueError, match="`y`"):
        stratified_kfold(torch.tensor([0] * 10 + [1] * 4), n_splits=5)


# ------------------------------------------------------------------ groups


def _random_groups(seed: int, n_groups: int = 60) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 12, (n_groups,), generator=g)
    groups = torch.repeat_interleave(torch.randperm(1000, generator=g)[:n_groups], sizes)
    return groups[torch.randperm(len(groups), generator=g)]


@pytest.mark.parametrize("seed", range(20))
def test_group_split_keeps_groups_apart_and_sizes_close(seed):
    groups = _random_groups(seed)
    fractions = FRACTIONS[seed % len(FRACTIONS)]
    parts = group_split(groups, fractions=fractions, generator=_gen(seed))
    _assert_partition(parts, len(groups))
    seen = [set(groups[p].tolist()) for p in parts]
    for i in range(len(seen)):
        assert seen[i], "every split gets a group"
        for j in range(i + 1, len(seen)):
            assert not seen[i] & seen[j]
    largest = int(torch.unique(groups, return_counts=True)[1].max())
    for f, p in zip(fractions, parts):
        assert abs(len(p) - f * len(groups)) <= (len(fractions) - 1) * largest


def test_group_split_with_string_ids_and_seeds():
    patients = [f"patient-{i // 3}" for i in range(90)]  # 30 patients, 3 scans each
    train, test = group_split(patients, test_size=0.2, generator=_gen(1))
    assert not {patients[i] for i in train.tolist()} & {patients[i] for i in test.tolist()}
    assert len(test) == 18  # 6 of 30 equal-sized patients: the target exactly
    other = group_split(patients, test_size=0.2, generator=_gen(2))[1]
    assert not torch.equal(test, other)
    assert torch.equal(test, group_split(patients, test_size=0.2, generator=_gen(1))[1])


def test_group_split_errors():
    with pytest.raises(ValueError, match=r"`groups`.*group 0 has 90 rows"):
        group_split(torch.tensor([0] * 90 + list(range(1, 11))), test_size=0.2)
    with pytest.raises(ValueError, match="`groups` has 2 distinct groups"):
        group_split(torch.tensor([0, 0, 1, 1]), fractions=(0.4, 0.3, 0.3))
    with pytest.raises(TypeError, match="`groups`"):
        group_split(torch.tensor([0.5, 1.5, 2.5]))
    with pytest.raises(TypeError, match="`groups`"):
        group_split([[1], [2], [3]])


@pytest.mark.parametrize("seed", range(6))
def test_group_kfold_fold_sizes_equal_sklearn(seed):
    sk = pytest.importorskip("sklearn.model_selection")
    groups = _random_groups(seed, n_groups=25)
    k = 2 + seed % 4
    folds = group_kfold(groups, k, generator=_gen(seed))
    theirs = sk.GroupKFold(k).split(np.zeros(len(groups)), groups=groups.numpy())
    assert sorted(len(t) for _, t in folds) == sorted(len(t) for _, t in theirs)
    _assert_partition([t for _, t in folds], len(groups))
    for train, test in folds:
        assert not set(groups[train].tolist()) & set(groups[test].tolist())


def test_group_kfold_errors():
    with pytest.raises(ValueError, match="`groups` has 2 distinct groups"):
        group_kfold(torch.tensor([0, 1, 1]), n_splits=3)
    with pytest.raises(ValueError, match="`n_splits`"):
        group_kfold(torch.tensor([0, 1, 1]), n_splits=1)


# ------------------------------------------------------------------ time


def _ordered(parts, t: torch.Tensor, gap: float = 0) -> None:
    for earlier, later in zip(parts, parts[1:]):
        assert t[earlier].max() < t[later].min() - gap


@pytest.mark.parametrize("seed", range(10))
def test_temporal_split_orders_and_never_splits_ties(seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 60, (500,), generator=g)  # about 8 rows per time: many ties
    fractions = FRACTIONS[seed % 3]
    parts = temporal_split(t, fractions=fractions)
    _assert_partition(parts, len(t))
    _ordered(parts, t)
    per_time = torch.bincount(t).max().item()
    for f, p in zip(fractions, parts):
        assert abs(len(p) - f * len(t)) <= per_time


def test_temporal_split_gap_and_float_times():
    t = torch.linspace(0.0, 99.0, 100, dtype=torch.float64)
    train, val, test = temporal_split(t, val_size=0.1, test_size=0.1, gap=2.5)
    _ordered((train, val, test), t, gap=2.5)
    assert len(test) == 10 and len(val) == 8 and len(train) == 78  # t < 90 - 2.5, t < 80 - 2.5
    train, test = temporal_split(torch.arange(10), test_size=0.3, gap=1.5)  # integer times, fractional gap
    assert train.tolist() == list(range(6)) and test.tolist() == [7, 8, 9]


def test_temporal_split_datetimes():
    days = np.array(["2024-01-%02d" % d for d in range(1, 31)], dtype="datetime64[D]")[::-1].copy()
    train, test = temporal_split(days, test_size=0.2, gap=np.timedelta64(2, "D"))
    assert days[test.numpy()].min() - days[train.numpy()].max() > np.timedelta64(2, "D")
    assert len(test) == 6 and len(train) == 22


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: temporal_split(torch.tensor([1.0, float("nan"), 3.0])), ValueError, "timestamps"),
        (lambda: temporal_split(np.array(["2024-01-01", "NaT"], dtype="datetime64[D]")), ValueError, "timestamps"),
        (lambda: temporal_split(["a", "b", "c"]), TypeError, "timestamps"),
        (lambda: temporal_split(torch.tensor([1, 1, 1, 1, 1])), ValueError, "timestamps"),
        (lambda: temporal_split(torch.tensor([1, 1, 1, 2, 2, 2]), fractions=(0.4, 0.3, 0.3)), ValueError, "timestamps"),
        (lambda: temporal_split(torch.arange(10), test_size=0.2, gap=8), ValueError, "gap"),
        (lambda: temporal_split(torch.arange(10), gap=-1), ValueError, "gap"),
        (lambda: temporal_split(np.array(["2024-01-01"], dtype="datetime64[D]"), gap=3), TypeError, "gap"),
        (lambda: temporal_split(torch.arange(10), test_size=1.2), ValueError, "test_size"),
        (lambda: temporal_split(torch.arange(10), fractions=(0.5, 0.2)), ValueError, "fractions"),
        (lambda: temporal_split(torch.arange(10), fractions=(0.5, 0.5), test_size=0.5), ValueError, "fractions"),
        (lambda: temporal_split(torch.arange(10), test_size=0.5, val_size=0.5), ValueError, "val_size"),
        (lambda: temporal_split(torch.arange(10), fractions=0.5), ValueError, "fractions"),
    ],
)
def test_temporal_bad_inputs(call, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        call()


@pytest.mark.parametrize(
    "n, k, gap, test_size, max_train",
    [(20, 3, 0, None, None), (50, 5, 2, None, None), (47, 4, 3, 5, None), (60, 5, 1, None, 12), (13, 2, 0, 4, 5)],
)
def test_time_series_folds_equal_sklearn(n, k, gap, test_size, max_train):
    sk = pytest.importorskip("sklearn.model_selection")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    t = perm.double()  # distinct times, rows not in time order: row i has time perm[i]
    ours = time_series_folds(t, k, gap=gap, test_size=test_size, max_train_size=max_train)
    theirs = sk.TimeSeriesSplit(k, gap=gap, test_size=test_size, max_train_size=max_train).split(np.zeros(n))
    inverse = torch.argsort(perm)  # row holding time j
    for (tr, te), (str_, ste) in zip(ours, theirs, strict=True):
        assert torch.equal(tr, torch.sort(inverse[torch.from_numpy(str_)]).values)
        assert torch.equal(te, torch.sort(inverse[torch.from_numpy(ste)]).values)


def test_time_series_folds_keep_ties_together():
    t = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4])
    for train, test in time_series_folds(t, 3, gap=0):
        assert t[train].max() < t[test].min()
        assert not set(t[train].tolist()) & set(t[test].tolist())


def test_time_series_folds_errors():
    with pytest.raises(ValueError, match="`n_splits`"):
        time_series_folds(torch.arange(5), 5)
    with pytest.raises(ValueError, match="`gap`"):
        time_series_folds(torch.arange(10), 3, gap=4)
    with pytest.raises(TypeError, match="`test_size`"):
        time_series_folds(torch.arange(10), 3, test_size=2.0)
