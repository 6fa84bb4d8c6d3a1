"""Index-returning splits that cannot leak by construction.

=====================  ===================================================  ==========================
function               promise                                              scikit-learn counterpart
=====================  ===================================================  ==========================
stratified_split       each class split in proportion, present in every     train_test_split(stratify=)
                       split (else ``ValueError``)
group_split            no group in two splits (all scans of a patient       GroupShuffleSplit
                       together)
temporal_split         train strictly before validation before test, an     (none)
                       optional gap between them, ties never split
stratified_kfold       the same per class, over ``k`` folds                 StratifiedKFold
group_kfold            no group in two folds, balanced fold sizes           GroupKFold
time_series_folds      expanding window, test after train, gap              TimeSeriesSplit(gap=)
=====================  ===================================================  ==========================

Splits return a tuple of ``int64`` index tensors (train first, test last) in increasing
order, on the input's device; k-fold functions return a list of ``(train, test)`` pairs.
The same seed gives the same split on every device (draws come from a CPU generator).
The default ``seed=0`` makes repeated calls return the same split: a split that changes
between runs quietly mixes test rows into the next run's training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._random import make_generator, new_seed
from ._validate import check_float, check_int, check_seed, check_tensor, describe
from .metrics import _as_labels, _encode, _unique

__all__ = [
    "stratified_split",
    "group_split",
    "temporal_split",
    "stratified_kfold",
    "group_kfold",
    "time_series_folds",
]

Folds = list[tuple[torch.Tensor, torch.Tensor]]


# ---------------------------------------------------------------- shared helpers


def _fractions(fractions: Sequence[float] | None, test_size: float | None, val_size: float | None) -> list[float]:
    """Split fractions in order (train, [val], test); default test_size=0.2."""
    if fractions is not None:
        if test_size is not None or val_size is not None:
            raise ValueError("give either `fractions` or `test_size`/`val_size`, not both")
        if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence) or len(fractions) < 2:
            raise ValueError(f"`fractions` must be a sequence of at least 2 fractions, got {describe(fractions)}")
        out = [check_float("fractions", f, min=0.0, max=1.0, min_open=True, max_open=True) for f in fractions]
        if abs(sum(out) - 1.0) > 1e-6:  # type: ignore[arg-type]
            total = sum(out)  # type: ignore[arg-type]
            raise ValueError(f"`fractions` must sum to 1, got {list(fractions)} (sum {total:.6g})")
        return out  # type: ignore[return-value]
    fraction = dict(min=0.0, max=1.0, min_open=True, max_open=True)
    test = check_float("test_size", 0.2 if test_size is None else test_size, **fraction)
    if val_size is None:
        return [1.0 - test, test]  # type: ignore[operator]
    val = check_float("val_size", val_size, **fraction)
    if test + val >= 1.0:  # type: ignore[operator]
        raise ValueError(f"`test_size` + `val_size` must be < 1, got {test} + {val}")
    return [1.0 - test - val, val, test]  # type: ignore[operator]


def _seed(seed: int | None) -> torch.Generator:
    seed = check_seed("seed", seed)
    return make_generator(new_seed() if seed is None else seed)


def _device(value: Any) -> torch.device:
    return value.device if isinstance(value, torch.Tensor) else torch.device("cpu")


def _split_indices(
    order: torch.Tensor, split_of: torch.Tensor, n_splits: int, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """Row indices of each split, in increasing order, on ``device``."""
    return tuple(torch.sort(order[split_of == s]).values.to(device) for s in range(n_splits))


def _folds(parts: tuple[torch.Tensor, ...]) -> Folds:
    """k-fold pairs: fold i tests ``parts[i]`` and trains on the others."""
    out = []
    for i, test in enumerate(parts):
        train = torch.sort(torch.cat([p for j, p in enumerate(parts) if j != i])).values
        out.append((train, test))
    return out


# ---------------------------------------------------------------- stratified


def _allocate(counts: list[int], fractions: list[float], class_order: list[int]) -> list[list[int]]:
    """Rows of each class per split: floor or ceil of ``n_c * f_s`` (at least 1 each).

    Classes are visited in a random order; the rounding of each class favours the
    splits that earlier classes left furthest below their share, so split sizes stay
    within about one row of ``n * f_s`` while every class stays within one row of its
    own share (the forced minimum of one row aside).
    """
    n_splits = len(fractions)
    behind = [0.0] * n_splits  # running (exact share - rows given) per split
    alloc: list[list[int]] = [[] for _ in counts]
    for c in class_order:
        quota = [round(counts[c] * f, 9) for f in fractions]  # 0.7 * 10 is 7, not 7.000000000000001
        rows = [math.floor(q) for q in quota]
        extra = counts[c] - sum(rows)
        priority = sorted(range(n_splits), key=lambda s: (-round(quota[s] - rows[s] + behind[s], 9), s))
        for s in priority[:extra]:
            rows[s] += 1
        for s in range(n_splits):  # rare class: one row for every split, taken from the largest
            if rows[s] == 0:
                donor = max((d for d in range(n_splits) if rows[d] > 1), key=lambda d: rows[d] - quota[d])
                rows[donor] -= 1
                rows[s] = 1
        for s in range(n_splits):
            behind[s] += quota[s] - rows[s]
        alloc[c] = rows
    return alloc


def _rows(k: int) -> str:
    return f"{k} row" if k == 1 else f"{k} rows"


def _stratify(labels: Any, fractions: list[float], seed: int | None, what: str) -> tuple[torch.Tensor, ...]:
    y = _as_labels("labels", labels)
    n_splits = len(fractions)
    y_cpu = y.cpu()
    classes, counts = _unique(y_cpu)
    inverse = _encode(y_cpu, classes)
    rare = (counts < n_splits).nonzero().flatten()
    if len(rare):
        shown = ", ".join(f"class {classes[i].item()} ({_rows(int(counts[i]))})" for i in rare[:5])
        raise ValueError(
            f"`labels` has classes with fewer rows than the {n_splits} {what} each class must appear in: "
            f"{shown}{' ...' if len(rare) > 5 else ''}; merge rare classes, drop them, or use fewer {what}"
        )
    g = _seed(seed)
    class_order = torch.randperm(len(classes), generator=g).tolist()
    alloc = torch.tensor(_allocate(counts.tolist(), fractions, class_order))  # (C, S)
    perm = torch.randperm(len(y), generator=g)
    order = perm[torch.sort(inverse[perm], stable=True).indices]  # grouped by class, random within
    cls = inverse[order]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts[cls]
    split_of = (torch.cumsum(alloc, 1)[cls] <= rank[:, None]).sum(1)
    return _split_indices(order, split_of, n_splits, y.device)


def stratified_split(
    labels: torch.Tensor,
    *,
    fractions: Sequence[float] | None = None,
    test_size: float | None = None,
    val_size: float | None = None,
    seed: int | None = 0,
) -> tuple[torch.Tensor, ...]:
    """Split rows at random so that every class is divided in the given proportions.

    Each class ``c`` with ``n_c`` rows puts ``floor`` or ``ceil`` of ``n_c * f`` rows
    into a split of fraction ``f`` and at least one row into every split; split sizes end
    within about one row of ``n * f``.

    Args:
        labels: ``(N,)`` integer or bool class labels.
        fractions: split fractions in order, e.g. ``(0.8, 0.1, 0.1)``; they must sum to 1.
        test_size: instead of ``fractions``: test fraction (default 0.2) ...
        val_size: ... and an optional validation fraction (returns train, val, test).
        seed: seed of the shuffle (``None``: a fresh one).

    Returns:
        One ``int64`` index tensor per split, increasing, on ``labels``' device.

    Raises:
        ValueError: a class has fewer rows than there are splits.

    Example:
        >>> y = torch.tensor([0] * 8 + [1] * 2)
        >>> train, test = stratified_split(y, test_size=0.5, seed=0)
        >>> y[train].tolist(), y[test].tolist()
        ([0, 0, 0, 0, 1], [0, 0, 0, 0, 1])
    """
    return _stratify(labels, _fractions(fractions, test_size, val_size), seed, "splits")


def stratified_kfold(labels: torch.Tensor, n_splits: int = 5, *, seed: int | None = 0) -> Folds:
    """``n_splits`` folds; each class is spread over the test folds ``floor``/``ceil`` of
    ``n_c / n_splits`` rows each (the counts scikit-learn's ``StratifiedKFold`` gives).

    Args:
        labels: ``(N,)`` class labels; every class needs at least ``n_splits`` rows.
        n_splits: number of folds, ``>= 2``.
        seed: seed of the shuffle.

    Returns:
        ``[(train, test), ...]``: the test folds partition the rows.

    Example:
        >>> folds = stratified_kfold(torch.tensor([0, 1] * 6), n_splits=3)
        >>> [len(test) for _, test in folds]
        [4, 4, 4]
    """
    n_splits = check_int("n_splits", n_splits, min=2)  # type: ignore[assignment]
    return _folds(_stratify(labels, [1.0 / n_splits] * n_splits, seed, "folds"))


# ---------------------------------------------------------------- groups


def _group_ids(groups: Any) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
    """``(inverse (N,), sizes (G,), names)`` for a tensor of ids or a sequence of hashables."""
    if isinstance(groups, torch.Tensor):
        check_tensor("groups", groups, ndim=1)
        if groups.dtype.is_floating_point or groups.dtype.is_complex:
            raise TypeError(
                f"`groups` must hold integer ids (or be a sequence of hashable ids), got dtype {groups.dtype}"
            )
        names, inverse, sizes = torch.unique(groups.cpu(), return_inverse=True, return_counts=True)
        return inverse, sizes, names.tolist()
    if isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, np.ndarray)):
        raise TypeError(f"`groups` must be a 1-D tensor or a sequence of ids, got {describe(groups)}")
    index: dict[Any, int] = {}
    try:
        inverse = torch.tensor([index.setdefault(g, len(index)) for g in groups], dtype=torch.long)
    except TypeError as exc:
        raise TypeError(f"`groups` must hold hashable ids, got {describe(groups)}") from exc
    return inverse, torch.bincount(inverse, minlength=len(index)), list(index)


def _assign_groups(sizes: list[int], targets: list[float], order: list[int]) -> list[int]:
    """Each group, in ``order``, to the split furthest below its target (relative)."""
    load = [0] * len(targets)
    split_of = [0] * len(sizes)
    for g in order:
        s = max(range(len(targets)), key=lambda k: (targets[k] - load[k]) / targets[k])
        split_of[g] = s
        load[s] += sizes[g]
    return split_of


def _check_groups(sizes: torch.Tensor, names: list[Any], targets: list[float], what: str) -> None:
    if len(sizes) < len(targets):
        raise ValueError(f"`groups` has {len(sizes)} distinct groups, fewer than the {len(targets)} {what}")
    big = int(torch.argmax(sizes))
    if sizes[big] > max(targets):
        raise ValueError(
            f"`groups`: group {names[big]!r} has {_rows(int(sizes[big]))}, more than the largest of the {what} "
            f"should hold ({max(targets):.0f} of {int(sizes.sum())} rows), so no assignment keeps the sizes; "
            "split that group's rows by another key or change the fractions"
        )


def group_split(
    groups: torch.Tensor | Sequence[Any],
    *,
    fractions: Sequence[float] | None = None,
    test_size: float | None = None,
    val_size: float | None = None,
    seed: int | None = 0,
) -> tuple[torch.Tensor, ...]:
    """Split rows so that all rows of a group (a patient, a user, a video) land together.

    Groups are visited in a random order and each joins the split furthest below its
    target size (relative to it); every split gets at least one group and ends within
    the size of one group of its target (within ``S - 1`` groups in the worst case).

    Args:
        groups: ``(N,)`` integer tensor or sequence of hashable ids (e.g. strings).
        fractions, test_size, val_size: as in :func:`stratified_split`; fractions of rows.
        seed: seed of the group order.

    Returns:
        One ``int64`` index tensor per split, increasing.

    Raises:
        ValueError: fewer groups than splits, or a group larger than the largest split.

    Example:
        >>> patients = ["a", "a", "b", "b", "c", "c", "d", "e", "e", "e"]
        >>> train, test = group_split(patients, test_size=0.3, seed=0)
        >>> sorted({patients[i] for i in test.tolist()}) + ["|"] + sorted({patients[i] for i in train.tolist()})
        ['a', 'd', '|', 'b', 'c', 'e']
    """
    fr = _fractions(fractions, test_size, val_size)
    inverse, sizes, names = _group_ids(groups)
    targets = [f * len(inverse) for f in fr]
    _check_groups(sizes, names, targets, "splits")
    order = torch.randperm(len(sizes), generator=_seed(seed)).tolist()
    split_of = torch.tensor(_assign_groups(sizes.tolist(), targets, order))[inverse]
    return _split_indices(torch.arange(len(inverse)), split_of, len(fr), _device(groups))


def group_kfold(groups: torch.Tensor | Sequence[Any], n_splits: int = 5, *, seed: int | None = 0) -> Folds:
    """``n_splits`` folds with no group in two folds and balanced sizes.

    As scikit-learn's ``GroupKFold``: the largest group first, each to the currently
    smallest fold (so the fold sizes are the same as scikit-learn's); the seed only
    orders groups of equal size and numbers the folds.

    Example:
        >>> folds = group_kfold(torch.tensor([0, 0, 0, 1, 1, 2, 3]), n_splits=2)
        >>> sorted(len(test) for _, test in folds)
        [3, 4]
    """
    n_splits = check_int("n_splits", n_splits, min=2)  # type: ignore[assignment]
    inverse, sizes, names = _group_ids(groups)
    targets = [len(inverse) / n_splits] * n_splits
    if len(sizes) < n_splits:
        raise ValueError(f"`groups` has {len(sizes)} distinct groups, fewer than `n_splits`={n_splits}")
    g = _seed(seed)
    perm = torch.randperm(len(sizes), generator=g)
    order = perm[torch.sort(sizes[perm], descending=True, stable=True).indices].tolist()
    fold_names = torch.randperm(n_splits, generator=g)
    split_of = fold_names[torch.tensor(_assign_groups(sizes.tolist(), targets, order))][inverse]
    return _folds(_split_indices(torch.arange(len(inverse)), split_of, n_splits, _device(groups)))


# ---------------------------------------------------------------- time


def _times(timestamps: Any, gap: Any) -> tuple[torch.Tensor, float | int]:
    """Timestamps as a 1-D CPU tensor (datetime64 as int64 nanoseconds) and the gap in their unit."""
    if isinstance(timestamps, np.ndarray) and np.issubdtype(timestamps.dtype, np.datetime64):
        if np.isnat(timestamps).any():
            raise ValueError(f"`timestamps` must not contain NaT, got {int(np.isnat(timestamps).sum())}")
        t = torch.from_numpy(timestamps.astype("datetime64[ns]").astype(np.int64))
        gap = np.timedelta64(0, "ns") if gap == 0 else gap
        if not isinstance(gap, np.timedelta64):
            raise TypeError(f"`gap` must be a numpy.timedelta64 for datetime64 timestamps, got {describe(gap)}")
        gap = int(gap.astype("timedelta64[ns]").astype(np.int64))
    else:
        if not isinstance(timestamps, torch.Tensor):
            try:
                timestamps = torch.as_tensor(timestamps)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(
                    f"`timestamps` must be numbers or numpy datetime64, got {describe(timestamps)}"
                ) from exc
        t = check_tensor("timestamps", timestamps, ndim=1, dtypes="numeric").cpu()
        if t.dtype.is_floating_point and bool(torch.isnan(t).any()):
            bad = int(torch.isnan(t).sum())
            raise ValueError(f"`timestamps` must not contain NaN (they cannot be ordered), got {bad}")
        gap = check_float("gap", gap, min=0.0)  # type: ignore[assignment]
        if not t.dtype.is_floating_point:  # integer times: t < t_next - gap  <=>  t < t_next - floor(gap)
            gap = math.floor(gap)  # type: ignore[arg-type]
    if len(t) == 0:
        raise ValueError("`timestamps` must not be empty")
    if gap < 0:
        raise ValueError(f"`gap` must be >= 0, got {gap!r}")
    return t, gap


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
    cut = int(torch.searchsorted(ts, ts[end] - gap if gap else ts[end], right=False))
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
    fr = _fractions(fractions, test_size, val_size)
    t, gap = _times(timestamps, gap)
    ts, order = torch.sort(t, stable=True)
    n = len(ts)
    cumulative = np.cumsum(fr)[:-1]
    bounds = [0] + [_tie_boundary(ts, int(round(float(n * c)))) for c in cumulative] + [n]
    if any(b0 >= b1 for b0, b1 in zip(bounds, bounds[1:])):
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
    return _split_indices(order, split_of, len(fr), _device(timestamps))


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
    n_splits = check_int("n_splits", n_splits, min=2)  # type: ignore[assignment]
    t, gap = _times(timestamps, gap)
    ts, order = torch.sort(t, stable=True)
    n = len(ts)
    size = n // (n_splits + 1) if test_size is None else check_int("test_size", test_size, min=1)
    max_train = check_int("max_train_size", max_train_size, min=1, allow_none=True)
    if size < 1 or n - n_splits * size <= 0:  # type: ignore[operator]
        raise ValueError(f"`n_splits`={n_splits} is too many for {n} rows with test folds of {size} rows")
    starts = [_tie_boundary(ts, n - (n_splits - i) * size) for i in range(n_splits)] + [n]  # type: ignore[operator]
    device = _device(timestamps)
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
