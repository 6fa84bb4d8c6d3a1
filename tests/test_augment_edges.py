"""Regressions for the augmentation defects of issue 11: parameters drawn for another batch,
fills a dtype cannot hold, narrow id dtypes, unchecked collator inputs, manifold mixup."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd import augment
from torch_mlsd.augment import MaskedLMCollator, mask_tokens


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- parameters are checked against the batch they are applied to ------------------------------
@pytest.mark.parametrize("make", [lambda: augment.CutMix(num_classes=3, seed=0),
                                  lambda: augment.MixUp(num_classes=3, seed=0),
                                  lambda: augment.MixUpOrCutMix(num_classes=3, seed=0)])
@pytest.mark.parametrize("other", [(8, 3, 8, 8), (8, 1, 64, 64), (8, 3, 64, 32)])
def test_mix_params_for_another_shape_are_rejected(make, other) -> None:
    t = make()
    params = t.sample_params(torch.rand(8, 3, 64, 64))
    with pytest.raises(ValueError, match=r"`params` must be drawn for `images` of shape"):
        t.transform(torch.rand(other), torch.zeros(8, dtype=torch.int64), params)


def test_cutmix_params_for_64x64_on_8x8_raise_instead_of_negative_targets() -> None:
    t = augment.CutMix(num_classes=2, seed=0)
    params = t.sample_params(torch.rand(4, 3, 64, 64))
    with pytest.raises(ValueError, match=r"shape \(4, 3, 8, 8\), got params drawn for shape \(4, 3, 64, 64\)"):
        t.transform(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]), params)


@pytest.mark.parametrize("make", [lambda: augment.RandomErasing(p=1.0, seed=0), lambda: augment.Cutout(seed=0)])
def test_erase_params_for_another_shape_are_rejected(make) -> None:
    t = make()
    params = t.sample_params(torch.rand(4, 3, 32, 32))
    for other in [(5, 3, 32, 32), (4, 3, 16, 32), (4, 1, 32, 32)]:
        with pytest.raises(ValueError, match="`params` must be drawn for `images`"):
            t.transform(torch.rand(other), params)


def test_spec_params_for_batch_of_one_on_batch_of_four_raise() -> None:
    t = augment.SpecAugment(time_mask_param=10, freq_mask_param=5, seed=0)
    params = t.sample_params(torch.rand(1, 20, 50))
    with pytest.raises(ValueError, match=r"`params` must be drawn for `specgrams` of shape \(4, 1, 20, 50\)"):
        t.transform(torch.rand(4, 20, 50), params)
    for other in [(1, 20, 40), (1, 16, 50), (1, 2, 20, 50)]:  # time, frequency, channels
        with pytest.raises(ValueError, match="`params` must be drawn for `specgrams`"):
            t.transform(torch.rand(other), params)
    assert t.transform(torch.rand(1, 20, 50), params).shape == (1, 20, 50)  # 3-D and its 4-D view agree


def test_hand_built_params_are_checked_field_by_field() -> None:
    boxes = torch.zeros(3, 2, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match="`params.time.start`"):
        spec = augment.MaskParams(augment.AxisMasks(boxes[..., 0], boxes[..., 1]),
                                  augment.AxisMasks(boxes[:, :1, 0], boxes[:, :1, 1]))
        augment.SpecAugment(seed=0).transform(torch.rand(2, 1, 8, 8), spec)
    with pytest.raises(TypeError, match="`params` must be MaskParams"):
        augment.SpecAugment(seed=0).transform(torch.rand(2, 1, 8, 8), {"time": None})  # type: ignore[arg-type]


# -- fills the images' dtype cannot hold; erasing touches the boxes only -----------------------
def test_fill_overflowing_float16_is_rejected_not_nan() -> None:
    x = torch.rand(4, 3, 16, 16).half()
    with pytest.raises(ValueError, match=r"`value` must be within \+-65504 for torch.float16 images, got 100000.0"):
        augment.RandomErasing(value=1e5, p=1.0, seed=0)(x)
    with pytest.raises(ValueError, match="`value` must be within"):
        augment.random_erasing(x.bfloat16(), value=(0.0, 1e39, 0.0), p=1.0, generator=gen())
    with pytest.raises(ValueError, match=r"`value` must be in \[0, 255\] for uint8 images"):
        augment.cutout((x * 255).to(torch.uint8), value=256.0, generator=gen())
    assert augment.RandomErasing(value=1e5, p=1.0, seed=0)(x.float()).isfinite().all()  # float32 holds it


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_erasing_leaves_every_pixel_outside_the_boxes_bit_for_bit(dtype) -> None:
    big = float(torch.finfo(dtype).max)
    x = (torch.rand(8, 3, 16, 16, generator=gen(1)) * 2 - 1).to(dtype) * big
    x[0, 0, 0, :4] = torch.tensor([float("inf"), float("-inf"), float("nan"), 0.0], dtype=dtype)
    for value in (big, -big, (big, 0.0, -big), "random"):
        t = augment.RandomErasing(p=1.0, value=value, seed=3)
        params = t.sample_params(x)
        out = t.transform(x, params)
        inside = torch.zeros(8, 16, 16, dtype=torch.bool)
        for i, (top, left, bottom, right) in enumerate(params.boxes[:, 0].tolist()):
            inside[i, top:bottom, left:right] = True
        outside = ~inside[:, None].expand_as(x)
        assert torch.equal(out[outside].view(torch.int16 if dtype != torch.float32 else torch.int32),
                           x[outside].view(torch.int16 if dtype != torch.float32 else torch.int32))
        assert bool(out[~outside].isfinite().all()) and bool(inside.any())


# -- MLM masking: ids in int64, any integer dtype ----------------------------------------------
MLM = {"mask_token_id": 3, "special_token_ids": [0, 1, 2], "mlm_probability": 0.5, "mask_replace_prob": 0.2,
       "random_replace_prob": 0.6}


@pytest.mark.parametrize(("dtype", "vocab"), [(torch.uint8, 1000), (torch.int16, 50000), (torch.int8, 300),
                                              (torch.uint8, 200), (torch.int32, 50000)])
def test_mask_tokens_narrow_dtypes_equal_int64(dtype, vocab) -> None:
    ids = torch.randint(4, min(vocab, 127), (16, 64), generator=gen(1))
    want_ids, want_labels = mask_tokens(ids, vocab_size=vocab, generator=gen(7), **MLM)
    got_ids, got_labels = mask_tokens(ids.to(dtype), vocab_size=vocab, generator=gen(7), **MLM)
    holds = torch.iinfo(dtype).max >= vocab - 1
    assert got_ids.dtype == (dtype if holds else torch.int64)
    assert torch.equal(got_ids.long(), want_ids) and torch.equal(got_labels, want_labels)
    if vocab > 256:  # random replacements beyond the narrow dtype's range are kept, not wrapped
        assert int(want_ids.max()) > 255


def test_mask_tokens_range_check_in_int64() -> None:
    ids = torch.tensor([[5, 32767]], dtype=torch.int16)
    mask_tokens(ids, vocab_size=50000, mask_token_id=3, generator=gen())  # no false range error
    with pytest.raises(ValueError, match=r"`input_ids` must be in \[0, vocab_size=1000\)"):
        mask_tokens(torch.tensor([[5, 1000]], dtype=torch.int16), vocab_size=1000, mask_token_id=3, generator=gen())
    with pytest.raises(ValueError, match="`input_ids` must be in"):
        mask_tokens(torch.tensor([[-1, 5]], dtype=torch.int8), vocab_size=100, mask_token_id=3, generator=gen())


def test_mask_tokens_draws_do_not_depend_on_the_data() -> None:
    """Static shapes: the stream advances by the same amount whatever is masked."""
    states = []
    for ids in (torch.full((8, 32), 5), torch.zeros(8, 32, dtype=torch.int64)):  # all candidates / none
        g = gen(11)
        mask_tokens(ids, vocab_size=100, mask_token_id=3, special_token_ids=[0], generator=g)
        states.append(g.get_state())
    assert torch.equal(states[0], states[1])


def test_mask_tokens_generator_must_be_on_the_data_device() -> None:
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator or None"):
        mask_tokens(torch.ones(2, 4, dtype=torch.int64), vocab_size=10, mask_token_id=3, generator=0)  # type: ignore
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="`generator` must be on the data's device"):
            mask_tokens(torch.ones(2, 4, dtype=torch.int64), vocab_size=10, mask_token_id=3,
                        generator=torch.Generator("cuda"))


# -- the collator checks its inputs ------------------------------------------------------------
def _collator(**kwargs) -> MaskedLMCollator:
    return MaskedLMCollator(**{"vocab_size": 100, "mask_token_id": 3, "pad_token_id": 0, "seed": 0, **kwargs})


@pytest.mark.parametrize("examples", [[[1, 7.9, 8.2]], [[True, False, True]], [torch.tensor([1.0, 7.0])],
                                      [torch.tensor([True, False])], [{"input_ids": [1, 2.5]}]])
def test_collator_rejects_float_and_bool_ids(examples) -> None:
    with pytest.raises(TypeError, match="`input_ids` must hold integers"):
        _collator()(examples)


def test_collator_rejects_missing_pad_token_id() -> None:
    with pytest.raises(TypeError, match="`pad_token_id` must be an int, got None"):
        _collator(pad_token_id=None)
    with pytest.raises(ValueError, match="`pad_token_id` must be <= 99"):
        _collator(pad_token_id=100)
    assert _collator()([[1, 7, 8]])["input_ids"].dtype == torch.int64  # integer lists still work


# -- manifold mixup: gradients flow through the mix ---------------------------------------------
def test_mixup_on_features_that_require_grad_matches_a_hand_written_mix() -> None:
    h = torch.randn(6, 4, 5, 5, generator=gen(2), dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    t = augment.MixUp(num_classes=3, seed=0)
    params = t.sample_params(h)
    out, _ = t.transform(h, y, params)
    lam = params.lam.view(-1, 1, 1, 1)
    by_hand = lam * h + (1 - lam) * h.roll(1, 0)
    torch.testing.assert_close(out, by_hand)
    weights = torch.randn(h.shape, generator=gen(3), dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * weights).sum(), h)
    (want,) = torch.autograd.grad((by_hand * weights).sum(), h)
    torch.testing.assert_close(grad, want)
    assert torch.autograd.gradcheck(lambda z: t.transform(z, y, params)[0], (h,))
    with pytest.raises(ValueError, match="`inplace` must be False for a batch that requires grad"):
        augment.MixUp(num_classes=3, inplace=True, seed=0)(h, y)


def test_cutmix_and_random_pairing_on_features_that_require_grad() -> None:
    h = torch.randn(5, 2, 6, 6, generator=gen(4), dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 1, 0, 1])
    for t in (augment.CutMix(num_classes=2, seed=1), augment.MixUp(num_classes=2, pairing="random", seed=1)):
        params = t.sample_params(h)
        assert torch.autograd.gradcheck(lambda z, t=t, params=params: t.transform(z, y, params)[0], (h,))
