"""Long-tailed subsets and synthetic data: exact counts, determinism, errors."""

import pytest
import torch

from torch_mlsd.data import long_tail_counts, long_tail_indices, make_imbalanced_classification


def test_long_tail_counts_cifar10_lt():
    # Cui et al. (2019) CIFAR-10-LT with imbalance 100: 5000 ... 50.
    counts = long_tail_counts(10, 5000, imbalance_ratio=100)
    assert counts[0] == 5000 and counts[-1] == 50
    assert counts == sorted(counts, reverse=True)


def test_long_tail_counts_step():
    assert long_tail_counts(4, 100, imbalance_ratio=10, profile="step") == [100, 100, 10, 10]


def test_long_tail_indices_counts_and_determinism():
    y = torch.arange(5).repeat_interleave(200)
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    idx = long_tail_indices(y, imbalance_ratio=20, generator=torch.Generator().manual_seed(3))
    assert torch.bincount(y[idx]).tolist() == long_tail_counts(5, 200, imbalance_ratio=20)
    assert torch.equal(idx, long_tail_indices(y, imbalance_ratio=20, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(idx, long_tail_indices(y, imbalance_ratio=20, generator=torch.Generator().manual_seed(4)))
    assert len(torch.unique(idx)) == len(idx)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.uint16, torch.uint32, torch.uint64])
def test_long_tail_indices_read_any_integer_dtype(dtype):
    y = torch.arange(4).repeat_interleave(50)
    wide = long_tail_indices(y, imbalance_ratio=10, generator=torch.Generator().manual_seed(3))
    narrow = long_tail_indices(y.to(dtype), imbalance_ratio=10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(narrow, wide)


def test_long_tail_indices_uniform_within_class():
    # Class 1 keeps 10 of 100 examples: each example's inclusion frequency over 2000
    # seeds is 0.1; with 100 examples the max deviation stays below 5 standard errors.
    y = torch.tensor([0] * 100 + [1] * 100)
    hits = torch.zeros(200)
    runs = 2000
    for s in range(runs):
        hits[long_tail_indices(y, imbalance_ratio=10, generator=torch.Generator().manual_seed(s))] += 1
    freq = hits[100:] / runs
    se = (0.1 * 0.9 / runs) ** 0.5
    assert (freq - 0.1).abs().max() < 5 * se
    assert torch.all(hits[:100] == runs)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"labels": torch.tensor([0.0, 1.0])}, TypeError, "labels"),
        ({"labels": torch.tensor([0, 2])}, ValueError, "every class"),
        ({"labels": torch.tensor([-1, 0])}, ValueError, "labels"),
        ({"labels": torch.tensor([], dtype=torch.long)}, ValueError, "labels"),
        ({"labels": torch.tensor([0, 1]), "imbalance_ratio": 0.5}, ValueError, "imbalance_ratio"),
        ({"labels": torch.tensor([0, 1]), "profile": "linear"}, ValueError, "profile"),
        ({"labels": torch.tensor([0, 1, 1]), "max_count": 2}, ValueError, "max_count"),
    ],
)
def test_long_tail_indices_errors(kwargs, err, match):
    kwargs = {"imbalance_ratio": 2.0, **kwargs}
    with pytest.raises(err, match=match):
        long_tail_indices(**kwargs)


def test_make_imbalanced_classification():
    x, y = make_imbalanced_classification(1001, [0.5, 0.3, 0.2], n_features=4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert x.shape == (1001, 4) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [501, 300, 200]  # largest remainder
    x2, y2 = make_imbalanced_classification(1001, [0.5, 0.3, 0.2], n_features=4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    # centres are class_sep from the origin: class means within 4 standard errors of norm 2
    for c in range(3):
        m = x[y == c].mean(0)
        assert abs(m.norm().item() - 2.0) < 4 * (4 / (y == c).sum().item()) ** 0.5


@pytest.mark.parametrize(
    ("args", "kwargs", "err", "match"),
    [
        ((0, [1.0]), {}, ValueError, "n_samples"),
        ((10, [1.0, -1.0]), {}, ValueError, "class_proportions"),
        ((10, [0.0, 0.0]), {}, ValueError, "class_proportions"),
        ((10, [1.0]), {"n_features": True}, TypeError, "n_features"),
        ((10, [1.0]), {"dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_make_imbalanced_classification_errors(args, kwargs, err, match):
    with pytest.raises(err, match=match):
        make_imbalanced_classification(*args, **kwargs)
