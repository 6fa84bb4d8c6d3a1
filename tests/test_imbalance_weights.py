"""Class weights, per-example weights and the deferred re-weighting schedule."""

from __future__ import annotations

import math

import pytest
import torch

from torch_mlsd.imbalance import (
    DeferredReweighting,
    class_counts,
    class_weights,
    deferred_class_weights,
    sample_weights,
)

COUNTS = [60, 30, 10]  # N = 100, C = 3


def labels_for(counts, device="cpu", dtype=torch.long):
    return torch.cat([torch.full((n,), c, dtype=dtype) for c, n in enumerate(counts)]).to(device)


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("inverse", [100 / 60, 100 / 30, 100 / 10]),
        ("balanced", [100 / 180, 100 / 90, 100 / 30]),
        ("sqrt_inverse", [math.sqrt(100 / 60), math.sqrt(100 / 30), math.sqrt(10.0)]),
        ("effective_number", [(1 - 0.9) / (1 - 0.9**n) for n in COUNTS]),
    ],
)
def test_schemes_match_hand_values_from_labels_and_counts(device, scheme, expected):
    y = labels_for(COUNTS, device)
    from_labels = class_weights(y, scheme=scheme, beta=0.9, dtype=torch.float64)
    counts = torch.tensor(COUNTS, device=device)
    from_counts = class_weights(counts=counts, scheme=scheme, beta=0.9, dtype=torch.float64)
    assert from_labels.device == y.device and from_labels.shape == (3,)
    torch.testing.assert_close(from_labels.cpu(), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(from_counts, from_labels)


def test_balanced_equals_scikit_learn():
    sk = pytest.importorskip("sklearn.utils.class_weight")
    np = pytest.importorskip("numpy")
    g = torch.Generator().manual_seed(0)
    y = torch.multinomial(torch.tensor([0.5, 0.3, 0.15, 0.05]), 997, replacement=True, generator=g)
    ref = sk.compute_class_weight("balanced", classes=np.arange(4), y=y.numpy())
    ours = class_weights(y, scheme="balanced", dtype=torch.float64)
    torch.testing.assert_close(ours, torch.from_numpy(ref), rtol=1e-12, atol=0)


@pytest.mark.parametrize("scheme", ["inverse", "balanced", "sqrt_inverse", "effective_number"])
def test_normalizations(scheme):
    n = torch.tensor(COUNTS, dtype=torch.float64)
    w = {
        m: class_weights(counts=COUNTS, scheme=scheme, normalize=m, dtype=torch.float64)
        for m in (None, "sum", "mean", "sample_mean")
    }
    torch.testing.assert_close(w["sum"].sum().item(), 1.0)
    torch.testing.assert_close(w["mean"].sum().item(), 3.0)
    torch.testing.assert_close((w["sample_mean"] * n).sum().item(), 100.0)
    for m in ("sum", "mean", "sample_mean"):  # normalising only rescales
        torch.testing.assert_close(w[m] / w[m][0], w[None] / w[None][0])


def test_balanced_is_inverse_over_c_and_already_sample_mean_one():
    inv = class_weights(counts=COUNTS, dtype=torch.float64)
    bal = class_weights(counts=COUNTS, scheme="balanced", dtype=torch.float64)
    torch.testing.assert_close(inv / 3, bal)
    torch.testing.assert_close(bal, class_weights(counts=COUNTS, normalize="sample_mean", dtype=torch.float64))


def test_effective_number_limits():
    uniform = class_weights(counts=COUNTS, scheme="effective_number", beta=0.0, dtype=torch.float64)
    torch.testing.assert_close(uniform, torch.ones(3, dtype=torch.float64))
    # beta -> 1 approaches inverse frequency (up to scale)
    near = class_weights(counts=COUNTS, scheme="effective_number", beta=1 - 1e-9, normalize="sum", dtype=torch.float64)
    inverse = class_weights(counts=COUNTS, normalize="sum", dtype=torch.float64)
    torch.testing.assert_close(near, inverse, rtol=1e-6, atol=0)
    # Cui et al.: normalised to sum C
    paper = class_weights(counts=COUNTS, scheme="effective_number", beta=0.999, normalize="mean")
    torch.testing.assert_close(paper.sum().item(), 3.0, rtol=1e-6, atol=0)


def test_dtype_default_and_explicit_and_float_counts():
    assert class_weights(counts=COUNTS).dtype == torch.get_default_dtype()
    assert class_weights(counts=COUNTS, dtype=torch.float64).dtype == torch.float64
    w = class_weights(counts=[2.5, 7.5], scheme="balanced", dtype=torch.float64)  # fractional (soft) counts
    torch.testing.assert_close(w, torch.tensor([10 / 5.0, 10 / 15.0], dtype=torch.float64))


def test_num_classes_pads_counts_and_labels_any_int_dtype():
    y = torch.tensor([0, 1, 1, 3], dtype=torch.int32)
    assert class_counts(y).tolist() == [1, 2, 0, 1]
    assert class_counts(y, num_classes=6).tolist() == [1, 2, 0, 1, 0, 0]
    assert class_counts(torch.tensor([], dtype=torch.long), num_classes=2).tolist() == [0, 0]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.uint64])
def test_class_counts_read_any_integer_dtype_and_reject_uint64_past_int64(dtype):
    assert class_counts(torch.tensor([3, 1, 1, 0], dtype=dtype)).tolist() == [1, 2, 0, 1]
    if dtype == torch.uint64:
        big = torch.tensor([2**63 + 1, 0], dtype=torch.uint64)
        with pytest.raises(ValueError, match="`labels` must hold values below 2\\*\\*63"):
            class_counts(big)
        with pytest.raises(ValueError, match="`labels` must hold values below 2\\*\\*63"):
            sample_weights(big, weights=torch.ones(2))


def test_sample_weights(device):
    y = labels_for(COUNTS, device)[torch.randperm(100, generator=torch.Generator().manual_seed(1)).to(device)]
    w = sample_weights(y)
    assert w.shape == (100,) and w.device == y.device
    torch.testing.assert_close(w, class_weights(y)[y])
    # inverse weights give every class the same total mass: what a class-balanced sampler needs
    per_class = torch.zeros(3, device=device).index_add_(0, y, w)
    torch.testing.assert_close(per_class, torch.full((3,), 100.0, device=device))
    given = torch.tensor([1.0, 2.0, 5.0], device=device)
    torch.testing.assert_close(sample_weights(y, weights=given), given[y])
    torch.testing.assert_close(
        sample_weights(y, normalize="sample_mean").mean(), torch.tensor(1.0, device=device)
    )


def test_deferred_reweighting_schedule():
    plain = class_weights(counts=COUNTS, scheme="effective_number", beta=0.9999, normalize="mean")
    cases = [(0, 160, True), (159, 160, True), (160, 160, False), (199, 160, False), (0, 0, False)]
    for epoch, start, expect_ones in cases:
        w = deferred_class_weights(epoch, start_epoch=start, counts=COUNTS)
        drw = DeferredReweighting(start_epoch=start, counts=COUNTS)(epoch)
        torch.testing.assert_close(w, torch.ones(3) if expect_ones else plain)
        torch.testing.assert_close(drw, w)
    y = labels_for(COUNTS)
    torch.testing.assert_close(
        deferred_class_weights(5, start_epoch=1, labels=y, scheme="balanced", normalize=None),
        class_weights(y, scheme="balanced"),
    )
    assert "start_epoch=3" in repr(DeferredReweighting(start_epoch=3, counts=COUNTS))


def test_inputs_untouched():
    y = labels_for(COUNTS)
    c = torch.tensor(COUNTS)
    y0, c0 = y.clone(), c.clone()
    class_weights(y)
    class_weights(counts=c, normalize="sum")
    sample_weights(y)
    assert torch.equal(y, y0) and torch.equal(c, c0)


def test_errors_name_the_argument():
    y = labels_for(COUNTS)
    with pytest.raises(ValueError, match="class 1"):
        class_weights(torch.tensor([0, 0, 2]))
    with pytest.raises(ValueError, match="class 3"):
        class_weights(y, num_classes=4)
    with pytest.raises(ValueError, match="`counts` has no example of class 1"):
        class_weights(counts=[5, 0, 2], scheme="effective_number")
    with pytest.raises(ValueError, match="`labels` must be >= 0"):
        class_weights(torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match="`labels` must be < num_classes=2"):
        class_weights(y, num_classes=2)
    with pytest.raises(TypeError, match="`labels`"):
        class_weights(y.float())
    with pytest.raises(TypeError, match="`labels`"):
        class_weights(y.bool())
    with pytest.raises(ValueError, match="`labels`"):
        class_weights(y[None])
    with pytest.raises(ValueError, match="`beta`"):
        class_weights(y, scheme="effective_number", beta=1.0)
    with pytest.raises(ValueError, match="`beta`"):
        class_weights(y, beta=-0.1)
    with pytest.raises(ValueError, match="`scheme`"):
        class_weights(y, scheme="focal")
    with pytest.raises(ValueError, match="`normalize`"):
        class_weights(y, normalize="max")
    with pytest.raises(ValueError, match="exactly one of `labels`"):
        class_weights()
    with pytest.raises(ValueError, match="exactly one of `labels`"):
        class_weights(y, counts=COUNTS)
    with pytest.raises(ValueError, match="`counts`"):
        class_weights(counts=[3, -1])
    with pytest.raises(ValueError, match="`counts`"):
        class_weights(counts=[3, float("nan")])
    with pytest.raises(TypeError, match="`counts`"):
        class_weights(counts=["a", "b"])
    with pytest.raises(ValueError, match="`num_classes`"):
        class_weights(counts=COUNTS, num_classes=4)
    with pytest.raises(TypeError, match="`num_classes`"):
        class_weights(y, num_classes=True)
    with pytest.raises(ValueError, match="`labels` must not be empty"):
        class_counts(torch.tensor([], dtype=torch.long))
    with pytest.raises(TypeError, match="`weights`"):
        sample_weights(y, weights=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="`labels` must be < num_classes=2"):
        sample_weights(y, weights=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="`epoch`"):
        deferred_class_weights(-1, start_epoch=0, counts=COUNTS)
    with pytest.raises(ValueError, match="`start_epoch`"):
        DeferredReweighting(start_epoch=-1, counts=COUNTS)


@pytest.mark.parametrize(
    ("dtype", "err"), [(torch.int64, TypeError), ("float32", TypeError), (torch.bool, TypeError)]
)
def test_dtype_must_be_a_floating_torch_dtype(dtype, err):
    # an integer dtype used to truncate the weights; a string failed with "Invalid device string"
    y = torch.tensor([0, 0, 0, 1])
    with pytest.raises(err, match="`dtype`"):
        class_weights(y, dtype=dtype)
    with pytest.raises(err, match="`dtype`"):
        sample_weights(y, dtype=dtype)
    assert class_weights(y, dtype=torch.float64).dtype == torch.float64
