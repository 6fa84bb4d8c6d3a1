"""Checked inputs shared by the evaluation modules: labels, weights, the ``zero_division``
policy, label encoding and timestamps."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from .._labels import as_int64, label_tensor
from .._validate import (
    as_tensor,
    check_choice,
    check_finite,
    check_float,
    check_nonnegative_weights,
    check_tensor,
    describe,
)

ZeroDivision = Literal["nan"] | float
DENSE_SPAN = 2**11  # labels spanning at most this many values are counted without `unique`


def as_labels(name: str, value: Any) -> torch.Tensor:
    """A non-empty 1-D ``int64`` tensor of class labels (any integer dtype, negative too;
    bool becomes 0/1)."""
    labels = label_tensor(name, value, bools=True)
    if labels.numel() == 0:
        raise ValueError(f"`{name}` must hold at least one label, got {describe(value)}")
    return labels


def class_ids(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct values numbered by first appearance: ``(ids (N,), counts (C,), names (C,))``
    with ``names[ids] == values``.

    The numbering depends only on which rows share a value, not on the values: renaming
    the classes (or groups) gives the same ids, so a split drawn from them is the same.

    Example:
        >>> class_ids(torch.tensor([7, 3, 7, 5]))[0].tolist()
        [0, 1, 0, 2]
    """
    names, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    rows = torch.arange(len(values), device=values.device)
    first = torch.full((len(names),), len(values), device=values.device).scatter_reduce_(0, inverse, rows, "amin")
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=values.device)
    return rank[inverse], counts[order], names[order]


def same_device(reference: torch.Tensor, **tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if t.device != reference.device:
            raise ValueError(f"`{name}` must be on {reference.device} like `y_true`, got {t.device}")



def as_sample_weight(sample_weight: Any, y_true: torch.Tensor) -> torch.Tensor | None:
    if sample_weight is None:
        return None
    w = check_nonnegative_weights("sample_weight", sample_weight)
    if w.shape[0] != y_true.shape[0]:
        raise ValueError(f"`sample_weight` must have {y_true.shape[0]} entries like `y_true`, got {w.shape[0]}")
    same_device(y_true, sample_weight=w)
    return w.double()


def zero_division_value(value: Any) -> float:
    if isinstance(value, str):
        check_choice("zero_division", value, ("nan",))
        return math.nan
    if isinstance(value, float) and math.isnan(value):
        return math.nan
    return check_float("zero_division", value, min=0.0, max=1.0)



def unique_counts(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted distinct values of an ``int64`` tensor and their counts.

    A small range of values is counted by ``bincount`` (one pass), not sorted."""
    lo, hi = torch.aminmax(y)
    span = int(hi) - int(lo) + 1
    if span > DENSE_SPAN:
        return torch.unique(y, return_counts=True)
    counts = torch.bincount(y - lo, minlength=span)
    present = counts > 0
    return torch.arange(span, device=y.device)[present] + lo, counts[present]


def union(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sorted distinct values found in ``a`` or ``b``."""
    return torch.unique(torch.cat([unique_counts(a)[0], unique_counts(b)[0]]))


def encode(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Position of each value in ``labels``; ``len(labels)`` for values not listed."""
    lo, hi = torch.aminmax(labels)
    span = int(hi) - int(lo) + 1
    missing = torch.full_like(values, len(labels))
    if span <= DENSE_SPAN:  # a lookup table over the labels' range
        table = torch.full((span + 1,), len(labels), dtype=torch.long, device=labels.device)
        table[labels - lo] = torch.arange(len(labels), device=labels.device)
        offset = values - lo
        inside = (offset >= 0) & (offset < span)
        return torch.where(inside, table[torch.where(inside, offset, span)], missing)
    sorted_labels, order = torch.sort(labels)
    pos = torch.searchsorted(sorted_labels, values).clamp_(max=len(labels) - 1)
    return torch.where(sorted_labels[pos] == values, order[pos], missing)


def fill_undefined(values: torch.Tensor, fill: float) -> torch.Tensor:
    return torch.where(torch.isnan(values), torch.full_like(values, fill), values)


def average_values(values: torch.Tensor, support: torch.Tensor, average: str | None, fill: float) -> torch.Tensor:
    if average is None or values.ndim == 0:
        return values
    if average == "macro":
        return values.mean()
    keep = support > 0  # weighted: classes without support have weight 0 (and may be NaN)
    total = support[keep].sum()
    if total == 0:
        return torch.tensor(fill, dtype=torch.float64, device=values.device)
    return (values[keep] * support[keep]).sum() / total



def as_times(timestamps: Any, gap: Any) -> tuple[torch.Tensor, float | int]:
    """Timestamps as a 1-D CPU tensor, ``int64`` (datetime64 as nanoseconds) or ``float64``,
    and the gap in their unit: times are compared and shifted by the gap in these dtypes."""
    if isinstance(timestamps, np.ndarray) and np.issubdtype(timestamps.dtype, np.datetime64):
        if np.isnat(timestamps).any():
            raise ValueError(f"`timestamps` must not contain NaT, got {int(np.isnat(timestamps).sum())}")
        t = torch.from_numpy(timestamps.astype("datetime64[ns]").astype(np.int64))
        gap = np.timedelta64(0, "ns") if gap == 0 else gap
        if not isinstance(gap, np.timedelta64):
            raise TypeError(f"`gap` must be a numpy.timedelta64 for datetime64 timestamps, got {describe(gap)}")
        gap = int(gap.astype("timedelta64[ns]").astype(np.int64))
    else:
        timestamps = as_tensor("timestamps", timestamps, "numbers or numpy datetime64")
        t = check_tensor("timestamps", timestamps, ndim=1, dtypes="numeric").cpu()
        if t.dtype.is_floating_point and bool(torch.isnan(t).any()):
            bad = int(torch.isnan(t).sum())
            raise ValueError(f"`timestamps` must not contain NaN (they cannot be ordered), got {bad}")
        t = t.double() if t.dtype.is_floating_point else as_int64("timestamps", t)
        gap = check_float("gap", gap, min=0.0)
        if not t.dtype.is_floating_point:  # integer times: t < t_next - gap  <=>  t < t_next - floor(gap)
            gap = math.floor(gap)
    if len(t) == 0:
        raise ValueError("`timestamps` must not be empty")
    if gap < 0:
        raise ValueError(f"`gap` must be >= 0, got {gap!r}")
    return t, gap



def as_rows(name: str, x: Any, *, finite: bool = False) -> torch.Tensor:
    """``(N, ...)`` tensor as ``(N, D)``: the rows whose equality (or distance) is checked.

    With ``finite``, NaN and inf are rejected here, under the user's argument name,
    before a k-NN or a ranking that cannot order them sees the rows."""
    check_tensor(name, x)
    if x.ndim == 0 or x.dtype.is_complex:
        raise ValueError(f"`{name}` must be a real tensor with a row dimension, got {describe(x)}")
    if finite:
        check_finite(name, x)
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))
