"""The machinery every torch_mlsd sampler shares: seed, epoch, ranks, exact and elastic resume.

A subclass says what one epoch is (``_global_items``: all ranks' items in order, or
``_rank_items`` when a rank can draw its share alone) and how many items it has
(``_num_global_items``). The base class gives each rank its share, counts what has been
yielded without per-item Python work, advances the epoch when ``set_epoch`` was
forgotten, and saves/restores the position inside an epoch in O(1).

Elastic resume. An epoch is one global order ``G`` of ``N`` items; a world of ``R``
ranks shares the part of it from a global offset ``start`` on (0 for a fresh epoch):
rank ``r`` yields ``G[start + r + R * j]`` for ``j = 0, 1, ...`` (plus the padding that
``shard`` asks for). A state records ``start``, this rank's ``position`` ``p`` and ``R``.
Read on any rank, it means "every rank of that world consumed its first ``p`` items",
which is exact in lockstep DDP and under ``StatefulDataLoader`` (its state counts the
batches the loop received, not prefetched ones), so the global prefix
``consumed = min(N, start + R * p)`` is done. Loaded into a world of another size, the
epoch continues with ``start = consumed``: the remaining ``N - consumed`` items are
shared afresh (disjoint, equal lengths under ``"pad"``/``"drop"``), nothing consumed
comes again and nothing left is skipped. Loaded into a world of the same size, rank
``r`` continues its own share at ``p``, exactly as the uninterrupted run.

What "consumed" means, and what may repeat:

* ``StatefulDataLoader`` (0 or more workers, ``snapshot_every_n_steps=1``, its
  default): the state holds the batches the loop received; the ones prefetched by
  workers are not counted, so in lockstep DDP every rank's state is the same and
  nothing repeats. With ``snapshot_every_n_steps=k > 1`` torchdata restores the last
  snapshot and replays up to ``k - 1`` batches through the loader, which on another
  world size draws them from the new shares: keep ``k = 1`` for elastic resume.
* A plain ``DataLoader``: the sampler runs ahead of the loop by up to
  ``num_workers * prefetch_factor`` batches; set ``"position"`` to what the loop
  consumed (:meth:`EpochSampler.state_dict`), or those in-flight items are skipped.
* Ranks stopped at different positions: load the state with the smallest
  ``"position"`` on every new rank. Nothing is skipped; a rank that was ``d`` items
  ahead has its ``d`` extra items yielded again (the only repeats).

The hook for subclasses: one that takes its share with :meth:`EpochSampler._shard` (or
only defines ``_global_items``) is elastic as it is. One that makes its own shares (it
overrides ``_rank_items`` or ``_yield_from``) must start its share at the global offset
``self._start`` and set ``_elastic = True``; otherwise resuming on another world size is
refused with a clear error.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

import torch
from torch.utils.data import Sampler

from .._distributed import is_distributed, resolve_replicas_rank, shared_seed
from .._random import make_generator, mix_seed
from .._validate import check_choice, check_int, check_seed

__all__ = ["EpochSampler", "ShardMode", "shard_length"]

T = TypeVar("T")
ShardMode = Literal["pad", "drop", "uneven"]
_SHARD_MODES: tuple[ShardMode, ...] = ("pad", "drop", "uneven")
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
    in it; ``load_state_dict()`` makes the next ``iter()`` continue right after them, on
    this world size or any other (the module docstring says how). A sampler whose seed
    was drawn (``seed=None``) adopts the seed of the state it loads.
    """

    _chunk: int = _CHUNK  # items per chunk; batch samplers lower it to about _CHUNK indices
    _elastic: ClassVar[bool] = True  # shares follow self._start (see the module docstring)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that makes its own shares is elastic only when it says so.
        if "_elastic" not in cls.__dict__ and ("_rank_items" in cls.__dict__ or "_yield_from" in cls.__dict__):
            cls._elastic = False

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
        self.shard: ShardMode = check_choice("shard", shard, _SHARD_MODES)
        seed = check_seed("seed", seed)
        self._seed_drawn = seed is None  # load_state_dict then adopts the saved seed
        self.seed: int = shared_seed(seed, collective=from_group)
        self.epoch = 0
        self._epoch_pinned = False  # set_epoch/load_state_dict called since the last iter()
        self._started = False
        self._resume_at = 0
        self._start = 0  # global offset of this world's shares in the current epoch
        self._resumed = False  # load_state_dict set _start/_resume_at for the next iter()
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
        return self._shard(self._global_items(self.epoch_generator()))

    # -- epochs ----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration (all ranks must pass the same value)."""
        epoch = check_int("epoch", epoch, min=0)
        if epoch != self.epoch:
            self._resume_at, self._start, self._resumed = 0, 0, False
        self.epoch = epoch
        self._epoch_pinned = True
        self._cursor = None  # position() now reports where the next iter() starts

    def epoch_generator(self) -> torch.Generator:
        """The generator of the current epoch's global draw, the same on every rank."""
        return make_generator(mix_seed(self.seed, self.epoch))

    def rank_generator(self) -> torch.Generator:
        """A generator for this epoch and this rank only (for draws a rank makes alone).

        Keyed by ``(seed, epoch, rank, num_replicas)``, and by the global offset when an
        epoch was resumed on another world size.
        """
        keys = (self.epoch, self.rank, self.num_replicas) + ((self._start,) if self._start else ())
        return make_generator(mix_seed(self.seed, *keys))

    def __len__(self) -> int:
        """This rank's items in the current epoch (from the global offset when resumed elsewhere)."""
        return shard_length(self._num_global_items() - self._start, self.num_replicas, self.rank, self.shard)

    def _shard(self, items: torch.Tensor | Sequence[T]) -> torch.Tensor | Sequence[T]:
        """This rank's share of the epoch's global ``items`` from ``self._start`` on.

        ``"pad"`` repeats the epoch's first items, as ``DistributedSampler`` does.
        """
        n, r, reps = len(items), self.rank, self.num_replicas
        start = min(self._start, n)
        share = items[start:] if start else items
        if reps == 1:
            return share
        m = n - start
        if self.shard == "pad" and m % reps:
            pad = (torch.arange(reps - m % reps) % n).tolist()
            if isinstance(items, torch.Tensor):
                share = torch.cat([items[start:], items[pad]])
            else:
                share = list(share) + [items[i] for i in pad]
        elif self.shard == "drop":
            share = share[: m - m % reps]
        return share[r::reps]

    def __iter__(self) -> Iterator[T]:
        if self._started and not self._epoch_pinned:
            self.epoch += 1
            self._resume_at = 0
        self._started, self._epoch_pinned = True, False
        if not self._resumed:
            self._start = 0
        self._resumed = False
        start, self._resume_at = self._resume_at, 0
        items = self._rank_items()
        self._cursor = (start, 0, iter(()))
        return self._yield_from(items, start)

    def _yield_from(self, items: torch.Tensor | Sequence[T], start: int) -> Iterator[T]:
        # Chunks keep memory bounded for huge epochs; the position inside a chunk is read
        # from the list iterator's length hint, so nothing is counted per item. `chain`
        # hands the items out at C speed (a generator's `yield from` resumes a frame per item).
        return itertools.chain.from_iterable(self._chunk_iterators(items, start))

    def _chunk_iterators(self, items: torch.Tensor | Sequence[T], start: int) -> Iterator[Iterator[T]]:
        total = len(items)
        for begin in range(start, total, self._chunk):
            chunk = items[begin : begin + self._chunk]
            values = _as_list(chunk)
            it = iter(values)
            self._cursor = (begin, len(values), it)
            yield it
        self._cursor = (total, 0, iter(()))

    def position(self) -> int:
        """How many items this rank has yielded in the current epoch."""
        if self._cursor is None:
            return self._resume_at
        begin, size, it = self._cursor
        return begin + size - operator.length_hint(it)

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Epoch, global offset and position to resume from, plus what must match on reload.

        Keys: ``"epoch"``, ``"start"`` (global offset of this world's shares, 0 unless the
        epoch was resumed on another world size), ``"position"`` (items, for batch
        samplers batches, this rank has yielded since ``start``), ``"seed"``,
        ``"num_replicas"``, ``"shard"`` and ``"length"`` (``len(self)``); O(1) in the data size.

        With a plain ``DataLoader`` the sampler runs ahead of the training loop by the
        prefetched batches (up to ``num_workers * prefetch_factor``); to resume exactly,
        overwrite ``"position"`` with the number of items (for batch samplers: batches)
        the loop actually consumed. ``torchdata.stateful_dataloader.StatefulDataLoader``
        (with its default ``snapshot_every_n_steps=1``) saves exactly that by itself.
        """
        return {
            "epoch": self.epoch,
            "start": self._start,
            "position": self.position(),
            "seed": self.seed,
            "num_replicas": self.num_replicas,
            "shard": self.shard,
            "length": len(self),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume the saved epoch; the next ``iter()`` yields what is left of it.

        The state of any one rank may be loaded on every rank of the new world. Same
        ``num_replicas``: rank ``r`` continues its own share right after
        ``state_dict["position"]``, as the uninterrupted run. Another ``num_replicas``: the
        items every old rank consumed (the first ``start + num_replicas * position`` of
        the epoch, or all of it once a ``"drop"`` share was used up) are skipped and the
        rest is shared over the new ranks (module docstring). If the old ranks stopped at
        different positions, load the state with the smallest one: nothing is skipped and
        a rank that was ahead yields its extra items again.

        A state without ``"start"`` (saved before it existed) means ``start = 0``. The
        saved seed must equal this sampler's, unless this sampler's seed was drawn
        (``seed=None``): then the saved seed is adopted.

        ``"shard"``: the saved mode reads the saved position (its share lengths, and whether
        a ``"drop"`` share was used up). On the same ``num_replicas`` it must equal this
        sampler's ``shard``: each rank continues its own share, whose length the mode sets.
        On another ``num_replicas`` the rest of the epoch is shared afresh, under this
        sampler's mode (a training state may continue as an ``"uneven"`` pass). A state
        without ``"shard"`` (saved before it existed) counts as saved under this sampler's.
        """
        for key in ("epoch", "position", "seed", "num_replicas"):
            if key not in state_dict:
                raise ValueError(f"`state_dict` must have the key {key!r}, got keys {sorted(state_dict)}")
        seed: int = check_int("state_dict['seed']", state_dict["seed"], min=0, max=2**63 - 1)
        if seed != self.seed and not self._seed_drawn:
            raise ValueError(
                f"`state_dict['seed']` must equal this sampler's seed {self.seed}, got {state_dict['seed']!r}"
            )
        saved: ShardMode = check_choice("state_dict['shard']", state_dict.get("shard", self.shard), _SHARD_MODES)
        reps: int = check_int("state_dict['num_replicas']", state_dict["num_replicas"], min=1)
        if saved != self.shard and reps == self.num_replicas:
            raise ValueError(
                f"`state_dict['shard']` must equal this sampler's shard {self.shard!r} on the same num_replicas "
                f"(each rank continues its own share), got {saved!r}"
            )
        if reps != self.num_replicas and not self._elastic:
            raise ValueError(
                f"`state_dict['num_replicas']` must equal this sampler's num_replicas {self.num_replicas}, got "
                f"{reps!r} ({type(self).__name__} cannot resume an epoch on another world size)"
            )
        epoch = check_int("state_dict['epoch']", state_dict["epoch"], min=0)
        total = self._num_global_items()
        start: int = check_int("state_dict['start']", state_dict.get("start", 0), min=0, max=total)
        longest = shard_length(total - start, reps, 0, saved)  # rank 0's share is never shorter
        position: int = check_int("state_dict['position']", state_dict["position"], min=0, max=longest)
        self.seed = seed
        self.epoch = epoch
        if reps == self.num_replicas:
            self._start = start
            self._resume_at = min(position, len(self))  # an "uneven" share may be one shorter
        else:
            used_up = saved == "drop" and position == longest
            self._start = total if used_up else min(total, start + reps * position)
            self._resume_at = 0
        self._resumed = True
        self._epoch_pinned = True
        self._cursor = None


def _as_list(chunk: torch.Tensor | Sequence[T]) -> list[T]:
    """A chunk of items as a list of Python values (numpy's ``tolist`` makes Python ints
    from a CPU tensor about 5% faster than torch's)."""
    if not isinstance(chunk, torch.Tensor):
        return list(chunk)
    values: list[T] = chunk.numpy().tolist() if chunk.device.type == "cpu" else chunk.tolist()
    return values
