"""Premature featurisation without row ids: was a fitted transformer fit on the training
rows alone? Refit a copy on them and compare what the two produce.

A scaler whose statistics, or a vocabulary whose document frequencies, came from train +
test gives different features from one fit on train only. :func:`refit_difference`
deep-copies the fitted object, fits the copy on ``train``, transforms ``probe`` with
both, and returns the largest difference: 0 (up to rounding) when the object saw only
``train``. It needs ``fit`` to be deterministic; for objects under the fit guard with
ids, :func:`~torch_mlsd.evaluation.check_leakage` reads the ids instead.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import torch

from .._validate import describe

__all__ = ["refit_difference"]


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return (value.to_dense() if value.layout != torch.strided else value).double().cpu()
    if hasattr(value, "toarray"):  # scipy sparse
        value = value.toarray()
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`fitted.transform` must return numbers, got {describe(value)}") from exc


def refit_difference(fitted: Any, train: Any, probe: Any, *, train_ids: Any = None) -> float:
    """Largest absolute difference between ``fitted.transform(probe)`` and the same from
    a copy of ``fitted`` refit on ``train`` alone.

    Args:
        fitted: a fitted object with ``fit`` and ``transform`` (this package's
            :class:`~torch_mlsd.features.StandardScaler`, :class:`~torch_mlsd.features.TextFeaturizer`,
            :class:`~torch_mlsd.features.GuardedTransformer`, a scikit-learn transformer).
        train: the training rows (tensor, array or texts) ``fitted`` should have been fit on.
        probe: rows to transform with both (the test rows, say).
        train_ids: the ids of ``train``, passed as ``ids=`` to the refit of a fit-guarded
            object (required once it protects test rows).

    Returns:
        The largest absolute difference (``float``); above rounding (say 1e-6 for float32
        features), ``fitted`` was fit on other rows than ``train``.

    Example:
        >>> from torch_mlsd.features import StandardScaler
        >>> g = torch.Generator().manual_seed(0)
        >>> train, test = torch.randn(80, 3, generator=g), torch.randn(20, 3, generator=g) + 1
        >>> refit_difference(StandardScaler().fit(train), train, test) < 1e-6
        True
        >>> refit_difference(StandardScaler().fit(torch.cat([train, test])), train, test) > 0.1
        True
    """
    for method in ("fit", "transform"):
        if not callable(getattr(fitted, method, None)):
            raise TypeError(f"`fitted` must have fit and transform methods, got {describe(fitted)}")
    copy_ = copy.deepcopy(fitted)
    if "ids" in inspect.signature(copy_.fit).parameters:
        copy_.fit(train, ids=train_ids)
    else:
        copy_.fit(train)
    before, after = _as_tensor(fitted.transform(probe)), _as_tensor(copy_.transform(probe))
    if before.shape != after.shape:
        return float("inf")
    return float((before - after).abs().max()) if before.numel() else 0.0
