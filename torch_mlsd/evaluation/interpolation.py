"""Oversampling before the split: test rows that are interpolations of training rows.

SMOTE makes a new row ``x_i + u (x_nn - x_i)``, ``u`` in ``[0, 1)``, on the segment
between a row and one of its same-class neighbours. Run before the split, it leaves test
rows lying exactly on a segment between two training rows of one class: the model has
seen both ends. :func:`interpolated_rows` finds them with a k-NN search
(:func:`torch_mlsd._neighbors.knn`) and, for every pair among each test row's ``k``
nearest training rows, the distance from the row to the segment between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._neighbors import knn
from .._validate import check_finite, check_float, check_int, describe
from ._inputs import as_labels, as_rows
from .duplicates import MAX_BYTES

__all__ = ["Interpolations", "interpolated_rows"]


@dataclass(frozen=True)
class Interpolations:
    """Test rows on a segment between two training rows (CPU tensors, one entry per row).

    Attributes:
        rows: ``int64`` test rows found.
        left, right: ``int64`` the training rows at the ends of the segment.
        position: where on the segment, in ``(0, 1)`` from ``left`` to ``right``.
        residual: distance from the row to the segment over the segment's length.
        n_test: number of test rows searched.
    """

    rows: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    position: torch.Tensor
    residual: torch.Tensor
    n_test: int

    @property
    def fraction(self) -> float:
        """Share of the test rows found."""
        return len(self.rows) / max(self.n_test, 1)


def _best_segments(
    q: torch.Tensor, nb: torch.Tensor, same: torch.Tensor | None, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each query ``(m, D)`` and its neighbours ``(m, k, D)``: the smallest relative
    residual over the neighbour pairs with the query strictly inside, its pair and position."""
    k = nb.shape[1]
    u = nb - q[:, None, :]  # neighbours seen from the query (centred: small numbers, little cancellation)
    gram = u @ u.transpose(1, 2)  # (m, k, k)
    first, second = torch.triu_indices(k, k, 1, device=q.device)
    aa, bb, ab = gram[:, first, first], gram[:, second, second], gram[:, first, second]
    length2 = (aa + bb - 2 * ab).clamp_min(1e-300)
    t = (aa - ab) / length2
    residual = (aa - t * t * length2).clamp_min(0).sqrt() / length2.sqrt()
    norms = nb.norm(dim=2)
    rounding = eps * torch.maximum(norms[:, first], norms[:, second]) / length2.sqrt()  # float rounding of the row
    inside = (t * length2.sqrt() > rounding) & ((1 - t) * length2.sqrt() > rounding)  # not a copy of an end
    if same is not None:
        inside &= same[:, first] == same[:, second]
    residual = torch.where(inside, (residual - 4 * rounding).clamp_min(0), torch.full_like(residual, torch.inf))
    best, pair = residual.min(1)
    return best, pair, t.gather(1, pair[:, None])[:, 0]


def interpolated_rows(
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    y_train: torch.Tensor | None = None,
    *,
    k: int = 10,
    tolerance: float = 1e-5,
    max_bytes: int = MAX_BYTES,
) -> Interpolations:
    """Test rows that lie on the segment between two of their ``k`` nearest training rows
    (of the same class when ``y_train`` is given), as SMOTE before the split leaves them.

    A row counts when its distance to the segment is at most ``tolerance`` times the
    segment's length (after allowing for the rounding of the row's own dtype) and it is
    strictly between the ends (a copy of a training row is a duplicate, reported by the
    duplicate checks). Meant for continuous features: with one or two features, or rows
    on a lattice (counts, one-hot codes), rows fall on segments by chance.

    Args:
        x_train: ``(N, ...)`` training rows, real, finite, any device.
        x_test: ``(M, ...)`` test rows, same row shape and device.
        y_train: ``(N,)`` labels: the two ends must share one.
        k: training neighbours per test row whose pairs are tried (``k (k - 1) / 2`` pairs).
        tolerance: relative distance to the segment, ``> 0``.
        max_bytes: memory bound of one block of test rows (their neighbours, in float64).

    Returns:
        :class:`Interpolations`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> train = torch.randn(200, 5, generator=g)
        >>> smote = train[3] + 0.4 * (train[7] - train[3])  # an interpolated row
        >>> found = interpolated_rows(train, torch.cat([torch.randn(20, 5, generator=g), smote[None]]), k=200)
        >>> found.rows.tolist(), sorted([int(found.left[0]), int(found.right[0])])
        ([20], [3, 7])
    """
    a, b = as_rows("x_train", x_train), as_rows("x_test", x_test)
    if b.shape[1] != a.shape[1] or b.device != a.device:
        raise ValueError(f"`x_test` must have rows like `x_train` ({describe(x_train)}), got {describe(x_test)}")
    if a.dtype.is_complex or a.dtype == torch.bool:
        raise TypeError(f"`x_train` must be real numbers, got {describe(x_train)}")
    k = check_int("k", k, min=2, max=len(a))
    tolerance = check_float("tolerance", tolerance, min=0.0, min_open=True)
    max_bytes = check_int("max_bytes", max_bytes, min=1)
    labels = None
    if y_train is not None:
        labels = as_labels("y_train", y_train)
        if len(labels) != len(a) or labels.device != a.device:
            raise ValueError(f"`y_train` must have {len(a)} labels on {a.device}, got {describe(y_train)}")
    eps = torch.finfo(a.dtype).eps if a.dtype.is_floating_point else torch.finfo(torch.float64).eps
    a64, b64 = check_finite("x_train", a.double()), check_finite("x_test", b.double())
    _, index = knn(b64, a64, k, max_bytes=max_bytes)
    step = max(1, max_bytes // (8 * k * (a.shape[1] + k * k)))
    found = []
    for start in range(0, len(b), step):
        idx = index[start : start + step]
        same = labels[idx] if labels is not None else None
        best, pair, t = _best_segments(b64[start : start + step], a64[idx], same, eps)
        hit = (best <= tolerance).nonzero().flatten()
        first, second = torch.triu_indices(k, k, 1, device=a.device)
        left, right = idx[hit, first[pair[hit]]], idx[hit, second[pair[hit]]]
        found.append((hit + start, left, right, t[hit], best[hit]))
    rows, left, right, t, residual = (torch.cat(parts).cpu() for parts in zip(*found, strict=True))
    return Interpolations(rows, left, right, t, residual, len(b))
