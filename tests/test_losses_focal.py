"""focal_loss / FocalLoss (softmax): gamma=0 is cross-entropy; alpha, weight, ignore_index semantics; stability."""

import math

import pytest
import torch
import torch.nn.functional as F

from torch_mlsd.losses import FocalLoss, cross_entropy, focal_loss

C = 4


def _data(device, shape=(10,), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, *rest = shape
    x = torch.randn(n, C, *rest, generator=g, dtype=dtype) * 2
    y = torch.randint(0, C, (n, *rest), generator=g)
    y.view(-1)[1::3] = -100
    q = torch.softmax(torch.randn(n, C, *rest, generator=g, dtype=dtype) * 2, dim=1)
    w = torch.rand(C, generator=g, dtype=dtype) + 0.2
    alpha = torch.rand(C, generator=g, dtype=dtype) + 0.1
    return x.to(device), y.to(device), q.to(device), w.to(device), alpha.to(device)


def _naive_focal(x, target, *, gamma, alpha=None, weight=None, eps=0.0, sample_weight=None, ignore_index=-100):
    """Straight from the formula: per target sum_c q'_c alpha_c w_c (1 - p_c)^gamma (-log p_c); and its normaliser."""
    p = torch.softmax(x.double(), 1)
    if target.dtype.is_floating_point:
        q, valid = target.double(), torch.ones(target.shape[:1] + target.shape[2:], dtype=torch.bool, device=x.device)
        carried_q = q
    else:
        valid = target != ignore_index
        q = F.one_hot(target.clamp(min=0), C).movedim(-1, 1).double()
        carried_q = q
    smoothed = (1 - eps) * q + eps / C
    shape = (1, C) + (1,) * (x.ndim - 2)
    a = (alpha if alpha is not None else torch.ones(C, device=x.device)).double().view(shape)
    w = (weight if weight is not None else torch.ones(C, device=x.device)).double().view(shape)
    loss = (smoothed * a * w * (1 - p) ** gamma * -torch.log(p)).sum(1) * valid
    carried = (carried_q * w).sum(1) * valid
    if sample_weight is not None:
        loss, carried = loss * sample_weight, carried * sample_weight
    return loss, carried


@pytest.mark.parametrize("gamma", [0, 0.0], ids=["int", "float"])
@pytest.mark.parametrize("shape", [(10,), (3, 2, 2)], ids=["NC", "NCd1d2"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_gamma_zero_equals_torch_cross_entropy(device, gamma, shape, reduction, label_smoothing, weighted):
    x, y, q, w, _ = _data(device, shape)
    w = w if weighted else None
    for target, rule in ((y, "weights"), (q, "samples")):
        ours = focal_loss(
            x, target, gamma=gamma, weight=w, reduction=reduction, label_smoothing=label_smoothing,
            soft_weight_normalization=rule,
        )
        ref = F.cross_entropy(x, target, weight=w, reduction=reduction, label_smoothing=label_smoothing)
        torch.testing.assert_close(ours, ref)


def test_gamma_zero_equals_our_cross_entropy_with_sample_weights(device):
    x, y, q, w, _ = _data(device)
    s = torch.linspace(0.0, 2.0, len(x), dtype=x.dtype, device=device)
    for target in (y, q):
        for reduction in ("mean", "sum", "none"):
            torch.testing.assert_close(
                focal_loss(x, target, gamma=0.0, weight=w, label_smoothing=0.1, sample_weight=s, reduction=reduction),
                cross_entropy(x, target, weight=w, label_smoothing=0.1, sample_weight=s, reduction=reduction),
            )


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.5])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_matches_the_formula_with_alpha_weight_ignore_index(device, gamma, label_smoothing):
    x, y, q, w, alpha = _data(device, (5, 3))
    s = torch.rand(5, 3, generator=torch.Generator().manual_seed(3), dtype=x.dtype).to(device)
    for target in (y, q):
        loss, carried = _naive_focal(x, target, gamma=gamma, alpha=alpha, weight=w, eps=label_smoothing, sample_weight=s)
        kw = dict(gamma=gamma, alpha=alpha, weight=w, label_smoothing=label_smoothing, sample_weight=s)
        torch.testing.assert_close(focal_loss(x, target, reduction="none", **kw), loss)
        torch.testing.assert_close(focal_loss(x, target, reduction="sum", **kw), loss.sum())
        torch.testing.assert_close(focal_loss(x, target, **kw), loss.sum() / carried.sum())


def test_hand_computed_small_case():
    # p = softmax([ln 3, 0]) = [0.75, 0.25]; target 0 -> (1 - 0.75)^2 * -ln 0.75; target 1 -> 0.75^2 * -ln 0.25
    x = torch.tensor([[math.log(3), 0.0], [math.log(3), 0.0], [0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, -100])
    alpha = torch.tensor([0.25, 0.75], dtype=torch.float64)
    w = torch.tensor([1.0, 3.0], dtype=torch.float64)
    t0 = 0.25**2 * -math.log(0.75)
    t1 = 0.75**2 * -math.log(0.25)
    loss = focal_loss(x, y, gamma=2, alpha=alpha, weight=w, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([0.25 * 1 * t0, 0.75 * 3 * t1, 0.0], dtype=torch.float64))
    # 'mean': weight is in the normaliser (1 + 3, the ignored target counts 0), alpha is not
    torch.testing.assert_close(focal_loss(x, y, gamma=2, alpha=alpha, weight=w), loss.sum() / 4)
    torch.testing.assert_close(focal_loss(x, y, gamma=2, alpha=alpha), torch.tensor((0.25 * t0 + 0.75 * t1) / 2, dtype=torch.float64))


def test_scalar_alpha_is_a_uniform_scale(device):
    x, y, q, w, _ = _data(device)
    for target in (y, q):
        base = focal_loss(x, target, weight=w, label_smoothing=0.1)
        torch.testing.assert_close(focal_loss(x, target, alpha=0.25, weight=w, label_smoothing=0.1), 0.25 * base)
        torch.testing.assert_close(
            focal_loss(x, target, alpha=torch.tensor(0.25), weight=w, label_smoothing=0.1), 0.25 * base
        )
        torch.testing.assert_close(
            focal_loss(x, target, alpha=torch.full((C,), 0.25, dtype=x.dtype, device=device), weight=w, label_smoothing=0.1),
            0.25 * base,
        )


def test_soft_targets_are_linear_in_the_target(device):
    x, y, _, w, alpha = _data(device)
    a, b = y.clamp(min=0), torch.roll(y.clamp(min=0), 1)
    ea, eb = F.one_hot(a, C).to(x.dtype), F.one_hot(b, C).to(x.dtype)
    lam = 0.3
    kw = dict(gamma=2.0, alpha=alpha, weight=w, reduction="none", label_smoothing=0.1)
    mixed = focal_loss(x, lam * ea + (1 - lam) * eb, **kw)
    torch.testing.assert_close(mixed, lam * focal_loss(x, a, **kw) + (1 - lam) * focal_loss(x, b, **kw))
    torch.testing.assert_close(focal_loss(x, ea, **kw), focal_loss(x, a, **kw))
    # one-hot probabilities reproduce the class-id weighted mean (default rule)
    kw["reduction"] = "mean"
    torch.testing.assert_close(focal_loss(x, ea, **kw), focal_loss(x, a, **kw))


def test_reduction_shapes(device):
    x, y, q, *_ = _data(device, (3, 2, 5))
    for target in (y, q):
        assert focal_loss(x, target, reduction="none").shape == (3, 2, 5)
        assert focal_loss(x, target, reduction="mean").shape == ()
        assert focal_loss(x, target, reduction="sum").shape == ()
    assert focal_loss(x[0, :, 0, 0], y[0, 0, 0].clamp(min=0), reduction="none").shape == ()
    assert focal_loss(x[0, :, 0, 0], q[0, :, 0, 0], reduction="none").shape == ()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
def test_gradcheck(gamma):
    x, y, q, w, alpha = _data("cpu", (4, 2))
    s = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    x.requires_grad_()
    for target in (y, q):
        for eps in (0.0, 0.2):
            assert torch.autograd.gradcheck(
                lambda z: focal_loss(z, target, gamma=gamma, alpha=alpha, weight=w, label_smoothing=eps, sample_weight=s),
                (x,),
                fast_mode=True,
            )


@pytest.mark.parametrize("gamma", [0, 0.0, 0.2, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_saturation_and_extreme_logits(device, gamma, dtype):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [100.0, 0.0, 0.0], [30.0, 0.0, -30.0]], dtype=dtype, device=device)
    y = torch.tensor([0, 0, 0, 2], device=device)
    q = torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=dtype), 1).to(device)
    for target in (y, q):
        for eps in (0.0, 0.1):
            z = x.clone().requires_grad_()
            loss = focal_loss(z, target, gamma=gamma, label_smoothing=eps, reduction="none")
            loss.sum().backward()
            assert torch.isfinite(loss).all() and torch.isfinite(z.grad).all()
            if gamma == 0:
                torch.testing.assert_close(loss, F.cross_entropy(x, target, label_smoothing=eps, reduction="none"))
    # a saturated correct prediction: loss 0 and gradient 0 (not NaN) for gamma < 1
    z = x[:1].clone().requires_grad_()
    loss = focal_loss(z, y[:1], gamma=0.5)
    loss.backward()
    assert loss.item() == 0 and torch.equal(z.grad, torch.zeros_like(z))


def test_gradient_is_finite_and_continuous_near_p_equal_one():
    # d/dx of -(1-p)^gamma log p stays bounded as p -> 1 for gamma < 1 (float64 reference by finite differences)
    for margin in (10.0, 20.0, 30.0):
        z = torch.tensor([[margin, 0.0]], dtype=torch.float64, requires_grad=True)
        focal_loss(z, torch.tensor([0]), gamma=0.5).backward()
        h = 1e-6
        f = lambda m: focal_loss(torch.tensor([[m, 0.0]], dtype=torch.float64), torch.tensor([0]), gamma=0.5).item()
        numeric = (f(margin + h) - f(margin - h)) / (2 * h)
        assert math.isfinite(z.grad[0, 0].item())
        assert z.grad[0, 0].item() == pytest.approx(numeric, rel=1e-4, abs=1e-12)


def test_half_precision_input_is_computed_in_float32(device):
    x, y, q, w, alpha = _data(device, dtype=torch.float32)
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    for target in (y, q.to(half)):
        xh = (x * 5).to(half).requires_grad_()
        loss = focal_loss(xh, target, gamma=2.0, alpha=alpha, weight=w, label_smoothing=0.1)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        assert xh.grad.dtype == half and torch.isfinite(xh.grad).all()
        ref = focal_loss(xh.detach().float(), target.float() if target.is_floating_point() else target, gamma=2.0, alpha=alpha, weight=w, label_smoothing=0.1)
        torch.testing.assert_close(loss, ref)
    big = torch.tensor([[6e4, -6e4, 0.0]], dtype=half, device=device, requires_grad=True)
    loss = focal_loss(big, torch.tensor([1], device=device), gamma=0.5)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()


def test_bfloat16_autocast_on_cpu():
    g = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(8, C)
    features = torch.randn(32, 8, generator=g) * 10
    y = torch.randint(0, C, (32,), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(features)
        loss = focal_loss(logits, y, gamma=0.5, alpha=torch.tensor([0.1, 0.2, 0.3, 0.4]), label_smoothing=0.1)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(layer.weight.grad).all()


def test_module_equals_functional_and_buffers(device):
    x, y, q, w, alpha = _data(device)
    module = FocalLoss(gamma=1.5, alpha=alpha.cpu(), weight=w.cpu(), label_smoothing=0.05, reduction="sum").to(device)
    assert set(dict(module.named_buffers())) == {"alpha", "weight"}
    assert module.alpha.device == x.device
    s = torch.rand(len(x), dtype=x.dtype, device=device)
    for target in (y, q):
        torch.testing.assert_close(
            module(x, target, sample_weight=s),
            focal_loss(x, target, gamma=1.5, alpha=alpha, weight=w, label_smoothing=0.05, reduction="sum", sample_weight=s),
        )
    scalar = FocalLoss(alpha=0.5, ignore_index=3)
    assert scalar.alpha == 0.5 and "alpha=0.5" in repr(scalar)
    torch.testing.assert_close(scalar(x, y.clamp(min=0)), focal_loss(x, y.clamp(min=0), alpha=0.5, ignore_index=3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma": -0.5}, ValueError, r"`gamma` must be >= 0.0, got -0.5"),
        ({"gamma": math.nan}, ValueError, r"`gamma` must be finite"),
        ({"gamma": "2"}, TypeError, r"`gamma` must be a real number"),
        ({"alpha": torch.ones(C + 1)}, ValueError, r"`alpha` must have 4 entries \(one per class\), got 5"),
        ({"alpha": torch.tensor([0.5, -0.1, 0.5, 0.5])}, ValueError, r"`alpha` must be >= 0"),
        ({"alpha": torch.tensor([0.5, math.nan, 0.5, 0.5])}, ValueError, r"`alpha` must be finite"),
        ({"alpha": 0.0}, ValueError, r"`alpha` must be > 0.0, got 0.0"),
        ({"alpha": -1.0}, ValueError, r"`alpha` must be > 0.0, got -1.0"),
        ({"alpha": "0.25"}, TypeError, r"`alpha` must be a 1-D sequence of real numbers"),
    ],
)
def test_bad_focal_arguments_raise(kwargs, error, match):
    x = torch.randn(3, C)
    y = torch.tensor([0, 1, 2])
    with pytest.raises(error, match=match):
        focal_loss(x, y, **kwargs)
    if "alpha" not in kwargs or not isinstance(kwargs["alpha"], torch.Tensor):
        with pytest.raises(error, match=match):
            FocalLoss(**kwargs)


def test_bad_module_arguments_raise():
    with pytest.raises(ValueError, match=r"`reduction` must be one of 'mean', 'sum', 'none', got 'mea'"):
        FocalLoss(reduction="mea")
    with pytest.raises(ValueError, match=r"`alpha` must be >= 0"):
        FocalLoss(alpha=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"`alpha` must have 4 entries \(one per class\), got 3"):
        FocalLoss(alpha=torch.ones(3))(torch.randn(2, 4), torch.tensor([0, 1]))
