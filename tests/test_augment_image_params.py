"""The vectorised draws behind the image augmentations: Beta, coins, boxes."""

import math

import numpy as np
import pytest
import torch

from torch_mlsd.augment._params import (
    cutmix_boxes,
    cutout_boxes,
    erasing_boxes,
    sample_beta,
    sample_coins,
    sample_partner,
)

stats = pytest.importorskip("scipy.stats")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("alpha", [0.2, 0.8, 1.0, 4.0])
def test_beta_matches_scipy_ks(alpha):
    # One-sample Kolmogorov-Smirnov test at the 0.001 level on 20,000 draws (fixed seed).
    lam = sample_beta(alpha, 20_000, gen(int(alpha * 10)))
    assert lam.dtype == torch.float64 and bool(((lam >= 0) & (lam <= 1)).all())
    assert stats.kstest(lam.numpy(), "beta", args=(alpha, alpha)).pvalue > 1e-3


def test_beta_tiny_alpha_stays_finite_and_symmetric():
    lam = sample_beta(1e-3, 10_000, gen())
    assert bool(torch.isfinite(lam).all())
    # Beta(1e-3, 1e-3) puts almost all mass next to 0 and 1, half on each side:
    # the share above 0.5 is within 4 standard errors (0.005 each) of 0.5.
    assert bool(((lam < 1e-3) | (lam > 1 - 1e-3)).float().mean() > 0.99)
    assert abs(float((lam > 0.5).float().mean()) - 0.5) < 4 * 0.005


def test_beta_is_reproducible_per_generator():
    assert torch.equal(sample_beta(0.4, 100, gen(3)), sample_beta(0.4, 100, gen(3)))
    assert not torch.equal(sample_beta(0.4, 100, gen(3)), sample_beta(0.4, 100, gen(4)))


def test_coins_edges_and_rate():
    assert not bool(sample_coins(0.0, 1000, gen()).any())
    assert bool(sample_coins(1.0, 1000, gen()).all())
    rate = float(sample_coins(0.3, 20_000, gen()).double().mean())
    assert abs(rate - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 20_000)  # 4 standard errors


def test_partners():
    assert sample_partner(5, "roll", gen()) is None
    assert sample_partner(5, "flip", gen()).tolist() == [4, 3, 2, 1, 0]
    perm = sample_partner(7, "random", gen())
    assert sorted(perm.tolist()) == list(range(7))


def test_cutmix_boxes_geometry():
    lam = sample_beta(1.0, 5000, gen(1))
    boxes = cutmix_boxes(lam, 24, 40, gen(2))
    top, left, bottom, right = boxes.unbind(1)
    assert bool(((0 <= top) & (top <= bottom) & (bottom <= 24) & (0 <= left) & (left <= right) & (right <= 40)).all())
    cut = torch.sqrt(1 - lam)
    inside_rows = (top > 0) & (bottom < 24)  # not clipped vertically: the full side
    assert torch.equal((bottom - top)[inside_rows], torch.floor(24 * cut).long()[inside_rows])
    inside_cols = (left > 0) & (right < 40)
    assert torch.equal((right - left)[inside_cols], torch.floor(40 * cut).long()[inside_cols])


def test_cutmix_box_centre_is_uniform():
    # lam = 1 gives an empty box at its centre: chi-square over the 16 rows at the 0.001 level.
    boxes = cutmix_boxes(torch.ones(8000, dtype=torch.float64), 16, 16, gen())
    assert torch.equal(boxes[:, 0], boxes[:, 2])
    counts = np.bincount(boxes[:, 0].numpy(), minlength=16)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_erasing_boxes_fit_and_fall_back():
    boxes = erasing_boxes(4000, 32, 20, (0.02, 0.33), (0.3, 3.3), gen())
    top, left, bottom, right = boxes.unbind(1)
    h, w = bottom - top, right - left
    assert bool(((h < 32) & (w < 20) & (top >= 0) & (left >= 0) & (bottom <= 32) & (right <= 20)).all())
    # Area >= 0.95 * 256 = 243.2 > 15.5 ** 2 cannot fit strictly inside 16 x 16: no box, no erase.
    empty = erasing_boxes(100, 16, 16, (0.95, 1.0), (0.3, 3.3), gen())
    assert bool((empty[:, 2] == empty[:, 0]).all())


def test_erasing_position_is_uniform():
    # A fixed 4x4 box (area 16 / 256, ratio 1): its top row is uniform on {0, ..., 12}.
    boxes = erasing_boxes(6500, 16, 16, (1 / 16, 1 / 16), (1.0, 1.0), gen())
    assert bool((boxes[:, 2] - boxes[:, 0] == 4).all()) and bool((boxes[:, 3] - boxes[:, 1] == 4).all())
    assert stats.chisquare(np.bincount(boxes[:, 0].numpy(), minlength=13)).pvalue > 1e-3
    assert stats.chisquare(np.bincount(boxes[:, 1].numpy(), minlength=13)).pvalue > 1e-3


def test_cutout_boxes_are_clipped_squares():
    boxes = cutout_boxes(2000, 3, 10, 12, 4, gen())
    assert boxes.shape == (2000, 3, 4)
    h, w = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    assert bool(((h <= 4) & (w <= 4) & (h >= 2) & (w >= 2)).all())  # a centre pixel is inside
    assert bool((h == 4).float().mean() > 0.5)
    # length 1: the hole is the centre pixel itself, uniform over the 8 x 8 pixels.
    one = cutout_boxes(6400, 1, 8, 8, 1, gen())[:, 0]
    cells = (one[:, 0] * 8 + one[:, 1]).numpy()
    assert stats.chisquare(np.bincount(cells, minlength=64)).pvalue > 1e-3
