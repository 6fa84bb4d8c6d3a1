"""Labels in, soft targets out: class ids or probabilities, smoothing, mixing with a partner."""

from __future__ import annotations

import torch
from torch import Tensor

from .._labels import check_class_ids, label_tensor
from .._validate import check_tensor

__all__ = ["check_labels", "target_dtype", "mixed_targets"]


def check_labels(labels: Tensor, batch_size: int, num_classes: int | None) -> int:
    """Check ``labels`` against the batch; return the number of classes ``K``.

    Class ids: an integer ``(B,)`` tensor with values in ``[0, num_classes)``, checked by
    a device-side assertion (no host read; see :func:`torch_mlsd._validate.assert_values`).
    Probabilities: a ``(B, K)`` numeric tensor, ``K == num_classes`` when that is given.
    """
    check_tensor("labels", labels, ndim=(1, 2), dtypes="numeric")
    if labels.shape[0] != batch_size:
        raise ValueError(f"`labels` must have one row per image ({batch_size}), got shape {tuple(labels.shape)}")
    if labels.ndim == 2:
        if num_classes is not None and labels.shape[1] != num_classes:
            raise ValueError(
                f"`labels` must have `num_classes` = {num_classes} columns, got shape {tuple(labels.shape)}"
            )
        return labels.shape[1]
    ids = label_tensor("labels", labels, per_batch=True)  # int64: a narrow dtype cannot wrap num_classes
    if num_classes is None:
        raise ValueError("`num_classes` must be given when `labels` are class ids of shape (B,), got None")
    check_class_ids("labels", ids, num_classes, per_batch=True)
    return num_classes


def target_dtype(images: Tensor, labels: Tensor) -> torch.dtype:
    """float32, or float64 when the images or the soft labels are float64.

    Never a half-precision image dtype: bfloat16 cannot even hold the class ids exactly.
    """
    dtype = torch.float32
    for t in (images, labels):
        if t.dtype.is_floating_point:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def mixed_targets(
    labels: Tensor, own: Tensor, partner: Tensor | None, num_classes: int, label_smoothing: float,
    dtype: torch.dtype, device: torch.device,
) -> Tensor:
    """``(B, K)`` targets ``own * y + (1 - own) * y[partner]`` of smoothed labels.

    ``y`` is the one-hot row of a class id, or the given soft row, smoothed to
    ``y * (1 - eps) + eps / K``; ``own`` ``(B,)`` is the weight of each sample's own label
    and ``partner`` its partner's index (``None``: the previous sample, wrapping). Class
    ids take one ``(B, K)`` allocation: the smoothing floor, plus two scattered weights.
    """
    labels = labels.to(device)
    own = own.to(device=device, dtype=dtype)
    if partner is not None:
        partner = partner.to(device)
    other = labels.roll(1, 0) if partner is None else labels[partner]
    eps = label_smoothing
    if labels.ndim == 1:
        targets = torch.full((labels.shape[0], num_classes), eps / num_classes, dtype=dtype, device=device)
        weights = torch.stack([own, 1.0 - own], dim=1) * (1.0 - eps)
        return targets.scatter_add_(1, torch.stack([labels, other], dim=1).long(), weights)
    y, other = labels.to(dtype), other.to(dtype)
    targets = y * own.unsqueeze(1) + other * (1.0 - own).unsqueeze(1)
    return targets.mul_(1.0 - eps).add_(eps / num_classes) if eps else targets
