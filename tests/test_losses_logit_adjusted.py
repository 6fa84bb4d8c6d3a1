"""Logit-adjusted loss, balanced softmax and post-hoc logit adjustment."""

import math

import pytest
import torch
import torch.nn.functional as F

from torch_mlsd.losses import (
    BalancedSoftmaxLoss,
    LogitAdjustedLoss,
    adjust_logits,
    balanced_softmax_loss,
    cross_entropy,
    logit_adjusted_loss,
)

COUNTS = torch.tensor([500.0, 120.0, 30.0, 6.0])
PRIOR = COUNTS / COUNTS.sum()


def _data(device, shape=(12,), dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    n, *rest = shape
    x = torch.randn(n, 4, *rest, generator=g, dtype=dtype)
    y = torch.randint(0, 4, (n, *rest), generator=g)
    return x.to(device), y.to(device)


def _shift(log_prior, x):
    return log_prior.to(x).view((1, -1) + (1,) * (x.ndim - 2))


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("shape", [(12,), (3, 2, 2)], ids=["NC", "NCd1d2"])
def test_equals_cross_entropy_on_shifted_logits(device, tau, shape):
    x, y = _data(device, shape)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=x.dtype, device=device)
    shifted = x + tau * _shift(PRIOR.log(), x)
    for reduction in ("mean", "sum", "none"):
        ref = F.cross_entropy(shifted, y, weight=w, label_smoothing=0.1, reduction=reduction)
        kw = dict(tau=tau, weight=w, label_smoothing=0.1, reduction=reduction)
        torch.testing.assert_close(logit_adjusted_loss(x, y, class_prior=PRIOR, **kw), ref)
        torch.testing.assert_close(logit_adjusted_loss(x, y, class_counts=COUNTS, **kw), ref)
        torch.testing.assert_close(logit_adjusted_loss(x, y, class_counts=COUNTS.long().tolist(), **kw), ref)


def test_soft_targets_and_sample_weights_pass_through(device):
    x, y = _data(device)
    q = torch.softmax(torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype), 1).to(device)
    s = torch.rand(len(x), generator=torch.Generator().manual_seed(2), dtype=x.dtype).to(device)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=x.dtype, device=device)
    shifted = x + _shift(PRIOR.log(), x)
    for target in (y, q):
        torch.testing.assert_close(
            logit_adjusted_loss(x, target, class_prior=PRIOR, weight=w, sample_weight=s),
            cross_entropy(shifted, target, weight=w, sample_weight=s),
        )


def test_uniform_prior_or_zero_tau_is_plain_cross_entropy(device):
    x, y = _data(device)
    ce = F.cross_entropy(x, y)
    torch.testing.assert_close(logit_adjusted_loss(x, y, class_prior=torch.full((4,), 0.25)), ce)
    torch.testing.assert_close(logit_adjusted_loss(x, y, class_counts=torch.full((4,), 7)), ce)
    torch.testing.assert_close(logit_adjusted_loss(x, y, class_counts=COUNTS, tau=0.0), ce)


def test_balanced_softmax_adds_log_counts(device):
    x, y = _data(device)
    ref = F.cross_entropy(x + COUNTS.log().to(x), y)
    torch.testing.assert_close(balanced_softmax_loss(x, y, class_counts=COUNTS), ref)
    torch.testing.assert_close(logit_adjusted_loss(x, y, class_counts=COUNTS, tau=1.0), ref)
    torch.testing.assert_close(BalancedSoftmaxLoss(class_counts=COUNTS).to(device)(x, y), ref)


def test_gradient_pushes_rare_classes_harder():
    # equal logits: the gradient on the true class is softmax(shift)_y - 1, more negative for rare y
    x = torch.zeros(4, 4, requires_grad=True)
    logit_adjusted_loss(x, torch.arange(4), class_counts=COUNTS).backward()
    diag = x.grad.diagonal() * 4
    torch.testing.assert_close(diag, PRIOR - 1)
    assert (diag.diff() < 0).all()


def test_adjust_logits(device):
    x, _ = _data(device, (3, 2))
    for tau in (0.0, 1.0, 1.5):
        adjusted = adjust_logits(x, class_prior=PRIOR, tau=tau)
        torch.testing.assert_close(adjusted, x - tau * _shift(PRIOR.log(), x))
        torch.testing.assert_close(adjust_logits(x, class_counts=COUNTS, tau=tau), adjusted)
        assert adjusted.dtype == x.dtype and adjusted.device == x.device
    vector = adjust_logits(x[0, :, 0], class_prior=PRIOR)
    torch.testing.assert_close(vector, x[0, :, 0] - PRIOR.log().to(x))
    # equal scores: the adjusted argmax is the rarest class
    assert adjust_logits(torch.zeros(1, 4), class_counts=COUNTS).argmax().item() == 3
    assert adjust_logits(torch.zeros(2, 4, dtype=torch.bfloat16), class_counts=COUNTS).dtype == torch.bfloat16


def test_modules_equal_functional_and_keep_the_prior_as_buffer(device):
    x, y = _data(device)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=x.dtype)
    module = LogitAdjustedLoss(class_prior=PRIOR, tau=1.5, weight=w, reduction="sum").to(device)
    assert set(dict(module.named_buffers())) == {"log_prior", "weight"}
    assert module.log_prior.device == x.device
    s = torch.rand(len(x), dtype=x.dtype, device=device)
    torch.testing.assert_close(
        module(x, y, sample_weight=s),
        logit_adjusted_loss(x, y, class_prior=PRIOR, tau=1.5, weight=w.to(device), reduction="sum", sample_weight=s),
    )
    assert "tau=1.5" in repr(module)


def test_half_precision_input(device):
    x, y = _data(device, dtype=torch.float32)
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    loss = logit_adjusted_loss(x.to(half), y, class_counts=COUNTS)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    torch.testing.assert_close(loss, logit_adjusted_loss(x.to(half).float(), y, class_counts=COUNTS))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, r"pass exactly one of `class_prior` or `class_counts`"),
        ({"class_prior": PRIOR, "class_counts": COUNTS}, ValueError, r"pass exactly one of"),
        ({"class_prior": torch.tensor([0.5, 0.5, 0.0, 0.0])}, ValueError, r"`class_prior` must be > 0 for every class, got 0.0 for class 2 \(2 class\(es\)"),
        ({"class_prior": torch.tensor([0.5, 0.3, 0.3, 0.1])}, ValueError, r"`class_prior` must sum to 1 \(within 0.001\), got 1.2"),
        ({"class_prior": torch.tensor([0.5, 0.5, math.nan, 0.0])}, ValueError, r"`class_prior` must be finite"),
        ({"class_counts": torch.tensor([5, 3, 0, 2])}, ValueError, r"`class_counts` must be > 0 for every class, got 0.0 for class 2 \(1 class\(es\) with no examples\)"),
        ({"class_counts": torch.tensor([5, -3, 1, 2])}, ValueError, r"`class_counts` must be > 0 for every class, got -3.0 for class 1"),
        ({"class_counts": torch.tensor([5, 3, 2])}, ValueError, r"`class_counts` must have one entry per class \(4 for logits of shape \(6, 4\)\), got 3"),
        ({"class_counts": torch.ones(2, 2)}, ValueError, r"`class_counts` must have 1 dimensions"),
        ({"class_counts": "abc"}, TypeError, r"`class_counts` must be a 1-D sequence of real numbers"),
        ({"class_counts": torch.tensor([], dtype=torch.float32)}, ValueError, r"`class_counts` must have at least one class"),
        ({"class_counts": COUNTS, "tau": -1.0}, ValueError, r"`tau` must be >= 0.0, got -1.0"),
    ],
)
def test_bad_prior_arguments_raise(kwargs, error, match):
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    with pytest.raises(error, match=match):
        logit_adjusted_loss(x, y, **kwargs)
    with pytest.raises(error, match=match):
        adjust_logits(x, **kwargs)


def test_bad_module_arguments_raise():
    with pytest.raises(ValueError, match=r"`class_counts` must be > 0 for every class, got 0.0 for class 1"):
        BalancedSoftmaxLoss(class_counts=[3, 0, 4])
    with pytest.raises(ValueError, match=r"`reduction` must be one of 'mean', 'sum', 'none', got 'all'"):
        LogitAdjustedLoss(class_counts=COUNTS, reduction="all")
    with pytest.raises(ValueError, match=r"`tau` must be >= 0.0"):
        LogitAdjustedLoss(class_counts=COUNTS, tau=-0.5)
    with pytest.raises(ValueError, match=r"`input` must have 4 classes \(the length of the class prior\), got shape \(2, 3\)"):
        LogitAdjustedLoss(class_counts=COUNTS)(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match=r"`logits` must have a floating-point dtype"):
        adjust_logits(torch.zeros(2, 4, dtype=torch.long), class_counts=COUNTS)
    with pytest.raises(ValueError, match=r"`input` must have shape"):
        logit_adjusted_loss(torch.tensor(1.0), torch.tensor(0), class_counts=COUNTS)
