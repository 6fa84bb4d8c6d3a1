"""Checks of what :class:`~torch_mlsd.sampling.DynamicWeightedSampler` is given: the indices
of ``update_weights`` and the chunk saved in its state."""

from __future__ import annotations

from typing import Any

import torch

from .._validate import as_tensor, check_int, check_tensor, describe

__all__ = ["check_chunk", "check_indices", "check_distinct"]


def check_chunk(chunk: Any) -> tuple[int, int] | None:
    if chunk is None:
        return None
    if not isinstance(chunk, (tuple, list)) or len(chunk) != 2:
        raise ValueError(f"`state_dict['chunk']` must be None or a pair (origin, size), got {describe(chunk)}")
    origin = check_int("state_dict['chunk'][0]", chunk[0], min=0)
    return origin, check_int("state_dict['chunk'][1]", chunk[1], min=1)


def check_indices(name: str, indices: Any, n: int) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor):
        indices = as_tensor(name, indices, "a 1-D sequence of ints or an integer tensor")
        if indices.numel() == 0:
            indices = indices.to(torch.int64)
    check_tensor(name, indices, ndim=1, dtypes="integer")
    index = indices.detach().to("cpu", torch.int64)
    if len(index) and bool(((index < 0) | (index >= n)).any()):
        bad = index[(index < 0) | (index >= n)][:5].tolist()
        raise ValueError(f"`{name}` must be in [0, {n}), got out-of-range values such as {bad}")
    return index


def check_distinct(name: str, index: torch.Tensor) -> None:
    if len(index) > 1:
        ordered = index.sort().values
        same = ordered[1:] == ordered[:-1]
        if bool(same.any()):
            shown = ordered[1:][same][:5].tolist()
            raise ValueError(f"`{name}` must not repeat an index in one call, got duplicates such as {shown}")
