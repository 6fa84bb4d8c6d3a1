"""Sigmoid focal loss (Lin et al. 2017, https://arxiv.org/abs/1708.02002) for multi-label and
detection targets, with torchvision's alpha convention, computed by a fused kernel (see
:mod:`torch_mlsd.losses._sigmoid_focal`): ``binary_focal_loss`` / ``BinaryFocalLoss``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from torch_mlsd._validate import as_tensor, check_float, check_tensor
from torch_mlsd.losses._common import (
    CheckedBuffers,
    Reduction,
    check_device,
    check_reduction,
    check_sample_weight,
    check_values,
    check_weight_values,
    compute_dtype,
)
from torch_mlsd.losses._sigmoid_focal import SigmoidFocalFunction, sigmoid_focal

__all__ = ["binary_focal_loss", "BinaryFocalLoss"]


def binary_focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | None = 0.25,
    reduction: Reduction = "mean",
    pos_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Sigmoid focal loss for binary / multi-label targets (RetinaNet's form, torchvision's alpha).

    Elementwise, with ``s = sigmoid(x)``, ``p_t = s t + (1 - s)(1 - t)``:

        loss = alpha_t (1 - p_t)^gamma * BCE(x, t),  alpha_t = alpha t + (1 - alpha)(1 - t)

    where ``BCE`` is ``binary_cross_entropy_with_logits`` (with ``pos_weight`` on the
    positive term, as there). ``alpha=None`` or negative (torchvision uses -1) disables
    alpha_t. Equal to ``torchvision.ops.sigmoid_focal_loss`` on the same arguments (whose
    default reduction is ``'none'``; here it is ``'mean'``, over all elements), and to
    ``binary_cross_entropy_with_logits`` for ``gamma=0, alpha=None``. Soft targets in
    ``[0, 1]`` use the same formula.

    ``sample_weight`` multiplies the loss of a sample ``(N,)`` or of each element
    (``input``'s shape); ``'mean'`` then divides by the total weight over all elements, so a
    0/1 mask averages over the kept elements. Value and gradient come from one fused pass
    in float32 (float64 for float64 input) with precise ``sigmoid``/``softplus`` terms:
    finite at logits +-1e4 and for gamma < 1. ``target``, ``pos_weight`` and
    ``sample_weight`` are constants: passing one that requires grad is an error.

    Args:
        input: logits of any shape ``(N, *)``, float.
        target: same shape, values in ``[0, 1]`` (float, integer or bool dtype); checked
            per call on the device (``ValueError`` on the CPU, see README "Per-call checks").
        gamma: focusing parameter >= 0. Default: 2.
        alpha: weight of positives in ``[0, 1]``; ``None`` or negative to disable. Default: 0.25.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        pos_weight: weight of the positive term, broadcastable to ``input.shape[1:]``
            (e.g. ``(C,)`` for ``(N, C)``), >= 0.
        sample_weight: ``(N,)`` or ``input``'s shape, >= 0.

    Returns:
        0-dim loss, or ``input``'s shape for ``'none'``; float32 for half input.

    Example:
        >>> logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]], requires_grad=True)
        >>> target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> loss = binary_focal_loss(logits, target)
        >>> round(loss.item(), 5)
        0.0086
        >>> loss.backward()
    """
    return binary_focal_loss_core(
        input,
        target,
        gamma=gamma,
        alpha=alpha,
        reduction=reduction,
        pos_weight=pos_weight,
        sample_weight=sample_weight,
        pos_weight_checked=False,
    )


def binary_focal_loss_core(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float,
    alpha: float | None,
    reduction: Reduction,
    pos_weight: torch.Tensor | None,
    sample_weight: torch.Tensor | None,
    pos_weight_checked: bool,
) -> torch.Tensor:
    """:func:`binary_focal_loss`; ``pos_weight_checked`` skips the value checks of a buffer
    checked when set."""
    check_tensor("input", input, dtypes="float")
    check_tensor("target", target)
    check_device("target", target, input.device)
    if target.shape != input.shape:
        raise ValueError(
            f"`target` must have the shape of `input` {tuple(input.shape)}, got shape {tuple(target.shape)}"
        )
    if target.is_complex():
        raise TypeError(f"`target` must have a real or bool dtype, got {target.dtype}")
    _check_binary_target(target)
    gamma = check_float("gamma", gamma, min=0.0)
    alpha = _binary_alpha(alpha)
    check_reduction(reduction)
    dtype = compute_dtype(input.dtype)
    rows = input.shape[0] if input.ndim else 1
    if pos_weight is not None:
        pos_weight = _pos_weight_row(pos_weight, input, checked=pos_weight_checked).to(dtype)
    if sample_weight is not None:
        per_element = tuple(sample_weight.shape) == tuple(input.shape)
        sample_weight = check_sample_weight(sample_weight, input.shape, input.device).to(dtype)
        sample_weight = sample_weight.reshape(rows, math.prod(input.shape[1:]) if per_element else 1)
    for name, value in (("target", target), ("pos_weight", pos_weight), ("sample_weight", sample_weight)):
        if value is not None and value.requires_grad:
            raise ValueError(f"`{name}` must not require grad (only `input` is differentiated); detach it")
    if torch.is_grad_enabled() and input.requires_grad:
        return SigmoidFocalFunction.apply(input, target, gamma, alpha, pos_weight, sample_weight, reduction)
    value, _ = sigmoid_focal(
        input, target, gamma=gamma, alpha=alpha, pos_weight=pos_weight, weight=sample_weight,
        reduction=reduction, need_grad=False,
    )
    return value


def _binary_alpha(alpha: Any) -> float | None:
    """torchvision's convention: alpha in [0, 1], or None / negative to disable."""
    if alpha is None:
        return None
    alpha = check_float("alpha", alpha)
    if alpha < 0:
        return None
    if alpha > 1:
        raise ValueError(f"`alpha` must be in [0, 1], or None / negative to disable it, got {alpha!r}")
    return alpha


def _check_binary_target(target: torch.Tensor) -> None:
    """Targets are probabilities: every value in [0, 1] (checked on the device; bool always is)."""
    if target.dtype == torch.bool or target.numel() == 0:
        return
    low, high = torch.aminmax(target.detach())  # NaN, if any, propagates to both

    def detail() -> str:
        return f"values in [{low.item()!r}, {high.item()!r}]"

    check_values((low >= 0) & (high <= 1), "`target` must hold values in [0, 1]", detail)


def _as_pos_weight(pos_weight: Any) -> torch.Tensor:
    """``pos_weight`` as a floating tensor (its values unchecked)."""
    pos_weight = as_tensor("pos_weight", pos_weight, "a tensor of real numbers", torch.float64)
    check_tensor("pos_weight", pos_weight, dtypes="numeric")
    return pos_weight if pos_weight.dtype.is_floating_point else pos_weight.double()


def _checked_pos_weight(pos_weight: Any) -> torch.Tensor | None:
    """``BinaryFocalLoss.pos_weight`` when set: ``None`` or a tensor, finite and >= 0."""
    if pos_weight is None:
        return None
    pos_weight = _as_pos_weight(pos_weight)
    check_weight_values("pos_weight", pos_weight, eager=True)
    return pos_weight


def _pos_weight_row(pos_weight: Any, input: torch.Tensor, *, checked: bool) -> torch.Tensor:
    """``pos_weight`` as a ``(1, K)`` row for the ``(N, K)`` view of ``input``; its values
    are checked on the device unless they were ``checked`` when set."""
    pos_weight = _as_pos_weight(pos_weight)
    check_device("pos_weight", pos_weight, input.device)
    if not checked:
        check_weight_values("pos_weight", pos_weight)
    if pos_weight.numel() == 1:
        return pos_weight.reshape(1, 1)
    try:
        return pos_weight.expand(input.shape[1:]).reshape(1, -1)
    except RuntimeError:
        raise ValueError(
            f"`pos_weight` must broadcast to input.shape[1:] = {tuple(input.shape[1:])}, "
            f"got shape {tuple(pos_weight.shape)}"
        ) from None


class BinaryFocalLoss(CheckedBuffers):
    """Module form of :func:`binary_focal_loss`; ``pos_weight`` is a buffer, checked when
    set (also when assigned later), not per call.

    Args:
        gamma: focusing parameter >= 0. Default: 2.
        alpha: weight of positives in ``[0, 1]``; ``None`` or negative disables. Default: 0.25.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        pos_weight: broadcastable to ``input.shape[1:]``, >= 0.

    Shape:
        input ``(N, *)``; target the same; ``sample_weight`` ``(N,)`` or ``(N, *)``;
        output 0-dim, or ``(N, *)`` for ``'none'``.

    Example:
        >>> loss_fn = BinaryFocalLoss(gamma=2.0, alpha=0.25)
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
        >>> round(loss.item(), 4)
        0.1011
        >>> loss.backward()
    """

    buffer_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {"pos_weight": _checked_pos_weight}

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | None = 0.25,
        reduction: Reduction = "mean",
        pos_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.gamma = check_float("gamma", gamma, min=0.0)
        self.alpha = _binary_alpha(alpha)
        self.reduction = check_reduction(reduction)
        self.pos_weight = pos_weight

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        return binary_focal_loss_core(
            input,
            target,
            gamma=self.gamma,
            alpha=self.alpha,
            reduction=self.reduction,  # type: ignore[arg-type]  # reduction was checked to be one of the Literal's values
            pos_weight=self.pos_weight,
            sample_weight=sample_weight,
            pos_weight_checked=True,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}"
