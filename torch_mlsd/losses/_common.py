"""Argument checks and reductions shared by the multi-class losses.

Every multi-class loss here (cross-entropy, focal, logit-adjusted) reads its arguments the
way ``torch.nn.CrossEntropyLoss`` does and reduces with one rule, the weighted mean:

    mean = sum_i s_i * loss_i / sum_i s_i * v_i

where ``i`` runs over every target (sample, and position for ``(N, C, d1, ...)`` input),
``s_i`` is the per-sample weight (1 without ``sample_weight``) and ``v_i`` the class
weight the target carries: ``weight[y_i]`` for a class id (0 if ignored), and, for a
probability target ``q_i``, ``sum_c q_ic * weight[c]`` (``soft_weight_normalization=
"weights"``) or 1 (``"samples"``, torch's rule for soft targets). Without ``weight`` every
class weight is 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from torch_mlsd._validate import (
    check_choice,
    check_finite,
    check_int,
    check_nonnegative_weights,
    check_probability,
    check_tensor,
)

Reduction = Literal["mean", "sum", "none"]
SoftWeightNormalization = Literal["weights", "samples"]
REDUCTIONS = ("mean", "sum", "none")
SOFT_WEIGHT_NORMALIZATIONS = ("weights", "samples")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype losses are computed in: float32 for half/bfloat16 input, else the input's."""
    return torch.promote_types(dtype, torch.float32)


def check_class_vector(name: str, value: Any, num_classes: int | None = None) -> torch.Tensor:
    """A per-class vector: 1-D, finite, >= 0, not all zero, ``num_classes`` long when given."""
    vector = check_nonnegative_weights(name, value)
    if num_classes is not None and len(vector) != num_classes:
        raise ValueError(f"`{name}` must have {num_classes} entries (one per class), got {len(vector)}")
    return vector


def check_sample_weight(sample_weight: Any, loss_shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Per-sample weights: shape ``loss_shape`` or ``(N,)``; finite and >= 0; returned broadcastable."""
    check_tensor("sample_weight", sample_weight, dtypes="numeric")
    check_device("sample_weight", sample_weight, device)
    shape = tuple(sample_weight.shape)
    if shape == tuple(loss_shape):
        weights = sample_weight
    elif len(loss_shape) >= 1 and shape == (loss_shape[0],):
        weights = sample_weight.reshape(shape + (1,) * (len(loss_shape) - 1))
    else:
        want = f"(N,) = {(loss_shape[0],)} or " if len(loss_shape) >= 1 else ""
        raise ValueError(f"`sample_weight` must have shape {want}{tuple(loss_shape)}, got shape {shape}")
    check_finite("sample_weight", weights)
    if bool((weights < 0).any()):
        raise ValueError(f"`sample_weight` must be >= 0, got {int((weights < 0).sum())} negative entries")
    return weights


def check_device(name: str, tensor: torch.Tensor, device: torch.device) -> None:
    """Raise if ``tensor`` is not on ``device``."""
    if tensor.device != device:
        raise ValueError(f"`{name}` must be on the same device as `input` ({device}), got {tensor.device}")


def check_reduction(reduction: Any) -> str:
    """``reduction`` must be 'mean', 'sum' or 'none'."""
    return check_choice("reduction", reduction, REDUCTIONS)


class CrossEntropyOptions(torch.nn.Module):
    """Base of the softmax losses: the options they share with ``nn.CrossEntropyLoss``.

    Checks them once, keeps ``weight`` as a buffer (it follows ``.to(device)``), and
    hands them to the functional form as keyword arguments via :meth:`options`.
    """

    def __init__(
        self,
        *,
        weight: torch.Tensor | None,
        ignore_index: int,
        reduction: Reduction,
        label_smoothing: float,
        soft_weight_normalization: SoftWeightNormalization,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", None if weight is None else check_class_vector("weight", weight))
        self.ignore_index = check_int("ignore_index", ignore_index)
        self.reduction = check_reduction(reduction)
        self.label_smoothing = check_probability("label_smoothing", label_smoothing)
        self.soft_weight_normalization = check_choice(
            "soft_weight_normalization", soft_weight_normalization, SOFT_WEIGHT_NORMALIZATIONS
        )

    def options(self) -> dict[str, Any]:
        """The shared options as keyword arguments of the functional forms."""
        return {
            "weight": self.weight,
            "ignore_index": self.ignore_index,
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
            "soft_weight_normalization": self.soft_weight_normalization,
        }

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"label_smoothing={self.label_smoothing}, soft_weight_normalization={self.soft_weight_normalization!r}"
        )


@dataclass(frozen=True)
class Batch:
    """Validated multi-class arguments, always batched: ``logits (N, C, *)``.

    ``target`` is ``(N, *)`` int64 class ids or ``(N, C, *)`` probabilities in the compute
    dtype; ``weight`` is ``(C,)`` in the compute dtype; ``sample_weight`` broadcasts to
    ``(N, *)``. ``unbatched`` records a ``(C,)`` input, whose unreduced loss is 0-dim.
    """

    logits: torch.Tensor
    target: torch.Tensor
    soft: bool
    weight: torch.Tensor | None
    sample_weight: torch.Tensor | None
    unbatched: bool

    @property
    def num_classes(self) -> int:
        return self.logits.shape[1]

    def per_class(self, vector: torch.Tensor) -> torch.Tensor:
        """View a ``(C,)`` vector so it broadcasts along the class dim of ``(N, C, *)``."""
        return vector.view((1, -1) + (1,) * (self.logits.ndim - 2))


def prepare(
    input: Any,
    target: Any,
    *,
    weight: Any,
    sample_weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    soft_weight_normalization: Any,
) -> Batch:
    """Check every argument of a multi-class loss; upcast to the compute dtype; batch ``(C,)`` input."""
    check_reduction(reduction)
    check_choice("soft_weight_normalization", soft_weight_normalization, SOFT_WEIGHT_NORMALIZATIONS)
    check_int("ignore_index", ignore_index)
    check_probability("label_smoothing", label_smoothing)
    check_tensor("input", input, dtypes="float")
    if input.ndim == 0 or input.shape[min(1, input.ndim - 1)] == 0:
        raise ValueError(
            f"`input` must have shape (C,), (N, C) or (N, C, d1, ...) with C >= 1, got shape {tuple(input.shape)}"
        )
    unbatched = input.ndim == 1
    dtype = compute_dtype(input.dtype)
    num_classes = input.shape[0 if unbatched else 1]
    loss_shape = torch.Size() if unbatched else input.shape[:1] + input.shape[2:]
    soft, target = _checked_target(target, input, loss_shape, ignore_index)
    if weight is not None:
        weight = check_class_vector("weight", weight, num_classes).to(device=input.device, dtype=dtype)
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, loss_shape, input.device).to(dtype)
    if unbatched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
        sample_weight = sample_weight.reshape(1) if sample_weight is not None else None
    return Batch(input.to(dtype), target.to(dtype) if soft else target, soft, weight, sample_weight, unbatched)


def _checked_target(
    target: Any, input: torch.Tensor, loss_shape: torch.Size, ignore_index: int
) -> tuple[bool, torch.Tensor]:
    """(is it probabilities, target): float -> probabilities of ``input``'s shape, integer -> class ids."""
    check_tensor("target", target)
    check_device("target", target, input.device)
    if target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise ValueError(
                f"`target` holding probabilities must have the shape of `input` {tuple(input.shape)}, "
                f"got shape {tuple(target.shape)}"
            )
        return True, target
    check_tensor("target", target, dtypes="integer")
    if target.shape != loss_shape:
        raise ValueError(
            f"`target` holding class ids must have shape {tuple(loss_shape)} for `input` of shape "
            f"{tuple(input.shape)}, got shape {tuple(target.shape)}"
        )
    num_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    _check_class_ids(target, num_classes, ignore_index)
    return False, target.long()


def _check_class_ids(target: torch.Tensor, num_classes: int, ignore_index: int) -> None:
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bool(bad.any()):
        value = int(target[bad][0])
        raise ValueError(
            f"`target` must hold class ids in [0, {num_classes}) or ignore_index={ignore_index}, "
            f"got {value} ({int(bad.sum())} entries out of range)"
        )


def target_weights(batch: Batch, ignore_index: int, soft_weight_normalization: str) -> torch.Tensor | None:
    """The weight ``s_i * v_i`` each target carries in the weighted mean; ``None`` means 1 for all."""
    if batch.soft:
        if batch.weight is not None and soft_weight_normalization == "weights":
            carried = (batch.target * batch.per_class(batch.weight)).sum(1)
        else:
            carried = None
    else:
        valid = batch.target != ignore_index
        if batch.weight is not None:
            carried = batch.weight[batch.target.clamp(0, batch.num_classes - 1)] * valid
        else:
            carried = valid.to(batch.logits.dtype)
    if batch.sample_weight is None:
        return carried
    return batch.sample_weight if carried is None else carried * batch.sample_weight


def reduce(loss: torch.Tensor, weights: torch.Tensor | None, reduction: str, unbatched: bool) -> torch.Tensor:
    """Apply ``reduction`` to per-target losses ``(N, *)`` (already multiplied by ``sample_weight``)."""
    if reduction == "none":
        return loss.squeeze(0) if unbatched else loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weights is None:
        return total / loss.numel()
    return total / weights.expand_as(loss).sum()

