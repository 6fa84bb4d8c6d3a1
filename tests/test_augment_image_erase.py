"""Random erasing and Cutout: torchvision's box distribution, fills, dtypes, seeds, bad input."""

import math
import pickle

import numpy as np
import pytest
import torch

from torch_mlsd.augment import _batch
from torch_mlsd.augment import Cutout, EraseParams, RandomErasing, cutout, random_erasing

stats = pytest.importorskip("scipy.stats")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def erased(out, value=0.0):
    """(B, H, W): pixels where every channel holds ``value``."""
    return (out == value).all(dim=1)


def sizes(boxes):
    return boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]


@pytest.mark.parametrize("shape, scale", [((32, 32), (0.02, 0.33)), ((20, 40), (0.1, 0.6))])
def test_erasing_boxes_match_torchvision(shape, scale):
    v2 = pytest.importorskip("torchvision.transforms.v2")
    h_img, w_img = shape
    n = 3000
    ours = RandomErasing(p=1.0, scale=scale, seed=0).sample_params(torch.zeros(n, 1, h_img, w_img)).boxes[:, 0]
    peer = v2.RandomErasing(p=1.0, scale=scale)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theirs = [peer.make_params([torch.zeros(1, h_img, w_img)]) for _ in range(n)]
    tv_found = np.array([p["v"] is not None for p in theirs])
    tv = np.array([(p["i"], p["j"], p["h"], p["w"]) for p in theirs])[tv_found]
    h, w = (s.numpy() for s in sizes(ours))
    found = h * w > 0
    # Two-sample KS tests at the 0.001 level (fixed seeds): area, aspect ratio, position.
    assert stats.ks_2samp(h[found] * w[found], tv[:, 2] * tv[:, 3]).pvalue > 1e-3
    assert stats.ks_2samp(np.log(h[found] / w[found]), np.log(tv[:, 2] / tv[:, 3])).pvalue > 1e-3
    top = ours[:, 0].numpy()[found] / (h_img - h[found] + 1)
    assert stats.ks_2samp(top, tv[:, 0] / (h_img - tv[:, 2] + 1)).pvalue > 1e-3
    # Same share of samples where no attempt fits: a two-proportion z-test within 4 standard errors.
    pooled = (found.sum() + tv_found.sum()) / (2 * n)
    assert abs(found.mean() - tv_found.mean()) <= 4 * math.sqrt(2 * pooled * (1 - pooled) / n) + 1e-12


def test_erasing_requested_scale_and_ratio():
    boxes = RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0), seed=1).sample_params(
        torch.zeros(4000, 1, 64, 64)).boxes[:, 0]
    h, w = (s.double() for s in sizes(boxes))
    # Rounding each side to an integer moves the area and ratio a little: allow half a pixel.
    assert bool((h * w >= 0.05 * 4096 - (h + w) / 2 - 1).all()) and bool((h * w <= 0.2 * 4096 + (h + w) / 2 + 1).all())
    assert bool(((h - 0.5) / (w + 0.5) <= 2.0).all()) and bool(((h + 0.5) / (w - 0.5) >= 0.5).all())
    # log(h / w) is uniform on [log 0.5, log 2]: mean 0, checked within 4 standard errors.
    log_ratio = torch.log(h / w)
    assert abs(float(log_ratio.mean())) < 4 * (math.log(4) / math.sqrt(12)) / math.sqrt(4000) + 0.01


def test_erasing_fills_exactly_the_boxes(device):
    x = torch.ones(64, 3, 16, 24, device=device)
    erase = RandomErasing(p=1.0, seed=0)
    params = erase.sample_params(x)
    out = erase.transform(x, params)
    h, w = sizes(params.boxes[:, 0])
    assert torch.equal(erased(out).sum(dim=(1, 2)).cpu(), h * w)
    for i in range(0, 64, 9):  # spot checks of the placement
        t, l, b, r = params.boxes[i, 0].tolist()
        assert bool((out[i, :, t:b, l:r] == 0).all())


def test_p_per_sample_and_per_batch():
    x = torch.ones(4000, 1, 8, 8)
    hit = erased(random_erasing(x, scale=(0.1, 0.2), generator=gen())).any(dim=(1, 2))
    assert abs(float(hit.double().mean()) - 0.5) < 4 * math.sqrt(0.25 / 4000)  # 4 standard errors
    assert torch.equal(random_erasing(x, p=0.0, generator=gen()), x)
    boxes = RandomErasing(per_sample=False, p=1.0, seed=0).sample_params(torch.ones(6, 1, 8, 8)).boxes
    assert bool((boxes == boxes[0]).all())


def test_no_fitting_attempt_leaves_the_image_unchanged():
    x = torch.rand(8, 3, 16, 16)
    assert torch.equal(random_erasing(x, p=1.0, scale=(0.95, 1.0), generator=gen()), x)


def test_fill_values():
    x = torch.ones(6, 3, 12, 12)
    out = random_erasing(x, p=1.0, value=(0.1, 0.2, 0.3), generator=gen())
    hole = out[:, 0] != 1
    for c, v in enumerate((0.1, 0.2, 0.3)):
        assert bool((out[:, c][hole] == torch.tensor(v)).all())
    out = random_erasing(x, p=1.0, value=-2.5, generator=gen())
    assert bool(((out == 1) | (out == -2.5)).all()) and bool((out == -2.5).any())
    noise = random_erasing(torch.full((256, 3, 16, 16), float("nan")), p=1.0, value="random", generator=gen())
    values = noise[~torch.isnan(noise)]
    # Per-pixel standard normal values: mean within 4 standard errors of 0, std within 5%.
    assert values.numel() > 10_000 and abs(float(values.mean())) < 4 / math.sqrt(values.numel())
    assert abs(float(values.std()) - 1) < 0.05


def test_uint8_fills():
    x = torch.full((64, 3, 16, 16), 7, dtype=torch.uint8)
    out = random_erasing(x, p=1.0, value=200.4, generator=gen())
    assert out.dtype == torch.uint8 and set(out.unique().tolist()) == {7, 200}
    noise = random_erasing(x, p=1.0, value="random", generator=gen())
    assert noise.dtype == torch.uint8 and len(noise.unique()) > 200  # uniform over 0..255


@pytest.mark.parametrize("make", [lambda **kw: RandomErasing(p=1.0, **kw), lambda **kw: Cutout(n_holes=2, **kw)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("value", [0.0, (1.0, 2.0, 3.0), "random"])
def test_dtype_device_memory_format_kept_input_untouched_inplace_agrees(device, make, dtype, channels_last, value):
    x = (torch.rand(5, 3, 10, 9) * 255).to(device, dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    before, version = x.clone(), x._version
    out = make(value=value, seed=2)(x)
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert x._version == version and torch.equal(x, before)
    y = x.clone()
    got = make(value=value, inplace=True, seed=2)(y)
    assert got is y and torch.equal(got, out)


@pytest.mark.parametrize("value", [0.5, (1.0, 2.0, 3.0)])
def test_blocks_of_rows_give_the_same_result(value, monkeypatch):
    x = torch.rand(9, 3, 10, 10)
    erase = Cutout(length=4, n_holes=2, value=value, seed=0)
    params = erase.sample_params(x)
    whole = erase.transform(x, params)
    monkeypatch.setattr(_batch, "_BLOCK_ELEMENTS", 100)  # one row per block
    assert torch.equal(erase.transform(x, params), whole)


def test_cpu_and_device_agree_on_pinned_boxes(device):
    x = torch.rand(16, 3, 12, 12)
    erase = RandomErasing(p=1.0, value=(0.5, 0.25, 0.0), seed=0)
    params = erase.sample_params(x)
    assert torch.equal(erase.transform(x.to(device), params).cpu(), erase.transform(x, params))


def test_generator_must_be_on_the_cpu(device):
    if device.type == "cpu":
        pytest.skip("needs a non-CPU generator")
    with pytest.raises(ValueError, match="`generator`"):
        random_erasing(X.to(device), generator=torch.Generator(device=device))


def test_cutout_squares_and_holes():
    x = torch.ones(500, 1, 32, 32)
    out = cutout(x, generator=gen())
    area = erased(out).sum(dim=(1, 2))
    # A full 16 x 16 square needs its centre row and column in [8, 24]: probability (17/32)^2,
    # checked within 4 standard errors; squares nearer the border are clipped.
    full = (17 / 32) ** 2
    assert bool((area <= 256).all())
    assert abs(float((area == 256).double().mean()) - full) < 4 * math.sqrt(full * (1 - full) / 500)
    params = Cutout(length=4, n_holes=3, seed=0).sample_params(x)
    out = Cutout(length=4, n_holes=3).transform(x, params)
    for i in range(0, 500, 50):
        expected = torch.zeros(32, 32, dtype=torch.bool)
        for t, l, b, r in params.boxes[i].tolist():
            expected[t:b, l:r] = True
        assert torch.equal(erased(out)[i], expected)  # the union of the holes


def test_empty_batch_and_labels_pass_through():
    assert RandomErasing(seed=0)(torch.rand(0, 3, 4, 4)).shape == (0, 3, 4, 4)
    labels = torch.tensor([3, 1])
    images, out_labels = Cutout(seed=0)(torch.rand(2, 3, 8, 8), labels)
    assert out_labels is labels and images.shape == (2, 3, 8, 8)


def test_seed_reproducible_and_distinct():
    x = torch.rand(32, 3, 16, 16)
    for cls in (RandomErasing, Cutout):
        assert torch.equal(cls(seed=0)(x), cls(seed=0)(x)) and not torch.equal(cls(seed=0)(x), cls(seed=1)(x))
    a = random_erasing(x, value="random", generator=gen(3))
    assert torch.equal(a, random_erasing(x, value="random", generator=gen(3)))
    erase = RandomErasing(seed=0)
    first = erase(x)
    erase.set_epoch(0)
    assert torch.equal(erase(x), first)
    clone = pickle.loads(pickle.dumps(RandomErasing(seed=4)))
    assert torch.equal(clone(x), RandomErasing(seed=4)(x)) and "seed=4" in repr(clone)


X = torch.rand(4, 3, 8, 8)

BAD_CALLS = [
    (lambda: random_erasing(torch.rand(3, 8, 8)), ValueError, "`images`"),
    (lambda: random_erasing(X > 0), TypeError, "`images`"),
    (lambda: random_erasing(X.to(torch.complex64)), TypeError, "`images`"),
    (lambda: random_erasing(torch.rand(4, 3, 0, 8)), ValueError, "`images`"),
    (lambda: random_erasing(X, p=2.0), ValueError, "`p`"),
    (lambda: random_erasing(X, scale=(0.5, 0.1)), ValueError, "`scale`"),
    (lambda: random_erasing(X, scale=(0.1, 1.5)), ValueError, r"`scale\[1\]`"),
    (lambda: random_erasing(X, scale=(-0.1, 0.5)), ValueError, r"`scale\[0\]`"),
    (lambda: random_erasing(X, scale=0.3), TypeError, "`scale`"),
    (lambda: random_erasing(X, scale=(0.1, 0.2, 0.3)), TypeError, "`scale`"),
    (lambda: random_erasing(X, ratio=(0.0, 2.0)), ValueError, r"`ratio\[0\]`"),
    (lambda: random_erasing(X, ratio=(3.0, 2.0)), ValueError, "`ratio`"),
    (lambda: random_erasing(X, ratio="wide"), TypeError, "`ratio`"),
    (lambda: random_erasing(X, value="noise"), ValueError, "`value`"),
    (lambda: random_erasing(X, value=True), TypeError, "`value`"),
    (lambda: random_erasing(X, value=[]), TypeError, "`value`"),
    (lambda: random_erasing(X, value=(1.0, 2.0)), ValueError, "`value`"),
    (lambda: random_erasing(X, value=float("inf")), ValueError, "`value`"),
    (lambda: random_erasing((X * 255).to(torch.uint8), p=1.0, value=300), ValueError, "`value`"),
    (lambda: random_erasing(X, per_sample="no"), TypeError, "`per_sample`"),
    (lambda: random_erasing(X, inplace=1), TypeError, "`inplace`"),
    (lambda: random_erasing(X, generator="seed"), TypeError, "`generator`"),
    (lambda: cutout(X, length=0), ValueError, "`length`"),
    (lambda: cutout(X, length=2.5), TypeError, "`length`"),
    (lambda: cutout(X, n_holes=0), ValueError, "`n_holes`"),
    (lambda: Cutout(p=-1), ValueError, "`p`"),
    (lambda: RandomErasing().transform(X, "params"), TypeError, "`params`"),
    (lambda: RandomErasing().transform(X, EraseParams(torch.zeros(3, 1, 4), 0)), ValueError, "`params.boxes`"),
]


@pytest.mark.parametrize("call, error, name", BAD_CALLS)
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
