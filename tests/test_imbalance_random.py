"""Random over- and under-sampling: order, provenance, uniformity, determinism."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.imbalance import random_oversample, random_undersample


def dataset(device, n_major=40, n_minor=10, shape=(3,), dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.zeros(n_major, dtype=torch.long), torch.ones(n_minor, dtype=torch.long)])
    y = y[torch.randperm(len(y), generator=g)]
    x = (torch.randn(len(y), *shape, generator=g) * 100).to(dtype)
    return x.to(device), y.to(device)


def test_oversample_originals_first_then_copies_of_the_class(device, dtype):
    x, y = dataset(device, dtype=dtype)
    x0, y0, version = x.clone(), y.clone(), x._version
    xr, yr, idx = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(1), return_indices=True)
    assert xr.shape == (80, 3) and yr.shape == (80,) and idx.shape == (80,)
    assert xr.dtype == dtype and yr.dtype == y.dtype and xr.device == x.device and idx.dtype == torch.long
    assert torch.equal(xr[:50], x) and torch.equal(yr[:50], y)
    assert torch.equal(idx[:50], torch.arange(50, device=device))
    assert torch.equal(xr, x[idx]) and torch.equal(yr, y[idx])
    assert bool((yr[50:] == 1).all()) and bool((y[idx[50:]] == 1).all())
    assert torch.equal(x, x0) and torch.equal(y, y0) and x._version == version


def test_oversample_images_uint8_and_class_order(device):
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (30, 3, 4, 4), generator=g, dtype=torch.uint8).to(device)
    y = torch.tensor([2] * 15 + [0] * 5 + [1] * 10, dtype=torch.int32).to(device)
    xr, yr, idx = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(0), return_indices=True)
    assert xr.shape == (45, 3, 4, 4) and xr.dtype == torch.uint8 and yr.dtype == torch.int32
    assert yr[30:].tolist() == [0] * 10 + [1] * 5  # new rows by ascending label, as imbalanced-learn
    assert torch.equal(xr, x[idx])


def test_oversample_draws_uniformly_within_the_class():
    scipy_stats = pytest.importorskip("scipy.stats")
    x = torch.arange(220.0)[:, None]
    y = torch.cat([torch.zeros(200, dtype=torch.long), torch.ones(20, dtype=torch.long)])
    _, _, idx = random_oversample(x, y, sampling_strategy={1: 20 + 20_000}, generator=torch.Generator(x.device).manual_seed(3), return_indices=True)
    picks = torch.bincount(idx[220:] - 200, minlength=20)
    # chi-square goodness of fit to uniform over the 20 minority rows, alpha = 0.001
    assert scipy_stats.chisquare(picks.numpy()).pvalue > 1e-3


def test_seeds_reproduce_and_differ(device):
    x, y = dataset(device)
    a = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(5), return_indices=True)[2]
    b = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(5), return_indices=True)[2]
    c = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(6), return_indices=True)[2]
    assert torch.equal(a, b) and not torch.equal(a, c)
    u1 = random_undersample(x, y, generator=torch.Generator(x.device).manual_seed(5), return_indices=True)[2]
    u2 = random_undersample(x, y, generator=torch.Generator(x.device).manual_seed(5), return_indices=True)[2]
    u3 = random_undersample(x, y, generator=torch.Generator(x.device).manual_seed(6), return_indices=True)[2]
    assert torch.equal(u1, u2) and not torch.equal(u1, u3)
    random_oversample(x, y)  # generator=None: a fresh OS-seeded generator


def test_undersample_subset_in_original_order(device, dtype):
    x, y = dataset(device, dtype=dtype)
    x0 = x.clone()
    xr, yr, idx = random_undersample(x, y, generator=torch.Generator(x.device).manual_seed(1), return_indices=True)
    assert xr.shape == (20, 3) and xr.dtype == dtype and xr.device == x.device
    assert bool((idx.diff() > 0).all())  # original order, no duplicates
    assert torch.equal(xr, x[idx]) and torch.equal(yr, y[idx])
    assert (yr == 0).sum().item() == 10 and (yr == 1).sum().item() == 10
    assert torch.equal(idx[y[idx] == 1], (y == 1).nonzero().squeeze(1))  # the minority is kept whole
    assert torch.equal(x, x0)


def test_undersample_with_replacement_keeps_duplicates_adjacent(device):
    x, y = dataset(device, n_major=12, n_minor=10)
    _, yr, idx = random_undersample(x, y, replacement=True, generator=torch.Generator(x.device).manual_seed(4), return_indices=True)
    assert (yr == 0).sum().item() == 10 and bool((idx.diff() >= 0).all())
    # 10 draws from 12 rows with replacement repeat a row with probability 1 - 12!/(2! 12^10) > 0.99
    duplicates = [
        bool((random_undersample(x, y, replacement=True, generator=torch.Generator(x.device).manual_seed(s), return_indices=True)[2].diff() == 0).any())
        for s in range(10)
    ]
    assert sum(duplicates) >= 8


def test_undersample_keeps_each_row_with_equal_probability():
    scipy_stats = pytest.importorskip("scipy.stats")
    x = torch.arange(25.0)[:, None]
    y = torch.tensor([0] * 20 + [1] * 5)
    kept = torch.zeros(20)
    reps = 200
    for seed in range(reps):
        idx = random_undersample(x, y, generator=torch.Generator(x.device).manual_seed(seed), return_indices=True)[2]
        kept += torch.bincount(idx[idx < 20], minlength=20)
    assert kept.sum().item() == 5 * reps
    # each majority row kept in 5/20 of the draws: chi-square over the 20 rows, alpha = 0.001
    assert scipy_stats.chisquare(kept.numpy()).pvalue > 1e-3


def test_large_output_uses_plain_tensors():
    # >= 4 MiB outputs are allocated through numpy (huge pages); they must behave as usual
    x = torch.randn(40_000, 32)
    y = (torch.arange(40_000) % 10 == 0).long()
    x0 = x.clone()
    xr, yr, idx = random_oversample(x, y, generator=torch.Generator(x.device).manual_seed(0), return_indices=True)  # copied in 2 chunks of rows
    assert xr.shape == (72_000, 32) and xr.is_contiguous() and torch.equal(xr[:40_000], x)
    assert torch.equal(xr, x[idx]) and torch.equal(yr, y[idx])
    xr += 1  # writable, and shares no memory with the input
    assert torch.equal(x, x0) and torch.equal(xr[:40_000], x0 + 1)


def test_flags_are_checked():
    x, y = dataset("cpu")
    with pytest.raises(TypeError, match="`return_indices`"):
        random_oversample(x, y, return_indices=1)
    with pytest.raises(TypeError, match="`replacement`"):
        random_undersample(x, y, replacement="yes")
    with pytest.raises(TypeError, match="`generator`"):
        random_oversample(x, y, generator=-1)
    with pytest.raises(TypeError, match="`generator`"):
        random_undersample(x, y, generator=1.5)
