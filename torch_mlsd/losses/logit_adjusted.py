"""Logit adjustment (Menon et al. 2021) and balanced softmax (Ren et al. 2020) for long-tailed data.

Both train with cross-entropy on logits shifted by the log class prior, so the network's
raw logits estimate the *balanced* (uniform-prior) posterior:

- logit-adjusted loss, https://arxiv.org/abs/2007.07314: ``CE(x + tau * log pi, y)``;
- balanced softmax, https://arxiv.org/abs/2007.10740: ``CE(x + log n, y)``, i.e. the
  logit-adjusted loss with ``tau = 1`` (``log n`` and ``log pi`` differ by a constant,
  which softmax ignores).

At inference use the raw logits. A model trained with plain cross-entropy can instead be
corrected after training with :func:`adjust_logits` (``x - tau * log pi``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from torch_mlsd._validate import as_real_vector, check_float, check_tensor
from torch_mlsd.losses._common import (
    CrossEntropyOptions,
    Reduction,
    SoftWeightNormalization,
    check_finite_values,
    check_values,
    compute_dtype,
)
from torch_mlsd.losses.cross_entropy import cross_entropy_core

__all__ = [
    "adjust_logits",
    "logit_adjusted_loss",
    "LogitAdjustedLoss",
    "balanced_softmax_loss",
    "BalancedSoftmaxLoss",
]

_PRIOR_SUM_TOLERANCE = 1e-3


def _log_class_prior(class_prior: Any = None, class_counts: Any = None, *, eager: bool) -> torch.Tensor:
    """``log pi`` ``(C,)`` float64 from exactly one of a prior (> 0, sums to 1) or counts (> 0).

    The values are checked on their device with no host read (``eager``: at once, on the
    host, for a buffer checked when set).
    """
    if (class_prior is None) == (class_counts is None):
        raise ValueError("pass exactly one of `class_prior` or `class_counts`")
    name, values = ("class_prior", class_prior) if class_prior is not None else ("class_counts", class_counts)
    values = as_real_vector(name, values).detach().to(torch.float64)
    if len(values) == 0:
        raise ValueError(f"`{name}` must have at least one class, got an empty tensor")
    check_finite_values(name, values, eager=eager)
    positive = values > 0

    def which_class() -> str:
        nonpositive = torch.nonzero(~positive).flatten()
        c = int(nonpositive[0])
        what = "examples" if name == "class_counts" else "probability"
        return f"{values[c].item()!r} for class {c} ({len(nonpositive)} class(es) with no {what})"

    check_values(positive.all(), f"`{name}` must be > 0 for every class", which_class, eager=eager)
    total = values.sum()
    if name == "class_prior":
        check_values(
            (total - 1.0).abs() <= _PRIOR_SUM_TOLERANCE,
            f"`class_prior` must sum to 1 (within {_PRIOR_SUM_TOLERANCE})",
            lambda: f"{total.item()!r}; pass `class_counts` to normalise counts",
            eager=eager,
        )
    return values.log() - total.log()


def _checked_log_prior(log_prior: Any) -> torch.Tensor:
    """``LogitAdjustedLoss.log_prior`` when set: a finite 1-D vector (``log pi`` up to a constant)."""
    log_prior = as_real_vector("log_prior", log_prior)
    check_finite_values("log_prior", log_prior, eager=True)
    return log_prior


def adjust_logits(
    logits: torch.Tensor,
    *,
    class_prior: torch.Tensor | None = None,
    class_counts: torch.Tensor | None = None,
    tau: float = 1.0,
) -> torch.Tensor:
    """Post-hoc logit adjustment: ``logits - tau * log pi`` (Menon et al. 2021, eq. 3).

    Turns the logits of a model trained with plain cross-entropy into balanced-posterior
    scores (argmax favours rare classes by ``tau * log(pi_common / pi_rare)``).

    Args:
        logits: ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float.
        class_prior: training class frequencies ``(C,)``, > 0 and summing to 1; or
        class_counts: training class counts ``(C,)``, > 0 (exactly one of the two).
        tau: strength >= 0. Default: 1.

    Returns:
        Adjusted logits, ``logits``' shape, dtype and device.

    Example:
        >>> adjust_logits(torch.tensor([[2.0, 1.0]]), class_counts=torch.tensor([90, 10]))
        tensor([[2.1054, 3.3026]])
    """
    check_tensor("logits", logits, dtypes="float")
    log_prior = _log_prior_for(class_prior, class_counts, logits)
    tau = check_float("tau", tau, min=0.0)
    return logits - (tau * _class_view(log_prior, logits)).to(logits.dtype)


def logit_adjusted_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    class_prior: torch.Tensor | None = None,
    class_counts: torch.Tensor | None = None,
    tau: float = 1.0,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    soft_weight_normalization: SoftWeightNormalization = "weights",
) -> torch.Tensor:
    """Logit-adjusted cross-entropy: :func:`~torch_mlsd.losses.cross_entropy` of ``input + tau * log pi``.

    Menon et al. 2021 (https://arxiv.org/abs/2007.07314): training on prior-shifted logits
    makes the raw logits consistent for the balanced error; use them unadjusted at
    inference. With a uniform prior (or ``tau=0``) this is plain cross-entropy.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        target: class ids or probabilities, as in :func:`~torch_mlsd.losses.cross_entropy`.
        class_prior: training class frequencies ``(C,)``, > 0, summing to 1; or
        class_counts: training class counts ``(C,)``, > 0 (exactly one of the two).
        tau: temperature >= 0. Default: 1 (the paper's choice).
        weight, ignore_index, reduction, label_smoothing, sample_weight,
        soft_weight_normalization: as in :func:`~torch_mlsd.losses.cross_entropy`.

    Returns:
        0-dim loss, or ``(N, d1, ...)`` for ``'none'``.

    Example:
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> loss = logit_adjusted_loss(logits, torch.tensor([0, 2]), class_counts=[80, 15, 5])
        >>> round(loss.item(), 4)
        1.6094
        >>> loss.backward()
    """
    check_tensor("input", input, dtypes="float")
    log_prior = _log_prior_for(class_prior, class_counts, input)
    tau = check_float("tau", tau, min=0.0)
    return _adjusted_cross_entropy(
        input,
        target,
        tau * log_prior,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        sample_weight=sample_weight,
        soft_weight_normalization=soft_weight_normalization,
        weight_checked=False,
    )


def balanced_softmax_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    class_counts: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    soft_weight_normalization: SoftWeightNormalization = "weights",
) -> torch.Tensor:
    """Balanced softmax loss (Ren et al. 2020): cross-entropy of ``input + log n_c``.

    The same as :func:`logit_adjusted_loss` with ``tau=1`` and these ``class_counts``.

    Example:
        >>> logits = torch.zeros(2, 3)
        >>> round(balanced_softmax_loss(logits, torch.tensor([0, 2]), class_counts=[80, 15, 5]).item(), 4)
        1.6094
    """
    return logit_adjusted_loss(
        input,
        target,
        class_counts=class_counts,
        tau=1.0,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        sample_weight=sample_weight,
        soft_weight_normalization=soft_weight_normalization,
    )


def _log_prior_for(class_prior: Any, class_counts: Any, logits: torch.Tensor) -> torch.Tensor:
    """``log pi`` for one call, checked per call (no host read) and against ``logits``' classes."""
    log_prior = _log_class_prior(class_prior, class_counts, eager=False)
    if logits.ndim == 0:
        raise ValueError("`input` must have shape (C,), (N, C) or (N, C, d1, ...), got a 0-dim tensor")
    num_classes = logits.shape[1] if logits.ndim >= 2 else logits.shape[0]
    if num_classes != len(log_prior):
        name = "class_prior" if class_prior is not None else "class_counts"
        raise ValueError(
            f"`{name}` must have one entry per class ({num_classes} for logits of shape "
            f"{tuple(logits.shape)}), got {len(log_prior)}"
        )
    return log_prior


def _class_view(vector: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``(C,)`` on ``logits``' device, shaped to broadcast along its class dim."""
    shape = (-1,) if logits.ndim == 1 else (1, -1) + (1,) * (logits.ndim - 2)
    return vector.to(logits.device).view(shape)


def _adjusted_cross_entropy(
    input: torch.Tensor, target: torch.Tensor, shift: torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """Cross-entropy of ``input + shift`` with the shift in the loss's compute dtype."""
    shifted = input + _class_view(shift, input).to(compute_dtype(input.dtype))
    return cross_entropy_core(shifted, target, **kwargs)


class LogitAdjustedLoss(CrossEntropyOptions):
    """Module form of :func:`logit_adjusted_loss`; ``log_prior`` and ``weight`` are buffers,
    checked when set (also when assigned later), not per call.

    Args:
        class_prior / class_counts: exactly one, ``(C,)``, all > 0 (a prior sums to 1).
        tau: temperature >= 0. Default: 1.
        weight, ignore_index, reduction, label_smoothing, soft_weight_normalization: as in
            :class:`~torch_mlsd.losses.CrossEntropyLoss`.

    Shape:
        as :class:`~torch_mlsd.losses.CrossEntropyLoss`.

    Example:
        >>> loss_fn = LogitAdjustedLoss(class_counts=torch.tensor([900, 100]), tau=1.0)
        >>> logits = torch.zeros(2, 2, requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([0, 1]))
        >>> loss.backward()
        >>> logits.grad[1, 1] < 0  # the rare class is pushed up harder
        tensor(True)
    """

    buffer_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {
        **CrossEntropyOptions.buffer_checks,
        "log_prior": _checked_log_prior,
    }

    def __init__(
        self,
        *,
        class_prior: torch.Tensor | None = None,
        class_counts: torch.Tensor | None = None,
        tau: float = 1.0,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        soft_weight_normalization: SoftWeightNormalization = "weights",
    ) -> None:
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            soft_weight_normalization=soft_weight_normalization,
        )
        self.log_prior = _log_class_prior(class_prior, class_counts, eager=True)  # float64, cast per call
        self.tau = check_float("tau", tau, min=0.0)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_tensor("input", input, dtypes="float")
        num_classes = input.shape[1] if input.ndim >= 2 else input.shape[-1] if input.ndim else 0
        if num_classes != len(self.log_prior):
            raise ValueError(
                f"`input` must have {len(self.log_prior)} classes (the length of the class prior), "
                f"got shape {tuple(input.shape)}"
            )
        return _adjusted_cross_entropy(
            input, target, self.tau * self.log_prior, sample_weight=sample_weight, weight_checked=True, **self.options()
        )

    def extra_repr(self) -> str:
        return f"num_classes={len(self.log_prior)}, tau={self.tau}, reduction={self.reduction!r}"


class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Module form of :func:`balanced_softmax_loss` (``LogitAdjustedLoss`` with ``tau=1``).

    Example:
        >>> loss_fn = BalancedSoftmaxLoss(class_counts=[900, 100])
        >>> round(loss_fn(torch.zeros(1, 2), torch.tensor([1])).item(), 4)
        2.3026
    """

    def __init__(
        self,
        *,
        class_counts: torch.Tensor,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        soft_weight_normalization: SoftWeightNormalization = "weights",
    ) -> None:
        super().__init__(
            class_counts=class_counts,
            tau=1.0,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            soft_weight_normalization=soft_weight_normalization,
        )
