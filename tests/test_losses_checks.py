"""Losses read no tensor value back to the host per call; their checks move, they do not vanish.

- forward + backward of every loss, module and functional, with each option that carries a
  tensor (weight, alpha, pos_weight, class priors, sample_weight) and ignore_index /
  label smoothing / soft targets, dispatch none of the host-reading ops;
- module buffers are checked when set: in ``__init__``, on a later assignment and on
  ``load_state_dict``;
- per-call value checks (class ids, binary targets, functional-form tensors) still raise a
  ``ValueError`` naming the argument on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import torch

from tests._host_reads import host_reads
from torch_mlsd.losses import (
    BalancedSoftmaxLoss,
    BinaryFocalLoss,
    CrossEntropyLoss,
    FocalLoss,
    LogitAdjustedLoss,
    adjust_logits,
    balanced_softmax_loss,
    binary_focal_loss,
    cross_entropy,
    focal_loss,
    logit_adjusted_loss,
)

N, C = 6, 4
W = [1.0, 2.0, 0.5, 1.5]
COUNTS = [50.0, 20.0, 5.0, 1.0]
PRIOR = [0.5, 0.3, 0.15, 0.05]
LossFn = Callable[..., torch.Tensor]


def _t(device: torch.device, values: Any) -> torch.Tensor:
    return torch.tensor(values, device=device)


def _adjusted_logsumexp(x: torch.Tensor, target: torch.Tensor, *, counts: torch.Tensor) -> torch.Tensor:
    """A scalar through ``adjust_logits`` (the target is unused), so it can be differentiated."""
    return adjust_logits(x, class_counts=counts, tau=0.5).logsumexp(1).sum()


# (id, make the loss on a device, target kind, sample weight kind)
CASES: list[tuple[str, Callable[[torch.device], LossFn], str, str | None]] = [
    ("CrossEntropyLoss", lambda d: CrossEntropyLoss(), "ids", None),
    (
        "CrossEntropyLoss-weight-ignore-smoothing",
        lambda d: CrossEntropyLoss(weight=_t(d, W), ignore_index=-1, label_smoothing=0.1),
        "ids-ignored",
        None,
    ),
    ("CrossEntropyLoss-soft-weight-sample_weight", lambda d: CrossEntropyLoss(weight=_t(d, W)), "soft", "rows"),
    ("CrossEntropyLoss-spatial-none", lambda d: CrossEntropyLoss(weight=_t(d, W), reduction="none"), "ids-spatial", "rows"),
    (
        "cross_entropy-weight-ignore-sample_weight",
        lambda d: partial(cross_entropy, weight=_t(d, W), ignore_index=-1, label_smoothing=0.2),
        "ids-ignored",
        "rows",
    ),
    (
        "FocalLoss-alpha-weight-ignore",
        lambda d: FocalLoss(alpha=_t(d, W), weight=_t(d, W), ignore_index=-1),
        "ids-ignored",
        "rows",
    ),
    (
        "FocalLoss-scalar-alpha-smoothing",
        lambda d: FocalLoss(gamma=0.5, alpha=0.25, label_smoothing=0.1, ignore_index=-1),
        "ids-ignored",
        None,
    ),
    ("FocalLoss-soft-alpha", lambda d: FocalLoss(alpha=_t(d, W), reduction="sum"), "soft", "rows"),
    ("FocalLoss-spatial-weight", lambda d: FocalLoss(weight=_t(d, W)), "ids-spatial", None),
    (
        "focal_loss-0d-alpha-weight-smoothing",
        lambda d: partial(focal_loss, alpha=_t(d, 0.25), weight=_t(d, W), ignore_index=-1, label_smoothing=0.1),
        "ids-ignored",
        "rows",
    ),
    ("focal_loss-alpha-vector-soft", lambda d: partial(focal_loss, alpha=_t(d, W), weight=_t(d, W)), "soft", None),
    ("BinaryFocalLoss", lambda d: BinaryFocalLoss(), "binary", None),
    ("BinaryFocalLoss-pos_weight", lambda d: BinaryFocalLoss(gamma=0.5, pos_weight=_t(d, W)), "binary", "rows"),
    ("BinaryFocalLoss-none-no-alpha", lambda d: BinaryFocalLoss(alpha=None, reduction="none"), "binary", "elements"),
    (
        "binary_focal_loss-pos_weight-sample_weight",
        lambda d: partial(binary_focal_loss, pos_weight=_t(d, W), reduction="sum"),
        "binary",
        "elements",
    ),
    ("binary_focal_loss-bool-target", lambda d: binary_focal_loss, "bool", "rows"),
    (
        "LogitAdjustedLoss-weight-ignore-smoothing",
        lambda d: LogitAdjustedLoss(class_counts=_t(d, COUNTS), weight=_t(d, W), ignore_index=-1, label_smoothing=0.1),
        "ids-ignored",
        "rows",
    ),
    ("LogitAdjustedLoss-prior-soft", lambda d: LogitAdjustedLoss(class_prior=_t(d, PRIOR), tau=0.5), "soft", None),
    (
        "logit_adjusted_loss-prior",
        lambda d: partial(logit_adjusted_loss, class_prior=_t(d, PRIOR), weight=_t(d, W), ignore_index=-1),
        "ids-ignored",
        "rows",
    ),
    ("BalancedSoftmaxLoss", lambda d: BalancedSoftmaxLoss(class_counts=_t(d, COUNTS)), "ids", "rows"),
    (
        "balanced_softmax_loss",
        lambda d: partial(balanced_softmax_loss, class_counts=_t(d, COUNTS), label_smoothing=0.1),
        "soft",
        None,
    ),
    ("adjust_logits", lambda d: partial(_adjusted_logsumexp, counts=_t(d, COUNTS)), "ids", None),
]


def _batch(device: torch.device, target_kind: str, weight_kind: str | None) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(logits requiring grad, target, {"sample_weight": ...} or {}), seeded."""
    g = torch.Generator().manual_seed(0)
    spatial = target_kind == "ids-spatial"
    x = torch.randn((N, C, 3) if spatial else (N, C), generator=g)
    if target_kind.startswith("ids"):
        target = torch.randint(0, C, x.shape[:1] + x.shape[2:], generator=g)
        if target_kind == "ids-ignored":
            target[1::3] = -1
    elif target_kind == "soft":
        target = torch.softmax(torch.randn(N, C, generator=g), dim=1)
    else:
        target = torch.rand(N, C, generator=g) < 0.3
        if target_kind == "binary":
            target = target.float()
            target[0, 0] = 0.5  # a soft binary target
    kwargs = {}
    if weight_kind is not None:
        shape = (N,) if weight_kind == "rows" else (N, C)
        kwargs["sample_weight"] = (torch.rand(shape, generator=g) + 0.5).to(device)
    return x.to(device).requires_grad_(), target.to(device), kwargs


@pytest.mark.parametrize(("make_loss", "target_kind", "weight_kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_forward_and_backward_read_nothing_back(device, make_loss, target_kind, weight_kind):
    loss_fn = make_loss(device)
    x, target, kwargs = _batch(device, target_kind, weight_kind)

    def step() -> None:
        loss_fn(x, target, **kwargs).sum().backward()

    assert host_reads(step) == []
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and bool(x.grad.abs().sum() > 0)


def test_the_recorder_sees_a_read():
    # a 0-d alpha is read once, when the module is built (not per call): the recorder sees it
    assert "aten._local_scalar_dense.default" in host_reads(lambda: FocalLoss(alpha=torch.tensor(0.5)))


# ---- buffers are checked when set -------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name", "bad", "match"),
    [
        (lambda: CrossEntropyLoss(), "weight", torch.tensor([1.0, -1.0, 1.0, 1.0]), r"`weight` must be >= 0, got 1 negative"),
        (lambda: CrossEntropyLoss(weight=torch.ones(C)), "weight", torch.zeros(C), r"`weight` must have at least one positive"),
        (lambda: FocalLoss(alpha=torch.ones(C)), "alpha", torch.tensor([1.0, math.nan, 1.0, 1.0]), r"`alpha` must be finite"),
        (lambda: FocalLoss(alpha=0.5), "alpha", -0.5, r"`alpha` must be > 0.0, got -0.5"),
        (lambda: FocalLoss(), "weight", [1.0, -2.0], r"`weight` must be >= 0"),
        (lambda: BinaryFocalLoss(), "pos_weight", torch.tensor([1.0, -1.0]), r"`pos_weight` must be >= 0"),
        (lambda: BinaryFocalLoss(pos_weight=torch.ones(2)), "pos_weight", torch.tensor(math.inf), r"`pos_weight` must be finite"),
        (lambda: LogitAdjustedLoss(class_counts=COUNTS), "log_prior", torch.tensor([0.0, -math.inf]), r"`log_prior` must be finite"),
        (lambda: BalancedSoftmaxLoss(class_counts=COUNTS), "weight", torch.ones(C, 1), r"`weight` must have 1 dimensions"),
    ],
)
def test_assigning_a_bad_buffer_raises_and_keeps_the_old_one(make, name, bad, match):
    loss_fn = make()
    before = getattr(loss_fn, name)
    with pytest.raises((ValueError, TypeError), match=match):
        setattr(loss_fn, name, bad)
    after = getattr(loss_fn, name)
    assert after is before


def test_loading_a_bad_buffer_raises():
    good = CrossEntropyLoss(weight=torch.tensor(W))
    with pytest.raises(ValueError, match=r"`weight` must be >= 0"):
        good.load_state_dict({"weight": torch.tensor([1.0, -1.0, 1.0, 1.0])})
    torch.testing.assert_close(good.weight, torch.tensor(W))
    nested = torch.nn.Sequential(BinaryFocalLoss(pos_weight=torch.ones(C)))
    with pytest.raises(ValueError, match=r"`pos_weight` must be finite"):
        nested.load_state_dict({"0.pos_weight": torch.tensor([1.0, math.nan, 1.0, 1.0])})
    nested.load_state_dict({"0.pos_weight": torch.full((C,), 2.0)})
    torch.testing.assert_close(nested[0].pos_weight, torch.full((C,), 2.0))


def test_assigned_buffers_take_effect_and_stay_buffers():
    x, y = torch.randn(N, C, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 3, 0, 1])
    loss_fn = FocalLoss(alpha=torch.ones(C))
    loss_fn.weight = [2.0, 1.0, 1.0, 1.0]  # a sequence is converted, as in __init__
    loss_fn.alpha = torch.tensor(W)
    assert {"weight", "alpha"} <= dict(loss_fn.named_buffers()).keys()
    torch.testing.assert_close(loss_fn(x, y), focal_loss(x, y, alpha=torch.tensor(W), weight=torch.tensor([2.0, 1, 1, 1])))
    loss_fn.alpha = torch.tensor(0.5)  # a vector alpha becomes a uniform scale: no longer a buffer
    assert loss_fn.alpha == 0.5 and "alpha" not in dict(loss_fn.named_buffers())
    torch.testing.assert_close(loss_fn(x, y), focal_loss(x, y, alpha=0.5, weight=torch.tensor([2.0, 1, 1, 1])))
    loss_fn.alpha = torch.ones(C)  # and back
    assert "alpha" in dict(loss_fn.named_buffers()) and loss_fn.double().alpha.dtype == torch.float64
    loss_fn.weight = None
    torch.testing.assert_close(loss_fn(x.double(), y), focal_loss(x.double(), y))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_buffer_on_the_gpu_is_checked_at_once():
    with pytest.raises(ValueError, match=r"`weight` must be >= 0"):
        CrossEntropyLoss(weight=-torch.ones(3, device="cuda"))
    with pytest.raises(ValueError, match=r"`class_counts` must be > 0 for every class, got 0.0 for class 1"):
        LogitAdjustedLoss(class_counts=torch.tensor([3.0, 0.0], device="cuda"))


# ---- per-call value checks, on the device ---------------------------------------------


@pytest.mark.parametrize("loss_fn", [binary_focal_loss, BinaryFocalLoss()], ids=["functional", "module"])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (-1.0, r"`target` must hold values in \[0, 1\], got values in \[-1.0, 1.0\]"),
        (1.5, r"`target` must hold values in \[0, 1\], got values in \[0.0, 1.5\]"),
        (math.nan, r"`target` must hold values in \[0, 1\], got values in \[nan, nan\]"),
    ],
)
def test_binary_targets_outside_zero_one_raise(loss_fn, bad, match):
    x = torch.zeros(2, 3)
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    target[1, 1] = bad
    with pytest.raises(ValueError, match=match):  # -1 used to give a loss of 26.1
        loss_fn(x, target)


def test_binary_targets_of_integer_and_bool_dtypes():
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(2))
    ref = binary_focal_loss(x, torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    for target in (torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.uint8), torch.tensor([[True, False], [False, True], [True, True]])):
        torch.testing.assert_close(binary_focal_loss(x, target), ref)
    with pytest.raises(ValueError, match=r"`target` must hold values in \[0, 1\], got values in \[0, 2\]"):
        binary_focal_loss(x, torch.tensor([[1, 0], [0, 2], [1, 1]]))


def test_zero_dim_tensor_alpha_is_a_uniform_scale_checked_on_the_device():
    x, y = torch.randn(N, C, generator=torch.Generator().manual_seed(3)), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(focal_loss(x, y, alpha=torch.tensor(0.25)), focal_loss(x, y, alpha=0.25))
    with pytest.raises(ValueError, match=r"`alpha` must be > 0.0, got 0.0"):
        focal_loss(x, y, alpha=torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"`alpha` must be finite, got nan"):
        focal_loss(x, y, alpha=torch.tensor(math.nan))
    assert FocalLoss(alpha=torch.tensor(0.25)).alpha == 0.25


@pytest.mark.parametrize("module", [False, True], ids=["functional", "module"])
def test_bad_class_ids_raise_on_the_cpu_naming_target(module):
    x = torch.randn(2, 3, 2)
    loss_fn = FocalLoss(weight=torch.ones(3)) if module else partial(focal_loss, weight=torch.ones(3))
    with pytest.raises(ValueError, match=r"`target` must hold class ids in \[0, 3\) or ignore_index=-100, got 7 \(2 entries"):
        loss_fn(x, torch.tensor([[0, 7], [7, 2]]))


def test_functional_prior_checks_are_per_call():
    x, y = torch.randn(N, C), torch.tensor([0, 1, 2, 3, 0, 1])
    with pytest.raises(ValueError, match=r"`class_prior` must sum to 1 \(within 0.001\), got 1.1"):
        logit_adjusted_loss(x, y, class_prior=torch.tensor([0.5, 0.3, 0.2, 0.1]))
    with pytest.raises(ValueError, match=r"`class_counts` must be finite, got 1 NaN/inf"):
        balanced_softmax_loss(x, y, class_counts=torch.tensor([1.0, math.inf, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"`sample_weight` must be >= 0, got 1 negative"):
        cross_entropy(x, y, sample_weight=torch.tensor([1.0, 1, 1, -1, 1, 1]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32,
                                   torch.uint64])
@pytest.mark.parametrize("loss_fn", [cross_entropy, focal_loss])
def test_class_ids_of_any_integer_dtype_give_the_int64_loss(loss_fn, dtype):
    # Ids are read as int64 (unsigned ones had no comparison kernel on the CPU); ignore_index
    # keeps its meaning even where the narrow dtype cannot hold it.
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([0, 3, 1, 2, 2, 0])
    torch.testing.assert_close(loss_fn(logits, ids.to(dtype)), loss_fn(logits, ids), rtol=0, atol=0)
    with pytest.raises(ValueError, match="`target` must hold class ids in"):
        loss_fn(logits, torch.tensor([0, 4, 1, 2, 2, 0], dtype=dtype))
