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

Checks read no value back per call (README, "Per-call checks"): a module's tensors are
checked when set (:class:`CheckedBuffers`), values that come with a call by
:func:`check_values` on their device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from torch_mlsd._labels import as_int64
from torch_mlsd._validate import (
    as_real_vector,
    assert_values,
    check_choice,
    check_int,
    check_nonnegative_weights,
    check_probability,
    check_tensor,
    describe,
)

Reduction = Literal["mean", "sum", "none"]
SoftWeightNormalization = Literal["weights", "samples"]
REDUCTIONS = ("mean", "sum", "none")
SOFT_WEIGHT_NORMALIZATIONS = ("weights", "samples")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype losses are computed in: float32 for half/bfloat16 input, else the input's."""
    return torch.promote_types(dtype, torch.float32)


def check_values(
    condition: torch.Tensor, message: str, detail: Callable[[], str] | None = None, *, eager: bool = False
) -> None:
    """A value check that reads nothing back to the host unless it fails (see ``assert_values``).

    On the CPU in eager mode a failure raises ``ValueError("<message>, got <detail()>")``:
    the detail (the offending value, a count) is computed only then. ``eager=True`` (for
    checks made once, when a buffer is set) moves ``condition`` to the CPU first, so a
    tensor on any device fails at once with a ``ValueError``.
    """
    if eager:
        condition = condition.cpu()
    if detail is None or torch.compiler.is_compiling():
        assert_values(condition, message)
        return
    try:
        assert_values(condition, message)
    except ValueError:
        raise ValueError(f"{message}, got {detail()}") from None


def check_finite_values(
    name: str, values: torch.Tensor, condition: torch.Tensor | None = None, *, eager: bool = False
) -> None:
    """``values`` must hold no NaN or inf; ``condition`` (0-d bool), when given, is a cheaper test of it."""
    check_values(
        torch.isfinite(values).all() if condition is None else condition,
        f"`{name}` must be finite",
        lambda: f"{int((~torch.isfinite(values)).sum())} NaN/inf entries in {describe(values)}",
        eager=eager,
    )


def check_weight_values(
    name: str, values: torch.Tensor, *, positive_sum: bool = False, eager: bool = False
) -> None:
    """Weights must be finite and >= 0 (and, with ``positive_sum``, not all 0): one pass over them."""
    if values.numel() == 0:
        return
    low, high = torch.aminmax(values.detach())  # NaN, if any, propagates to both
    check_finite_values(name, values, torch.isfinite(low) & torch.isfinite(high), eager=eager)
    check_values(low >= 0, f"`{name}` must be >= 0", lambda: f"{int((values < 0).sum())} negative entries", eager=eager)
    if positive_sum:
        check_values(
            high > 0,
            f"`{name}` must have at least one positive entry",
            lambda: f"all zeros ({values.numel()} entries)",
            eager=eager,
        )


def class_vector(
    name: str, value: Any, num_classes: int, *, device: torch.device, dtype: torch.dtype, checked: bool
) -> torch.Tensor:
    """A per-class vector for one call, ``num_classes`` long, moved to ``device`` and ``dtype``;
    its values are checked on the device (no host read) unless they were ``checked`` when set."""
    vector = as_real_vector(name, value)
    if len(vector) != num_classes:
        raise ValueError(f"`{name}` must have {num_classes} entries (one per class), got {len(vector)}")
    if not checked:
        check_weight_values(name, vector, positive_sum=True)
    return vector.to(device=device, dtype=dtype)


def check_sample_weight(sample_weight: Any, loss_shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Per-sample weights: shape ``loss_shape`` or ``(N,)``; finite and >= 0 (checked on the
    device); returned broadcastable."""
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
    check_weight_values("sample_weight", weights)
    return weights


def check_device(name: str, tensor: torch.Tensor, device: torch.device) -> None:
    """Raise if ``tensor`` is not on ``device``."""
    if tensor.device != device:
        raise ValueError(f"`{name}` must be on the same device as `input` ({device}), got {tensor.device}")


def check_reduction(reduction: Any) -> str:
    """``reduction`` must be 'mean', 'sum' or 'none'."""
    return check_choice("reduction", reduction, REDUCTIONS)


class CheckedBuffers(torch.nn.Module):
    """Base of the loss modules: tensor options checked whenever they are set, never per call.

    ``buffer_checks`` maps an attribute to its check, which runs when the attribute is
    assigned (in ``__init__`` and later) and on the value ``load_state_dict`` brings, and
    returns what to store: a tensor or ``None`` becomes a buffer (it follows
    ``.to(device)``), anything else a plain attribute. ``forward`` then trusts it.
    """

    buffer_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        check = self.buffer_checks.get(name)
        if check is None:
            super().__setattr__(name, value)
            return
        value = check(value)
        if value is None or isinstance(value, torch.Tensor):
            self.__dict__.pop(name, None)
            self.register_buffer(name, value)
        else:
            self._buffers.pop(name, None)
            super().__setattr__(name, value)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        for name, check in self.buffer_checks.items():
            if prefix + name in state_dict:
                check(state_dict[prefix + name])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _optional_class_vector(name: str) -> Callable[[Any], torch.Tensor | None]:
    return lambda value: None if value is None else check_nonnegative_weights(name, value)


class CrossEntropyOptions(CheckedBuffers):
    """Base of the softmax losses: the options they share with ``nn.CrossEntropyLoss``.

    Checks them once, keeps ``weight`` as a buffer (it follows ``.to(device)``; assigning
    it again checks it again), and hands them to the functional core as keyword arguments
    via :meth:`options`.
    """

    buffer_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {"weight": _optional_class_vector("weight")}

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
        self.weight = weight
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
    weight_checked: bool,
) -> Batch:
    """Check every argument of a multi-class loss; upcast to the compute dtype; batch ``(C,)`` input.

    ``weight_checked``: ``weight`` is a module's buffer, whose values were checked when set.
    """
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
        weight = class_vector(
            "weight", weight, num_classes, device=input.device, dtype=dtype, checked=weight_checked
        )
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
    target = as_int64("target", target, per_batch=True)  # checked in int64: no wrap, any integer dtype
    _check_class_ids(target, num_classes, ignore_index)
    return False, target


def _check_class_ids(target: torch.Tensor, num_classes: int, ignore_index: int) -> None:
    ok = ((target >= 0) & (target < num_classes)) | (target == ignore_index)

    def detail() -> str:
        bad = ~ok
        return f"{int(target[bad][0])} ({int(bad.sum())} entries out of range)"

    check_values(ok.all(), f"`target` must hold class ids in [0, {num_classes}) or ignore_index={ignore_index}", detail)


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

