"""Rows of one split that copy rows of another: exact duplicates by hashing, near
duplicates by cosine k-NN."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .._neighbors import knn
from .._validate import check_float, check_int, describe
from ._inputs import as_rows

__all__ = ["exact_duplicates", "near_duplicates"]

MAX_BYTES = 256 * 2**20


def _words(x: torch.Tensor) -> torch.Tensor:
    """Rows as ``int64`` words such that equal values give equal words (-0.0 == 0.0, all NaNs alike)."""
    if x.dtype.is_floating_point:
        x = x + 0.0  # a copy, and -0.0 + 0.0 == +0.0
        x.masked_fill_(torch.isnan(x), float("nan"))  # one NaN bit pattern
    elif x.dtype == torch.bool:
        x = x.to(torch.uint8)
    x = x.contiguous()
    row_bytes = x.shape[1] * x.element_size()
    if row_bytes % 8 == 0 and row_bytes:
        return x.view(torch.int64)
    as_int = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
    return x.view(as_int).to(torch.int64)


def _blocks(n: int, row_bytes: int, max_bytes: int) -> Iterator[slice]:
    step = max(1, max_bytes // max(row_bytes * 4, 1))  # a few temporaries of the block's size
    for start in range(0, n, step):
        yield slice(start, start + step)


def _row_hashes(x: torch.Tensor, max_bytes: int) -> torch.Tensor:
    """``(N,)`` ``int64`` hash of each row: sum of words times fixed odd random
    coefficients, modulo 2^64. Equal rows hash equal; unequal rows collide with
    probability about 2^-64 (candidates are confirmed exactly anyway)."""
    width = _words(x[:1]).shape[1]
    gen = torch.Generator().manual_seed(0x5EED)
    coef = (torch.randint(0, 2**62, (width,), generator=gen) * 2 + 1).to(x.device)
    out = torch.empty(len(x), dtype=torch.int64, device=x.device)
    for block in _blocks(len(x), width * 8, max_bytes):
        out[block] = (_words(x[block]) * coef).sum(1)
    return out


def _rows_equal(
    a: torch.Tensor, rows_a: torch.Tensor, b: torch.Tensor, rows_b: torch.Tensor, max_bytes: int
) -> torch.Tensor:
    out = torch.empty(len(rows_a), dtype=torch.bool, device=a.device)
    for block in _blocks(len(rows_a), a.shape[1] * 8, max_bytes):
        out[block] = (_words(a[rows_a[block]]) == _words(b[rows_b[block]])).all(1)
    return out


def exact_duplicates(
    x: torch.Tensor, other: torch.Tensor | None = None, *, max_bytes: int = MAX_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``other`` equal to a row of ``x`` (or, without ``other``, rows of ``x``
    equal to an earlier row of ``x``), found by hashing rows and confirmed exactly.

    Floating values compare as numbers except that all NaNs are alike (``-0.0 == 0.0``).
    Cost: one pass to hash, a sort of ``N`` hashes, and an exact comparison of the
    candidate rows; memory bounded by ``max_bytes`` per block.

    Args:
        x: ``(N, ...)`` tensor of any real dtype (rows are flattened).
        other: optional ``(M, ...)`` tensor with the same row shape and dtype, same device.
        max_bytes: bound on the temporaries of one block of rows.

    Returns:
        ``(rows, matches)``: ``int64`` indices, increasing in ``rows``. With ``other``:
        ``other[rows[i]] == x[matches[i]]``. Without: ``x[rows[i]] == x[matches[i]]`` with
        ``matches[i] < rows[i]`` the first occurrence.

    Example:
        >>> train = torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]])
        >>> exact_duplicates(train)
        (tensor([2]), tensor([0]))
        >>> exact_duplicates(train, torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        (tensor([0]), tensor([1]))
    """
    a = as_rows("x", x)
    b = a if other is None else as_rows("other", other)
    if b.shape[1:] != a.shape[1:] or b.dtype != a.dtype or b.device != a.device:
        raise ValueError(f"`other` must have rows like `x` ({describe(x)}), got {describe(other)}")
    max_bytes = check_int("max_bytes", max_bytes, min=1)
    if len(a) == 0 or len(b) == 0:
        empty = torch.empty(0, dtype=torch.long, device=a.device)
        return empty, empty
    h, order = torch.sort(_row_hashes(a, max_bytes), stable=True)  # stable: a run lists rows in index order
    starts = torch.ones_like(h, dtype=torch.bool)
    starts[1:] = h[1:] != h[:-1]
    run_start = torch.where(starts, torch.arange(len(h), device=h.device), 0).cummax(0).values
    if other is None:  # every row but the first of its run, against that first row
        pos: torch.Tensor | None = (~starts).nonzero().flatten()
        rows, first = order[pos], run_start[pos]
    else:  # every row of `other` whose hash occurs in `x`, against the first row of that run
        hb = _row_hashes(b, max_bytes)
        first = torch.searchsorted(h, hb).clamp_(max=len(h) - 1)
        rows = (h[first] == hb).nonzero().flatten()
        first, pos = first[rows], None
    matches = order[first]
    equal = _rows_equal(b, rows, a, matches, max_bytes)
    for i in (~equal).nonzero().flatten().tolist():  # a 64-bit hash collision: scan the run
        lo = int(first[i])
        hi = int(pos[i]) if pos is not None else int(torch.searchsorted(h, h[lo], right=True))
        candidates = order[lo:hi]
        same = _rows_equal(b, rows[i].expand(len(candidates)), a, candidates, max_bytes).nonzero()
        if len(same):
            matches[i], equal[i] = candidates[same[0, 0]], True
    rows, matches = rows[equal], matches[equal]
    sort = torch.argsort(rows)
    return rows[sort], matches[sort]


# ---------------------------------------------------------------- near duplicates


def near_duplicates(
    x: torch.Tensor,
    other: torch.Tensor,
    *,
    threshold: float = 0.99,
    center: bool = True,
    max_bytes: int = MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``other`` whose most similar row of ``x`` has cosine similarity
    ``>= threshold`` (exact copies included), by a chunked exact k-NN on the device.

    With ``center`` (default) both sets are centred on the mean row of ``x`` first, so
    that features that are all positive (pixels, counts) do not make every pair similar.
    Cosine similarity says little with very few features: below about ten, random
    rows are often within a few degrees of each other.

    Args:
        x: ``(N, ...)`` reference rows (train), any real dtype (compared in float32,
            float64 kept).
        other: ``(M, ...)`` rows to look up (test), same row shape and device.
        threshold: cosine similarity in ``[-1, 1]``.
        center: subtract the mean row of ``x`` from both.
        max_bytes: bound on one block of the similarity matrix.

    Returns:
        ``(rows, matches, similarity)``: rows of ``other``, their nearest row of ``x``,
        and the cosine similarity (float).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> train = torch.randn(100, 16, generator=g)
        >>> test = torch.cat([train[:2] + 0.01, torch.randn(3, 16, generator=g)])
        >>> near_duplicates(train, test)[:2]
        (tensor([0, 1]), tensor([0, 1]))
    """
    a, b = as_rows("x", x, finite=True), as_rows("other", other, finite=True)
    if b.shape[1] != a.shape[1] or b.device != a.device:
        raise ValueError(f"`other` must have rows like `x` ({describe(x)}), got {describe(other)}")
    threshold = check_float("threshold", threshold, min=-1.0, max=1.0)
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    a, b = a.to(dtype), b.to(dtype)
    if center:
        mean = a.mean(0)
        a, b = a - mean, b - mean
    sim, idx = knn(b, a, 1, metric="cosine", max_bytes=max_bytes)
    rows = (sim[:, 0] >= threshold).nonzero().flatten()
    return rows, idx[rows, 0], sim[rows, 0]

