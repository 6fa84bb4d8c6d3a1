"""Tomek links: the same links as imbalanced-learn, and the same rows dropped."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.imbalance import remove_tomek_links, tomek_links


def dataset(n, d, seed, probs=(0.6, 0.3, 0.1), device="cpu", dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = torch.multinomial(torch.tensor(probs), n, replacement=True, generator=g)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5 * y[:, None]
    return x.to(dtype).to(device), y.to(device)


def brute_links(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Rows in a Tomek link (either side), from a full float64 distance matrix."""
    flat = x.flatten(1).double().cpu()
    d = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist").fill_diagonal_(float("inf"))
    nn = d.argmin(1)
    y = y.cpu()
    return (nn[nn] == torch.arange(len(y))) & (y[nn] != y)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("strategy", ["auto", "all", "majority", "not majority", [0, 2]])
def test_same_rows_as_imblearn(seed, strategy):
    imblearn = pytest.importorskip("imblearn.under_sampling")
    x, y = dataset(1500, [2, 5, 16, 32][seed], seed)
    tl = imblearn.TomekLinks(sampling_strategy=strategy)
    x_ref, y_ref = tl.fit_resample(x.numpy(), y.numpy())
    xr, yr, kept = remove_tomek_links(x, y, sampling_strategy=strategy, return_indices=True)
    assert kept.tolist() == tl.sample_indices_.tolist()
    assert torch.equal(xr, torch.from_numpy(x_ref)) and torch.equal(yr, torch.from_numpy(y_ref))
    drop = tomek_links(x, y, sampling_strategy=strategy)
    assert drop.dtype == torch.bool and (~drop).nonzero().squeeze(1).tolist() == kept.tolist()


def test_hand_made_links(device):
    x = torch.tensor([[0.0], [1.0], [1.4], [4.0], [5.0], [5.3], [9.0]], device=device)
    y = torch.tensor([0, 0, 1, 0, 0, 2, 2], device=device)
    # links: (1, 2) and (4, 5); 0 -> 1, 3 -> 4 and 6 -> 5 are not mutual
    assert tomek_links(x, y, sampling_strategy="all").tolist() == [False, True, True, False, True, True, False]
    # minority is class 1 (1 row): 'auto' drops the class-0 and class-2 members
    assert tomek_links(x, y).tolist() == [False, True, False, False, True, True, False]
    assert tomek_links(x, y, sampling_strategy="majority").tolist() == [False, True, False, False, True, False, False]
    assert tomek_links(x, y, sampling_strategy=[2]).tolist() == [False, False, False, False, False, True, False]


@pytest.mark.parametrize("max_bytes", [64, 5000, 256 * 2**20])
def test_memory_bounded_search_finds_every_link(device, dtype, max_bytes):
    n = 60 if max_bytes == 64 else 700
    x, y = dataset(n, 3, 11, device=device, dtype=dtype)
    got = tomek_links(x, y, sampling_strategy="all", max_bytes=max_bytes)
    assert got.device == x.device
    assert torch.equal(got.cpu(), brute_links(x, y))


def test_image_and_integer_rows(device):
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (300, 1, 4, 4), generator=g, dtype=torch.uint8).to(device)
    y = torch.randint(0, 2, (300,), generator=g).to(device)
    drop = tomek_links(x, y, sampling_strategy="all")
    assert torch.equal(drop.cpu(), brute_links(x.float(), y))
    xr, yr = remove_tomek_links(x, y)
    assert xr.shape[1:] == (1, 4, 4) and xr.dtype == torch.uint8 and len(xr) == len(yr) <= 300


def test_duplicate_rows_with_different_labels_are_a_link(device):
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 3.0], [7.0, 1.0]], device=device)
    y = torch.tensor([0, 1, 0, 0], device=device)
    assert tomek_links(x, y, sampling_strategy="all").tolist() == [True, True, False, False]


def test_inputs_untouched_and_order_kept(device):
    x, y = dataset(400, 4, 5, device=device)
    x0, y0 = x.clone(), y.clone()
    xr, yr, kept = remove_tomek_links(x, y, return_indices=True)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert bool((kept.diff() > 0).all()) and torch.equal(xr, x[kept]) and torch.equal(yr, y[kept])


def test_bad_inputs_name_the_argument():
    x, y = dataset(50, 2, 0)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="`x` must be finite"):
        tomek_links(bad, y)
    with pytest.raises(TypeError, match="`x`"):
        tomek_links(x > 0, y)
    with pytest.raises(TypeError, match="`return_indices`"):
        remove_tomek_links(x, y, return_indices=None)
    with pytest.raises(ValueError, match="`max_bytes`"):
        tomek_links(x, y, max_bytes=0)


def test_links_do_not_change_when_float32_data_are_scaled_to_1e19():
    # squared norms of 1e19-sized float32 rows overflow: 2 links were found instead of 12
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g, dtype=torch.float64)
    y = (torch.rand(400, generator=g) < 0.3).long()
    reference = tomek_links(x, y, sampling_strategy="all")
    for scale in (1e19, 1e-19):
        assert torch.equal(tomek_links((x * scale).float(), y, sampling_strategy="all"), reference)
