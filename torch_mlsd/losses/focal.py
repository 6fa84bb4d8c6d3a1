"""Softmax focal loss (Lin et al. 2017, https://arxiv.org/abs/1708.02002).

``focal_loss`` / ``FocalLoss``: multi-class softmax focal loss with everything
``torch.nn.CrossEntropyLoss`` has (``weight``, ``ignore_index``, ``label_smoothing``,
probability targets, ``(N, C, d1, ...)`` input) plus per-class ``alpha`` and per-sample
weights; ``gamma=0`` is exactly cross-entropy. The sigmoid form is in
:mod:`torch_mlsd.losses.binary_focal`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from torch_mlsd._validate import check_float, check_nonnegative_weights, check_tensor
from torch_mlsd.losses._common import (
    Batch,
    CrossEntropyOptions,
    Reduction,
    SoftWeightNormalization,
    check_values,
    class_vector,
    prepare,
    reduce,
    target_weights,
)

__all__ = ["focal_loss", "FocalLoss"]


class _FocalTerm(torch.autograd.Function):
    """``-(1 - p)^gamma log p`` from ``log p``, elementwise, with a closed-form gradient.

    ``1 - p`` is ``-expm1(log p)`` (no cancellation near p = 1). The derivative in ``log p``,
    ``(1 - p)^gamma (gamma p log p / (1 - p) - 1)``, is finite for every gamma >= 0: at
    p = 1 the ratio ``p log p / (1 - p)`` takes its limit -1, where autograd through
    ``(1 - p)^gamma`` would give inf * 0 = NaN for gamma < 1; at p = 0 (a -inf logit)
    ``p log p`` is 0.
    """

    @staticmethod
    def forward(ctx: Any, log_p: torch.Tensor, gamma: float) -> torch.Tensor:
        ctx.gamma = gamma
        ctx.save_for_backward(log_p)
        if gamma == 0:
            return -log_p
        return torch.expm1(log_p).neg_().pow_(gamma).mul_(log_p).neg_()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (log_p,) = ctx.saved_tensors
        gamma = ctx.gamma
        if gamma == 0:
            return -grad, None
        one_minus_p = torch.expm1(log_p).neg_()
        p_log_p = torch.where(log_p > -math.inf, log_p.exp() * log_p, 0.0)
        ratio = torch.where(one_minus_p > 0, p_log_p / one_minus_p, -1.0)
        return grad * one_minus_p.pow(gamma) * (gamma * ratio - 1.0), None


def focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: float | torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    soft_weight_normalization: SoftWeightNormalization = "weights",
) -> torch.Tensor:
    r"""Softmax focal loss: cross-entropy with each class term scaled by ``alpha_c (1 - p_c)^gamma``.

    Unreduced, with ``p = softmax(x_i)`` and the (smoothed) target distribution
    ``q'_i = (1 - eps) q_i + eps / C`` (``q_i`` one-hot for a class id):

        loss_i = s_i * sum_c q'_ic * alpha_c * w_c * (1 - p_c)^gamma * (-log p_c)

    For a class id ``y`` without smoothing this is ``-s alpha_y w_y (1 - p_y)^gamma log p_y``;
    ignored targets give 0. The loss is linear in the target distribution, so a one-hot
    probability target gives exactly the class-id loss, a mixup target ``lam e_a +
    (1 - lam) e_b`` gives ``lam loss(a) + (1 - lam) loss(b)`` (the mixup criterion) and
    label smoothing needs no special case. (The alternative ``(1 - sum_c q_c p_c)^gamma``
    has none of these properties.) ``gamma=0`` with ``alpha=None`` is cross-entropy:
    identical to :func:`torch_mlsd.losses.cross_entropy`, hence to
    :func:`torch.nn.functional.cross_entropy` wherever that one applies.

    ``alpha`` and ``weight`` both scale class terms, but only ``weight`` enters the
    ``'mean'`` normaliser (exactly as in ``nn.CrossEntropyLoss``, see
    :func:`~torch_mlsd.losses.cross_entropy`): ``alpha`` is the paper's balancing factor,
    ``weight`` torch's class weight. A **scalar** ``alpha`` multiplies every class alike
    (a plain scale: it favours no class, unlike the binary convention); pass a ``(C,)``
    vector to weight classes.

    Computed in float32 for float16/bfloat16 input, from ``log_softmax`` (never
    ``exp(-CE)``), with a gradient that is finite at ``p = 1`` for any ``gamma >= 0``.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float.
        target: class ids ``(N, d1, ...)`` (integer dtype) or probabilities of ``input``'s
            shape (float dtype).
        gamma: focusing parameter >= 0. Default: 2.
        alpha: ``None`` (no balancing), a scalar > 0 (uniform scale) or a ``(C,)`` vector >= 0.
        weight: ``(C,)`` class weights >= 0, as in ``nn.CrossEntropyLoss``.
        ignore_index: class id whose targets contribute nothing. Default: -100.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        label_smoothing: eps in ``[0, 1]``. Default: 0.
        sample_weight: ``(N,)`` or ``(N, d1, ...)`` weights >= 0 (in the mean's normaliser).
        soft_weight_normalization: ``'weights'`` (default) or ``'samples'``: the mean's
            normaliser for probability targets with ``weight``, as in
            :func:`~torch_mlsd.losses.cross_entropy`.

    Returns:
        0-dim loss, or ``(N, d1, ...)`` for ``'none'``; float32 for half input.

    Example:
        >>> logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]], requires_grad=True)
        >>> target = torch.tensor([0, 1])
        >>> loss = focal_loss(logits, target, gamma=2.0, alpha=torch.tensor([0.25, 0.75, 0.75]))
        >>> round(loss.item(), 4)
        0.0896
        >>> loss.backward()
        >>> ce = torch.nn.functional.cross_entropy(logits, target)
        >>> torch.allclose(focal_loss(logits, target, gamma=0), ce)
        True
    """
    return focal_loss_core(
        input,
        target,
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        sample_weight=sample_weight,
        soft_weight_normalization=soft_weight_normalization,
        checked=False,
    )


def focal_loss_core(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float,
    alpha: float | torch.Tensor | None,
    weight: torch.Tensor | None,
    ignore_index: int,
    reduction: Reduction,
    label_smoothing: float,
    sample_weight: torch.Tensor | None,
    soft_weight_normalization: SoftWeightNormalization,
    checked: bool,
) -> torch.Tensor:
    """:func:`focal_loss`; ``checked`` skips the value checks of ``alpha`` and ``weight``
    buffers checked when set."""
    batch = prepare(
        input,
        target,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        soft_weight_normalization=soft_weight_normalization,
        weight_checked=checked,
    )
    gamma = check_float("gamma", gamma, min=0.0)
    alpha_scale, alpha_vector = _alpha_for_call(alpha, batch, checked)
    class_scale = batch.weight
    if alpha_vector is not None:
        class_scale = alpha_vector if class_scale is None else alpha_vector * class_scale
    loss = _per_target_loss(batch, gamma, class_scale, ignore_index, label_smoothing)
    if alpha_scale is not None:
        loss = loss * alpha_scale
    if batch.sample_weight is not None:
        loss = loss * batch.sample_weight
    weights = target_weights(batch, ignore_index, soft_weight_normalization) if reduction == "mean" else None
    return reduce(loss, weights, reduction, batch.unbatched)


def _per_target_loss(
    batch: Batch, gamma: float, class_scale: torch.Tensor | None, ignore_index: int, label_smoothing: float
) -> torch.Tensor:
    """``sum_c q'_c alpha_c w_c FL_c`` per target ``(N, *)``; 0 for ignored class ids."""
    log_p = F.log_softmax(batch.logits, dim=1)
    eps, num_classes = label_smoothing, batch.num_classes
    if batch.soft:
        q = batch.target if not eps else batch.target * (1 - eps) + eps / num_classes
        return (q * _class_terms(log_p, gamma, class_scale, batch)).sum(1)
    index = batch.target.clamp(0, num_classes - 1).unsqueeze(1)
    if eps:
        terms = _class_terms(log_p, gamma, class_scale, batch)
        loss = (1 - eps) * terms.gather(1, index).squeeze(1) + eps / num_classes * terms.sum(1)
    else:  # only the target class's term is needed
        loss = _FocalTerm.apply(log_p.gather(1, index).squeeze(1), gamma)
        if class_scale is not None:
            loss = loss * class_scale[index.squeeze(1)]
    return torch.where(batch.target != ignore_index, loss, 0.0)


def _class_terms(log_p: torch.Tensor, gamma: float, class_scale: torch.Tensor | None, batch: Batch) -> torch.Tensor:
    """Every class's focal term ``(N, C, *)``, times ``alpha_c w_c`` when given."""
    terms = _FocalTerm.apply(log_p, gamma)
    return terms if class_scale is None else terms * batch.per_class(class_scale)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _alpha_for_call(
    alpha: Any, batch: Batch, checked: bool
) -> tuple[float | torch.Tensor | None, torch.Tensor | None]:
    """(uniform scale, per-class vector) from ``alpha``, in the compute dtype; at most one is not None.

    A 0-d tensor stays a tensor (its value is checked on the device, never read back).
    """
    if alpha is None:
        return None, None
    if _is_real(alpha):
        return check_float("alpha", alpha, min=0.0, min_open=True), None
    like = batch.logits
    if isinstance(alpha, torch.Tensor) and alpha.ndim == 0:
        check_tensor("alpha", alpha, dtypes="numeric")
        check_values(torch.isfinite(alpha), "`alpha` must be finite", lambda: repr(alpha.item()))
        check_values(alpha > 0, "`alpha` must be > 0.0", lambda: repr(alpha.item()))
        return alpha.to(device=like.device, dtype=like.dtype), None
    vector = class_vector("alpha", alpha, batch.num_classes, device=like.device, dtype=like.dtype, checked=checked)
    return None, vector


def _checked_alpha(alpha: Any) -> float | torch.Tensor | None:
    """``FocalLoss.alpha`` when set: ``None``, a float > 0 (a 0-d tensor is read once) or a class vector."""
    if isinstance(alpha, torch.Tensor) and alpha.ndim == 0:
        alpha = alpha.item()
    if alpha is None or _is_real(alpha):
        return check_float("alpha", alpha, min=0.0, min_open=True, allow_none=True)
    return check_nonnegative_weights("alpha", alpha)


class FocalLoss(CrossEntropyOptions):
    """Module form of :func:`focal_loss`; ``weight`` and a vector ``alpha`` are buffers,
    checked when set (also when assigned later), not per call.

    Args:
        gamma: focusing parameter >= 0. Default: 2.
        alpha: ``None``, a scalar > 0 (uniform scale) or a ``(C,)`` vector >= 0.
        weight: ``(C,)`` class weights, as in ``nn.CrossEntropyLoss``.
        ignore_index: class id that contributes nothing. Default: -100.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        label_smoothing: in ``[0, 1]``. Default: 0.
        soft_weight_normalization: ``'weights'`` (default) or ``'samples'``.

    Shape:
        input ``(N, C, *)`` or ``(C,)``; target ``(N, *)`` class ids or ``(N, C, *)``
        probabilities; ``sample_weight`` ``(N,)`` or ``(N, *)``; output 0-dim or ``(N, *)``.

    Example:
        >>> loss_fn = FocalLoss(gamma=2.0, alpha=torch.tensor([0.25, 0.75]), ignore_index=-1)
        >>> logits = torch.zeros(3, 2, requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([0, 1, -1]))
        >>> round(loss.item(), 4)
        0.0866
        >>> loss.backward()
    """

    buffer_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {
        **CrossEntropyOptions.buffer_checks,
        "alpha": _checked_alpha,
    }

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | torch.Tensor | None = None,
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
        self.gamma = check_float("gamma", gamma, min=0.0)
        self.alpha = alpha

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        return focal_loss_core(
            input,
            target,
            gamma=self.gamma,
            alpha=self.alpha,
            sample_weight=sample_weight,
            checked=True,
            **self.options(),
        )

    def extra_repr(self) -> str:
        alpha = "vector" if isinstance(self.alpha, torch.Tensor) else self.alpha
        return f"gamma={self.gamma}, alpha={alpha}, " + super().extra_repr()
