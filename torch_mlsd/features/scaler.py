"""Standardisation with statistics of the training rows only."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._validate import check_tensor
from .fit_guard import FitGuard

__all__ = ["StandardScaler"]


class StandardScaler(FitGuard):
    """Centre and scale features with statistics of the training rows only.

    ``(x - mean_) / scale_`` with the population standard deviation (``scale_`` 1 for
    constant features), as scikit-learn's ``StandardScaler``; statistics in float64.

    Example:
        >>> x = torch.tensor([[1.0, 10.0], [3.0, 10.0]])
        >>> StandardScaler().fit(x, ids=torch.tensor([0, 1])).transform(x)
        tensor([[-1.,  0.],
                [ 1.,  0.]])
    """

    def fit(self, x: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None) -> StandardScaler:
        """Fit on ``x`` ``(N, D)``; ``ids`` names its rows (required after :meth:`protect`)."""
        check_tensor("x", x, ndim=2, dtypes="float")
        if len(x) == 0:
            raise ValueError("`x` must have at least one row")
        self._guard_fit(ids, len(x))
        x64 = x.double()
        self.mean_ = x64.mean(0)
        std = x64.std(0, unbiased=False)
        self.scale_ = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean_) / scale_`` in ``x``'s dtype."""
        check_tensor("x", x, ndim=2, dtypes="float")
        if not hasattr(self, "mean_"):
            raise RuntimeError("this StandardScaler is not fitted yet: call fit(x, ids=...) first")
        if x.shape[1] != len(self.mean_):
            raise ValueError(f"`x` must have {len(self.mean_)} features as in fit, got shape {tuple(x.shape)}")
        return ((x - self.mean_.to(x.dtype)) / self.scale_.to(x.dtype)).to(x.dtype)

    def fit_transform(self, x: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        return self.fit(x, ids=ids).transform(x)

