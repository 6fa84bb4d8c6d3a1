"""What the label-aware batch samplers share: label checks, grouping by class, fast grouping sorts.

The index bookkeeping runs in numpy on the CPU: its stable sort of 16-bit keys is a
radix sort, and its gathers and integer divisions on a million int64 indices cost a
few milliseconds where the same ``torch`` calls cost tens (measured on the 2-core
reference machine). Random numbers still come from the explicit ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from .._labels import check_class_ids, label_tensor

__all__ = [
    "Labels", "Classes", "check_labels", "small_int", "group_by_class", "stable_argsort", "group_order", "BatchList"
]

Labels = torch.Tensor | np.ndarray | Sequence[int]


class Classes(NamedTuple):
    """Labels grouped by class, computed once per sampler (numpy, CPU)."""

    counts: np.ndarray  # int64 (C,): examples per class, all > 0
    labels: np.ndarray  # (N,): class of each example as 0..C-1, smallest fitting int dtype
    members: np.ndarray  # int64 (N,): example indices sorted by class (stable)


def check_labels(labels: Any) -> torch.Tensor:
    """1-D non-negative integer labels as an int64 CPU tensor; errors name ``labels``."""
    tensor = label_tensor("labels", labels).cpu()
    if tensor.numel() == 0:
        raise ValueError("`labels` must not be empty, got 0 labels")
    check_class_ids("labels", tensor)
    return tensor


def small_int(bound: int) -> type:
    """The smallest numpy signed int type holding ``[0, bound)``."""
    return np.int16 if bound <= 2**15 else np.int32 if bound <= 2**31 else np.int64


def group_by_class(labels: torch.Tensor) -> Classes:
    """Group checked labels (int64 CPU tensor) by class; class ids need not be contiguous."""
    _, compact, counts = np.unique(labels.numpy(), return_inverse=True, return_counts=True)
    compact = compact.reshape(-1).astype(small_int(len(counts)))
    return Classes(counts.astype(np.int64), compact, stable_argsort(compact, len(counts)))


def stable_argsort(keys: np.ndarray, bound: int) -> np.ndarray:
    """Stable argsort of integer keys in ``[0, bound)``, int64.

    A least-significant-digit radix sort in 16-bit digits, each pass numpy's stable sort
    of ``uint16`` (itself a radix sort).
    """
    if bound > 2**32:
        return np.argsort(keys, kind="stable")
    order = np.argsort(keys.astype(np.uint16), kind="stable")  # the low 16 bits
    if bound > 2**16:
        high = (keys >> 16).astype(np.uint16)
        order = order[np.argsort(high[order], kind="stable")]
    return order


def group_order(group: np.ndarray, bound: int, generator: torch.Generator) -> np.ndarray:
    """Positions of ``group`` (ids in ``[0, bound)``) sorted by id, in random order within an id."""
    shuffle = torch.randperm(len(group), generator=generator).numpy()
    return shuffle[stable_argsort(group[shuffle], bound)]


class BatchList(Sequence[list[int]]):
    """Some of an epoch's batches; slicing makes Python lists from one tensor op.

    ``rows`` holds every batch of the epoch (a short last row padded), ``ids`` which rows
    this rank gets, in order, and ``short`` the ``(row, length)`` of the short row.
    """

    def __init__(self, rows: torch.Tensor, ids: torch.Tensor, short: tuple[int, int] | None = None) -> None:
        self._rows, self._ids, self._short = rows, ids, short

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, slice):
            return self[index : index + 1 or None][0]
        ids = self._ids[index]
        batches = self._rows.index_select(0, ids).tolist()
        if self._short is not None:
            row, size = self._short
            for i in (ids == row).nonzero().flatten().tolist():
                batches[i] = batches[i][:size]
        return batches
