"""binary_focal_loss / BinaryFocalLoss: torchvision's values and gradients, BCE at gamma=0, the fused kernel."""

import math

import pytest
import torch
import torch.nn.functional as F

import torch_mlsd.losses._sigmoid_focal as kernel
from torch_mlsd.losses import BinaryFocalLoss, binary_focal_loss


def _data(device, shape=(16, 6), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype) * 3
    hard = (torch.rand(shape, generator=g) < 0.3).to(dtype)
    soft = torch.rand(shape, generator=g, dtype=dtype)
    return x.to(device), hard.to(device), soft.to(device)


def _value_and_grad(fn, x):
    z = x.detach().clone().requires_grad_()
    out = fn(z)
    out.sum().backward()
    return out.detach(), z.grad


@pytest.mark.parametrize("gamma", [0, 0.5, 1, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [0.25, 0.9, -1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(40,), (16, 6), (2, 3, 4, 5)], ids=["N", "NC", "NCHW"])
def test_equals_torchvision_values_and_gradients(device, gamma, alpha, reduction, shape):
    ops = pytest.importorskip("torchvision.ops")
    x, hard, soft = _data(device, shape)
    for target in (hard, soft):
        ours = _value_and_grad(lambda z: binary_focal_loss(z, target, gamma=gamma, alpha=alpha, reduction=reduction), x)
        ref = _value_and_grad(lambda z: ops.sigmoid_focal_loss(z, target, alpha=alpha, gamma=gamma, reduction=reduction), x)
        torch.testing.assert_close(ours, ref)


def test_alpha_none_and_negative_disable_alpha(device):
    x, hard, _ = _data(device)
    ref = binary_focal_loss(x, hard, alpha=-1)
    torch.testing.assert_close(binary_focal_loss(x, hard, alpha=None), ref)
    torch.testing.assert_close(binary_focal_loss(x, hard, alpha=-0.5), ref)
    # alpha weights positives by alpha and negatives by 1 - alpha
    pos, neg = hard.bool(), ~hard.bool()
    none = binary_focal_loss(x, hard, alpha=None, reduction="none")
    torch.testing.assert_close(binary_focal_loss(x, hard, alpha=0.2, reduction="none")[pos], 0.2 * none[pos])
    torch.testing.assert_close(binary_focal_loss(x, hard, alpha=0.2, reduction="none")[neg], 0.8 * none[neg])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_without_alpha_is_bce_with_logits(device, reduction):
    x, hard, soft = _data(device)
    pos_weight = torch.linspace(0.5, 3.0, 6, dtype=x.dtype, device=device)
    for target in (hard, soft):
        for pw in (None, pos_weight):
            ours = _value_and_grad(
                lambda z: binary_focal_loss(z, target, gamma=0.0, alpha=None, pos_weight=pw, reduction=reduction), x
            )
            ref = _value_and_grad(
                lambda z: F.binary_cross_entropy_with_logits(z, target, pos_weight=pw, reduction=reduction), x
            )
            torch.testing.assert_close(ours, ref)


def test_hand_computed_small_case():
    x = torch.tensor([2.0, -1.0, 0.0], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    s = torch.sigmoid(x)
    expected = torch.stack(
        [
            0.25 * (1 - s[0]) ** 2 * -torch.log(s[0]),
            0.75 * s[1] ** 2 * -torch.log(1 - s[1]),
            0.25 * 0.5**2 * math.log(2) * torch.ones((), dtype=torch.float64),
        ]
    )
    torch.testing.assert_close(binary_focal_loss(x, t, reduction="none"), expected)
    torch.testing.assert_close(binary_focal_loss(x, t), expected.mean())
    pw = torch.tensor(3.0, dtype=torch.float64)
    with_pw = expected * torch.tensor([3.0, 1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(binary_focal_loss(x, t, pos_weight=pw, reduction="none"), with_pw)


def test_sample_weight_is_a_weighted_mean(device):
    x, hard, soft = _data(device)
    keep = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1], dtype=x.dtype, device=device)
    for target in (hard, soft):
        masked = binary_focal_loss(x, target, sample_weight=keep)
        torch.testing.assert_close(masked, binary_focal_loss(x[keep.bool()], target[keep.bool()]))
        s = torch.linspace(0.0, 2.0, 16, dtype=x.dtype, device=device)
        per_element = binary_focal_loss(x, target, reduction="none")
        torch.testing.assert_close(binary_focal_loss(x, target, sample_weight=s, reduction="none"), per_element * s[:, None])
        torch.testing.assert_close(binary_focal_loss(x, target, sample_weight=s, reduction="sum"), (per_element * s[:, None]).sum())
        torch.testing.assert_close(binary_focal_loss(x, target, sample_weight=s), (per_element * s[:, None]).sum() / (6 * s.sum()))
        e = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype).to(device)
        torch.testing.assert_close(binary_focal_loss(x, target, sample_weight=e), (per_element * e).sum() / e.sum())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0, 2.5])
def test_gradcheck(reduction, gamma, monkeypatch):
    # blocks of 7 elements exercise the row blocks (3 columns) and the column blocks (20 columns)
    monkeypatch.setattr(kernel, "_CPU_BLOCK", 7)
    for shape in ((5, 3), (2, 20)):
        x, hard, soft = _data("cpu", shape)
        pos_weight = torch.linspace(0.5, 2.0, shape[1], dtype=torch.float64)
        s = torch.tensor([0.5, 2.0, 1.0, 0.0, 1.5][: shape[0]], dtype=torch.float64)
        x.requires_grad_()
        for target in (hard, soft):
            assert torch.autograd.gradcheck(
                lambda z: binary_focal_loss(z, target, gamma=gamma, pos_weight=pos_weight, sample_weight=s, reduction=reduction),
                (x,),
            )


def test_blocking_does_not_change_the_result(monkeypatch):
    x, hard, soft = _data("cpu", (9, 13), dtype=torch.float32)
    pw = torch.linspace(0.5, 2.0, 13)
    s = torch.rand(9, 13, generator=torch.Generator().manual_seed(2))
    ref = _value_and_grad(lambda z: binary_focal_loss(z, soft, pos_weight=pw, sample_weight=s, reduction="none"), x)
    for block in (1, 5, 13, 40):
        monkeypatch.setattr(kernel, "_CPU_BLOCK", block)
        ours = _value_and_grad(lambda z: binary_focal_loss(z, soft, pos_weight=pw, sample_weight=s, reduction="none"), x)
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("gamma", [0, 0.0, 0.3, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits(device, gamma, dtype):
    x = torch.tensor([1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 0.0], dtype=dtype, device=device)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5], dtype=dtype, device=device)
    loss, grad = _value_and_grad(lambda z: binary_focal_loss(z, t, gamma=gamma, reduction="none"), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    # confidently right: loss and gradient 0; confidently wrong: alpha_t * |x| and slope alpha_t
    assert loss[0] == 0 and loss[1] == 0 and grad[0] == 0 and grad[1] == 0
    torch.testing.assert_close(loss[2:4], torch.tensor([0.75e4, 0.25e4], dtype=dtype, device=device))
    torch.testing.assert_close(grad[2:4], torch.tensor([0.75, -0.25], dtype=dtype, device=device))
    # full relative precision for confident predictions: loss = alpha_t * e^(-30 (gamma + 1)) (1 + O(e^-30))
    expected = torch.tensor([0.25, 0.75], dtype=torch.float64) * math.exp(-30.0) ** (gamma + 1)
    torch.testing.assert_close(loss[4:6].double(), expected, rtol=1e-5, atol=0)


def test_half_precision_input_is_computed_in_float32(device):
    x, hard, soft = _data(device, dtype=torch.float32)
    half = torch.float16 if device.type == "cuda" else torch.bfloat16
    xh = (x * 5).to(half)
    for target in (hard.to(half), soft):
        loss, grad = _value_and_grad(lambda z: binary_focal_loss(z, target, gamma=0.5), xh)
        assert loss.dtype == torch.float32 and grad.dtype == half
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        ref_loss, ref_grad = _value_and_grad(lambda z: binary_focal_loss(z, target.float(), gamma=0.5), xh.float())
        torch.testing.assert_close(loss, ref_loss)
        torch.testing.assert_close(grad, ref_grad.to(half))


def test_bfloat16_autocast_on_cpu():
    g = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(8, 5)
    features = torch.randn(32, 8, generator=g) * 30
    target = (torch.rand(32, 5, generator=g) < 0.2).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(features)
        loss = binary_focal_loss(logits, target, gamma=0.5)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(layer.weight.grad).all()


def test_backward_scales_with_the_upstream_gradient_and_survives_retain_graph(device):
    x, hard, _ = _data(device)
    _, unit = _value_and_grad(lambda z: binary_focal_loss(z, hard), x)
    z = x.clone().requires_grad_()
    loss = binary_focal_loss(z, hard)
    (3.0 * loss).backward(retain_graph=True)
    torch.testing.assert_close(z.grad, 3.0 * unit)
    loss.backward()
    torch.testing.assert_close(z.grad, 4.0 * unit)
    # unit upstream gradient: the stored gradient is handed over, yet a retained graph stays intact
    z.grad = None
    loss = binary_focal_loss(z, hard)
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    loss.backward()
    torch.testing.assert_close(z.grad, 3.0 * unit)
    z.grad = None
    loss = binary_focal_loss(z, hard)
    (loss + loss).backward()
    torch.testing.assert_close(z.grad, 2.0 * unit)
    # 'none' with an arbitrary upstream gradient
    z.grad = None
    upstream = torch.rand(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype).to(device)
    binary_focal_loss(z, hard, reduction="none").backward(upstream)
    _, elementwise = _value_and_grad(lambda v: binary_focal_loss(v, hard, reduction="none"), x)
    torch.testing.assert_close(z.grad, upstream * elementwise)


def test_targets_of_any_real_dtype_and_no_grad(device):
    x, hard, _ = _data(device)
    ref = binary_focal_loss(x, hard)
    torch.testing.assert_close(binary_focal_loss(x, hard.bool()), ref)
    torch.testing.assert_close(binary_focal_loss(x, hard.long()), ref)
    z = x.clone().requires_grad_()
    with torch.no_grad():
        torch.testing.assert_close(binary_focal_loss(z, hard), ref)
    assert binary_focal_loss(x, hard, reduction="none").shape == x.shape
    assert binary_focal_loss(x[0, 0], hard[0, 0], reduction="none").shape == ()


def test_empty_input():
    x = torch.zeros(0, 3, requires_grad=True)
    t = torch.zeros(0, 3)
    assert math.isnan(binary_focal_loss(x, t).item())
    loss = binary_focal_loss(x, t, reduction="sum")
    loss.backward()
    assert loss.item() == 0 and x.grad.shape == (0, 3)


def test_module_equals_functional(device):
    x, hard, _ = _data(device)
    pw = torch.linspace(0.5, 3.0, 6, dtype=x.dtype)
    module = BinaryFocalLoss(gamma=1.5, alpha=0.4, reduction="sum", pos_weight=pw).to(device)
    assert "pos_weight" in dict(module.named_buffers()) and module.pos_weight.device == x.device
    s = torch.rand(16, dtype=x.dtype, device=device)
    torch.testing.assert_close(
        module(x, hard, sample_weight=s),
        binary_focal_loss(x, hard, gamma=1.5, alpha=0.4, reduction="sum", pos_weight=pw.to(device), sample_weight=s),
    )
    assert "alpha=0.4" in repr(module)
    assert BinaryFocalLoss(alpha=-1).alpha is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reduction": "elementwise"}, ValueError, r"`reduction` must be one of 'mean', 'sum', 'none', got 'elementwise'"),
        ({"gamma": -1.0}, ValueError, r"`gamma` must be >= 0.0, got -1.0"),
        ({"gamma": math.inf}, ValueError, r"`gamma` must be finite"),
        ({"alpha": 1.5}, ValueError, r"`alpha` must be in \[0, 1\], or None / negative to disable it, got 1.5"),
        ({"alpha": math.nan}, ValueError, r"`alpha` must be finite"),
        ({"alpha": "0.25"}, TypeError, r"`alpha` must be a real number"),
        ({"pos_weight": torch.ones(5)}, ValueError, r"`pos_weight` must broadcast to input.shape\[1:\] = \(6,\), got shape \(5,\)"),
        ({"pos_weight": torch.tensor([1.0, -1, 1, 1, 1, 1])}, ValueError, r"`pos_weight` must be >= 0"),
        ({"pos_weight": torch.full((6,), math.nan)}, ValueError, r"`pos_weight` must be finite"),
        ({"pos_weight": "x"}, TypeError, r"`pos_weight` must be a tensor of real numbers"),
        ({"sample_weight": torch.ones(6)}, ValueError, r"`sample_weight` must have shape \(N,\) = \(4,\) or \(4, 6\), got shape \(6,\)"),
        ({"sample_weight": -torch.ones(4)}, ValueError, r"`sample_weight` must be >= 0"),
        ({"sample_weight": torch.full((4,), math.inf)}, ValueError, r"`sample_weight` must be finite"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    x, t = torch.randn(4, 6), torch.zeros(4, 6)
    with pytest.raises(error, match=match):
        binary_focal_loss(x, t, **kwargs)
    checked_at_construction = "sample_weight" not in kwargs and "broadcast" not in match
    if checked_at_construction:
        with pytest.raises(error, match=match):
            BinaryFocalLoss(**kwargs)


def test_bad_inputs_and_targets_raise():
    x = torch.randn(4, 6)
    with pytest.raises(ValueError, match=r"`target` must have the shape of `input` \(4, 6\), got shape \(4, 5\)"):
        binary_focal_loss(x, torch.zeros(4, 5))
    with pytest.raises(TypeError, match=r"`target` must be a torch.Tensor"):
        binary_focal_loss(x, [[0.0] * 6] * 4)
    with pytest.raises(TypeError, match=r"`input` must have a floating-point dtype, got torch.int64"):
        binary_focal_loss(x.long(), torch.zeros(4, 6))
    with pytest.raises(ValueError, match=r"`target` must not require grad"):
        binary_focal_loss(x, torch.zeros(4, 6, requires_grad=True))
    with pytest.raises(ValueError, match=r"`sample_weight` must not require grad"):
        binary_focal_loss(x, torch.zeros(4, 6), sample_weight=torch.ones(4, requires_grad=True))
