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
Randomness follows torch's convention: ``generator=None`` (the default) draws from fresh
OS entropy, so each call gives a different split, as scikit-learn's ``random_state=None``.
A split that changes between runs quietly mixes test rows into the next run's training:
pass a seeded generator, ``generator=torch.Generator().manual_seed(0)``, to get the same
split every time. Draws happen on that CPU generator (a CUDA generator is rejected), so
one seed gives the same split for labels on the CPU and on a GPU.

Splits depend only on which rows share a class (or a group), never on the label values:
classes are numbered by their first row, so renaming them leaves every split unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._random import resolve_generator
from .._validate import check_int, check_tensor, describe
from ._folds import Folds, as_fractions, device_of, kfold_pairs, split_indices
from ._inputs import as_int64, as_labels, class_ids

__all__ = ["stratified_split", "group_split", "stratified_kfold", "group_kfold"]


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


def _stratify(
    y: Any, fractions: list[float], generator: torch.Generator | None, what: str
) -> tuple[torch.Tensor, ...]:
    y = as_labels("y", y)
    g = resolve_generator(generator, "cpu")
    n_splits = len(fractions)
    inverse, counts, classes = class_ids(y.cpu())
    rare = (counts < n_splits).nonzero().flatten()
    if len(rare):
        shown = ", ".join(f"class {classes[i].item()} ({_rows(int(counts[i]))})" for i in rare[:5])
        raise ValueError(
            f"`y` has classes with fewer rows than the {n_splits} {what} each class must appear in: "
            f"{shown}{' ...' if len(rare) > 5 else ''}; merge rare classes, drop them, or use fewer {what}"
        )
    class_order = torch.randperm(len(classes), generator=g).tolist()
    alloc = torch.tensor(_allocate(counts.tolist(), fractions, class_order))  # (C, S)
    perm = torch.randperm(len(y), generator=g)
    order = perm[torch.sort(inverse[perm], stable=True).indices]  # grouped by class, random within
    cls = inverse[order]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts[cls]
    split_of = (torch.cumsum(alloc, 1)[cls] <= rank[:, None]).sum(1)
    return split_indices(order, split_of, n_splits, y.device)


def stratified_split(
    y: torch.Tensor,
    *,
    fractions: Sequence[float] | None = None,
    test_size: float | None = None,
    val_size: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """Split rows at random so that every class is divided in the given proportions.

    Each class ``c`` with ``n_c`` rows puts ``floor`` or ``ceil`` of ``n_c * f`` rows
    into a split of fraction ``f`` and at least one row into every split; split sizes end
    within about one row of ``n * f``.

    Args:
        y: ``(N,)`` integer or bool class labels (scikit-learn's ``stratify=y``).
        fractions: split fractions in order, e.g. ``(0.8, 0.1, 0.1)``; they must sum to 1.
        test_size: instead of ``fractions``: test fraction (default 0.2) ...
        val_size: ... and an optional validation fraction (returns train, val, test).
        generator: CPU generator of the shuffle; ``None`` draws fresh OS entropy (a
            different split each call): seed one for a reproducible split.

    Returns:
        One ``int64`` index tensor per split, increasing, on ``y``'s device.

    Raises:
        ValueError: a class has fewer rows than there are splits.

    Example:
        >>> y = torch.tensor([0] * 8 + [1] * 2)
        >>> train, test = stratified_split(y, test_size=0.5, generator=torch.Generator().manual_seed(0))
        >>> y[train].tolist(), y[test].tolist()
        ([0, 0, 0, 0, 1], [0, 0, 0, 0, 1])
    """
    return _stratify(y, as_fractions(fractions, test_size, val_size), generator, "splits")


def stratified_kfold(y: torch.Tensor, n_splits: int = 5, *, generator: torch.Generator | None = None) -> Folds:
    """``n_splits`` folds; each class is spread over the test folds ``floor``/``ceil`` of
    ``n_c / n_splits`` rows each (the counts scikit-learn's ``StratifiedKFold`` gives).

    Args:
        y: ``(N,)`` class labels; every class needs at least ``n_splits`` rows.
        n_splits: number of folds, ``>= 2``.
        generator: CPU generator of the shuffle (``None``: fresh OS entropy).

    Returns:
        ``[(train, test), ...]``: the test folds partition the rows.

    Example:
        >>> folds = stratified_kfold(torch.tensor([0, 1] * 6), n_splits=3)
        >>> [len(test) for _, test in folds]
        [4, 4, 4]
    """
    n_splits = check_int("n_splits", n_splits, min=2)
    return kfold_pairs(_stratify(y, [1.0 / n_splits] * n_splits, generator, "folds"))


# ---------------------------------------------------------------- groups


def _group_ids(groups: Any) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
    """``(inverse (N,), sizes (G,), names)`` for a tensor of ids or a sequence of hashables;
    groups are numbered by their first row, whatever their ids."""
    if isinstance(groups, torch.Tensor):
        check_tensor("groups", groups, ndim=1)
        if groups.dtype.is_floating_point or groups.dtype.is_complex:
            raise TypeError(
                f"`groups` must hold integer ids (or be a sequence of hashable ids), got dtype {groups.dtype}"
            )
        inverse, sizes, names = class_ids(as_int64("groups", groups.cpu()))
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
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """Split rows so that all rows of a group (a patient, a user, a video) land together.

    Groups are visited in a random order and each joins the split furthest below its
    target size (relative to it); every split gets at least one group and ends within
    the size of one group of its target (within ``S - 1`` groups in the worst case).

    Args:
        groups: ``(N,)`` integer tensor or sequence of hashable ids (e.g. strings).
        fractions, test_size, val_size: as in :func:`stratified_split`; fractions of rows.
        generator: CPU generator of the group order (``None``: fresh OS entropy).

    Returns:
        One ``int64`` index tensor per split, increasing.

    Raises:
        ValueError: fewer groups than splits, or a group larger than the largest split.

    Example:
        >>> patients = ["a", "a", "b", "b", "c", "c", "d", "e", "e", "e"]
        >>> train, test = group_split(patients, test_size=0.3, generator=torch.Generator().manual_seed(0))
        >>> sorted({patients[i] for i in test.tolist()}) + ["|"] + sorted({patients[i] for i in train.tolist()})
        ['a', 'd', '|', 'b', 'c', 'e']
    """
    fr = as_fractions(fractions, test_size, val_size)
    inverse, sizes, names = _group_ids(groups)
    targets = [f * len(inverse) for f in fr]
    _check_groups(sizes, names, targets, "splits")
    order = torch.randperm(len(sizes), generator=resolve_generator(generator, "cpu")).tolist()
    split_of = torch.tensor(_assign_groups(sizes.tolist(), targets, order))[inverse]
    return split_indices(torch.arange(len(inverse)), split_of, len(fr), device_of(groups))


def group_kfold(
    groups: torch.Tensor | Sequence[Any], n_splits: int = 5, *, generator: torch.Generator | None = None
) -> Folds:
    """``n_splits`` folds with no group in two folds and balanced sizes.

    As scikit-learn's ``GroupKFold``: the largest group first, each to the currently
    smallest fold (so the fold sizes are the same as scikit-learn's); the ``generator``
    (CPU, ``None``: fresh OS entropy) only orders groups of equal size and numbers the folds.

    Example:
        >>> folds = group_kfold(torch.tensor([0, 0, 0, 1, 1, 2, 3]), n_splits=2)
        >>> sorted(len(test) for _, test in folds)
        [3, 4]
    """
    n_splits = check_int("n_splits", n_splits, min=2)
    inverse, sizes, names = _group_ids(groups)
    targets = [len(inverse) / n_splits] * n_splits
    if len(sizes) < n_splits:
        raise ValueError(f"`groups` has {len(sizes)} distinct groups, fewer than `n_splits`={n_splits}")
    g = resolve_generator(generator, "cpu")
    perm = torch.randperm(len(sizes), generator=g)
    order = perm[torch.sort(sizes[perm], descending=True, stable=True).indices].tolist()
    fold_names = torch.randperm(n_splits, generator=g)
    split_of = fold_names[torch.tensor(_assign_groups(sizes.tolist(), targets, order))][inverse]
    return kfold_pairs(split_indices(torch.arange(len(inverse)), split_of, n_splits, device_of(groups)))


