"""SpecAugment masking: per-example masks, lengths, torchaudio's distribution, seeds, bad input."""

import pickle

import pytest
import torch

from torch_mlsd.augment.audio import (
    FrequencyMasking,
    SpecAugment,
    TimeMasking,
    frequency_mask,
    spec_augment,
    time_mask,
)

ALPHA = 1e-3  # significance level of every chi-square test in this file


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _time_intervals(masked):
    """(width, start) of the masked time columns of each example of a (B, C, F, T) ones batch."""
    columns = (masked == 0).all(dim=2)[:, 0]  # (B, T)
    width = columns.sum(dim=1)
    start = columns.int().argmax(dim=1)
    return width, start


def _freq_intervals(masked):
    rows = (masked == 0).all(dim=3)[:, 0]  # (B, F)
    return rows.sum(dim=1), rows.int().argmax(dim=1)


def _chi2_same(a, b, n_bins):
    """p-value of a chi-square test that two integer samples come from one distribution."""
    from scipy.stats import chi2_contingency

    table = torch.stack([torch.bincount(a, minlength=n_bins), torch.bincount(b, minlength=n_bins)]).numpy()
    table = table[:, table.sum(axis=0) > 0]
    return chi2_contingency(table).pvalue


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_shape_dtype_device_kept_and_input_untouched(device, dtype):
    x = torch.randn(5, 2, 16, 40, device=device).to(dtype)
    before, version = x.clone(), x._version
    y = spec_augment(x, time_mask_param=10, freq_mask_param=5, generator=_gen())
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert x._version == version and torch.equal(x, before)
    assert bool((y == 0).any()) and bool(((y == x) | (y == 0)).all())


def test_three_dim_input_and_channels_last_kept():
    y = spec_augment(torch.ones(3, 16, 40), generator=_gen())
    assert y.shape == (3, 16, 40)
    x = torch.randn(3, 2, 16, 40).to(memory_format=torch.channels_last)
    assert spec_augment(x, generator=_gen()).is_contiguous(memory_format=torch.channels_last)


def test_masks_are_intervals_bounded_by_mask_param():
    x = torch.ones(2000, 1, 8, 60)
    width, start = _time_intervals(time_mask(x, mask_param=25, generator=_gen()))
    assert int(width.max()) == 24 and int(width.min()) == 0  # widths 0..24 all reached at this size
    assert bool((start + width <= 60).all())
    # exactly one interval per example: masked columns are contiguous
    y = time_mask(x, mask_param=25, generator=_gen())
    cols = (y == 0).all(dim=2)[:, 0].int()
    assert bool((cols.diff(dim=1).clamp(min=0).sum(dim=1) <= 1).all())
    fw, fs = _freq_intervals(frequency_mask(torch.ones(500, 1, 30, 4), mask_param=12, generator=_gen()))
    assert int(fw.max()) == 11 and bool((fs + fw <= 30).all())


def test_masks_independent_across_examples():
    # P(two neighbouring examples draw the same width) = 1/20 if independent; a shared
    # mask would give 1. Bound: 5 binomial standard errors around 0.05 over 3999 pairs.
    width, _ = _time_intervals(time_mask(torch.ones(4000, 1, 4, 100), mask_param=20, generator=_gen(1)))
    same = (width[1:] == width[:-1]).float().mean().item()
    se = (0.05 * 0.95 / 3999) ** 0.5
    assert abs(same - 0.05) < 5 * se


def test_per_channel_masks_differ_and_shared_masks_do_not():
    x = torch.ones(300, 2, 8, 50)
    shared = spec_augment(x, time_mask_param=20, freq_mask_param=5, generator=_gen())
    assert torch.equal(shared[:, 0], shared[:, 1])
    own = spec_augment(x, time_mask_param=20, freq_mask_param=5, per_channel=True, generator=_gen())
    differs = (own[:, 0] != own[:, 1]).flatten(1).any(dim=1).float().mean().item()
    assert differs > 0.8  # identical masks by chance: width and band both equal, rare


@pytest.mark.parametrize("max_proportion", [1.0, 0.2])
def test_time_widths_and_starts_match_torchaudio(max_proportion):
    torchaudio = pytest.importorskip("torchaudio")
    pytest.importorskip("scipy")
    n, frames, param = 20000, 100, 30
    x = torch.ones(n, 1, 2, frames)
    ours = time_mask(x, mask_param=param, max_proportion=max_proportion, generator=_gen(7))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        theirs = torchaudio.transforms.TimeMasking(param, iid_masks=True, p=max_proportion)(x)
    (w1, s1), (w2, s2) = _time_intervals(ours), _time_intervals(theirs)
    assert int(w1.max()) < min(param, int(frames * max_proportion))
    assert _chi2_same(w1, w2, frames) > ALPHA
    assert _chi2_same(s1[w1 > 0] // 5, s2[w2 > 0] // 5, frames) > ALPHA  # starts in bins of 5
    # the end (start + width) pins the joint law: with v real, start = floor(U * (T - v)) never
    # lets a mask cover the last frame; an off-by-one start (from T - width) fails at p < 1e-30
    assert _chi2_same((s1 + w1)[w1 > 0], (s2 + w2)[w2 > 0], frames + 1) > ALPHA


def test_frequency_widths_and_starts_match_torchaudio():
    torchaudio = pytest.importorskip("torchaudio")
    pytest.importorskip("scipy")
    x = torch.ones(20000, 1, 64, 2)
    ours = frequency_mask(x, mask_param=27, generator=_gen(3))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        theirs = torchaudio.transforms.FrequencyMasking(27, iid_masks=True)(x)
    (w1, s1), (w2, s2) = _freq_intervals(ours), _freq_intervals(theirs)
    assert _chi2_same(w1, w2, 64) > ALPHA
    assert _chi2_same(s1[w1 > 0] // 4, s2[w2 > 0] // 4, 64) > ALPHA
    assert _chi2_same((s1 + w1)[w1 > 0], (s2 + w2)[w2 > 0], 65) > ALPHA


def test_widths_uniform_below_mask_param():
    from scipy.stats import chisquare

    w, _ = _time_intervals(time_mask(torch.ones(20000, 1, 2, 200), mask_param=40, generator=_gen(5)))
    assert chisquare(torch.bincount(w, minlength=40).numpy()).pvalue > ALPHA


def test_lengths_keep_masks_inside_real_frames(device):
    lengths = torch.tensor([100, 37, 5, 0, 64] * 40, device=device)
    x = torch.ones(200, 1, 16, 100, device=device)
    y = spec_augment(x, time_mask_param=30, freq_mask_param=8, max_proportion=0.5, lengths=lengths, generator=_gen())
    padding = torch.arange(100, device=device) >= lengths[:, None]  # (B, T)
    assert bool((y.masked_select(padding[:, None, None, :]) == 1).all())
    width, start = _time_intervals(time_mask(x, mask_param=30, max_proportion=0.5, lengths=lengths, generator=_gen()))
    assert bool((start + width <= lengths).all())
    assert bool((width <= torch.clamp(torch.floor(lengths * 0.5), max=29)).all())
    assert bool((y[lengths == 0] == 1).all())


def test_mean_mask_value_uses_each_examples_real_frames(device):
    x = torch.randn(6, 2, 10, 30, device=device, dtype=torch.float64)
    x += torch.arange(6, device=device)[:, None, None, None]
    lengths = torch.tensor([30, 20, 10, 30, 5, 1], device=device)
    y = spec_augment(x, time_mask_param=5, freq_mask_param=4, mask_value="mean", lengths=lengths, generator=_gen())
    for b in range(6):
        for c in range(2):
            real = x[b, c, :, : lengths[b]]
            changed = y[b, c] != x[b, c]
            assert torch.allclose(y[b, c][changed], real.mean().expand(int(changed.sum())))


def test_probability_p_masks_a_fraction_of_examples():
    x = torch.ones(4000, 1, 6, 50)
    full = spec_augment(x, time_mask_param=20, freq_mask_param=3, generator=_gen(2))
    half = spec_augment(x, time_mask_param=20, freq_mask_param=3, p=0.5, generator=_gen(2))
    same = (half == full).flatten(1).all(dim=1)
    untouched = (half == 1).flatten(1).all(dim=1)
    assert bool((same | untouched).all())  # each example: the p=1 masks or none
    masked_full = ~(full == 1).flatten(1).all(dim=1)
    rate = (same & masked_full).sum().item() / masked_full.sum().item()
    assert abs(rate - 0.5) < 5 * (0.25 / masked_full.sum().item()) ** 0.5  # 5 binomial SE
    assert torch.equal(spec_augment(x, p=0.0, generator=_gen()), x)


def test_num_masks_gives_up_to_that_many_intervals():
    y = time_mask(torch.ones(500, 1, 4, 200), mask_param=15, num_masks=3, generator=_gen())
    cols = (y == 0).all(dim=2)[:, 0].int()
    runs = cols.diff(dim=1, prepend=torch.zeros(500, 1, dtype=torch.int32)).clamp(min=0).sum(dim=1)
    assert int(runs.max()) == 3 and bool((cols.sum(dim=1) <= 3 * 14).all())
    assert torch.equal(spec_augment(torch.ones(3, 4, 9), num_time_masks=0, num_freq_masks=0), torch.ones(3, 4, 9))


def test_inplace_writes_into_the_input():
    x = torch.ones(4, 1, 16, 50)
    y = spec_augment(x, inplace=True, time_mask_param=20, freq_mask_param=5, generator=_gen())
    assert y.data_ptr() == x.data_ptr() and bool((x == 0).any())
    x3 = torch.ones(4, 16, 50)
    assert spec_augment(x3, inplace=True, mask_value="mean", generator=_gen()).data_ptr() == x3.data_ptr()


def test_same_seed_same_output_and_cpu_equals_device(device):
    x = torch.randn(8, 1, 32, 120)
    a = SpecAugment(time_mask_param=40, seed=0)(x)
    assert torch.equal(a, SpecAugment(time_mask_param=40, seed=0)(x))
    assert not torch.equal(a, SpecAugment(time_mask_param=40, seed=1)(x))
    # the draws happen on the CPU, so the same seed gives the same masks on any device
    assert torch.equal(SpecAugment(time_mask_param=40, seed=0)(x.to(device)).cpu(), a)


def test_sample_params_then_transform_equals_forward(device):
    x = torch.randn(6, 2, 20, 80, device=device)
    lengths = torch.tensor([80, 60, 40, 20, 10, 0], device=device)
    aug = SpecAugment(time_mask_param=30, freq_mask_param=6, num_time_masks=2, per_channel=True, mask_value="mean")
    params = aug.sample_params(x, lengths=lengths, generator=_gen(4))
    assert params.time.width.shape == (6, 2, 2) and params.freq.start.device == x.device
    assert torch.equal(aug.transform(x, params, lengths=lengths), aug.transform(x, params, lengths=lengths))
    on_cpu = aug.transform(x.cpu(), params, lengths=lengths.cpu())
    assert torch.equal(on_cpu, aug.transform(x, params, lengths=lengths).cpu())


def test_modules_match_functionals():
    x = torch.randn(4, 1, 20, 70)
    pairs = [
        (
            TimeMasking(25, num_masks=2, max_proportion=0.5),
            lambda g: time_mask(x, mask_param=25, num_masks=2, max_proportion=0.5, generator=g),
        ),
        (FrequencyMasking(7, p=0.5), lambda g: frequency_mask(x, mask_param=7, p=0.5, generator=g)),
        (SpecAugment(mask_value="mean"), lambda g: spec_augment(x, mask_value="mean", generator=g)),
    ]
    for module, functional in pairs:
        params = module.sample_params(x, generator=_gen(9))
        assert torch.equal(module.transform(x, params), functional(_gen(9)))


def test_set_epoch_and_pickle_restart_the_stream():
    x = torch.randn(4, 1, 20, 70)
    aug = SpecAugment(seed=3)
    first = aug(x)
    copy = pickle.loads(pickle.dumps(aug))
    assert torch.equal(copy(x), first)  # a copy starts from the seed, never mid-stream
    assert not torch.equal(aug(x), first)
    aug.set_epoch(1)
    e1 = aug(x)
    aug.set_epoch(1)
    assert torch.equal(aug(x), e1) and not torch.equal(e1, first)


def test_empty_batch():
    assert spec_augment(torch.ones(0, 1, 8, 10), lengths=torch.zeros(0, dtype=torch.long)).shape == (0, 1, 8, 10)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"mask_value": "median"}, ValueError, "mask_value"),
        ({"mask_value": float("nan")}, ValueError, "mask_value"),
        ({"time_mask_param": -1}, ValueError, "time_mask_param"),
        ({"time_mask_param": True}, TypeError, "time_mask_param"),
        ({"freq_mask_param": 2.5}, TypeError, "freq_mask_param"),
        ({"num_time_masks": -2}, ValueError, "num_time_masks"),
        ({"p": 1.5}, ValueError, "`p`"),
        ({"p": -0.1}, ValueError, "`p`"),
        ({"max_proportion": 2.0}, ValueError, "max_proportion"),
        ({"per_channel": 1}, TypeError, "per_channel"),
        ({"inplace": "yes"}, TypeError, "inplace"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_options_raise_naming_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        SpecAugment(**kwargs)
    if "seed" not in kwargs:
        with pytest.raises(error, match=name):
            spec_augment(torch.ones(2, 4, 8), **kwargs)


def test_bad_tensors_raise_naming_the_argument():
    with pytest.raises(ValueError, match="specgrams"):
        spec_augment(torch.ones(4, 8))
    with pytest.raises(ValueError, match="specgrams"):
        spec_augment(torch.ones(2, 1, 1, 4, 8))
    with pytest.raises(TypeError, match="specgrams"):
        spec_augment(torch.ones(2, 4, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="specgrams"):
        spec_augment([[1.0]])
    x = torch.ones(2, 4, 8)
    with pytest.raises(ValueError, match="lengths"):
        spec_augment(x, lengths=torch.tensor([8, 9]))
    with pytest.raises(ValueError, match="lengths"):
        spec_augment(x, lengths=torch.tensor([8, -1]))
    with pytest.raises(ValueError, match="lengths"):
        spec_augment(x, lengths=torch.tensor([8, 8, 8]))
    with pytest.raises(TypeError, match="lengths"):
        spec_augment(x, lengths=torch.tensor([8.0, 8.0]))
    with pytest.raises(TypeError, match="generator"):
        spec_augment(x, generator=5)
    with pytest.raises(TypeError, match="generator"):
        SpecAugment().sample_params(x, generator="seed")
    with pytest.raises(TypeError, match="mask_param"):
        TimeMasking(None)
    with pytest.raises(ValueError, match="num_masks"):
        FrequencyMasking(5, num_masks=-1)
    with pytest.raises(TypeError):
        TimeMasking(5)(x, torch.tensor([8, 8]))  # lengths is keyword-only: labels never pass as lengths
