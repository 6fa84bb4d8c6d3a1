"""cross_entropy / CrossEntropyLoss: torch's semantics where they apply, one weighted mean for soft targets.

Also the argument checks shared by every multi-class loss (cross-entropy, focal, logit-adjusted).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from torch_mlsd.losses import CrossEntropyLoss, cross_entropy, focal_loss, logit_adjusted_loss

C = 5


def _data(device, shape=(12,), dtype=torch.float64, seed=0):
    """Logits ``(N, C, *)``, class ids with some ignored (-100), probabilities, class weights."""
    g = torch.Generator().manual_seed(seed)
    n, *rest = shape
    x = torch.randn(n, C, *rest, generator=g, dtype=dtype) * 2
    y = torch.randint(0, C, (n, *rest), generator=g)
    y.view(-1)[::4] = -100
    q = torch.softmax(torch.randn(n, C, *rest, generator=g, dtype=dtype) * 2, dim=1)
    w = torch.rand(C, generator=g, dtype=dtype) + 0.2
    return x.to(device), y.to(device), q.to(device), w.to(device)


@pytest.mark.parametrize("shape", [(12,), (4, 3, 2)], ids=["NC", "NCd1d2"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_ids_equal_torch(device, shape, reduction, label_smoothing, weighted):
    x, y, _, w = _data(device, shape)
    w = w if weighted else None
    ours = cross_entropy(x, y, weight=w, reduction=reduction, label_smoothing=label_smoothing)
    ref = F.cross_entropy(x, y, weight=w, reduction=reduction, label_smoothing=label_smoothing)
    torch.testing.assert_close(ours, ref)


def test_ignore_index_that_is_a_class(device):
    x, y, _, w = _data(device)
    y = y.clamp(min=0)
    for reduction in ("mean", "sum", "none"):
        ours = cross_entropy(x, y, weight=w, ignore_index=2, reduction=reduction, label_smoothing=0.1)
        ref = F.cross_entropy(x, y, weight=w, ignore_index=2, reduction=reduction, label_smoothing=0.1)
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_probabilities_equal_torch_without_weight_or_with_samples_rule(device, reduction, label_smoothing):
    x, _, q, w = _data(device, (4, 3))
    for weight, rule in ((None, "weights"), (None, "samples"), (w, "samples")):
        ours = cross_entropy(
            x, q, weight=weight, reduction=reduction, label_smoothing=label_smoothing, soft_weight_normalization=rule
        )
        ref = F.cross_entropy(x, q, weight=weight, reduction=reduction, label_smoothing=label_smoothing)
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_one_hot_probabilities_reproduce_the_weighted_class_id_loss(device, label_smoothing):
    x, y, _, w = _data(device)
    y = y.clamp(min=0)
    one_hot = F.one_hot(y, C).to(x.dtype)
    hard = F.cross_entropy(x, y, weight=w, label_smoothing=label_smoothing)
    soft = cross_entropy(x, one_hot, weight=w, label_smoothing=label_smoothing)
    torch.testing.assert_close(soft, hard)
    # torch's own rule for probabilities divides by N instead and does not reproduce it
    torch_soft = F.cross_entropy(x, one_hot, weight=w, label_smoothing=label_smoothing)
    assert not torch.allclose(torch_soft, hard)
    torch.testing.assert_close(torch_soft, hard * w[y].sum() / len(y))


def test_soft_weight_normalization_hand_computed():
    x = torch.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.5], [0.25, 0.75]], dtype=torch.float64)
    w = torch.tensor([2.0, 6.0], dtype=torch.float64)
    nll = -torch.log_softmax(x, 1)
    per_sample = (q * w * nll).sum(1)  # [0.5*2*ln2 + 0.5*6*ln2, ...]
    torch.testing.assert_close(per_sample[0], torch.tensor(4 * math.log(2), dtype=torch.float64))
    carried = torch.tensor([0.5 * 2 + 0.5 * 6, 0.25 * 2 + 0.75 * 6], dtype=torch.float64)  # [4, 5]
    torch.testing.assert_close(cross_entropy(x, q, weight=w), per_sample.sum() / 9)
    torch.testing.assert_close(cross_entropy(x, q, weight=w), per_sample.sum() / carried.sum())
    torch.testing.assert_close(cross_entropy(x, q, weight=w, soft_weight_normalization="samples"), per_sample.sum() / 2)
    torch.testing.assert_close(cross_entropy(x, q, weight=w, reduction="none"), per_sample)


def test_sample_weight_mask_equals_loss_on_kept_samples(device):
    x, y, q, w = _data(device)
    keep = torch.tensor([1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1], dtype=torch.bool, device=device)
    mask = keep.to(x.dtype)
    for target, kept_target in ((y, y[keep]), (q, q[keep])):
        ours = cross_entropy(x, target, weight=w, label_smoothing=0.2, sample_weight=mask)
        ref = cross_entropy(x[keep], kept_target, weight=w, label_smoothing=0.2)
        torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(
        cross_entropy(x, y, weight=w, sample_weight=mask), F.cross_entropy(x[keep], y[keep], weight=w)
    )


def test_sample_weight_hand_computed(device):
    x, y, _, w = _data(device)
    s = torch.linspace(0.5, 2.0, len(y), dtype=x.dtype, device=device)
    valid = y != -100
    nll = F.cross_entropy(x, y, weight=w, reduction="none")  # w[y] * nll, 0 where ignored
    expected = (s * nll).sum() / (s * w[y.clamp(min=0)] * valid).sum()
    torch.testing.assert_close(cross_entropy(x, y, weight=w, sample_weight=s), expected)
    torch.testing.assert_close(cross_entropy(x, y, weight=w, sample_weight=s, reduction="sum"), (s * nll).sum())
    torch.testing.assert_close(cross_entropy(x, y, weight=w, sample_weight=s, reduction="none"), s * nll)
    # uniform sample weights change nothing under 'mean'
    torch.testing.assert_close(cross_entropy(x, y, weight=w, sample_weight=torch.full_like(s, 3.0)), F.cross_entropy(x, y, weight=w))


def test_sample_weight_per_position(device):
    x, y, _, w = _data(device, (4, 3))
    s = torch.rand(4, 3, generator=torch.Generator().manual_seed(1), dtype=x.dtype).to(device)
    loss = F.cross_entropy(x, y, weight=w, reduction="none")
    expected = (s * loss).sum() / (s * w[y.clamp(min=0)] * (y != -100)).sum()
    torch.testing.assert_close(cross_entropy(x, y, weight=w, sample_weight=s), expected)
    per_sample = torch.tensor([1.0, 2.0, 0.0, 1.0], dtype=x.dtype, device=device)
    torch.testing.assert_close(
        cross_entropy(x, y, weight=w, sample_weight=per_sample),
        cross_entropy(x, y, weight=w, sample_weight=per_sample[:, None].expand(4, 3)),
    )


def test_unbatched_input(device):
    x, y, q, w = _data(device)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            cross_entropy(x[1], y[1], weight=w, reduction=reduction),
            F.cross_entropy(x[1], y[1], weight=w, reduction=reduction),
        )
        torch.testing.assert_close(
            cross_entropy(x[1], q[1], reduction=reduction), F.cross_entropy(x[1], q[1], reduction=reduction)
        )
    assert cross_entropy(x[0], y[0], reduction="none").shape == ()


def test_gradcheck_soft_weighted_with_sample_weight():
    x, y, q, w = _data("cpu", (3, 2))
    s = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, q, weight=w, sample_weight=s, label_smoothing=0.1), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda z: cross_entropy(z, y, weight=w, sample_weight=s), (x,), fast_mode=True)


def test_module_equals_functional_and_keeps_weight_as_buffer(device):
    x, y, q, w = _data(device)
    module = CrossEntropyLoss(weight=w.cpu(), label_smoothing=0.1, reduction="sum").to(device)
    assert "weight" in dict(module.named_buffers()) and "weight" in module.state_dict()
    assert module.weight.device == x.device
    s = torch.rand(len(y), dtype=x.dtype, device=device)
    torch.testing.assert_close(
        module(x, y, sample_weight=s),
        cross_entropy(x, y, weight=w, label_smoothing=0.1, reduction="sum", sample_weight=s),
    )
    torch.testing.assert_close(module(x, q), cross_entropy(x, q, weight=w, label_smoothing=0.1, reduction="sum"))
    assert "reduction='sum'" in repr(module)


def test_half_precision_is_computed_in_float32(device):
    x, y, q, w = _data(device, dtype=torch.float32)
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    xh = x.to(half)
    for target in (y, q):
        loss = cross_entropy(xh, target, weight=w)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        torch.testing.assert_close(loss, cross_entropy(xh.float(), target, weight=w))


def test_bfloat16_autocast_on_cpu():
    g = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(8, C)
    features = torch.randn(16, 8, generator=g)
    y = torch.randint(0, C, (16,), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(features)
        loss = cross_entropy(logits, y, weight=torch.rand(C) + 0.5, label_smoothing=0.1)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(layer.weight.grad).all()


# ---- argument checks shared by every multi-class loss -------------------------------------------

_PRIOR = torch.full((C,), 1.0 / C)


def _cross_entropy(x, y, **kw):
    return cross_entropy(x, y, **kw)


def _focal(x, y, **kw):
    return focal_loss(x, y, **kw)


def _logit_adjusted(x, y, **kw):
    return logit_adjusted_loss(x, y, class_prior=_PRIOR, **kw)


LOSSES = [_cross_entropy, _focal, _logit_adjusted]


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reduction": "avg"}, ValueError, r"`reduction` must be one of 'mean', 'sum', 'none', got 'avg'"),
        ({"weight": torch.ones(C - 1)}, ValueError, r"`weight` must have 5 entries \(one per class\), got 4"),
        ({"weight": torch.tensor([1.0, -1, 1, 1, 1])}, ValueError, r"`weight` must be >= 0"),
        ({"weight": torch.tensor([1.0, math.nan, 1, 1, 1])}, ValueError, r"`weight` must be finite"),
        ({"weight": torch.zeros(C)}, ValueError, r"`weight` must have at least one positive entry"),
        ({"weight": torch.ones(C, 1)}, ValueError, r"`weight` must have 1 dimensions"),
        ({"label_smoothing": -0.1}, ValueError, r"`label_smoothing` must be >= 0.0, got -0.1"),
        ({"label_smoothing": 1.5}, ValueError, r"`label_smoothing` must be <= 1.0, got 1.5"),
        ({"ignore_index": True}, TypeError, r"`ignore_index` must be an int"),
        ({"soft_weight_normalization": "batch"}, ValueError, r"`soft_weight_normalization` must be one of"),
        ({"sample_weight": torch.ones(3)}, ValueError, r"`sample_weight` must have shape \(N,\) = \(6,\) or \(6,\), got"),
        ({"sample_weight": -torch.ones(6)}, ValueError, r"`sample_weight` must be >= 0"),
        ({"sample_weight": torch.full((6,), math.nan)}, ValueError, r"`sample_weight` must be finite"),
        ({"sample_weight": [1.0] * 6}, TypeError, r"`sample_weight` must be a torch.Tensor"),
    ],
)
def test_bad_arguments_raise(loss_fn, kwargs, error, match):
    x = torch.randn(6, C)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    with pytest.raises(error, match=match):
        loss_fn(x, y, **kwargs)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_bad_inputs_and_targets_raise(loss_fn):
    x = torch.randn(6, C)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    with pytest.raises(ValueError, match=r"`target` must hold class ids in \[0, 5\) or ignore_index=-100, got 5"):
        loss_fn(x, torch.tensor([0, 1, 2, 3, 5, 0]))
    with pytest.raises(ValueError, match=r"`target` must hold class ids .* got -1"):
        loss_fn(x, torch.tensor([0, 1, -1, 3, 4, 0]))
    with pytest.raises(ValueError, match=r"`target` holding class ids must have shape \(6,\)"):
        loss_fn(x, y[:5])
    with pytest.raises(ValueError, match=r"`target` holding probabilities must have the shape of `input` \(6, 5\)"):
        loss_fn(x, torch.rand(6, C + 1))
    with pytest.raises(TypeError, match=r"`target` must have a integer dtype, got torch.bool"):
        loss_fn(x, y.bool())
    with pytest.raises(TypeError, match=r"`target` must be a torch.Tensor"):
        loss_fn(x, [0, 1, 2, 3, 4, 0])
    with pytest.raises(TypeError, match=r"`input` must have a floating-point dtype"):
        loss_fn(x.long(), y)


def test_bad_input_shape_and_module_arguments_raise():
    with pytest.raises(ValueError, match=r"`input` must have shape \(C,\), \(N, C\)"):
        cross_entropy(torch.tensor(1.0), torch.tensor(0))
    with pytest.raises(ValueError, match=r"`input` must have shape .* C >= 1"):
        focal_loss(torch.zeros(3, 0), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`reduction` must be one of 'mean', 'sum', 'none', got 'max'"):
        CrossEntropyLoss(reduction="max")
    with pytest.raises(ValueError, match=r"`weight` must be >= 0"):
        CrossEntropyLoss(weight=torch.tensor([1.0, -2.0]))
    with pytest.raises(ValueError, match=r"`label_smoothing` must be <= 1.0"):
        CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(ValueError, match=r"`soft_weight_normalization` must be one of 'weights', 'samples'"):
        CrossEntropyLoss(soft_weight_normalization="n")
    with pytest.raises(ValueError, match=r"`weight` must have 3 entries \(one per class\), got 2"):
        CrossEntropyLoss(weight=torch.ones(2))(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_target_on_another_device_raises():
    with pytest.raises(ValueError, match=r"`target` must be on the same device as `input`"):
        cross_entropy(torch.randn(4, 3, device="cuda"), torch.zeros(4, dtype=torch.long))
