"""Exact k-nearest-neighbour search in memory-bounded chunks, on the tensors' device.

Used by SMOTE, Tomek links and the near-duplicate leakage check. The distance matrix is
never held whole: queries are processed in blocks so that a block's distances to all
reference points stay under ``max_bytes``.
"""

from __future__ import annotations

from typing import Literal

import torch

from ._validate import check_choice, check_int, check_tensor

__all__ = ["knn"]

Metric = Literal["euclidean", "cosine"]


def knn(
    query: torch.Tensor,
    reference: torch.Tensor,
    k: int,
    *,
    metric: Metric = "euclidean",
    exclude_self: bool = False,
    max_bytes: int = 256 * 2**20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference rows of every query row.

    Args:
        query: ``(Q, D)`` floating tensor.
        reference: ``(R, D)`` tensor on the same device and dtype.
        k: neighbours per query, ``1 <= k <= R`` (``R - 1`` with ``exclude_self``).
        metric: ``"euclidean"`` (distances returned, not squared) or ``"cosine"``
            (returns cosine *similarities*, largest first).
        exclude_self: ``query`` is ``reference``; row ``i`` never returns itself.
        max_bytes: bound on the memory of one block of the distance matrix.

    Returns:
        ``(values, indices)``, each ``(Q, k)``, sorted nearest first. Exact ties may
        come back in either order.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0]])
        >>> knn(x, x, 1, exclude_self=True)[1].flatten().tolist()
        [1, 0, 1]
    """
    check_tensor("query", query, ndim=2, dtypes="float")
    check_tensor("reference", reference, ndim=2, dtypes="float")
    check_choice("metric", metric, ("euclidean", "cosine"))
    if query.shape[1] != reference.shape[1]:
        raise ValueError(
            f"`query` and `reference` must have the same number of columns, got {query.shape[1]} and {reference.shape[1]}"
        )
    available = reference.shape[0] - (1 if exclude_self else 0)
    k = check_int("k", k, min=1, max=max(available, 1))  # type: ignore[assignment]
    if available < 1:
        raise ValueError(f"`reference` must have more than {k} rows, got {reference.shape[0]}")
    if exclude_self and query.shape[0] != reference.shape[0]:
        raise ValueError("`exclude_self` needs `query` and `reference` to be the same rows")

    if metric == "cosine":
        query = torch.nn.functional.normalize(query, dim=1)
        reference = torch.nn.functional.normalize(reference, dim=1)
    else:
        ref_sq = reference.pow(2).sum(1)
    n_ref = reference.shape[0]
    block = max(1, max_bytes // (n_ref * reference.element_size()))
    values, indices = [], []
    for start in range(0, query.shape[0], block):
        q = query[start : start + block]
        if metric == "cosine":
            score = q @ reference.T  # similarity: larger is nearer
        else:
            # -(|q|^2 - 2 q.r + |r|^2): larger is nearer, so topk(largest=True) serves both
            score = torch.addmm(ref_sq, q, reference.T, beta=-1.0, alpha=2.0)
            score -= q.pow(2).sum(1, keepdim=True)
        if exclude_self:
            rows = torch.arange(q.shape[0], device=q.device)
            score[rows, rows + start] = float("-inf")
        v, i = torch.topk(score, k, dim=1, largest=True, sorted=True)
        values.append(v)
        indices.append(i)
    v = torch.cat(values) if values else query.new_empty((0, k))
    i = torch.cat(indices) if indices else torch.empty((0, k), dtype=torch.long, device=query.device)
    if metric == "euclidean":
        v = (-v).clamp_min_(0).sqrt_()
    return v, i
