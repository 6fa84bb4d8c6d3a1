"""Time-ordered splits: train strictly before validation before test, with a gap.

``temporal_split`` (no scikit-learn counterpart) and ``time_series_folds`` (as
``TimeSeriesSplit(gap=)``) return ``int64`` index tensors in increasing order on the
input's device; rows sharing a timestamp are never split across.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._validate import check_int
from ._folds import Folds, as_fractions, device_of, split_indices
from ._inputs import as_times

__all__ = ["temporal_split", "time_series_folds"]


def _tie_boundary(ts: torch.Tensor, b: int) -> int:
    """Move boundary ``b`` (rows ``[:b]`` | ``[b:]`` of the sorted times) out of a tie."""
    if b <= 0 or b >= len(ts) or ts[b - 1] != ts[b]:
        return b
    left = int(torch.searchsorted(ts, ts[b], right=False))
    right = int(torch.searchsorted(ts, ts[b], right=True))
    return left if b - left <= right - b else right


def _before(ts: torch.Tensor, start: int, end: int, gap: float) -> int:
    """End of the rows in ``[start, end)`` strictly more than ``gap`` before ``ts[end]``."""
    if end >= len(ts):
        return end
    limit = ts[end].item() - gap  # a Python number: no wrap below int64's minimum
    if not ts.dtype.is_floating_point:  # nothing is below the minimum, as nothing is below limit
        limit = max(limit, torch.iinfo(torch.int64).min)
    cut = int(torch.searchsorted(ts, torch.tensor([limit], dtype=ts.dtype), right=False))
    return max(start, min(end, cut))


def temporal_split(
    timestamps: torch.Tensor | np.ndarray,
    *,
    fractions: Sequence[float] | None = None,
    test_size: float | None = None,
    val_size: float | None = None,
    gap: float | np.timedelta64 = 0,
) -> tuple[torch.Tensor, ...]:
    """Split by time: every training row is older than every validation row, which is
    older than every test row. Rows sharing a timestamp are never split across.

    The boundaries sit at ``round(n * cumulative fraction)`` of the rows sorted by time,
    moved to the nearer end of a run of equal timestamps. With ``gap``, rows of an
    earlier split whose time is ``>= t_next - gap`` (``t_next`` the first time of the
    next split) are dropped, so consecutive splits are more than ``gap`` apart.

    Args:
        timestamps: ``(N,)`` numbers (int or float, no NaN) or a numpy ``datetime64`` array.
        fractions, test_size, val_size: as in :func:`stratified_split`.
        gap: time left out between consecutive splits, in the timestamps' unit (a
            ``numpy.timedelta64`` for datetime64).

    Returns:
        One ``int64`` index tensor per split, increasing, on the input's device.

    Raises:
        ValueError: NaN/NaT timestamps, too few distinct times for the splits, or a gap
            that empties a split. TypeError: timestamps that are not numbers or datetimes.

    Example:
        >>> t = torch.tensor([5, 1, 4, 2, 3, 3, 6, 7, 8, 9])
        >>> train, test = temporal_split(t, test_size=0.4)
        >>> t[train].tolist(), t[test].tolist()
        ([5, 1, 4, 2, 3, 3], [6, 7, 8, 9])
        >>> train, test = temporal_split(t, test_size=0.4, gap=2)
        >>> t[train].tolist()
        [1, 2, 3, 3]
    """
    fr = as_fractions(fractions, test_size, val_size)
    t, gap = as_times(timestamps, gap)
    ts, order = torch.sort(t, stable=True)
    n = len(ts)
    cumulative = np.cumsum(fr)[:-1]
    bounds = [0] + [_tie_boundary(ts, int(round(float(n * c)))) for c in cumulative] + [n]
    if any(b0 >= b1 for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True)):
        n_times = len(torch.unique(ts))
        raise ValueError(
            f"`timestamps` has {n_times} distinct times among {n} rows: too few (or too unevenly spread) "
            f"for {len(fr)} non-empty time-ordered splits with fractions {fr}"
        )
    split_of = torch.full((n,), -1, dtype=torch.long)
    for s in range(len(fr)):
        end = _before(ts, bounds[s], bounds[s + 1], gap)
        if end == bounds[s]:
            raise ValueError(f"`gap`={gap!r} leaves split {s} empty: it removes all its rows")
        split_of[bounds[s] : end] = s
    return split_indices(order, split_of, len(fr), device_of(timestamps))


def time_series_folds(
    timestamps: torch.Tensor | np.ndarray,
    n_splits: int = 5,
    *,
    gap: float | np.timedelta64 = 0,
    test_size: int | None = None,
    max_train_size: int | None = None,
) -> Folds:
    """Expanding-window folds as scikit-learn's ``TimeSeriesSplit``, on timestamps.

    On the rows sorted by time, test fold ``i`` starts at ``n - (n_splits - i) * test_size``
    (``test_size`` default ``n // (n_splits + 1)``); its training rows are all rows more
    than ``gap`` older than the fold's first time (at most the last ``max_train_size``).
    Fold boundaries move out of runs of equal timestamps. With ``timestamps =
    arange(n)`` the folds equal ``TimeSeriesSplit(n_splits, gap=gap, test_size=...,
    max_train_size=...)``'s exactly, ``gap`` counting rows.

    Args:
        timestamps: ``(N,)`` numbers or numpy ``datetime64``.
        n_splits: number of folds, ``>= 2``.
        gap: time left out before each test fold, in the timestamps' unit.
        test_size: rows per test fold.
        max_train_size: keep at most this many of the latest training rows.

    Returns:
        ``[(train, test), ...]``, index tensors in increasing order.

    Example:
        >>> [(tr.tolist(), te.tolist()) for tr, te in time_series_folds(torch.arange(6), 2, gap=1)]
        [([0], [2, 3]), ([0, 1, 2], [4, 5])]
    """
    n_splits = check_int("n_splits", n_splits, min=2)
    t, gap = as_times(timestamps, gap)
    ts, order = torch.sort(t, stable=True)
    n = len(ts)
    size = n // (n_splits + 1) if test_size is None else check_int("test_size", test_size, min=1)
    max_train = check_int("max_train_size", max_train_size, min=1, allow_none=True)
    if size < 1 or n - n_splits * size <= 0:
        raise ValueError(f"`n_splits`={n_splits} is too many for {n} rows with test folds of {size} rows")
    starts = [_tie_boundary(ts, n - (n_splits - i) * size) for i in range(n_splits)] + [n]
    device = device_of(timestamps)
    folds = []
    for i in range(n_splits):
        start, end = starts[i], starts[i + 1]
        train_end = _before(ts, 0, start, gap)
        train_start = 0 if max_train is None else max(0, train_end - max_train)
        if train_end == 0 or start >= end:
            raise ValueError(
                f"fold {i} is empty: `timestamps` has too few distinct times before it, or `gap`={gap!r} is too large"
            )
        train, test = order[train_start:train_end], order[start:end]
        folds.append((torch.sort(train).values.to(device), torch.sort(test).values.to(device)))
    return folds

