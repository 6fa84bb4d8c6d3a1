"""MixUp, CutMix and their switch: formulas, label mass, areas, dtypes, seeds, bad input."""

import math
import pickle

import pytest
import torch

from torch_mlsd.augment import _batch
from torch_mlsd.augment import CutMix, MixParams, MixUp, MixUpOrCutMix, cutmix, mixup


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def partner_of(params, batch):
    return torch.arange(-1, batch - 1) % batch if params.partner is None else params.partner


def one_hot(labels, k):
    return torch.nn.functional.one_hot(labels, k).double()


TOL = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float32: 1e-6, torch.float64: 1e-12}


# -- formulas ------------------------------------------------------------------------------
@pytest.mark.parametrize("pairing", ["roll", "flip", "random"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_mixup_equals_formula(device, dtype, pairing):
    x = torch.rand(7, 3, 5, 6, dtype=torch.float64).to(device, dtype)
    labels = torch.tensor([0, 1, 2, 3, 1, 0, 2], device=device)
    mix = MixUp(num_classes=4, pairing=pairing, seed=1)
    params = mix.sample_params(x)
    out, targets = mix.transform(x, labels, params)
    lam = params.lam.to(dtype).double().to(device)  # the weight as applied, in the images' dtype
    j = partner_of(params, 7).to(device)
    want = lam.view(-1, 1, 1, 1) * x.double() + (1 - lam.view(-1, 1, 1, 1)) * x.double()[j]
    assert out.dtype == dtype and torch.allclose(out.double(), want, atol=TOL[dtype], rtol=0)
    y = one_hot(labels, 4)
    want_t = lam[:, None] * y + (1 - lam[:, None]) * y[j]
    assert targets.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert torch.allclose(targets.double(), want_t, atol=1e-6)


@pytest.mark.parametrize("cls", [MixUp, CutMix, MixUpOrCutMix])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_label_mass_sums_to_one(device, cls, smoothing):
    x = torch.rand(9, 3, 16, 16, device=device)
    ids = torch.randint(0, 5, (9,), generator=gen(), dtype=torch.int64).to(device)
    soft = torch.distributions.Dirichlet(torch.ones(5)).sample((9,)).to(device)  # probability rows
    for labels in (ids, soft):
        _, targets = cls(num_classes=5, label_smoothing=smoothing, seed=0)(x, labels)
        assert targets.shape == (9, 5) and bool((targets >= 0).all())
        assert torch.allclose(targets.sum(1), torch.ones(9, device=device), atol=1e-6)


def test_label_smoothing_values():
    _, t = mixup(torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 2]), num_classes=4, p=0.0, label_smoothing=0.2)
    assert torch.allclose(t[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))


@pytest.mark.parametrize("pairing", ["roll", "flip", "random"])
def test_cutmix_area_matches_corrected_lambda_per_sample(device, pairing):
    b, h, w = 11, 13, 17
    x = torch.arange(1, b + 1, dtype=torch.float32, device=device).view(b, 1, 1, 1).expand(b, 2, h, w).contiguous()
    labels = torch.arange(b, device=device)
    cut = CutMix(num_classes=b, pairing=pairing, seed=4)
    params = cut.sample_params(x)
    out, targets = cut.transform(x, labels, params)
    j = partner_of(params, b).to(device)
    pasted = out != x  # partner values differ from own except where a sample is its own partner
    own_weight = targets[labels, labels].double()
    for box, (i, jj) in zip(params.boxes, enumerate(j.tolist())):  # checks only, not the code under test
        top, left, bottom, right = box.tolist()
        region = torch.zeros(h, w, dtype=torch.bool, device=device)
        region[top:bottom, left:right] = True
        area = (bottom - top) * (right - left)
        if jj != i:  # (a sample that is its own partner keeps all of its label)
            assert math.isclose(1 - own_weight[i].item(), area / (h * w), abs_tol=1e-6)
            assert torch.equal(pasted[i, 0], region) and torch.equal(pasted[i, 1], region)
            assert bool((out[i][:, region] == jj + 1).all())
            assert math.isclose(targets[i, jj].item(), area / (h * w), abs_tol=1e-6)
    assert len({tuple(bx.tolist()) for bx in params.boxes}) > 1  # a box per sample, not one per batch


def test_mixup_or_cutmix_mixes_both_kinds_in_one_batch(device):
    x = torch.rand(400, 1, 64, 64, device=device)
    mix = MixUpOrCutMix(num_classes=3, switch_prob=0.3, seed=0)
    params = mix.sample_params(x)
    blended = params.lam != 1
    pasted = (params.boxes[:, 2] > params.boxes[:, 0]) & (params.boxes[:, 3] > params.boxes[:, 1])
    assert not bool((blended & pasted).any())
    # Each sample is CutMix with probability 0.3: within 4 standard errors. An empty CutMix box
    # needs 1 - lam < 1/64^2 (probability 1/4096), so pasted counts CutMix rows almost exactly.
    assert abs(float(pasted.double().mean()) - 0.3) < 4 * math.sqrt(0.21 / 400)
    out, targets = mix.transform(x, torch.zeros(400, dtype=torch.long, device=device), params)
    i = int(torch.nonzero(blended)[0])
    lam = float(params.lam[i].float())
    assert torch.allclose(out[i], lam * x[i] + (1 - lam) * x[i - 1], atol=1e-6)
    k = int(torch.nonzero(pasted)[0])
    t, l, bt, r = params.boxes[k].tolist()
    assert torch.equal(out[k, :, t:bt, l:r], x[k - 1, :, t:bt, l:r])


def test_mixup_or_cutmix_per_batch_picks_one_kind():
    kinds = set()
    for seed in range(20):
        params = MixUpOrCutMix(num_classes=2, per_sample=False, seed=seed).sample_params(torch.rand(4, 1, 8, 8))
        assert (params.lam is None) != (params.boxes is None)
        kinds.add(params.lam is None)
    assert kinds == {True, False}


# -- probability, pairing, batch sizes -------------------------------------------------------
def test_p_is_per_sample_or_per_batch():
    x = torch.rand(4000, 1, 2, 2)
    params = MixUp(num_classes=2, p=0.25, seed=0).sample_params(x)
    rate = float((params.lam != 1).double().mean())
    assert abs(rate - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 4000)  # 4 standard errors
    per_batch = [MixUp(num_classes=2, p=0.5, per_sample=False, seed=s).sample_params(x).lam for s in range(20)]
    assert all(bool((lam == lam[0]).all()) for lam in per_batch)
    assert {bool(lam[0] == 1) for lam in per_batch} == {True, False}
    boxes = CutMix(num_classes=2, per_sample=False, seed=0).sample_params(torch.rand(5, 1, 8, 8)).boxes
    assert bool((boxes == boxes[0]).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_per_batch_draws_apply_to_every_sample(dtype):
    x = (torch.rand(6, 3, 8, 8) * 255).to(dtype)
    labels = torch.arange(6) % 3
    out, targets = mixup(x, labels, num_classes=3, per_sample=False, generator=gen(1))
    lam = targets[0, 0].double()  # sample 0 (class 0) mixes with sample 5 (class 2)
    assert torch.allclose(targets[:, labels].diagonal().double(), lam.expand(6), atol=1e-6)
    want = lam * x.double() + (1 - lam) * x.double().roll(1, 0)
    assert torch.allclose(out.double(), want, atol=0.5 if dtype == torch.uint8 else 1e-5)
    out, targets = cutmix(x, labels, num_classes=3, per_sample=False, generator=gen(1))
    changed = (out != x).any(dim=1)
    assert bool((changed == changed[0]).all())  # the same box everywhere


@pytest.mark.parametrize("fn", [mixup, cutmix])
def test_p_zero_is_identity(fn):
    x, labels = torch.rand(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    out, targets = fn(x, labels, num_classes=3, p=0.0, generator=gen())
    assert torch.equal(out, x) and torch.equal(targets, one_hot(labels, 3).float())


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("pairing", ["roll", "flip", "random"])
def test_any_batch_size_and_pairing(batch, pairing):
    x, labels = torch.rand(batch, 3, 6, 6), torch.arange(batch) % 3
    for fn in (mixup, cutmix):
        out, targets = fn(x, labels, num_classes=3, pairing=pairing, generator=gen())
        assert out.shape == x.shape and torch.allclose(targets.sum(1), torch.ones(batch))
    if pairing == "flip" and batch % 2:  # the middle sample is its own partner: unchanged
        mid = batch // 2
        out, targets = mixup(x, labels, num_classes=3, pairing="flip", generator=gen())
        assert torch.allclose(out[mid], x[mid], atol=1e-6)
        assert torch.allclose(targets[mid], one_hot(labels, 3)[mid].float())


def test_roll_pairs_each_sample_with_the_previous_one():
    x = torch.arange(5.0).view(5, 1, 1, 1)
    out, targets = mixup(x, torch.arange(5), num_classes=5, generator=gen())
    previous = torch.tensor([4, 0, 1, 2, 3])
    lam = targets[torch.arange(5), torch.arange(5)]
    assert torch.allclose(targets[torch.arange(5), previous], 1 - lam)
    assert torch.allclose(out.flatten(), lam * x.flatten() + (1 - lam) * previous.float())


@pytest.mark.parametrize("cls", [MixUp, CutMix, MixUpOrCutMix])
def test_empty_batch(cls):
    out, targets = cls(num_classes=3, seed=0)(torch.rand(0, 3, 4, 4), torch.zeros(0, dtype=torch.long))
    assert out.shape == (0, 3, 4, 4) and targets.shape == (0, 3)


# -- dtypes, devices, memory formats, in place -----------------------------------------------
TRANSFORMS = [
    lambda **kw: MixUp(num_classes=3, **kw),
    lambda **kw: CutMix(num_classes=3, **kw),
    lambda **kw: MixUpOrCutMix(num_classes=3, **kw),
]


@pytest.mark.parametrize("make", TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_dtype_device_memory_format_kept_and_input_untouched(device, make, dtype, channels_last):
    x = (torch.rand(6, 3, 9, 7) * 255).to(device, dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    labels = torch.tensor([0, 1, 2, 0, 1, 2], device=device)
    before, version = x.clone(), x._version
    out, targets = make(seed=0)(x, labels)
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert targets.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert targets.device == x.device
    assert x._version == version and torch.equal(x, before)


@pytest.mark.parametrize("make", TRANSFORMS)
@pytest.mark.parametrize("pairing", ["roll", "flip", "random"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("block", [None, 100])
def test_inplace_matches_out_of_place(device, make, pairing, dtype, block, monkeypatch):
    if block is not None:  # force CPU blocks of one row to exercise the block loops
        monkeypatch.setattr(_batch, "_BLOCK_ELEMENTS", block)
    x = (torch.rand(7, 3, 8, 8) * 255).to(device, dtype).contiguous(memory_format=torch.channels_last)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0], device=device)
    want, want_t = make(pairing=pairing, seed=3)(x, labels)
    y = x.clone()
    got, got_t = make(pairing=pairing, inplace=True, seed=3)(y, labels)
    assert got is y and torch.equal(got, want) and torch.equal(got_t, want_t)


def test_uint8_mixup_rounds_to_nearest():
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=gen())
    mix = MixUp(num_classes=2, seed=0)
    params = mix.sample_params(x)
    out, _ = mix.transform(x, torch.zeros(16, dtype=torch.long), params)
    lam = params.lam.view(-1, 1, 1, 1)
    exact = lam * x.double() + (1 - lam) * x.double().roll(1, 0)
    assert out.dtype == torch.uint8 and bool(((out.double() - exact).abs() <= 0.5 + 1e-4).all())


def test_uint8_cutmix_copies_pixels_exactly():
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=gen())
    cut = CutMix(num_classes=2, seed=1)
    params = cut.sample_params(x)
    out, _ = cut.transform(x, torch.zeros(8, dtype=torch.long), params)
    keep = _batch.box_keep(params.boxes[:, None], 16, 16, torch.float32, x.device) == 1
    assert torch.equal(torch.where(keep, x, x.roll(1, 0)), out)


def test_cpu_and_device_agree_on_pinned_params(device):
    x = torch.rand(6, 3, 10, 10)
    labels = torch.arange(6) % 3
    for make in TRANSFORMS:
        t = make(seed=0)
        params = t.sample_params(x)
        cpu_out, cpu_t = t.transform(x, labels, params)
        dev_out, dev_t = t.transform(x.to(device), labels.to(device), params)
        assert torch.allclose(dev_out.cpu(), cpu_out, atol=1e-6) and torch.allclose(dev_t.cpu(), cpu_t, atol=1e-6)


# -- soft labels, masks ----------------------------------------------------------------------
def test_soft_labels_are_mixed_and_keep_float64():
    soft = torch.tensor([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    mix = MixUp(seed=0)  # num_classes not needed for soft labels
    x = torch.rand(3, 1, 2, 2)
    params = mix.sample_params(x)
    _, targets = mix.transform(x, soft, params)
    lam = params.lam.float().double()[:, None]
    assert targets.dtype == torch.float64 and torch.allclose(targets, lam * soft + (1 - lam) * soft.roll(1, 0))


def test_bfloat16_images_do_not_round_class_ids_or_targets():
    x = torch.rand(4, 3, 4, 4).bfloat16()
    _, targets = mixup(x, torch.tensor([0, 299, 511, 1000]), num_classes=1001, generator=gen())
    assert targets.dtype == torch.float32
    assert set(torch.nonzero(targets)[:, 1].tolist()) == {0, 299, 511, 1000}


@pytest.mark.parametrize("mask_dtype", [torch.int64, torch.bool, torch.float32])
@pytest.mark.parametrize("four_d", [False, True])
def test_cutmix_pastes_segmentation_masks_with_the_same_boxes(device, mask_dtype, four_d):
    x = torch.rand(6, 3, 12, 12, device=device)
    masks = torch.randint(0, 2 if mask_dtype == torch.bool else 7, (6, 12, 12), device=device).to(mask_dtype)
    masks_in = masks[:, None] if four_d else masks
    before = masks_in.clone()
    cut = CutMix(num_classes=2, pairing="random", seed=0)
    params = cut.sample_params(x)
    out, _, out_masks = cut.transform(x, torch.zeros(6, dtype=torch.long, device=device), params, masks_in)
    keep = _batch.box_keep(params.boxes[:, None], 12, 12, torch.float32, device) == 1
    keep = keep if four_d else keep[:, 0]
    assert torch.equal(out_masks, torch.where(keep, masks_in, masks_in[params.partner.to(device)]))
    assert out_masks.dtype == mask_dtype and torch.equal(masks_in, before)
    functional = cutmix(x, torch.zeros(6, dtype=torch.long, device=device), num_classes=2, masks=masks, generator=gen())
    assert len(functional) == 3 and functional[2].shape == masks.shape


def test_blending_transforms_refuse_masks():
    mix = MixUp(num_classes=2, seed=0)
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="`masks`"):
        mix.transform(x, torch.tensor([0, 1]), mix.sample_params(x), torch.zeros(2, 4, 4))


# -- randomness ------------------------------------------------------------------------------
def test_seed_reproducible_and_distinct():
    x, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    for cls in (MixUp, CutMix, MixUpOrCutMix):
        a, ta = cls(num_classes=4, seed=0)(x, labels)
        b, tb = cls(num_classes=4, seed=0)(x, labels)
        c, _ = cls(num_classes=4, seed=1)(x, labels)
        assert torch.equal(a, b) and torch.equal(ta, tb) and not torch.equal(a, c)
    t = MixUp(num_classes=4, seed=0)
    first, second = t(x, labels)[0], t(x, labels)[0]
    assert not torch.equal(first, second)  # the stream advances
    t.set_epoch(0)
    assert torch.equal(t(x, labels)[0], first)  # and restarts from (seed, epoch)
    t.set_epoch(1)
    assert not torch.equal(t(x, labels)[0], first)


def test_functional_matches_module_and_generator_is_explicit():
    x, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    a, ta = cutmix(x, labels, num_classes=4, alpha=0.5, generator=gen(7))
    cut = CutMix(num_classes=4, alpha=0.5)
    b, tb = cut.transform(x, labels, cut.sample_params(x, generator=gen(7)))
    assert torch.equal(a, b) and torch.equal(ta, tb)
    state = torch.get_rng_state()
    mixup(x, labels, num_classes=4)  # no generator: fresh OS entropy, global RNG untouched
    assert torch.equal(torch.get_rng_state(), state)


class _Images(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return torch.full((1, 4, 4), float(i)), i % 2


class _MixCollate:
    def __init__(self):
        self.mix = MixUp(num_classes=2, seed=0)

    def __call__(self, samples):
        images, labels = torch.utils.data.default_collate(samples)
        return self.mix(images, labels)


def _mix_loader(loader_seed):
    return torch.utils.data.DataLoader(
        _Images(), batch_size=4, num_workers=2, collate_fn=_MixCollate(),
        generator=torch.Generator().manual_seed(loader_seed),
    )


def test_in_dataloader_workers_each_worker_draws_its_own_stream():
    loader = _mix_loader(0)
    targets = [t for _, t in loader]  # batches 0 and 2 come from worker 0, 1 and 3 from worker 1
    assert all(torch.allclose(t.sum(1), torch.ones(4)) for t in targets)
    own = [t[:, 0].tolist() for t in targets]
    assert own[0] != own[1]  # the same images and labels, different lambdas per worker
    # a new epoch draws new lambdas even without set_epoch (workers mix in their epoch seed)
    next_epoch = [t for _, t in loader]
    assert not all(torch.equal(a, b) for a, b in zip(targets, next_epoch))
    # the same seeds (transform and DataLoader) give the same draws run after run
    again = [t for _, t in _mix_loader(0)]
    assert all(torch.equal(a, b) for a, b in zip(targets, again))


def test_modules_pickle_and_repr():
    t = MixUpOrCutMix(num_classes=4, seed=5)
    t(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]))
    clone = pickle.loads(pickle.dumps(t))
    x, labels = torch.rand(4, 1, 4, 4), torch.arange(4)
    assert torch.equal(clone(x, labels)[0], MixUpOrCutMix(num_classes=4, seed=5)(x, labels)[0])
    assert "switch_prob=0.5" in repr(t) and "seed=5" in repr(t)


# -- bad input -------------------------------------------------------------------------------
X, Y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])

BAD_CALLS = [
    (lambda: mixup(torch.rand(3, 8, 8), Y[:3], num_classes=3), ValueError, "`images`"),
    (lambda: mixup(X > 0.5, Y, num_classes=3), TypeError, "`images`"),
    (lambda: mixup(X.to(torch.complex64), Y, num_classes=3), TypeError, "`images`"),
    (lambda: mixup(X.to(torch.int32), Y, num_classes=3), TypeError, "`images`"),
    (lambda: mixup(X.numpy(), Y, num_classes=3), TypeError, "`images`"),
    (lambda: mixup(X, Y[:3], num_classes=3), ValueError, "`labels`"),
    (lambda: mixup(X, Y.view(4, 1, 1), num_classes=3), ValueError, "`labels`"),
    (lambda: mixup(X, Y.float(), num_classes=3), TypeError, "`labels`"),
    (lambda: mixup(X, Y > 0, num_classes=3), TypeError, "`labels`"),
    (lambda: mixup(X, Y), ValueError, "`num_classes`"),
    (lambda: mixup(X, Y, num_classes=2), ValueError, "`labels`"),
    (lambda: mixup(X, -Y, num_classes=3), ValueError, "`labels`"),
    (lambda: mixup(X, torch.rand(4, 5), num_classes=3), ValueError, "`labels`"),
    (lambda: mixup(X, Y, num_classes=0), ValueError, "`num_classes`"),
    (lambda: mixup(X, Y, num_classes=True), TypeError, "`num_classes`"),
    (lambda: mixup(X, Y, num_classes=3, alpha=0.0), ValueError, "`alpha`"),
    (lambda: mixup(X, Y, num_classes=3, alpha=-1), ValueError, "`alpha`"),
    (lambda: mixup(X, Y, num_classes=3, alpha="1"), TypeError, "`alpha`"),
    (lambda: mixup(X, Y, num_classes=3, p=1.5), ValueError, "`p`"),
    (lambda: mixup(X, Y, num_classes=3, p=-0.1), ValueError, "`p`"),
    (lambda: mixup(X, Y, num_classes=3, label_smoothing=2.0), ValueError, "`label_smoothing`"),
    (lambda: mixup(X, Y, num_classes=3, pairing="shuffle"), ValueError, "`pairing`"),
    (lambda: mixup(X, Y, num_classes=3, per_sample=1), TypeError, "`per_sample`"),
    (lambda: mixup(X, Y, num_classes=3, inplace="yes"), TypeError, "`inplace`"),
    (lambda: mixup(X, Y, num_classes=3, generator=0), TypeError, "`generator`"),
    (lambda: cutmix(X, Y, num_classes=3, alpha=float("nan")), ValueError, "`alpha`"),
    (lambda: cutmix(X, Y, num_classes=3, masks=torch.zeros(4, 7, 8)), ValueError, "`masks`"),
    (lambda: cutmix(X, Y, num_classes=3, masks=torch.zeros(3, 8, 8)), ValueError, "`masks`"),
    (lambda: cutmix(X, Y, num_classes=3, masks=torch.zeros(8, 8)), ValueError, "`masks`"),
    (lambda: MixUpOrCutMix(num_classes=3, switch_prob=2), ValueError, "`switch_prob`"),
    (lambda: MixUpOrCutMix(num_classes=3, mixup_alpha=0), ValueError, "`mixup_alpha`"),
    (lambda: MixUpOrCutMix(num_classes=3, cutmix_alpha=-2), ValueError, "`cutmix_alpha`"),
    (lambda: MixUp(num_classes=3, seed=-1), ValueError, "`seed`"),
    (lambda: MixUp(num_classes=3).transform(X, Y, "params"), TypeError, "`params`"),
    (lambda: MixUp(num_classes=3).transform(X, Y, MixParams(torch.ones(3), None, None)), ValueError, "`params.lam`"),
    (lambda: CutMix(num_classes=3).transform(X, Y, MixParams(None, torch.zeros(4, 3), None)), ValueError,
     "`params.boxes`"),
]


@pytest.mark.parametrize("call, error, name", BAD_CALLS)
def test_bad_input_raises_naming_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
