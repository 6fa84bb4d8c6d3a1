"""Fitted statistics that refuse the rows of a protected (test) split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch

from .._validate import as_id_set, check_tensor, show_items

__all__ = ["FitGuard"]

_Guard = TypeVar("_Guard", bound="FitGuard")


class FitGuard:
    """Base for fitted statistics (a scaler, a vocabulary, idf weights) that remembers
    which rows it was fit on and refuses rows of a protected (test) split.

    Premature featurisation (statistics computed on train + test) leaks the test split
    into every feature. A subclass calls ``self._guard_fit(ids, n_rows)`` at the start of
    ``fit``; once :meth:`protect` has been called, ``fit`` needs the row ``ids`` and
    raises ``ValueError`` when any of them is protected. :func:`check_leakage` also
    reads ``fit_ids_`` to report statistics fit on test rows.

    Attributes:
        fit_ids_: sorted ``int64`` ids of the rows of the last fit (``None`` when fit
            without ids).
        protected_ids_: sorted ``int64`` ids that fitting refuses.

    Example:
        >>> from torch_mlsd.features import StandardScaler
        >>> scaler = StandardScaler().protect(torch.tensor([8, 9]))
        >>> x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
        >>> _ = scaler.fit(x[:8], ids=torch.arange(8))
        >>> scaler.fit(x, ids=torch.arange(10))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `ids` must not include protected (test) rows, got 2 of them among the 10 rows ...
    """

    fit_ids_: torch.Tensor | None = None
    protected_ids_: torch.Tensor | None = None

    def protect(self: _Guard, ids: torch.Tensor | Sequence[int]) -> _Guard:
        """Refuse, from now on, to fit on any of these row ids (adds to earlier ones)."""
        new = as_id_set("ids", ids)
        old = self.protected_ids_
        self.protected_ids_ = new if old is None else torch.unique(torch.cat([old, new]))
        return self

    def _guard_fit(self, ids: Any, n_rows: int) -> None:
        """Check the rows about to be fit on, and record them."""
        if ids is None:
            if self.protected_ids_ is not None:
                raise ValueError("`ids` is required: this statistic protects test rows, so fit must name its rows")
            self.fit_ids_ = None
            return
        ids_t = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
        check_tensor("ids", ids_t, ndim=1, dtypes="integer")
        if len(ids_t) != n_rows:
            raise ValueError(f"`ids` must name the {n_rows} rows to fit on, got {len(ids_t)} ids")
        unique = as_id_set("ids", ids_t)
        if self.protected_ids_ is not None:
            bad = unique[torch.isin(unique, self.protected_ids_)]
            if len(bad):
                raise ValueError(
                    f"`ids` must not include protected (test) rows, got {len(bad)} of them among the {n_rows} "
                    f"rows to fit on: {show_items(bad)}; fit on the training rows only"
                )
        self.fit_ids_ = unique

