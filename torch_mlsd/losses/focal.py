"""Focal loss (Lin et al. 2017, https://arxiv.org/abs/1708.02002): softmax and sigmoid forms.

``focal_loss`` / ``FocalLoss``: multi-class softmax focal loss with everything
``torch.nn.CrossEntropyLoss`` has (``weight``, ``ignore_index``, ``label_smoothing``,
probability targets, ``(N, C, d1, ...)`` input) plus per-class ``alpha`` and per-sample
weights; ``gamma=0`` is exactly cross-entropy. ``binary_focal_loss`` / ``BinaryFocalLoss``:
sigmoid (multi-label, detection) focal loss with torchvision's alpha convention, computed
by a fused kernel (see :mod:`torch_mlsd.losses._sigmoid_focal`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from torch_mlsd._validate import check_float, check_tensor
from torch_mlsd.losses._common import (
    Batch,
    CheckedBuffers,
    CrossEntropyOptions,
    Reduction,
    SoftWeightNormalization,
    check_device,
    check_reduction,
    check_sample_weight,
    check_values,
    check_weight_values,
    checked_class_vector,
    class_vector,
    compute_dtype,
    prepare,
    reduce,
    target_weights,
)
from torch_mlsd.losses._sigmoid_focal import SigmoidFocalFunction, sigmoid_focal

__all__ = ["focal_loss", "FocalLoss", "binary_focal_loss", "BinaryFocalLoss"]


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
    return checked_class_vector("alpha", alpha)


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
    if not isinstance(pos_weight, torch.Tensor):
        try:
            pos_weight = torch.as_tensor(pos_weight, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"`pos_weight` must be a tensor of real numbers, got {pos_weight!r}") from exc
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
