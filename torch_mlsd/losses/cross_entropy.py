"""Class-weighted cross-entropy for class ids *and* probability targets (mixup / cutmix output).

``torch.nn.functional.cross_entropy`` averages a class-weighted loss over the *weights* of
the targets when they are class ids, but over the *number* of samples when they are
probabilities, so turning mixup on (one-hot -> soft targets) silently rescales a weighted
loss by the mean class weight. Here both kinds of target use the same weighted mean (see
:mod:`torch_mlsd.losses._common`), and per-sample weights enter it as well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torch_mlsd.losses._common import (
    CrossEntropyOptions,
    Reduction,
    SoftWeightNormalization,
    prepare,
    reduce,
    target_weights,
)

__all__ = ["cross_entropy", "CrossEntropyLoss"]


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    soft_weight_normalization: SoftWeightNormalization = "weights",
) -> torch.Tensor:
    r"""Cross-entropy with class weights, per-sample weights and class-id or probability targets.

    Unreduced, for target ``i`` with smoothed target distribution
    ``q'_i = (1 - eps) q_i + eps / C`` (``q_i`` one-hot for a class id):

        loss_i = s_i * sum_c w_c q'_ic (-log softmax(x_i)_c)

    and ``loss_i = 0`` where the class id equals ``ignore_index``. ``'mean'`` divides the
    sum by ``sum_i s_i v_i`` where ``v_i`` is the class weight the target carries:
    ``w[y_i]`` for a class id (torch's rule), and for probabilities ``sum_c q_ic w_c`` with
    ``soft_weight_normalization="weights"`` (the default: a one-hot probability target then
    gives exactly the class-id loss, smoothing included) or 1 with ``"samples"`` (torch's
    rule for probabilities: divide by N). Without ``weight`` both rules divide by N for
    probability targets, whose rows are taken to sum to 1, as in torch.

    Without ``sample_weight`` this equals :func:`torch.nn.functional.cross_entropy` for
    class ids (any ``weight``, ``ignore_index``, ``label_smoothing``, ``reduction``) and for
    probabilities without ``weight`` or with ``soft_weight_normalization="samples"``.

    Args:
        input: logits, ``(N, C)``, ``(N, C, d1, ...)`` or unbatched ``(C,)``; any float
            dtype (float16/bfloat16 are computed in float32).
        target: class ids ``(N,)`` / ``(N, d1, ...)`` / ``()`` of an integer dtype, or
            probabilities of ``input``'s shape and a float dtype.
        weight: per-class weights ``(C,)``, finite and >= 0. Default: all 1.
        ignore_index: class id whose targets contribute nothing (class-id targets only, as
            in torch). Default: -100.
        reduction: ``'mean'`` (weighted mean above), ``'sum'`` or ``'none'``.
        label_smoothing: eps in ``[0, 1]``; weights act on the smoothing term too, as in torch.
        sample_weight: per-sample weights ``(N,)`` or per-target ``(N, d1, ...)``, >= 0.
        soft_weight_normalization: ``'weights'`` or ``'samples'``, see above; only used
            for probability targets with ``weight``.

    Returns:
        0-dim loss for ``'mean'``/``'sum'``, else ``(N, d1, ...)``; dtype float32 for
        half-precision input, else ``input``'s; on ``input``'s device.

    Example:
        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
        >>> w = torch.tensor([1.0, 4.0, 1.0])
        >>> hard = cross_entropy(logits, torch.tensor([0, 1]), weight=w)
        >>> soft = cross_entropy(logits, torch.eye(3)[[0, 1]], weight=w)
        >>> torch.allclose(hard, soft), round(hard.item(), 4)
        (True, 0.4751)
    """
    return cross_entropy_core(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
        sample_weight=sample_weight,
        soft_weight_normalization=soft_weight_normalization,
        weight_checked=False,
    )


def cross_entropy_core(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None,
    ignore_index: int,
    reduction: Reduction,
    label_smoothing: float,
    sample_weight: torch.Tensor | None,
    soft_weight_normalization: SoftWeightNormalization,
    weight_checked: bool,
) -> torch.Tensor:
    """:func:`cross_entropy`; ``weight_checked`` skips the value checks of a buffer checked when set."""
    batch = prepare(
        input,
        target,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
        soft_weight_normalization=soft_weight_normalization,
        weight_checked=weight_checked,
    )
    torch_rule = batch.sample_weight is None and (
        not batch.soft or batch.weight is None or soft_weight_normalization == "samples"
    )
    loss = F.cross_entropy(
        batch.logits,
        batch.target,
        weight=batch.weight,
        ignore_index=ignore_index,
        reduction=reduction if torch_rule else "none",
        label_smoothing=label_smoothing,
    )
    if torch_rule and reduction != "none":
        return loss
    if batch.sample_weight is not None:
        loss = loss * batch.sample_weight
    weights = target_weights(batch, ignore_index, soft_weight_normalization) if reduction == "mean" else None
    return reduce(loss, weights, reduction, batch.unbatched)


class CrossEntropyLoss(CrossEntropyOptions):
    """Module form of :func:`cross_entropy`; ``weight`` is a buffer (moves with ``.to()``),
    checked when set (also when assigned later), not per call.

    Args:
        weight: per-class weights ``(C,)``, finite and >= 0. Default: all 1.
        ignore_index: class id that contributes nothing. Default: -100.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``. Default: ``'mean'``.
        label_smoothing: in ``[0, 1]``. Default: 0.
        soft_weight_normalization: ``'weights'`` (default) or ``'samples'``.

    Shape:
        input ``(N, C, *)`` or ``(C,)``; target ``(N, *)`` class ids or ``(N, C, *)``
        probabilities; optional ``sample_weight`` ``(N,)`` or ``(N, *)``; output 0-dim or
        ``(N, *)`` for ``'none'``.

    Example:
        >>> loss_fn = CrossEntropyLoss(weight=torch.tensor([1.0, 9.0]), label_smoothing=0.1)
        >>> logits = torch.zeros(4, 2, requires_grad=True)
        >>> loss = loss_fn(logits, torch.tensor([0, 0, 0, 1]))
        >>> round(loss.item(), 4)
        0.7394
        >>> loss.backward()
    """

    def __init__(
        self,
        *,
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

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        return cross_entropy_core(input, target, sample_weight=sample_weight, weight_checked=True, **self.options())
