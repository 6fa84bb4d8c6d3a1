"""`sampling_strategy` as imbalanced-learn defines it, and the input checks every resampler shares."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.imbalance import random_oversample, random_undersample, remove_tomek_links, smote, tomek_links

np = pytest.importorskip("numpy")


def dataset(counts, d=3, seed=0, labels=None):
    g = torch.Generator().manual_seed(seed)
    labels = labels or list(range(len(counts)))
    y = torch.cat([torch.full((n,), c) for c, n in zip(labels, counts)])
    y = y[torch.randperm(len(y), generator=g)]
    return torch.randn(len(y), d, generator=g, dtype=torch.float64), y


def counts_of(y):
    values, counts = torch.unique(y, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


OVER = ["auto", "minority", "not minority", "not majority", "all", 0.9, {0: 60, 1: 45, 2: 20}]
UNDER = ["auto", "majority", "not minority", "not majority", "all", 0.5, {0: 12, 1: 5, 2: 8}]


@pytest.mark.parametrize("strategy", OVER)
@pytest.mark.parametrize("counts", [[60, 30, 12], [40, 40, 12, 25]])
def test_over_sampling_counts_match_imblearn(strategy, counts):
    imblearn = pytest.importorskip("imblearn.over_sampling")
    x, y = dataset(counts)
    if isinstance(strategy, float):  # binary only: classes 0 and 2
        x, y = x[y % 2 == 0], y[y % 2 == 0]
    if isinstance(strategy, dict) and len(counts) == 4:
        strategy = {**strategy, 3: 25}
    _, ref = imblearn.RandomOverSampler(sampling_strategy=strategy, random_state=0).fit_resample(x.numpy(), y.numpy())
    expected = counts_of(torch.from_numpy(ref))
    assert counts_of(random_oversample(x, y, sampling_strategy=strategy, generator=torch.Generator(x.device).manual_seed(0))[1]) == expected
    assert counts_of(smote(x, y, sampling_strategy=strategy, generator=torch.Generator(x.device).manual_seed(0))[1]) == expected


@pytest.mark.parametrize("strategy", UNDER)
@pytest.mark.parametrize("counts", [[60, 30, 12], [40, 40, 12, 25]])
def test_under_sampling_counts_match_imblearn(strategy, counts):
    imblearn = pytest.importorskip("imblearn.under_sampling")
    x, y = dataset(counts)
    if isinstance(strategy, float):
        x, y = x[y % 2 == 0], y[y % 2 == 0]
    if isinstance(strategy, dict) and len(counts) == 4:
        strategy = {**strategy, 3: 25}
    _, ref = imblearn.RandomUnderSampler(sampling_strategy=strategy, random_state=0).fit_resample(x.numpy(), y.numpy())
    ours = random_undersample(x, y, sampling_strategy=strategy, generator=torch.Generator(x.device).manual_seed(0))[1]
    assert counts_of(ours) == counts_of(torch.from_numpy(ref))


def test_ties_go_to_the_lowest_label_and_any_integer_labels():
    # classes -3 and 7 tie for the majority: imbalanced-learn picks the lowest (-3) as majority
    x, y = dataset([20, 20, 5], labels=[7, -3, 1000])
    assert counts_of(random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(0))[1]) == {-3: 20, 7: 20, 1000: 20}
    assert counts_of(random_oversample(x, y, sampling_strategy="minority", generator=torch.Generator(x.device).manual_seed(0))[1]) == {-3: 20, 7: 20, 1000: 20}
    assert counts_of(random_undersample(x, y, sampling_strategy="majority", generator=torch.Generator(x.device).manual_seed(0))[1]) == {-3: 5, 7: 20, 1000: 5}
    # sparse label range (unique path) and int8 labels
    x, y = dataset([9, 4], labels=[2**40, 5])
    assert counts_of(random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(0))[1]) == {5: 9, 2**40: 9}
    x, y = dataset([9, 4], labels=[-128, 127])  # int8 extremes: the shifted range must not wrap
    yr = random_oversample(x, y.to(torch.int8), generator=torch.Generator(x.device).manual_seed(0))[1]
    assert yr.dtype == torch.int8 and counts_of(yr) == {-128: 9, 127: 9}
    # more than 8 classes: rows found through one stable sort instead of one pass per class
    x, y = dataset([12, 3, 4, 5, 6, 7, 8, 9, 10, 11], labels=list(range(100, 110)))
    xr, yr, idx = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(0), return_indices=True)
    assert counts_of(yr) == {c: 12 for c in range(100, 110)} and torch.equal(yr, y[idx])


def test_strategy_errors_name_the_argument():
    x, y = dataset([30, 20, 6])
    xb, yb = x[y < 2], y[y < 2]
    cases = [
        (random_oversample, {"sampling_strategy": "majority"}, ValueError, "`sampling_strategy` must be one of"),
        (random_undersample, {"sampling_strategy": "minority"}, ValueError, "`sampling_strategy` must be one of"),
        (tomek_links, {"sampling_strategy": "minority"}, ValueError, "`sampling_strategy` must be one of"),
        (random_oversample, {"sampling_strategy": "everything"}, ValueError, "`sampling_strategy` must be one of"),
        (random_oversample, {"sampling_strategy": 0.5}, ValueError, "only for 2 classes"),
        (random_oversample, {"sampling_strategy": 1.5}, ValueError, "`sampling_strategy` must be <= 1"),
        (random_oversample, {"sampling_strategy": 0.0}, ValueError, "`sampling_strategy` must be > 0"),
        (random_oversample, {"sampling_strategy": True}, TypeError, "`sampling_strategy`"),
        (random_oversample, {"sampling_strategy": [0, 1]}, TypeError, "`sampling_strategy`"),
        (random_oversample, {"sampling_strategy": {5: 40}}, ValueError, "names class 5"),
        (random_oversample, {"sampling_strategy": {2: 3}}, ValueError, r"`sampling_strategy\[2\]` must be >= 6"),
        (random_oversample, {"sampling_strategy": {2: -1}}, ValueError, r"`sampling_strategy\[2\]` must be >= 0"),
        (random_oversample, {"sampling_strategy": {"a": 1}}, TypeError, "`sampling_strategy class`"),
        (random_undersample, {"sampling_strategy": {0: 31}}, ValueError, r"`sampling_strategy\[0\]` must be <= 30"),
        (tomek_links, {"sampling_strategy": {0: 3}}, ValueError, "`sampling_strategy` must not be a dict"),
        (tomek_links, {"sampling_strategy": 0.5}, ValueError, "`sampling_strategy` must not be a float"),
        (tomek_links, {"sampling_strategy": [0, 9]}, ValueError, "names class 9"),
    ]
    for fn, kw, err, msg in cases:
        with pytest.raises(err, match=msg):
            fn(x, y, **kw)
    with pytest.raises(ValueError, match="increase the ratio"):
        random_oversample(xb, yb, sampling_strategy=0.5)  # 20/30 minority already above 0.5
    with pytest.raises(ValueError, match="increase the ratio"):
        random_undersample(xb, yb, sampling_strategy=0.5)  # would need 40 majority rows


@pytest.mark.parametrize("fn", [random_oversample, random_undersample, smote, tomek_links, remove_tomek_links])
def test_shared_input_errors(fn):
    x, y = dataset([10, 7])
    with pytest.raises(ValueError, match="same length"):
        fn(x, y[:-1])
    with pytest.raises(TypeError, match="`y`"):
        fn(x, y.double())
    with pytest.raises(TypeError, match="`y`"):
        fn(x, y.bool())
    with pytest.raises(ValueError, match="`y`"):
        fn(x, y[:, None])
    with pytest.raises(TypeError, match="`x`"):
        fn(x.numpy(), y)
    with pytest.raises(ValueError, match="`x`"):
        fn(torch.tensor(1.0), y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fn(x, torch.zeros_like(y))
    with pytest.raises(ValueError, match="`x` must not require grad"):
        fn(x.clone().requires_grad_(), y)
    with pytest.raises(TypeError, match="`seed`|`return_indices`|`k_neighbors`|`sampling_strategy`"):
        fn(x, y, sampling_strategy=None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_x_and_y_on_different_devices():
    x, y = dataset([10, 7])
    with pytest.raises(ValueError, match="same device"):
        random_oversample(x.cuda(), y)
