"""SMOTE (Chawla et al., JAIR 2002) on the tensors' device, for rows of any shape."""

from __future__ import annotations

import torch

from .._neighbors import knn
from .._random import resolve_generator
from .._validate import check_finite, check_int
from ._common import ClassIndex, SamplingStrategy, check_xy, new_rows, resolve_sampling_strategy

__all__ = ["smote"]


def smote(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    k_neighbors: int = 5,
    sampling_strategy: SamplingStrategy = "auto",
    generator: torch.Generator | None = None,
    max_bytes: int = 256 * 2**20,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Synthetic Minority Over-sampling: new rows on segments between same-class neighbours.

    For each class to grow, as imbalanced-learn's ``SMOTE`` does: the ``k_neighbors``
    nearest rows of the *same class* (Euclidean, exact, the row itself excluded) are found
    for each of its rows; ``(row, neighbour)`` pairs are drawn uniformly with replacement
    from those ``n_c * k`` pairs, and each new row is :math:`x_i + u\,(x_{nn} - x_i)` with
    :math:`u \sim U[0, 1)` drawn per new row.

    Args:
        x: ``(N, *)`` floating rows, finite: a table ``(N, D)`` or images ``(N, C, H, W)``
            (flattened for the distances; the output keeps the shape).
        y: ``(N,)`` integer labels on the same device.
        k_neighbors: neighbours per row, ``>= 1``; every class that grows needs at least
            ``k_neighbors + 1`` rows. Default 5.
        sampling_strategy: as in :func:`random_oversample` (default ``"auto"``: every
            class but the majority grows to the majority's count).
        generator: draws happen on it; it must be on ``x``'s device (``None``: a fresh
            OS-seeded one). Same generator state and device, same result.
        max_bytes: memory bound of one tile of the neighbour search (never ``n x n``).

    Returns:
        ``(x_resampled, y_resampled)``: the ``N`` original rows first, unchanged and in
        order, then the new rows class by class in ascending label order
        (imbalanced-learn's order). Same dtype, device and trailing shape as the inputs;
        ``x`` and ``y`` are not modified.

    Raises:
        ValueError: a class to grow has fewer than ``k_neighbors + 1`` rows, NaN/inf in
            ``x``, mismatched lengths, fewer than 2 classes, a bad ``sampling_strategy``.
        TypeError: non-floating ``x``, non-integer ``y``.

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [6.0, 5.0], [5.0, 6.0], [6.0, 6.0]])
        >>> y = torch.tensor([1, 1, 1, 0, 0, 0, 0])
        >>> xr, yr = smote(x, y, k_neighbors=2, generator=torch.Generator().manual_seed(0))
        >>> yr.tolist()
        [1, 1, 1, 0, 0, 0, 0, 1]
        >>> bool((xr[7] >= 0).all() and xr[7].sum() <= 1)  # inside the minority triangle
        True
    """
    check_xy(x, y, x_kind="float")
    k: int = check_int("k_neighbors", k_neighbors, min=1)
    g = resolve_generator(generator, x.device)
    return _smote(x, y, k, sampling_strategy, g, max_bytes)


def _smote(
    x: torch.Tensor, y: torch.Tensor, k: int, sampling_strategy: SamplingStrategy, g: torch.Generator, max_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    check_finite("x", x)
    classes = ClassIndex(y)
    plan = {c: n for c, n in resolve_sampling_strategy(sampling_strategy, classes, "over").items() if n > 0}
    members = {c: classes.members(c) for c in plan}
    for c, rows in members.items():
        if len(rows) < k + 1:
            raise ValueError(
                f"`k_neighbors`={k} needs at least {k + 1} rows in every class to over-sample, "
                f"got {len(rows)} in class {c}"
            )
    n, total = len(y), len(y) + sum(plan.values())
    x_out, y_out = new_rows(total, x), new_rows(total, y)
    x_out[:n].copy_(x)
    y_out[:n].copy_(y)
    flat, flat_out = x.reshape(n, -1), x_out.view(total, -1)
    start = n
    for c, n_new in plan.items():
        points = flat[members[c]]
        neighbours = knn(points, points, k, exclude_self=True, max_bytes=max_bytes)[1]
        pair = torch.randint(len(points) * k, (n_new,), generator=g, device=x.device)
        base = pair.div(k, rounding_mode="floor")
        step = torch.rand((n_new, 1), generator=g, dtype=x.dtype, device=x.device)
        end = start + n_new
        torch.lerp(points[base], points[neighbours.view(-1)[pair]], step, out=flat_out[start:end])
        y_out[start:end] = c
        start = end
    return x_out, y_out
