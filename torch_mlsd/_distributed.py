"""``torch.distributed`` helpers: who am I, how many of us, and equal-length shards."""

from __future__ import annotations

import torch

from ._validate import check_int

__all__ = ["resolve_replicas_rank", "is_distributed"]


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
