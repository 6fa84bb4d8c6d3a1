"""Fold bookkeeping shared by the split functions: fractions, devices, index sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validate import check_float, describe

Folds = list[tuple[torch.Tensor, torch.Tensor]]


def as_fractions(fractions: Sequence[float] | None, test_size: float | None, val_size: float | None) -> list[float]:
    """Split fractions in order (train, [val], test); default test_size=0.2."""
    if fractions is not None:
        if test_size is not None or val_size is not None:
            raise ValueError("give either `fractions` or `test_size`/`val_size`, not both")
        if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence) or len(fractions) < 2:
            raise ValueError(f"`fractions` must be a sequence of at least 2 fractions, got {describe(fractions)}")
        out = [check_float("fractions", f, min=0.0, max=1.0, min_open=True, max_open=True) for f in fractions]
        if abs(sum(out) - 1.0) > 1e-6:
            total = sum(out)
            raise ValueError(f"`fractions` must sum to 1, got {list(fractions)} (sum {total:.6g})")
        return out
    test = check_float("test_size", 0.2 if test_size is None else test_size, min=0.0, max=1.0, min_open=True,
                       max_open=True)
    if val_size is None:
        return [1.0 - test, test]
    val = check_float("val_size", val_size, min=0.0, max=1.0, min_open=True, max_open=True)
    if test + val >= 1.0:
        raise ValueError(f"`test_size` + `val_size` must be < 1, got {test} + {val}")
    return [1.0 - test - val, val, test]


def device_of(value: Any) -> torch.device:
    return value.device if isinstance(value, torch.Tensor) else torch.device("cpu")


def split_indices(
    order: torch.Tensor, split_of: torch.Tensor, n_splits: int, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """Row indices of each split, in increasing order, on ``device``."""
    return tuple(torch.sort(order[split_of == s]).values.to(device) for s in range(n_splits))


def kfold_pairs(parts: tuple[torch.Tensor, ...]) -> Folds:
    """k-fold pairs: fold i tests ``parts[i]`` and trains on the others."""
    out = []
    for i, test in enumerate(parts):
        train = torch.sort(torch.cat([p for j, p in enumerate(parts) if j != i])).values
        out.append((train, test))
    return out

