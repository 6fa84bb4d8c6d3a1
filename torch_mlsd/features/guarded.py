"""Any fitted transformer under the fit guard: a wrapper for objects this package did not write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validate import describe
from .fit_guard import FitGuard

__all__ = ["GuardedTransformer"]


class GuardedTransformer(FitGuard):
    """Put any object with ``fit`` (and ``transform``) under the fit guard: a
    scikit-learn scaler or vectorizer, a vocabulary builder, a PCA.

    ``fit(data, *args, ids=..., **kwargs)`` checks and records the row ``ids`` as
    :class:`FitGuard` does (refusing protected test rows), then calls
    ``transformer.fit(data, *args, **kwargs)``; ``transform`` passes through. The
    wrapped object is fit in place and stays reachable as ``transformer``.
    :func:`~torch_mlsd.evaluation.check_leakage` reads its ``fit_ids_`` like those of
    :class:`StandardScaler` and :class:`TextFeaturizer`.

    Args:
        transformer: an object with a ``fit`` method.

    Example:
        >>> class Vocabulary:
        ...     def fit(self, words):
        ...         self.words_ = sorted(set(words))
        ...         return self
        ...     def transform(self, words):
        ...         return [self.words_.index(w) if w in self.words_ else -1 for w in words]
        >>> vocab = GuardedTransformer(Vocabulary()).protect([2])
        >>> vocab.fit(["cat", "dog"], ids=[0, 1]).transform(["dog", "eel"])
        [1, -1]
        >>> vocab.fit(["cat", "dog", "eel"], ids=[0, 1, 2])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `ids` must not include protected (test) rows, got 1 of them among the 3 rows ...
    """

    def __init__(self, transformer: Any) -> None:
        if not callable(getattr(transformer, "fit", None)):
            raise TypeError(f"`transformer` must have a fit method, got {describe(transformer)}")
        self.transformer = transformer

    def fit(
        self, data: Any, *args: Any, ids: torch.Tensor | Sequence[int] | None = None, **kwargs: Any
    ) -> GuardedTransformer:
        """Check ``ids`` (one per row of ``data``), then ``transformer.fit(data, *args, **kwargs)``."""
        self._guard_fit(ids, len(data))
        self.transformer.fit(data, *args, **kwargs)
        return self

    def transform(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """``transformer.transform(data, *args, **kwargs)``."""
        return self.transformer.transform(data, *args, **kwargs)

    def fit_transform(
        self, data: Any, *args: Any, ids: torch.Tensor | Sequence[int] | None = None, **kwargs: Any
    ) -> Any:
        """``fit(data, ids=ids)`` then ``transform(data)``."""
        return self.fit(data, *args, ids=ids, **kwargs).transform(data)

    def __repr__(self) -> str:
        return f"GuardedTransformer({self.transformer!r})"
