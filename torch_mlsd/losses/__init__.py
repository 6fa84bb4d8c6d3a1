"""Losses for imbalanced classification, with ``torch.nn.CrossEntropyLoss``'s semantics.

- :func:`cross_entropy` / :class:`CrossEntropyLoss`: class- and sample-weighted
  cross-entropy for class ids and probability (mixup/cutmix) targets, one weighted mean.
- :func:`focal_loss` / :class:`FocalLoss`: softmax focal loss with per-class ``alpha``,
  ``weight``, ``ignore_index``, label smoothing and soft targets; ``gamma=0`` is CE.
- :func:`binary_focal_loss` / :class:`BinaryFocalLoss`: sigmoid focal loss (torchvision's
  convention), fused value + gradient.
- :func:`logit_adjusted_loss` / :class:`LogitAdjustedLoss`, :func:`balanced_softmax_loss` /
  :class:`BalancedSoftmaxLoss`, :func:`adjust_logits`: prior-corrected training and inference.
"""

from torch_mlsd.losses.binary_focal import BinaryFocalLoss, binary_focal_loss
from torch_mlsd.losses.cross_entropy import CrossEntropyLoss, cross_entropy
from torch_mlsd.losses.focal import FocalLoss, focal_loss
from torch_mlsd.losses.logit_adjusted import (
    BalancedSoftmaxLoss,
    LogitAdjustedLoss,
    adjust_logits,
    balanced_softmax_loss,
    logit_adjusted_loss,
)

__all__ = [
    "cross_entropy",
    "CrossEntropyLoss",
    "focal_loss",
    "FocalLoss",
    "binary_focal_loss",
    "BinaryFocalLoss",
    "logit_adjusted_loss",
    "LogitAdjustedLoss",
    "balanced_softmax_loss",
    "BalancedSoftmaxLoss",
    "adjust_logits",
]
