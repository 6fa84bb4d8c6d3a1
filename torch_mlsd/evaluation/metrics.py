"""Classification metrics in torch, named and ordered as scikit-learn's.

Every function takes ``y_true`` first, works on the tensors' device, is vectorised
(counts by ``bincount``, rankings by one ``sort``) and returns ``float64`` tensors: 0-d
for an averaged score, ``(C,)`` per class with ``average=None``.

Undefined values: the ``zero_division`` policy
-----------------------------------------------
A ratio whose denominator is zero (precision with no predicted positives, recall with no
true positives, ROC-AUC with one class, average precision with no positives) is
*undefined*. ``zero_division="nan"`` (the default) returns NaN, as the lecture's table
does; a number in ``[0, 1]`` returns that number instead.

The F-score follows scikit-learn's rule (since its PR #26965):
``F = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``, undefined only when that
denominator is 0 (no true and no predicted rows of the class). So F = 0 whenever
precision or recall is defined and zero: always predicting the negative class gets
F1 = 0.0 (recall is 0), whatever ``zero_division``, although its precision (0/0) is
undefined. With ``zero_division=0.0`` every function here returns scikit-learn's numbers.

A class is counted when a row of ``y_true`` or ``y_pred`` holds it, even if every such
row has weight 0 (its counts are then 0 and its ratios undefined), as in scikit-learn.

Averages (``macro``, ``weighted``) of per-class values keep a NaN: a class that is never
predicted makes macro-precision NaN. scikit-learn with ``zero_division=np.nan`` instead
drops that class from the mean, which *raises* the score of a model that ignores a class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from .._validate import check_choice, check_float
from ._inputs import (
    DENSE_SPAN,
    ZeroDivision,
    as_labels,
    as_sample_weight,
    average_values,
    encode,
    same_device,
    union,
    unique_counts,
    zero_division_value,
)

__all__ = [
    "accuracy_score",
    "balanced_accuracy_score",
    "confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "f1_score",
    "fbeta_score",
]

Average = Literal["binary", "micro", "macro", "weighted"]
LabelsLike = torch.Tensor | Sequence[int] | None
_AVERAGES = ("binary", "micro", "macro", "weighted", None)


def _pair(y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    y_true, y_pred = as_labels("y_true", y_true), as_labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"`y_true` and `y_pred` must have the same length, got {len(y_true)} and {len(y_pred)}")
    same_device(y_true, y_pred=y_pred)
    return y_true, y_pred



def _labels_arg(labels: LabelsLike, device: torch.device) -> torch.Tensor | None:
    if labels is None:
        return None
    out = as_labels("labels", labels).to(device)
    if unique_counts(out)[0].numel() != out.numel():
        raise ValueError(f"`labels` must not repeat a label, got {out.tolist()}")
    return out


# ---------------------------------------------------------------- counting


def _bincount2(rows: torch.Tensor, cols: torch.Tensor, size: int, weight: torch.Tensor | None) -> torch.Tensor:
    flat = torch.bincount(rows * size + cols, weights=weight, minlength=size * size)
    return flat.reshape(size, size)


def _confusion(
    y_true: torch.Tensor, y_pred: torch.Tensor, labels: torch.Tensor | None, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C + 1, C + 1)`` counts (last row/column: values outside ``labels``) and the labels.

    Without ``labels`` the classes are the sorted union of the values present, as in
    scikit-learn; small label ranges are counted directly, without sorting. A class is
    present when a row holds it, whatever that row's weight (a zero weight does not
    remove a class).
    """
    if labels is None:
        (lo_t, hi_t), (lo_p, hi_p) = torch.aminmax(y_true), torch.aminmax(y_pred)
        lo = min(int(lo_t), int(lo_p))
        span = max(int(hi_t), int(hi_p)) - lo + 1
        if span <= DENSE_SPAN:
            full = _bincount2(y_true - lo, y_pred - lo, span, weight)
            if weight is None:
                present = (full.sum(0) + full.sum(1)) > 0
            else:  # rows count, not their weights
                present = torch.bincount(torch.cat([y_true, y_pred]) - lo, minlength=span) > 0
            labels = torch.arange(span, device=y_true.device)[present] + lo
            counts = torch.nn.functional.pad(full[present][:, present], (0, 1, 0, 1))
            return counts, labels
        labels = union(y_true, y_pred)
    size = len(labels) + 1
    return _bincount2(encode(y_true, labels), encode(y_pred, labels), size, weight), labels


def _divide(num: torch.Tensor, den: torch.Tensor, defined: torch.Tensor, fill: float) -> torch.Tensor:
    safe = torch.where(defined, den, torch.ones_like(den))
    return torch.where(defined, num / safe, torch.full_like(num, fill))



# ---------------------------------------------------------------- label metrics


def accuracy_score(
    y_true: torch.Tensor, y_pred: torch.Tensor, *, normalize: bool = True, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Fraction (or, with ``normalize=False``, number) of correct predictions.

    Args:
        y_true: ``(N,)`` integer or bool labels, ``N >= 1``.
        y_pred: ``(N,)`` labels on the same device.
        normalize: return the fraction (default) or the (weighted) count.
        sample_weight: optional ``(N,)`` non-negative weights.

    Returns:
        0-d ``float64`` tensor on the inputs' device.

    Example:
        >>> accuracy_score(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0]))
        tensor(0.7500, dtype=torch.float64)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    w = as_sample_weight(sample_weight, y_true)
    correct = y_true == y_pred
    if w is None:
        hits = correct.sum().double()
        return hits / len(y_true) if normalize else hits
    hits = (correct * w).sum()
    return hits / w.sum() if normalize else hits


def confusion_matrix(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    labels: LabelsLike = None,
    sample_weight: torch.Tensor | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
) -> torch.Tensor:
    """Counts ``C[i, j]`` of samples with true class ``labels[i]`` predicted as ``labels[j]``.

    Args:
        y_true, y_pred: ``(N,)`` integer or bool labels.
        labels: classes to report, in this order (others are ignored); at least one of
            them must occur in ``y_true``. Default: the sorted union of the values in
            ``y_true`` and ``y_pred``.
        sample_weight: optional ``(N,)`` weights.
        normalize: divide by row sums (``"true"``), column sums (``"pred"``) or the total
            (``"all"``); an all-zero row or column stays 0, as in scikit-learn.

    Returns:
        ``(C, C)`` ``int64`` counts, ``float64`` when weighted or normalised.

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
        tensor([[1, 0, 0],
                [0, 1, 1],
                [0, 0, 1]])
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if normalize is not None:
        check_choice("normalize", normalize, ("true", "pred", "all"))
    chosen = _labels_arg(labels, y_true.device)
    if chosen is not None and not bool(torch.isin(chosen, y_true).any()):
        raise ValueError(f"`labels` must include at least one label of `y_true`, got {chosen.tolist()[:20]}")
    counts, _ = _confusion(y_true, y_pred, chosen, as_sample_weight(sample_weight, y_true))
    cm = counts[:-1, :-1]
    if normalize is None:
        return cm
    cm = cm.double()
    total = {"true": cm.sum(1, keepdim=True), "pred": cm.sum(0, keepdim=True), "all": cm.sum()}[normalize]
    return torch.where(total > 0, cm / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(cm))


def balanced_accuracy_score(
    y_true: torch.Tensor, y_pred: torch.Tensor, *, sample_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean recall over the classes present in ``y_true`` (always defined).

    Args:
        y_true, y_pred: ``(N,)`` integer or bool labels.
        sample_weight: optional ``(N,)`` weights.

    Returns:
        0-d ``float64`` tensor.

    Example:
        >>> balanced_accuracy_score(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]))
        tensor(0.5000, dtype=torch.float64)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    counts, _ = _confusion(y_true, y_pred, None, as_sample_weight(sample_weight, y_true))
    counts = counts[:-1, :-1].double()
    support = counts.sum(1)
    present = support > 0
    return (counts.diagonal()[present] / support[present]).mean()


def _class_counts(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    labels: LabelsLike,
    pos_label: int,
    average: str | None,
    weight: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class true positives, predicted counts and true counts (``float64``)."""
    chosen = _labels_arg(labels, y_true.device)
    if average == "binary":
        present = union(y_true, y_pred)
        if len(present) > 2:
            raise ValueError(
                f"`average`='binary' needs at most 2 classes, got {len(present)} ({present.tolist()[:10]}); "
                "choose average='macro', 'weighted', 'micro' or None"
            )
        if len(present) == 2 and pos_label not in present.tolist():
            raise ValueError(f"`pos_label` must be one of the labels {present.tolist()}, got {pos_label!r}")
        is_true, is_pred = y_true == pos_label, y_pred == pos_label
        masks = (is_true & is_pred, is_pred, is_true)
        if weight is None:
            return tuple(m.sum().double() for m in masks)  # type: ignore[return-value]  # a generator of 3 tensors is the 3-tuple the signature names
        return tuple((weight * m).sum() for m in masks)  # type: ignore[return-value]  # a generator of 3 tensors is the 3-tuple the signature names
    counts, _ = _confusion(y_true, y_pred, chosen, weight)
    counts = counts.double()
    tp, pred, true = counts.diagonal()[:-1], counts.sum(0)[:-1], counts.sum(1)[:-1]
    if average == "micro":
        return tp.sum(), pred.sum(), true.sum()
    return tp, pred, true


def precision_recall_fscore_support(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    beta: float = 1.0,
    labels: LabelsLike = None,
    pos_label: int = 1,
    average: Average | None = None,
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Precision, recall, F-beta and support, per class or averaged.

    Args:
        y_true, y_pred: ``(N,)`` integer or bool labels, ``N >= 1``.
        beta: weight of recall in the F-score (``beta > 0``).
        labels: classes to score (default: all values present, sorted).
        pos_label: the positive class for ``average="binary"``.
        average: ``None`` (per class, the default here as in scikit-learn),
            ``"binary"`` (only ``pos_label``; needs at most 2 classes), ``"micro"``
            (global counts), ``"macro"`` (unweighted mean) or ``"weighted"`` (mean
            weighted by support).
        sample_weight: optional ``(N,)`` weights.
        zero_division: value of an undefined ratio, ``"nan"`` or a number in ``[0, 1]``
            (see the module docstring for how this differs from scikit-learn).

    Returns:
        ``(precision, recall, fbeta, support)``; ``(C,)`` tensors with ``average=None``,
        else 0-d tensors and ``support=None``.

    Example:
        >>> p, r, f, s = precision_recall_fscore_support(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
        >>> r.tolist(), s.tolist()
        ([1.0, 0.5], [1, 2])
    """
    y_true, y_pred = _pair(y_true, y_pred)
    beta = check_float("beta", beta, min=0.0, min_open=True)
    if average not in _AVERAGES:
        check_choice("average", average, [a for a in _AVERAGES if a is not None])
    fill = zero_division_value(zero_division)
    weight = as_sample_weight(sample_weight, y_true)
    tp, pred, true = _class_counts(y_true, y_pred, labels, pos_label, average, weight)
    precision = _divide(tp, pred, pred > 0, fill)
    recall = _divide(tp, true, true > 0, fill)
    b2 = beta * beta
    f_den = (1 + b2) * tp + b2 * (true - tp) + (pred - tp)
    fscore = _divide((1 + b2) * tp, f_den, f_den > 0, fill)  # 0 when P or R is defined and 0
    if average is None:
        support = true if weight is not None else true.long()
        return precision, recall, fscore, support
    avg = [average_values(v, true, average, fill) for v in (precision, recall, fscore)]
    return avg[0], avg[1], avg[2], None


def _prf_kwargs(
    labels: LabelsLike, pos_label: int, average: Average | None, sample_weight: Any, zero_division: ZeroDivision
) -> dict[str, Any]:
    return dict(
        labels=labels, pos_label=pos_label, average=average, sample_weight=sample_weight, zero_division=zero_division
    )


def precision_score(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    labels: LabelsLike = None,
    pos_label: int = 1,
    average: Average | None = "binary",
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """Precision TP / (TP + FP); undefined (``zero_division``) with no predicted positives.

    Arguments as in :func:`precision_recall_fscore_support` (default ``average="binary"``).

    Example:
        >>> precision_score(torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0]))
        tensor(0.5000, dtype=torch.float64)
        >>> precision_score(torch.tensor([0, 1]), torch.tensor([0, 0]))
        tensor(nan, dtype=torch.float64)
    """
    kw = _prf_kwargs(labels, pos_label, average, sample_weight, zero_division)
    return precision_recall_fscore_support(y_true, y_pred, **kw)[0]


def recall_score(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    labels: LabelsLike = None,
    pos_label: int = 1,
    average: Average | None = "binary",
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """Recall TP / (TP + FN); undefined (``zero_division``) with no true positives.

    Arguments as in :func:`precision_recall_fscore_support` (default ``average="binary"``).

    Example:
        >>> recall_score(torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0]))
        tensor(0.5000, dtype=torch.float64)
    """
    kw = _prf_kwargs(labels, pos_label, average, sample_weight, zero_division)
    return precision_recall_fscore_support(y_true, y_pred, **kw)[1]


def fbeta_score(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    beta: float,
    labels: LabelsLike = None,
    pos_label: int = 1,
    average: Average | None = "binary",
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """Weighted harmonic mean of precision and recall, ``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``;
    undefined (``zero_division``) only with no true and no predicted positives.

    Arguments as in :func:`precision_recall_fscore_support` (default ``average="binary"``).

    Example:
        >>> fbeta_score(torch.tensor([0, 1, 1, 0]), torch.tensor([1, 1, 0, 0]), beta=2.0)
        tensor(0.5000, dtype=torch.float64)
    """
    kw = _prf_kwargs(labels, pos_label, average, sample_weight, zero_division)
    return precision_recall_fscore_support(y_true, y_pred, beta=beta, **kw)[2]


def f1_score(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    *,
    labels: LabelsLike = None,
    pos_label: int = 1,
    average: Average | None = "binary",
    sample_weight: torch.Tensor | None = None,
    zero_division: ZeroDivision = "nan",
) -> torch.Tensor:
    """F1, the harmonic mean of precision and recall, ``2 TP / (2 TP + FN + FP)``.

    Arguments as in :func:`precision_recall_fscore_support` (default ``average="binary"``).
    As in scikit-learn, F1 is 0 whenever precision or recall is defined and 0: always
    predicting the negative class gives 0.0 (its precision, 0/0, is NaN by default).
    Only a class with no true and no predicted rows has an undefined F1.

    Example:
        >>> y = torch.tensor([0, 0, 0, 1])
        >>> f1_score(y, torch.tensor([0, 0, 1, 1]))
        tensor(0.6667, dtype=torch.float64)
        >>> never = torch.zeros(4, dtype=torch.long)
        >>> precision_score(y, never), f1_score(y, never), f1_score(y, never, zero_division=1.0)
        (tensor(nan, dtype=torch.float64), tensor(0., dtype=torch.float64), tensor(0., dtype=torch.float64))
    """
    kw = _prf_kwargs(labels, pos_label, average, sample_weight, zero_division)
    return precision_recall_fscore_support(y_true, y_pred, beta=1.0, **kw)[2]

