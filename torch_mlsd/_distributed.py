"""``torch.distributed`` helpers: who am I, how many of us, and equal-length shards."""

from __future__ import annotations

from typing import Any

import torch

from ._random import new_seed
from ._validate import check_int

__all__ = ["resolve_replicas_rank", "is_distributed", "shared_seed"]


def is_distributed() -> bool:
    """True when a default process group is initialised."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def resolve_replicas_rank(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """Fill ``num_replicas``/``rank`` from the process group when not given.

    Without an initialised process group the defaults are 1 replica, rank 0.
    Raises ``ValueError`` when ``rank`` is not in ``[0, num_replicas)``.
    """
    if num_replicas is None:
        num_replicas = torch.distributed.get_world_size() if is_distributed() else 1
    if rank is None:
        rank = torch.distributed.get_rank() if is_distributed() else 0
    num_replicas = check_int("num_replicas", num_replicas, min=1)
    rank = check_int("rank", rank, min=0)
    if rank >= num_replicas:
        raise ValueError(f"`rank` must be in [0, num_replicas={num_replicas}), got {rank!r}")
    return num_replicas, rank


def shared_seed(seed: int | None, *, collective: bool) -> int:
    """The base seed of an object that every rank builds alike (a sampler, a stream).

    ``collective=True`` (a default process group is initialised and the object reads its
    ranks from it; a collective, so every rank must call it): ``None`` becomes rank 0's
    fresh OS seed, broadcast to every rank, and a given seed must be the same on every rank
    (``ValueError`` otherwise). ``collective=False``: ``None`` draws a fresh OS seed here.
    """
    if not collective:
        return new_seed() if seed is None else seed
    if seed is None:
        box = [new_seed()]
        torch.distributed.broadcast_object_list(box, src=0)
        return int(box[0])
    seeds: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(seeds, seed)
    if len(set(seeds)) > 1:
        raise ValueError(
            f"`seed` must be the same on every rank (every rank's draws come from one seed), got {seeds}"
        )
    return seed
