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

The F-score is the harmonic mean of precision and recall, so it is undefined whenever
either is (with both defined it equals ``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``,
0 when TP = 0). Always predicting the negative class therefore gets F1 = NaN here.
scikit-learn computes ``(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)`` directly and only
calls it undefined when that denominator is 0, so it reports 0.0 for the same case.
With ``zero_division=0.0`` every function here returns scikit-learn's numbers.

Averages (``macro``, ``weighted``) of per-class values keep a NaN: a class that is never
predicted makes macro-F1 NaN. scikit-learn with ``zero_division=np.nan`` instead drops
that class from the mean, which *raises* the score of a model that ignores a class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, Union

import torch

from ._validate import check_choice, check_float, check_nonnegative_weights, check_tensor, describe

__all__ = [
    "accuracy_score",
    "balanced_accuracy_score",
    "confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "f1_score",
    "fbeta_score",
    "roc_auc_score",
    "average_precision_score",
]

ZeroDivision = Union[Literal["nan"], float]
Average = Literal["binary", "micro", "macro", "weighted"]
LabelsLike = Union[torch.Tensor, Sequence[int], None]
_AVERAGES = ("binary", "micro", "macro", "weighted", None)
_DENSE_SPAN = 2**11  # labels spanning at most this many values are counted without `unique`


# ---------------------------------------------------------------- input checks


def _as_labels(name: str, value: Any) -> torch.Tensor:
    """A non-empty 1-D integer tensor of class labels (bool becomes 0/1)."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"`{name}` must be a 1-D tensor of integer labels, got {describe(value)}") from exc
    check_tensor(name, value, ndim=1)
    if value.dtype == torch.bool:
        value = value.long()
    elif value.dtype.is_floating_point or value.dtype.is_complex:
        raise TypeError(f"`{name}` must hold integer or bool class labels, got dtype {value.dtype}")
    if value.numel() == 0:
        raise ValueError(f"`{name}` must not be empty, got {describe(value)}")
    return value.long()


def _as_scores(value: Any, y_true: torch.Tensor) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=torch.float64)
    check_tensor("y_score", value, ndim=(1, 2), dtypes="numeric")
    if value.shape[0] != y_true.shape[0]:
        raise ValueError(f"`y_score` must have {y_true.shape[0]} rows like `y_true`, got shape {tuple(value.shape)}")
    _same_device(y_true, y_score=value)
    if not value.dtype.is_floating_point:
        value = value.double()
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"`y_score` must be finite, got NaN or inf in {describe(value)}")
    return value


def _same_device(reference: torch.Tensor, **tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if t.device != reference.device:
            raise ValueError(f"`{name}` must be on {reference.device} like `y_true`, got {t.device}")


def _pair(y_true: Any, y_pred: Any) -> tuple[torch.Tensor, torch.Tensor]:
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"`y_true` and `y_pred` must have the same length, got {len(y_true)} and {len(y_pred)}")
    _same_device(y_true, y_pred=y_pred)
    return y_true, y_pred


def _weights(sample_weight: Any, y_true: torch.Tensor) -> torch.Tensor | None:
    if sample_weight is None:
        return None
    w = check_nonnegative_weights("sample_weight", sample_weight)
    if w.shape[0] != y_true.shape[0]:
        raise ValueError(f"`sample_weight` must have {y_true.shape[0]} entries like `y_true`, got {w.shape[0]}")
    _same_device(y_true, sample_weight=w)
    return w.double()


def _zero_division(value: Any) -> float:
    if isinstance(value, str):
        check_choice("zero_division", value, ("nan",))
        return math.nan
    if isinstance(value, float) and math.isnan(value):
        return math.nan
    return check_float("zero_division", value, min=0.0, max=1.0)  # type: ignore[return-value]


def _labels_arg(labels: LabelsLike, device: torch.device) -> torch.Tensor | None:
    if labels is None:
        return None
    out = _as_labels("labels", labels).to(device)
    if _unique(out)[0].numel() != out.numel():
        raise ValueError(f"`labels` must not repeat a label, got {out.tolist()}")
    return out


# ---------------------------------------------------------------- counting


def _unique(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted distinct values of an ``int64`` tensor and their counts.

    A small range of values is counted by ``bincount`` (one pass), not sorted."""
    lo, hi = torch.aminmax(y)
    span = int(hi) - int(lo) + 1
    if span > _DENSE_SPAN:
        return torch.unique(y, return_counts=True)
    counts = torch.bincount(y - lo, minlength=span)
    present = counts > 0
    return torch.arange(span, device=y.device)[present] + lo, counts[present]


def _union(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sorted distinct values found in ``a`` or ``b``."""
    return torch.unique(torch.cat([_unique(a)[0], _unique(b)[0]]))


def _encode(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Position of each value in ``labels``; ``len(labels)`` for values not listed."""
    lo, hi = torch.aminmax(labels)
    span = int(hi) - int(lo) + 1
    missing = torch.full_like(values, len(labels))
    if span <= _DENSE_SPAN:  # a lookup table over the labels' range
        table = torch.full((span + 1,), len(labels), dtype=torch.long, device=labels.device)
        table[labels - lo] = torch.arange(len(labels), device=labels.device)
        offset = values - lo
        inside = (offset >= 0) & (offset < span)
        return torch.where(inside, table[torch.where(inside, offset, span)], missing)
    sorted_labels, order = torch.sort(labels)
    pos = torch.searchsorted(sorted_labels, values).clamp_(max=len(labels) - 1)
    return torch.where(sorted_labels[pos] == values, order[pos], missing)


def _bincount2(rows: torch.Tensor, cols: torch.Tensor, size: int, weight: torch.Tensor | None) -> torch.Tensor:
    flat = torch.bincount(rows * size + cols, weights=weight, minlength=size * size)
    return flat.reshape(size, size)


def _confusion(
    y_true: torch.Tensor, y_pred: torch.Tensor, labels: torch.Tensor | None, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C + 1, C + 1)`` counts (last row/column: values outside ``labels``) and the labels.

    Without ``labels`` the classes are the sorted union of the values present, as in
    scikit-learn; small label ranges are counted directly, without sorting.
    """
    if labels is None:
        (lo_t, hi_t), (lo_p, hi_p) = torch.aminmax(y_true), torch.aminmax(y_pred)
        lo = min(int(lo_t), int(lo_p))
        span = max(int(hi_t), int(hi_p)) - lo + 1
        if span <= _DENSE_SPAN:
            full = _bincount2(y_true - lo, y_pred - lo, span, weight)
            present = (full.sum(0) + full.sum(1)) > 0
            labels = torch.arange(span, device=y_true.device)[present] + lo
            counts = torch.nn.functional.pad(full[present][:, present], (0, 1, 0, 1))
            return counts, labels
        labels = _union(y_true, y_pred)
    size = len(labels) + 1
    return _bincount2(_encode(y_true, labels), _encode(y_pred, labels), size, weight), labels


def _divide(num: torch.Tensor, den: torch.Tensor, defined: torch.Tensor, fill: float) -> torch.Tensor:
    safe = torch.where(defined, den, torch.ones_like(den))
    return torch.where(defined, num / safe, torch.full_like(num, fill))


def _fill(values: torch.Tensor, fill: float) -> torch.Tensor:
    return torch.where(torch.isnan(values), torch.full_like(values, fill), values)


def _average(values: torch.Tensor, support: torch.Tensor, average: str | None, fill: float) -> torch.Tensor:
    if average is None or values.ndim == 0:
        return values
    if average == "macro":
        return values.mean()
    keep = support > 0  # weighted: classes without support have weight 0 (and may be NaN)
    total = support[keep].sum()
    if total == 0:
        return torch.tensor(fill, dtype=torch.float64, device=values.device)
    return (values[keep] * support[keep]).sum() / total


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
    w = _weights(sample_weight, y_true)
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
        labels: classes to report, in this order (others are ignored); default the
            sorted union of the values in ``y_true`` and ``y_pred``.
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
    counts, _ = _confusion(y_true, y_pred, _labels_arg(labels, y_true.device), _weights(sample_weight, y_true))
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
    counts, _ = _confusion(y_true, y_pred, None, _weights(sample_weight, y_true))
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
        present = _union(y_true, y_pred)
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
            return tuple(m.sum().double() for m in masks)  # type: ignore[return-value]
        return tuple((weight * m).sum() for m in masks)  # type: ignore[return-value]
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
    beta = check_float("beta", beta, min=0.0, min_open=True)  # type: ignore[assignment]
    if average not in _AVERAGES:
        check_choice("average", average, [a for a in _AVERAGES if a is not None])
    fill = _zero_division(zero_division)
    weight = _weights(sample_weight, y_true)
    tp, pred, true = _class_counts(y_true, y_pred, labels, pos_label, average, weight)
    precision = _divide(tp, pred, pred > 0, fill)
    recall = _divide(tp, true, true > 0, fill)
    b2 = beta * beta
    f_den = (1 + b2) * tp + b2 * (true - tp) + (pred - tp)
    fscore = _divide((1 + b2) * tp, f_den, (pred > 0) & (true > 0), fill)
    if average is None:
        support = true if weight is not None else true.long()
        return precision, recall, fscore, support
    avg = [_average(v, true, average, fill) for v in (precision, recall, fscore)]
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
    """Weighted harmonic mean of precision and recall; undefined when either is.

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
    """F1, the harmonic mean of precision and recall; undefined when either is.

    Arguments as in :func:`precision_recall_fscore_support` (default ``average="binary"``).
    Always predicting the negative class gives NaN here (precision is 0/0) where
    scikit-learn gives 0.0; ``zero_division=0.0`` gives scikit-learn's value.

    Example:
        >>> y = torch.tensor([0, 0, 0, 1])
        >>> f1_score(y, torch.tensor([0, 0, 1, 1]))
        tensor(0.6667, dtype=torch.float64)
        >>> never = torch.zeros(4, dtype=torch.long)
        >>> f1_score(y, never), f1_score(y, never, zero_division=0.0)
        (tensor(nan, dtype=torch.float64), tensor(0., dtype=torch.float64))
    """
    kw = _prf_kwargs(labels, pos_label, average, sample_weight, zero_division)
    return precision_recall_fscore_support(y_true, y_pred, beta=1.0, **kw)[2]


# ---------------------------------------------------------------- ranking metrics


def _descending(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row descending order of ``scores`` ``(K, N)``, and sorted keys that are equal
    exactly where the scores are.

    Floats are mapped to integers of the same order (their bits, with the magnitude bits
    of negatives flipped; -0.0 first made +0.0), because torch sorts 1-D integers by
    radix, several times faster than floats on the CPU. float32 keys of all rows go
    into one 1-D sort with the row number in the high bits.
    """
    k, n = scores.shape
    if scores.dtype == torch.float64:
        bits = (scores + 0.0).view(torch.int64)
        key = ~torch.where(bits < 0, bits ^ 0x7FFF_FFFF_FFFF_FFFF, bits)  # ~: ascending sort gives descending
        if k > 1:
            return torch.sort(key, dim=1)  # type: ignore[return-value]
        flat, order = torch.sort(key.flatten())
        return flat[None], order[None]
    bits = (scores.float() + 0.0).view(torch.int32)
    key = ~torch.where(bits < 0, bits ^ 0x7FFF_FFFF, bits)
    rows = torch.arange(k, device=scores.device)[:, None]
    flat, order = torch.sort((key.long() + 2**31 + rows * 2**32).flatten())
    return flat.view(k, n), order.view(k, n) - rows * n


def _ranking(scores: torch.Tensor, positive: torch.Tensor, weight: torch.Tensor | None, kind: str) -> torch.Tensor:
    """ROC-AUC or average precision of each row of ``scores`` ``(K, N)`` against the
    ``(K, N)`` or ``(1, N)`` boolean ``positive``; NaN where undefined.

    One sort per row; tied scores form one threshold, as in scikit-learn (ROC-AUC counts
    a tied (positive, negative) pair as 1/2). All rows are handled at once: the
    thresholds of every row are gathered into one flat list of groups.
    """
    k, n = scores.shape
    s, order = _descending(scores)
    pos = positive.expand(k, n).gather(1, order)
    if weight is None:
        tp = torch.cumsum(pos, 1, dtype=torch.float64)
        seen = None
    else:
        w = weight.expand(k, n).gather(1, order)
        tp, seen = torch.cumsum(w * pos, 1), torch.cumsum(w, 1)
    is_end = torch.ones((k, n), dtype=torch.bool, device=s.device)  # last row of a run of equal scores
    is_end[:, :-1] = s[:, 1:] != s[:, :-1]
    ends = is_end.flatten().nonzero().flatten()
    row = ends // n
    tp_end = tp.flatten()[ends]
    seen_end = (ends % n + 1).double() if seen is None else seen.flatten()[ends]
    fp_end = seen_end - tp_end
    first = torch.ones_like(row, dtype=torch.bool)
    first[1:] = row[1:] != row[:-1]
    tp_before = torch.where(first, 0.0, tp_end.roll(1))
    pos_g = tp_end - tp_before
    n_pos, n_neg = tp[:, -1], (seen[:, -1] if seen is not None else float(n)) - tp[:, -1]
    total = torch.zeros(k, dtype=torch.float64, device=s.device)
    if kind == "roc":
        neg_g = fp_end - torch.where(first, 0.0, fp_end.roll(1))
        value = total.index_add_(0, row, neg_g * (tp_before + 0.5 * pos_g)) / (n_pos * n_neg)
        defined = (n_pos > 0) & (n_neg > 0)
    else:
        precision = torch.where(seen_end > 0, tp_end / seen_end.clamp_min(1e-300), 0.0)
        value = total.index_add_(0, row, pos_g * precision) / n_pos
        defined = n_pos > 0
    return torch.where(defined, value, torch.full_like(value, math.nan))


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
    y_true = _as_labels("y_true", y_true)
    scores = _as_scores(y_score, y_true)
    if average is not None:
        check_choice("average", average, ("macro", "weighted"))
    fill = _zero_division(zero_division)
    weight = _weights(sample_weight, y_true)
    if scores.ndim == 1:
        if pos_label is None:  # ROC-AUC: the larger of the two labels is positive
            classes = _unique(y_true)[0]
            if len(classes) > 2:
                raise ValueError(
                    f"`y_true` has {len(classes)} classes: pass `y_score` of shape (N, C) for one-vs-rest scores"
                )
            pos_label = int(classes[-1])
        return _fill(_ranking(scores[None], (y_true == pos_label)[None], weight, kind)[0], fill)
    n_classes = scores.shape[1]
    if bool((y_true < 0).any()) or bool((y_true >= n_classes).any()):
        raise ValueError(
            f"`y_true` must hold class indices in [0, {n_classes}) for `y_score` of shape {tuple(scores.shape)}"
        )
    classes = torch.arange(n_classes, device=y_true.device)
    positive = y_true[None, :] == classes[:, None]
    values = _fill(_ranking(scores.T, positive, weight, kind), fill)
    support = positive.double() @ (weight if weight is not None else torch.ones_like(y_true, dtype=torch.float64))
    return _average(values, support, average, fill)


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
        y_true: ``(N,)`` labels; ``pos_label`` marks positives for 1-D scores, class
            indices in ``[0, C)`` for ``(N, C)`` scores (one-vs-rest).
        y_score: ``(N,)`` or ``(N, C)`` scores.
        average: ``"macro"``, ``"weighted"`` or ``None`` for ``(N, C)`` scores.
        pos_label: the positive class with 1-D scores.
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
