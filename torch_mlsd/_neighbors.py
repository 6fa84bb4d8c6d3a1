"""Exact k-nearest-neighbour search in memory-bounded tiles, on the tensors' device.

Used by SMOTE, Tomek links and the near-duplicate leakage check. The distance matrix is
never held whole: it is computed one tile at a time, each tile a single matrix product
that stays under ``max_bytes`` (and, on the CPU, in the cache).

How it is fast:

* One matrix product per tile gives the squared distances directly: the rows are
  augmented as ``[x, |x|^2, 1]`` and ``[-2y, 1, |y|^2]``, so no broadcast additions.
  The data are centred first, which keeps ``|x|^2`` small and the expansion accurate.
* ``k == 1`` keeps only the smallest *value* of every row of every tile (a value-only
  ``amin`` is an order of magnitude cheaper than ``min``/``topk`` with indices), plus the
  tile it came from; a second pass recomputes that one tile per row to find the index.
* ``k == 1`` with the query set being the reference set computes only the tiles on and
  above the diagonal: a tile's row minima serve its query rows and its column minima
  serve the rows of the mirrored tile, halving the work (Tomek links).
* ``k > 1`` pre-filters each tile's rows by group minima before ``topk`` (`_smallest`).
* The returned values are recomputed exactly from the rows themselves, and the
  neighbours re-sorted by them.
* The rows are scaled by one power of two first (exact in floating point), so that
  squared norms neither overflow nor underflow: scaling the data never changes the
  neighbours, even for float32 features of magnitude 1e19 or 1e-19.
* The tiles run one after another, each a single torch op that uses torch's own
  intra-op threads: the process's thread settings are the user's and are never changed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ._validate import check_bool, check_choice, check_finite, check_int, check_tensor

__all__ = ["knn"]

Metric = Literal["euclidean", "cosine"]

# Largest tile of scores. CPU: a few MiB, so that a tile is reused from cache by the
# reductions that follow its matrix product; GPU: big tiles amortise the kernel launches.
_CPU_TILE_BYTES = 8 * 2**20
_GPU_TILE_BYTES = 256 * 2**20
_MIN_ROWS = 64
_GROUP = 64  # columns per group in the top-k pre-filter (see `_smallest`)


def knn(
    query: torch.Tensor,
    reference: torch.Tensor,
    k: int,
    *,
    metric: Metric = "euclidean",
    exclude_self: bool = False,
    max_bytes: int = 256 * 2**20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference rows of every query row (exact, brute force in tiles).

    Args:
        query: ``(Q, D)`` floating tensor, finite.
        reference: ``(R, D)`` tensor on the same device and dtype, finite.
        k: neighbours per query, ``1 <= k <= R`` (``R - 1`` with ``exclude_self``).
        metric: ``"euclidean"`` (distances returned, not squared) or ``"cosine"``
            (returns cosine *similarities*, largest first; a zero row has similarity 0
            to everything).
        exclude_self: row ``i`` of ``query`` and row ``i`` of ``reference`` are the same
            item (typically ``query`` is ``reference``): query ``i`` never returns
            reference ``i`` (an identical copy elsewhere is still a neighbour).
        max_bytes: bound on the memory of one tile of the distance matrix and of the
            gathered neighbours used to recompute the returned values.

    Returns:
        ``(values, indices)``, each ``(Q, k)``, sorted nearest first; ``values`` in the
        input dtype, ``indices`` int64, both on the input device. float16/bfloat16
        inputs are computed in float32. Neighbours at exactly equal distance may come
        back in either order.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0]])
        >>> knn(x, x, 1, exclude_self=True)[1].flatten().tolist()
        [1, 0, 1]
    """
    check_tensor("query", query, ndim=2, dtypes="float")
    check_tensor("reference", reference, ndim=2, dtypes="float")
    check_choice("metric", metric, ("euclidean", "cosine"))
    check_bool("exclude_self", exclude_self)
    max_bytes = check_int("max_bytes", max_bytes, min=1)
    if query.shape[1] != reference.shape[1]:
        raise ValueError(
            "`query` and `reference` must have the same number of columns, "
            f"got {query.shape[1]} and {reference.shape[1]}"
        )
    if query.device != reference.device or query.dtype != reference.dtype:
        raise ValueError(
            f"`query` and `reference` must share device and dtype, got {query.dtype} on {query.device} "
            f"and {reference.dtype} on {reference.device}"
        )
    available = reference.shape[0] - (1 if exclude_self else 0)
    k = check_int("k", k, min=1, max=max(available, 1))
    if available < 1:
        raise ValueError(f"`reference` must have more than {k} rows, got {reference.shape[0]}")
    if exclude_self and query.shape[0] != reference.shape[0]:
        raise ValueError("`exclude_self` needs `query` and `reference` to be the same rows")
    check_finite("query", query)
    check_finite("reference", reference)
    if query.shape[0] == 0:
        return query.new_empty((0, k)), torch.empty((0, k), dtype=torch.long, device=query.device)
    symmetric = _same_rows(query, reference)
    dtype = query.dtype
    work = torch.float32 if query.element_size() < 4 else dtype
    scale = _power_of_two_scale(query, reference)
    query = query.to(work) * scale
    reference = query if symmetric else reference.to(work) * scale
    a, b = _operands(query, reference, metric, symmetric)
    cap = _GPU_TILE_BYTES if query.device.type == "cuda" else _CPU_TILE_BYTES
    tile = max(1, min(max_bytes, cap) // a.element_size())
    if k == 1:
        indices = _nearest(a, b, symmetric=symmetric, exclude_self=exclude_self, tile=tile)[:, None]
    else:
        indices = _k_nearest(a, b, k, exclude_self=exclude_self, tile=tile)
    values, indices = _exact_values(query, reference, indices, metric, max_bytes)
    if metric == "euclidean":
        values = values / scale
    return values.to(dtype), indices


def _power_of_two_scale(query: torch.Tensor, reference: torch.Tensor) -> float:
    """``2**-e`` that brings the largest magnitude into ``[0.5, 1)``: exact, and squared
    norms of the scaled rows can neither overflow nor underflow to zero."""
    largest = max(float(query.abs().amax()) if query.numel() else 0.0,
                  float(reference.abs().amax()) if reference.numel() else 0.0)
    if largest == 0.0:
        return 1.0
    return math.ldexp(1.0, -math.frexp(largest)[1])


def _same_rows(query: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether both are the same view of the same memory (then only half the tiles are needed)."""
    return query is reference or (
        query.data_ptr() == reference.data_ptr()
        and query.shape == reference.shape
        and query.stride() == reference.stride()
    )


def _operands(
    query: torch.Tensor, reference: torch.Tensor, metric: str, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)`` with ``A @ B.T`` = a score per pair, smaller is nearer."""
    if metric == "cosine":
        a = torch.nn.functional.normalize(query, dim=1)
        b = -a if symmetric else -torch.nn.functional.normalize(reference, dim=1)
        return a, b
    centre = reference.mean(0)
    q = query - centre
    r = q if symmetric else reference - centre
    q_sq = q.square().sum(1, keepdim=True)
    r_sq = q_sq if symmetric else r.square().sum(1, keepdim=True)
    # [q, |q|^2, 1] . [-2r, 1, |r|^2] = |q|^2 + |r|^2 - 2 q.r = |q - r|^2
    a = torch.cat([q, q_sq, torch.ones_like(q_sq)], 1)
    b = torch.cat([r.mul(-2.0), torch.ones_like(r_sq), r_sq], 1)
    return a, b


def _tile_shape(n_rows: int, n_cols: int, elems: int, *, square: bool) -> tuple[int, int]:
    """Rows and columns of a tile of at most ``elems`` scores: square for the symmetric
    pass, otherwise whole reference rows when they fit (at least ``_MIN_ROWS`` rows, so
    the matrix product stays efficient)."""
    if square:
        side = max(1, min(n_rows, math.isqrt(elems)))
        return side, side
    rows = min(n_rows, max(min(_MIN_ROWS, elems), elems // n_cols))
    return rows, min(n_cols, max(1, elems // rows))


def _scores(a: torch.Tensor, b: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` written into (a prefix of) a reused buffer."""
    out = buffer[: a.shape[0] * b.shape[0]].view(a.shape[0], b.shape[0])
    return torch.mm(a, b.T, out=out)


def _nearest(a: torch.Tensor, b: torch.Tensor, *, symmetric: bool, exclude_self: bool, tile: int) -> torch.Tensor:
    """Index of the nearest ``b`` row of every ``a`` row, ``(Q,)`` int64."""
    n_q, n_r = a.shape[0], b.shape[0]
    rows, cols = _tile_shape(n_q, n_r, tile, square=symmetric)
    best = torch.full((n_q,), math.inf, dtype=a.dtype, device=a.device)
    block = torch.zeros(n_q, dtype=torch.long, device=a.device)  # column tile holding the best
    buffer = a.new_empty(rows * cols)  # reused: a fresh allocation per tile page-faults

    def keep_min(r0: int, candidate: torch.Tensor, tile_index: int) -> None:
        _keep_min(best[r0 : r0 + len(candidate)], block[r0 : r0 + len(candidate)], candidate, tile_index)

    for i0 in range(0, n_q, rows):
        for j0 in range(i0 if symmetric else 0, n_r, cols):
            s = _scores(a[i0 : i0 + rows], b[j0 : j0 + cols], buffer)
            if exclude_self:
                _mask_self(s, i0, j0)
            keep_min(i0, s.amin(1), j0 // cols)
            if symmetric and j0 != i0:  # square tiles: the column minima serve rows j0..
                keep_min(j0, s.amin(0), i0 // cols)
    return _locate(a, b, block, rows=rows, cols=cols, exclude_self=exclude_self, buffer=buffer)


def _keep_min(best: torch.Tensor, block: torch.Tensor, candidate: torch.Tensor, tile: int) -> None:
    # on a tie the lower tile wins
    better = (candidate < best) | ((candidate == best) & (block > tile))
    torch.minimum(best, candidate, out=best)
    block.masked_fill_(better, tile)


def _locate(
    a: torch.Tensor,
    b: torch.Tensor,
    block: torch.Tensor,
    *,
    rows: int,
    cols: int,
    exclude_self: bool,
    buffer: torch.Tensor,
) -> torch.Tensor:
    """Second pass of ``k == 1``: the argmin inside the one column tile that holds it."""
    index = torch.empty(a.shape[0], dtype=torch.long, device=a.device)
    order = torch.argsort(block)
    sizes = torch.bincount(block, minlength=math.ceil(b.shape[0] / cols)).tolist()

    start = 0
    for tile, size in enumerate(sizes):
        j0 = tile * cols
        for c0 in range(start, start + size, rows):
            sel = order[c0 : min(start + size, c0 + rows)]
            s = _scores(a[sel], b[j0 : j0 + cols], buffer)
            if exclude_self:
                own = ((sel >= j0) & (sel < j0 + s.shape[1])).nonzero().squeeze(1)
                s[own, sel[own] - j0] = math.inf
            index[sel] = s.min(1).indices + j0
        start += size
    return index


def _k_nearest(a: torch.Tensor, b: torch.Tensor, k: int, *, exclude_self: bool, tile: int) -> torch.Tensor:
    """Indices of the ``k`` nearest ``b`` rows of every ``a`` row, ``(Q, k)``, unsorted."""
    n_q, n_r = a.shape[0], b.shape[0]
    rows, cols = _tile_shape(n_q, n_r, tile, square=False)
    buffer = a.new_empty(rows * cols)
    out = torch.empty((n_q, k), dtype=torch.long, device=a.device)
    for i0 in range(0, n_q, rows):
        i1 = min(n_q, i0 + rows)
        best_v = a.new_empty((i1 - i0, 0))
        best_i = out.new_empty((i1 - i0, 0))
        for j0 in range(0, n_r, cols):
            s = _scores(a[i0:i1], b[j0 : j0 + cols], buffer)
            if exclude_self:
                _mask_self(s, i0, j0)
            v, i = _smallest(s, k)
            v, i = torch.cat([best_v, v], 1), torch.cat([best_i, i + j0], 1)
            if v.shape[1] > k:
                v, pos = v.topk(k, dim=1, largest=False, sorted=False)
                i = i.gather(1, pos)
            best_v, best_i = v, i
        out[i0:i1] = best_i
    return out


def _smallest(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``min(k, cols)`` smallest scores of every row of a tile and their columns.

    ``topk`` costs a lot per column, a value-only ``amin`` little. The row is cut into
    groups of ``_GROUP`` columns; the ``k`` smallest values lie in the ``k`` groups with
    the smallest minima (each group holding one of them has its minimum at or below the
    k-th value), so ``topk`` only runs on those groups plus the ragged tail.
    """
    rows, cols = s.shape
    n_groups = cols // _GROUP
    if n_groups <= 4 * k:
        return s.topk(min(k, cols), dim=1, largest=False, sorted=False)
    main = n_groups * _GROUP
    groups = s[:, :main].view(rows, n_groups, _GROUP)
    chosen = groups.amin(2).topk(k, dim=1, largest=False, sorted=False).indices
    values = groups.gather(1, chosen[:, :, None].expand(rows, k, _GROUP)).view(rows, k * _GROUP)
    offsets = torch.arange(_GROUP, device=s.device)
    columns = (chosen[:, :, None] * _GROUP + offsets).view(rows, k * _GROUP)
    if main < cols:
        values = torch.cat([values, s[:, main:]], 1)
        columns = torch.cat([columns, torch.arange(main, cols, device=s.device).expand(rows, -1)], 1)
    values, pos = values.topk(k, dim=1, largest=False, sorted=False)
    return values, columns.gather(1, pos)


def _mask_self(s: torch.Tensor, i0: int, j0: int) -> None:
    """Set the score of each row with itself to +inf in the tile at ``(i0, j0)``."""
    lo, hi = max(i0, j0), min(i0 + s.shape[0], j0 + s.shape[1])
    if lo < hi:
        r = torch.arange(lo, hi, device=s.device)
        s[r - i0, r - j0] = math.inf


def _exact_values(
    query: torch.Tensor, reference: torch.Tensor, indices: torch.Tensor, metric: str, max_bytes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances/similarities recomputed from the rows, and the neighbours sorted by them."""
    n_q, k = indices.shape
    if metric == "cosine":
        query = torch.nn.functional.normalize(query, dim=1)
        reference = torch.nn.functional.normalize(reference, dim=1)
    chunk = max(1, max_bytes // max(1, k * query.shape[1] * query.element_size()))
    values = query.new_empty((n_q, k))
    for c0 in range(0, n_q, chunk):
        q = query[c0 : c0 + chunk, None, :]
        r = reference[indices[c0 : c0 + chunk]]
        if metric == "cosine":
            values[c0 : c0 + chunk] = (q * r).sum(2)
        else:
            values[c0 : c0 + chunk] = torch.linalg.vector_norm(q - r, dim=2)
    if k > 1:
        values, order = values.sort(dim=1, descending=metric == "cosine", stable=True)
        indices = indices.gather(1, order)
    return values, indices
