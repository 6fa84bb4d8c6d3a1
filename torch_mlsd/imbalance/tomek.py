"""Tomek links (Tomek 1976): mutual nearest neighbours with different labels."""

from __future__ import annotations

import torch

from .._neighbors import knn
from .._validate import check_bool, check_finite
from ._common import ClassIndex, SamplingStrategy, check_xy, resampled, resolve_sampling_strategy

__all__ = ["tomek_links", "remove_tomek_links"]


def tomek_links(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    max_bytes: int = 256 * 2**20,
) -> torch.Tensor:
    """Which rows to drop: members of a Tomek link that belong to a targeted class.

    Two rows form a Tomek link when each is the other's nearest neighbour (Euclidean,
    over all of ``x``, exact) and their labels differ. As imbalanced-learn's
    ``TomekLinks``, only the link members of the targeted classes are marked.

    Args:
        x: ``(N, *)`` real rows, finite (flattened for the distances); integer rows are
            compared in float32 (int8/int16/uint8) or float64, float16/bfloat16 in
            float32.
        y: ``(N,)`` integer labels on the same device.
        sampling_strategy: the classes whose link members are dropped: ``"auto"`` (=
            ``"not minority"``: the non-minority side of each link), ``"all"`` (both
            sides), ``"majority"``, ``"not majority"``, or a list of classes.
        max_bytes: memory bound of one tile of the neighbour search (never ``n x n``).

    Returns:
        ``(N,)`` bool mask, True for the rows to drop, on ``x``'s device.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0], [5.0]])
        >>> y = torch.tensor([0, 0, 1, 0, 0])
        >>> tomek_links(x, y).tolist()  # rows 1 and 2 are a link; row 1 is majority
        [False, True, False, False, False]
        >>> tomek_links(x, y, sampling_strategy="all").tolist()
        [False, True, True, False, False]
    """
    check_xy(x, y, x_kind="real")
    classes = ClassIndex(y)
    targeted = list(resolve_sampling_strategy(sampling_strategy, classes, "clean"))
    flat = x.reshape(len(y), -1)
    if not flat.dtype.is_floating_point:
        flat = flat.to(torch.float64 if flat.element_size() >= 4 else torch.float32)
    check_finite("x", flat)
    nearest = knn(flat, flat, 1, exclude_self=True, max_bytes=max_bytes)[1][:, 0]
    mutual = nearest[nearest] == torch.arange(len(y), device=x.device)
    labels = classes.y  # int64, whatever y's integer dtype
    link = mutual & (labels[nearest] != labels)
    return link & torch.isin(labels, torch.tensor(targeted, dtype=labels.dtype, device=labels.device))


def remove_tomek_links(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    return_indices: bool = False,
    max_bytes: int = 256 * 2**20,
) -> tuple[torch.Tensor, ...]:
    """Drop the rows :func:`tomek_links` marks (imbalanced-learn's ``TomekLinks().fit_resample``).

    Args:
        x, y, sampling_strategy, max_bytes: as in :func:`tomek_links`.
        return_indices: also return the kept row indices.

    Returns:
        ``(x_resampled, y_resampled)`` with the remaining rows in their original order
        (as imbalanced-learn), and with ``return_indices`` the kept indices ``(M,)``.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [1.5], [4.0], [5.0]])
        >>> remove_tomek_links(x, torch.tensor([0, 0, 1, 0, 0]))[1].tolist()
        [0, 1, 0, 0]
    """
    check_xy(x, y, x_kind="real")
    check_bool("return_indices", return_indices)
    drop = tomek_links(x, y, sampling_strategy=sampling_strategy, max_bytes=max_bytes)
    return resampled(x, y, (~drop).nonzero().squeeze(1), return_indices)
