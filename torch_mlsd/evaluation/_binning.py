"""Quantile binning and smoothed class frequencies per cell, shared by the pair scan and
the binned scorer of the ablation: the nonlinear held-out estimator of the leakage checks."""

from __future__ import annotations

import torch

from .._validate import check_finite, check_int, describe
from ._inputs import as_labels, as_rows, encode, unique_counts

SMOOTHING = 1.0  # prior pseudo-rows per cell: an empty cell predicts the class prior


def features_and_labels(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(N, D)`` float features, ``(N,)`` labels encoded as ``0..C-1`` and ``C >= 2``."""
    a = as_rows("x", x)
    a = a.double() if a.dtype == torch.float64 else a.float()
    check_finite("x", a)
    labels = as_labels("y", y)
    if len(labels) != len(a) or labels.device != a.device:
        raise ValueError(f"`y` must have {len(a)} labels on {a.device} like `x`, got {describe(y)}")
    classes = unique_counts(labels)[0]
    if len(classes) < 2:
        raise ValueError(f"`y` must hold at least 2 classes, got only {classes.tolist()}")
    return a, encode(labels, classes), len(classes)


def check_bins(bins: int) -> int:
    return check_int("bins", bins, min=2, max=256)


def quantile_edges(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``(D, bins - 1)`` inner edges: the ``k / bins`` quantiles of each column of ``x`` ``(N, D)``."""
    ordered = torch.sort(x, dim=0).values
    positions = (torch.arange(1, bins, device=x.device, dtype=torch.float64) * (len(x) - 1) / bins).round().long()
    return ordered[positions].T.contiguous()


def bin_codes(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """``(D, N)`` ``int64`` bin of every value: the number of edges strictly below it.

    Equal edges (a column with few distinct values) merge bins; two values land in
    different bins whenever an edge lies between them, so a 0/1 column keeps 2 bins.
    """
    return torch.searchsorted(edges, x.T.contiguous().to(edges.dtype), right=False)


def log_frequencies(counts: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """``log p(class | cell)`` from ``counts`` ``(..., cells, C)``, shrunk towards ``prior`` ``(C,)``
    by :data:`SMOOTHING` pseudo-rows per cell."""
    counts = counts.double()
    return torch.log((counts + SMOOTHING * prior) / (counts.sum(-1, keepdim=True) + SMOOTHING))


def smoothed_prior(counts: torch.Tensor) -> torch.Tensor:
    """Class frequencies ``(C,)`` with one pseudo-row per class (no class gets 0)."""
    counts = counts.double()
    return (counts + 1) / (counts.sum() + len(counts))
