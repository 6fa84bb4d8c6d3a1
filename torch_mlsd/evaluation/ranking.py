"""Ranking metrics in torch, as scikit-learn's: ROC-AUC and average precision.

Both take ``y_true`` first, work on the tensors' device, sort once per score column and
return ``float64`` tensors; undefined values follow the ``zero_division`` policy of
:mod:`torch_mlsd.evaluation.metrics`.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from .._validate import check_choice, check_tensor, describe
from ._inputs import (
    ZeroDivision,
    as_labels,
    as_sample_weight,
    average_values,
    fill_undefined,
    same_device,
    unique_counts,
    zero_division_value,
)
from ._ranking import rank_scores

__all__ = ["roc_auc_score", "average_precision_score"]


def _as_scores(value: Any, y_true: torch.Tensor) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=torch.float64)
    check_tensor("y_score", value, ndim=(1, 2), dtypes="numeric")
    if value.shape[0] != y_true.shape[0]:
        raise ValueError(f"`y_score` must have {y_true.shape[0]} rows like `y_true`, got shape {tuple(value.shape)}")
    same_device(y_true, y_score=value)
    if not value.dtype.is_floating_point:
        value = value.double()
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"`y_score` must be finite, got NaN or inf in {describe(value)}")
    return value



def _ranking_score(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None,
    sample_weight: Any,
    zero_division: ZeroDivision,
    kind: str,
    pos_label: int | None,
) -> torch.Tensor:
    y_true = as_labels("y_true", y_true)
    scores = _as_scores(y_score, y_true)
    if average is not None:
        check_choice("average", average, ("macro", "weighted"))
    fill = zero_division_value(zero_division)
    weight = as_sample_weight(sample_weight, y_true)
    if scores.ndim == 1:  # binary: as scikit-learn, more classes or a pos_label not among two raise
        present = unique_counts(y_true)[0].tolist()
        if len(present) > 2:
            raise ValueError(
                f"`y_true` has {len(present)} classes: pass `y_score` of shape (N, C) for one-vs-rest scores"
            )
        if pos_label is None:  # ROC-AUC: the larger of the two labels is positive
            pos_label = present[-1]
        elif len(present) == 2 and pos_label not in present:
            raise ValueError(f"`pos_label` must be one of the labels {present} of `y_true`, got {pos_label!r}")
        return fill_undefined(rank_scores(scores[None], (y_true == pos_label)[None], weight, kind)[0], fill)
    if pos_label is not None and pos_label != 1:
        raise ValueError(
            f"`pos_label` is fixed to 1 for `y_score` of shape (N, C) (one-vs-rest), got {pos_label!r}: do not set it"
        )
    n_classes = scores.shape[1]
    if bool((y_true < 0).any()) or bool((y_true >= n_classes).any()):
        raise ValueError(
            f"`y_true` must hold class indices in [0, {n_classes}) for `y_score` of shape {tuple(scores.shape)}"
        )
    classes = torch.arange(n_classes, device=y_true.device)
    positive = y_true[None, :] == classes[:, None]
    values = fill_undefined(rank_scores(scores.T, positive, weight, kind), fill)
    support = positive.double() @ (weight if weight is not None else torch.ones_like(y_true, dtype=torch.float64))
    return average_values(values, support, average, fill)


def roc_auc_score(
    y_true: torch.Tensor,
    y_score: torch.Tensor,
    *,
    average: Literal["macro", "weighted"] | None = "macro",
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting 1/2 (equal to scikit-learn's trapezoidal area).

    Args:
        y_true: ``(N,)`` labels. With 1-D scores: two classes, the larger one positive.
            With ``(N, C)`` scores: class indices in ``[0, C)``.
        y_score: ``(N,)`` scores for the positive class, or ``(N, C)`` per-class scores
            scored one-vs-rest (rows need not sum to 1).
        average: for ``(N, C)`` scores: ``"macro"`` (mean over classes), ``"weighted"``
            (by class prevalence) or ``None`` (per class).
        sample_weight: optional ``(N,)`` weights.
        zero_division: value when undefined (only one class present, or a class absent
            in one-vs-rest): ``"nan"`` (default) or a number in ``[0, 1]``.
            scikit-learn warns and returns NaN for a single class in binary mode and
            raises for a missing class in one-vs-rest.

    Returns:
        0-d ``float64`` tensor (``(C,)`` with ``average=None``).

    Example:
        >>> roc_auc_score(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
        tensor(0.7500, dtype=torch.float64)
    """
    return _ranking_score(
        y_true, y_score, average=average, sample_weight=sample_weight, zero_division=zero_division, kind="roc",
        pos_label=None,
    )


def average_precision_score(
    y_true: torch.Tensor,
    y_score: torch.Tensor,
    *,
    average: Literal["macro", "weighted"] | None = "macro",
    pos_label: int = 1,
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """Average precision (area under the precision-recall curve as scikit-learn
    computes it): ``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds.

    Args:
        y_true: ``(N,)`` labels; with 1-D scores at most two classes (more raise, as
            in :func:`roc_auc_score`), ``pos_label`` marking positives; class indices in
            ``[0, C)`` for ``(N, C)`` scores (one-vs-rest).
        y_score: ``(N,)`` or ``(N, C)`` scores.
        average: ``"macro"``, ``"weighted"`` or ``None`` for ``(N, C)`` scores.
        pos_label: the positive class with 1-D scores; it must be one of the labels
            when ``y_true`` holds two. With ``(N, C)`` scores it is fixed to 1 (another
            value raises, as in scikit-learn).
        sample_weight: optional ``(N,)`` weights.
        zero_division: value when there are no positives: ``"nan"`` (default) or a
            number in ``[0, 1]`` (scikit-learn warns and returns 0.0).

    Returns:
        0-d ``float64`` tensor (``(C,)`` with ``average=None``).

    Example:
        >>> average_precision_score(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8]))
        tensor(0.8333, dtype=torch.float64)
    """
    return _ranking_score(
        y_true, y_score, average=average, sample_weight=sample_weight, zero_division=zero_division, kind="ap",
        pos_label=pos_label,
    )

