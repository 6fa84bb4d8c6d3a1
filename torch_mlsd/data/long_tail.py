"""Long-tailed subsets of balanced data sets (CIFAR-10-LT style)."""

from __future__ import annotations

from typing import Literal

import torch

from .._labels import as_int64
from .._random import resolve_generator
from .._validate import check_choice, check_float, check_int, check_tensor

__all__ = ["long_tail_counts", "long_tail_indices"]

Profile = Literal["exponential", "step"]


def long_tail_counts(
    num_classes: int, max_count: int, *, imbalance_ratio: float, profile: Profile = "exponential"
) -> list[int]:
    """Per-class counts of a long-tailed data set, largest first.

    ``"exponential"`` (Cui et al. 2019): ``n_c = floor(max_count * ratio^(-c / (C - 1)))``,
    so class 0 keeps ``max_count`` and the last class ``max_count / ratio``.
    ``"step"`` (Buda et al. 2018): the first half of the classes keep ``max_count``, the
    rest ``max_count / ratio``. Every count is at least 1.

    Example:
        >>> long_tail_counts(10, 5000, imbalance_ratio=100)
        [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    """
    num_classes = check_int("num_classes", num_classes, min=1)
    max_count = check_int("max_count", max_count, min=1)
    ratio = check_float("imbalance_ratio", imbalance_ratio, min=1.0)
    check_choice("profile", profile, ("exponential", "step"))
    if num_classes == 1:
        return [max_count]
    if profile == "exponential":
        return [max(1, int(max_count * ratio ** (-c / (num_classes - 1)))) for c in range(num_classes)]
    head = (num_classes + 1) // 2
    return [max_count if c < head else max(1, int(max_count / ratio)) for c in range(num_classes)]


def long_tail_indices(
    labels: torch.Tensor,
    *,
    imbalance_ratio: float,
    profile: Profile = "exponential",
    max_count: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices of a long-tailed subset of a labelled data set.

    Class ``c`` (classes ordered by id) keeps ``long_tail_counts(...)[c]`` examples,
    chosen uniformly at random without replacement. ``max_count`` defaults to the
    smallest class size, so every class can honour its count.

    Args:
        labels: ``(N,)`` integer class ids ``0..C-1``.
        imbalance_ratio: largest over smallest class count (e.g. 100).
        profile: ``"exponential"`` or ``"step"``.
        max_count: count of class 0.
        generator: CPU generator of the choice (``None``: a fresh OS-seeded one); the
            same generator state gives the same subset on every device.

    Returns:
        ``(M,)`` int64 indices into ``labels``, sorted ascending, on ``labels``' device.

    Example:
        >>> y = torch.arange(3).repeat_interleave(100)
        >>> idx = long_tail_indices(y, imbalance_ratio=10, generator=torch.Generator().manual_seed(0))
        >>> torch.bincount(y[idx]).tolist()
        [100, 31, 10]
    """
    check_tensor("labels", labels, ndim=1, dtypes="integer")
    if labels.numel() == 0:
        raise ValueError("`labels` must not be empty, got 0 labels")
    device, labels = labels.device, as_int64("labels", labels).cpu()  # any integer dtype, read as int64
    if int(labels.min()) < 0:
        raise ValueError(f"`labels` must be >= 0, got minimum {int(labels.min())}")
    present = torch.bincount(labels)
    if bool((present == 0).any()):
        empty = (present == 0).nonzero().flatten().tolist()
        raise ValueError(f"`labels` must contain every class 0..{len(present) - 1}, got none of classes {empty}")
    smallest = int(present.min())
    max_count = check_int("max_count", smallest if max_count is None else max_count, min=1)
    counts = long_tail_counts(len(present), max_count, imbalance_ratio=imbalance_ratio, profile=profile)
    too_many = [c for c, k in enumerate(counts) if k > int(present[c])]
    if too_many:
        c = too_many[0]
        raise ValueError(
            f"`max_count` must allow class {c} to keep {counts[c]} examples, but it has only {int(present[c])}"
        )
    g = resolve_generator(generator)
    # One random key per example; within each class the smallest keys are kept.
    keys = torch.rand(labels.numel(), generator=g, dtype=torch.float64)
    order = torch.argsort(labels.double() * 2.0 + keys)  # classes contiguous, shuffled inside
    starts = torch.cumsum(present, 0) - present
    rank_in_class = torch.arange(labels.numel()) - starts[labels[order]]
    keep = rank_in_class < torch.tensor(counts)[labels[order]]
    return order[keep].sort().values.to(device)
