"""The machinery every torch_mlsd sampler shares: seed, epoch, ranks, exact resume.

A subclass says what one epoch is (``_global_items``: all ranks' items in order, or
``_rank_items`` when a rank can draw its share alone) and how many items it has
(``_num_global_items``). The base class gives each rank its share, counts what has been
yielded without per-item Python work, advances the epoch when ``set_epoch`` was
forgotten, and saves/restores the position inside an epoch in O(1).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any, Generic, Literal, TypeVar

import torch
from torch.utils.data import Sampler

from .._distributed import is_distributed, resolve_replicas_rank
from .._random import make_generator, mix_seed, new_seed
from .._validate import check_choice, check_int, check_seed

__all__ = ["EpochSampler", "ShardMode", "shard_length"]

T = TypeVar("T")
ShardMode = Literal["pad", "drop", "uneven"]
_SHARD_MODES = ("pad", "drop", "uneven")
_CHUNK = 1 << 16


def shard_length(n: int, num_replicas: int, rank: int, shard: ShardMode) -> int:
    """Number of items rank ``rank`` receives out of ``n`` under ``shard``."""
    if shard == "pad":
        return -(-n // num_replicas)
    if shard == "drop":
        return n // num_replicas
    return n // num_replicas + (1 if rank < n % num_replicas else 0)


class EpochSampler(Sampler[T], Generic[T]):
    """Base for seeded, epoch-aware, DDP-aware, resumable samplers.

    Args:
        seed: base seed shared by all ranks (default 0). ``None`` draws one from the OS
            (broadcast from rank 0 when a process group is initialised).
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: how ``n`` items split over ranks: ``"pad"`` repeats the first items so every
            rank gets ``ceil(n / R)`` (as ``DistributedSampler``), ``"drop"`` drops the last
            ``n % R`` so every rank gets ``floor(n / R)``, ``"uneven"`` gives every item
            exactly once and ranks may differ by one (use it for evaluation).

    Epochs: call ``set_epoch(e)`` before each epoch as with ``DistributedSampler``. If a
    new iteration starts without it, the epoch advances by one by itself, so a forgotten
    call never repeats the previous epoch's order. Every rank advances the same way.

    Resume: ``state_dict()`` records the epoch and how many items this rank has yielded
    in it; ``load_state_dict()`` makes the next ``iter()`` continue right after them.
    """

    _chunk: int = _CHUNK  # items per chunk; batch samplers lower it to about _CHUNK indices

    def __init__(
        self,
        *,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        from_group = num_replicas is None and is_distributed()
        self.num_replicas, self.rank = resolve_replicas_rank(num_replicas, rank)
        self.shard: ShardMode = check_choice("shard", shard, _SHARD_MODES)  # type: ignore[assignment]
        seed = check_seed("seed", seed)
        if seed is None:
            seed = _broadcast_seed(new_seed()) if from_group else new_seed()
        elif from_group:
            _check_same_seed(seed)
        self.seed: int = seed
        self.epoch = 0
        self._epoch_pinned = False  # set_epoch/load_state_dict called since the last iter()
        self._started = False
        self._resume_at = 0
        self._cursor: tuple[int, int, Any] | None = None  # (chunk start, chunk len, list iterator)

    # -- what a subclass provides -------------------------------------------------
    def _num_global_items(self) -> int:
        """Items in one epoch over all ranks, before sharding."""
        raise NotImplementedError

    def _global_items(self, generator: torch.Generator) -> torch.Tensor | Sequence[T]:
        """All ranks' items for the current epoch, drawn from ``generator``."""
        raise NotImplementedError

    def _rank_items(self) -> torch.Tensor | Sequence[T]:
        """This rank's items for the current epoch. Default: shard ``_global_items``."""
        items = self._global_items(make_generator(mix_seed(self.seed, self.epoch)))
        return self._shard(items)

    # -- epochs ----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration (all ranks must pass the same value)."""
        epoch = check_int("epoch", epoch, min=0)
        if epoch != self.epoch:
            self._resume_at = 0
        self.epoch = epoch  # type: ignore[assignment]
        self._epoch_pinned = True
        self._cursor = None  # position() now reports where the next iter() starts

    def rank_generator(self) -> torch.Generator:
        """A generator for this epoch and this rank only (for draws a rank makes alone)."""
        return make_generator(mix_seed(self.seed, self.epoch, self.rank, self.num_replicas))

    def __len__(self) -> int:
        return shard_length(self._num_global_items(), self.num_replicas, self.rank, self.shard)

    def _shard(self, items: torch.Tensor | Sequence[T]) -> torch.Tensor | Sequence[T]:
        n, r, reps = len(items), self.rank, self.num_replicas
        if reps == 1:
            return items
        if self.shard == "pad" and n % reps:
            extra = reps - n % reps
            if isinstance(items, torch.Tensor):
                pad = items[torch.arange(extra) % max(n, 1)] if n else items
                items = torch.cat([items, pad])
            else:
                items = list(items) + [items[i % n] for i in range(extra)] if n else items
        elif self.shard == "drop":
            items = items[: n - n % reps]
        return items[r::reps]

    def __iter__(self) -> Iterator[T]:
        if self._started and not self._epoch_pinned:
            self.epoch += 1
            self._resume_at = 0
        self._started, self._epoch_pinned = True, False
        start, self._resume_at = self._resume_at, 0
        items = self._rank_items()
        self._cursor = (start, 0, iter(()))
        return self._yield_from(items, start)

    def _yield_from(self, items: torch.Tensor | Sequence[T], start: int) -> Iterator[T]:
        # Chunks keep memory bounded for huge epochs; the position inside a chunk is read
        # from the list iterator's length hint, so nothing is counted per item.
        total = len(items)
        for begin in range(start, total, self._chunk):
            chunk = items[begin : begin + self._chunk]
            values = chunk.tolist() if isinstance(chunk, torch.Tensor) else list(chunk)
            it = iter(values)
            self._cursor = (begin, len(values), it)
            yield from it
        self._cursor = (total, 0, iter(()))

    def position(self) -> int:
        """How many items this rank has yielded in the current epoch."""
        if self._cursor is None:
            return self._resume_at
        begin, size, it = self._cursor
        return begin + size - operator.length_hint(it)

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Epoch and position to resume from, plus what must match on reload.

        With a plain ``DataLoader`` the sampler runs ahead of the training loop by the
        prefetched batches; to resume exactly, overwrite ``"position"`` with the number
        of items (for batch samplers: batches) the loop actually consumed.
        ``torchdata.stateful_dataloader.StatefulDataLoader`` handles that itself.
        """
        return {
            "epoch": self.epoch,
            "position": self.position(),
            "seed": self.seed,
            "num_replicas": self.num_replicas,
            "length": len(self),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume: the next ``iter()`` yields the items after ``state_dict["position"]``."""
        for key in ("epoch", "position", "seed", "num_replicas"):
            if key not in state_dict:
                raise ValueError(f"`state_dict` must have the key {key!r}, got keys {sorted(state_dict)}")
        if state_dict["seed"] != self.seed:
            raise ValueError(f"`state_dict['seed']` must equal this sampler's seed {self.seed}, got {state_dict['seed']!r}")
        if state_dict["num_replicas"] != self.num_replicas:
            raise ValueError(
                f"`state_dict['num_replicas']` must equal this sampler's num_replicas {self.num_replicas}, "
                f"got {state_dict['num_replicas']!r} (resuming on another world size cannot be exact)"
            )
        epoch = check_int("state_dict['epoch']", state_dict["epoch"], min=0)
        position = check_int("state_dict['position']", state_dict["position"], min=0, max=len(self))
        self.epoch = epoch  # type: ignore[assignment]
        self._resume_at = position  # type: ignore[assignment]
        self._epoch_pinned = True
        self._cursor = None


def _broadcast_seed(seed: int) -> int:
    box = [seed]
    torch.distributed.broadcast_object_list(box, src=0)
    return int(box[0])


def _check_same_seed(seed: int) -> None:
    seeds: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(seeds, seed)
    if len(set(seeds)) > 1:
        raise ValueError(
            f"`seed` must be the same on every rank (ranks with different seeds draw overlapping indices), got {seeds}"
        )
