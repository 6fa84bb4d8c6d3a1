"""Random over- and under-sampling on the tensors' device (imbalanced-learn's
``RandomOverSampler`` / ``RandomUnderSampler``, for tensors of any shape)."""

from __future__ import annotations

import torch

from .._random import resolve_generator
from .._validate import check_bool
from ._common import ClassIndex, SamplingStrategy, check_xy, resampled, resolve_sampling_strategy

__all__ = ["random_oversample", "random_undersample"]


def random_oversample(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    generator: torch.Generator | None = None,
    return_indices: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Duplicate random rows of the classes to grow, drawn uniformly with replacement.

    Args:
        x: ``(N, *)`` rows of any dtype (tables, images, token ids...); NaN allowed.
        y: ``(N,)`` integer labels on the same device.
        sampling_strategy: as in imbalanced-learn, for over-sampling: ``"auto"`` (=
            ``"not majority"``: every class but the majority grows to the majority's
            count), ``"minority"``, ``"not minority"``, ``"not majority"``, ``"all"``; a
            float ``r`` in ``(0, 1]`` for 2 classes (the minority grows to
            ``int(r * n_majority)``); or a dict ``{class: final count}`` (each count at
            least the class's current one). Ties for majority/minority go to the lowest
            label.
        generator: draws happen on it; it must be on ``x``'s device (``None``: a fresh
            OS-seeded one). Same generator state and device, same result.
        return_indices: also return the source row of every output row.

    Returns:
        ``(x_resampled, y_resampled)`` and, with ``return_indices``, ``indices`` ``(M,)``
        int64 with ``x_resampled == x[indices]``. The ``N`` original rows come first,
        unchanged and in order, then the new rows class by class in ascending label
        order (imbalanced-learn's order). Same dtype and device as the inputs; ``x``
        and ``y`` are not modified.

    Example:
        >>> x, y = torch.arange(5.0)[:, None], torch.tensor([0, 0, 0, 1, 1])
        >>> xr, yr = random_oversample(x, y, generator=torch.Generator().manual_seed(0))
        >>> yr.tolist()
        [0, 0, 0, 1, 1, 1]
        >>> xr[5].item() in (3.0, 4.0)
        True
    """
    check_xy(x, y, x_kind="any")
    check_bool("return_indices", return_indices)
    classes = ClassIndex(y)
    plan = resolve_sampling_strategy(sampling_strategy, classes, "over")
    g = resolve_generator(generator, x.device)
    indices = [torch.arange(len(y), device=x.device)]  # the originals first, in order
    for label, n_new in plan.items():
        if n_new > 0:
            rows = classes.members(label)
            indices.append(rows[torch.randint(len(rows), (n_new,), generator=g, device=x.device)])
    return resampled(x, y, torch.cat(indices), return_indices)


def random_undersample(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    replacement: bool = False,
    generator: torch.Generator | None = None,
    return_indices: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Keep a random subset of the rows of the classes to shrink.

    Args:
        x: ``(N, *)`` rows of any dtype; NaN allowed.
        y: ``(N,)`` integer labels on the same device.
        sampling_strategy: as in imbalanced-learn, for under-sampling: ``"auto"`` (=
            ``"not minority"``: every class but the minority shrinks to the minority's
            count), ``"majority"``, ``"not minority"``, ``"not majority"``, ``"all"``; a
            float ``r`` in ``(0, 1]`` for 2 classes (the majority shrinks to
            ``int(n_minority / r)``); or a dict ``{class: final count}`` (each count at
            most the class's current one).
        replacement: draw the kept rows of a targeted class with replacement.
        generator: as in :func:`random_oversample`.
        return_indices: also return the source row of every output row.

    Returns:
        ``(x_resampled, y_resampled)`` and, with ``return_indices``, ``indices`` with
        ``x_resampled == x[indices]``. The kept rows stay in their original order
        (imbalanced-learn groups them by class instead); with ``replacement`` a row
        drawn several times appears that many times, adjacent.

    Example:
        >>> x, y = torch.arange(6.0)[:, None], torch.tensor([0, 0, 0, 0, 1, 1])
        >>> xr, yr, idx = random_undersample(x, y, generator=torch.Generator().manual_seed(0), return_indices=True)
        >>> yr.tolist(), bool((idx.diff() > 0).all())
        ([0, 0, 1, 1], True)
    """
    check_xy(x, y, x_kind="any")
    check_bool("replacement", replacement)
    check_bool("return_indices", return_indices)
    classes = ClassIndex(y)
    plan = resolve_sampling_strategy(sampling_strategy, classes, "under")
    g = resolve_generator(generator, x.device)
    times = torch.ones(len(y), dtype=torch.long, device=x.device)  # how often each row is kept
    for label, n_keep in plan.items():
        rows = classes.members(label)
        if replacement:
            kept = rows[torch.randint(len(rows), (n_keep,), generator=g, device=x.device)]
        else:
            kept = rows[torch.randperm(len(rows), generator=g, device=x.device)[:n_keep]]
        times[rows] = 0
        times.index_put_((kept,), torch.ones_like(kept), accumulate=True)
    return resampled(x, y, torch.repeat_interleave(times), return_indices)
