"""An ``IterableDataset`` that yields a reservoir sample of a source iterable, split over
DataLoader workers and DDP ranks without duplicates, and resumable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TypeVar

import torch
from torch.utils.data import IterableDataset, get_worker_info

from .._distributed import is_distributed, shared_seed
from .._random import make_generator, mix_seed
from .._validate import check_int, check_seed, describe
from .reservoir import iterate_checked, reservoir_sample

__all__ = ["ReservoirDataset"]

T = TypeVar("T")


class ReservoirDataset(IterableDataset):
    """Iterable dataset yielding a reservoir sample of ``k`` items from ``source``.

    With several DataLoader workers and/or DDP ranks there are ``S = world_size *
    num_workers`` shards: shard ``s`` reads the items ``s, s + S, s + 2S, ...`` of the
    source (``islice``; every shard still iterates the source, skipping in C) and keeps
    ``k // S`` of them (the first ``k % S`` shards one more) by :func:`reservoir_sample`.
    No item is yielded twice, each is kept with probability ``k_s / n_s`` of its shard,
    which is ``k / n`` when ``S`` divides both ``k`` and ``n``; with a single shard the
    sample is exactly uniform.

    Args:
        source: a re-iterable (a list, a file reader, another iterable dataset): it is
            iterated once per epoch and per shard.
        k: number of items per epoch over all shards, ``>= 1``.
        seed: base seed, the same on every rank; ``None`` (default) draws one from the OS
            now (rank 0's, broadcast, under an initialised process group). The draw of an
            epoch depends on ``(seed, epoch, shard)``.

    Call ``set_epoch(epoch)`` to draw a new sample (workers hold copies of the dataset,
    so the epoch cannot advance by itself). Each shard yields its items in stream order.

    Resuming: a shard draws its whole sample when its iteration starts (reading its part
    of ``source``), then yields it. :meth:`state_dict` holds the epoch, the shard, the
    sample drawn (``k_s`` items: O(k) memory, references to your items) and how many of
    them were yielded; :meth:`load_state_dict` makes the next iteration yield the rest,
    without reading ``source`` again. No generator state is needed: nothing is drawn
    after the sample, and before it the draw is fixed by ``(seed, epoch, shard)``. As
    for :class:`RebalancedStream`, the state is the one of the shard that iterated this
    object (inside a worker under torchdata's ``StatefulDataLoader``).

    Example:
        >>> ds = ReservoirDataset(range(100), 4, seed=0)
        >>> sample = list(ds)
        >>> len(sample), len(set(sample)), sample == list(ds)
        (4, 4, True)
    """

    def __init__(self, source: Iterable[T], k: int, *, seed: int | None = None) -> None:
        super().__init__()
        iterate_checked("source", source)
        self.source = source
        self.k: int = check_int("k", k, min=1)
        seed = check_seed("seed", seed)
        self._seed_drawn = seed is None  # load_state_dict then adopts the saved seed
        self.seed: int = shared_seed(seed, collective=is_distributed())
        self.epoch = 0
        self._share = (0, 1)
        self._sample: list[Any] | None = None  # this pass's sample, once drawn
        self._yielded = 0
        self._pending: dict[str, Any] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Draw the sample of ``epoch`` on the next iteration."""
        self.epoch = check_int("epoch", epoch, min=0)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        ranks, rank = (torch.distributed.get_world_size(), torch.distributed.get_rank()) if is_distributed() else (1, 0)
        shards, shard = ranks * workers, rank * workers + worker
        self._share, self._sample, self._yielded = (shard, shards), None, 0
        k = self.k // shards + (1 if shard < self.k % shards else 0)
        state, self._pending = self._pending, None
        if state is not None and state["sample"] is not None:  # else saved before the draw: a fresh start
            if tuple(state["share"]) != self._share:
                raise ValueError(f"`state_dict['share']` must be this iteration's (shard, shards) {self._share}, "
                                 f"got {tuple(state['share'])}")
            if len(state["sample"]) > k:
                raise ValueError(f"`state_dict['sample']` must hold at most {k} items (this shard's k), "
                                 f"got {len(state['sample'])}")
            self._sample, self._yielded = list(state["sample"]), state["position"]
        elif k:
            stream = iter(self.source) if shards == 1 else islice(self.source, shard, None, shards)
            generator = make_generator(mix_seed(self.seed, self.epoch, shard))
            self._sample = reservoir_sample(stream, k, generator=generator)
        return self._yield(self._sample or [], self._yielded)

    def _yield(self, sample: list[Any], start: int) -> Iterator[Any]:
        for item in islice(sample, start, None):
            self._yielded += 1
            yield item

    def state_dict(self) -> dict[str, Any]:
        """Epoch, shard, the shard's sample and how many of its items were yielded.

        Keys: ``"seed"``, ``"epoch"``, ``"k"``, ``"share"`` (``(shard, shards)``),
        ``"sample"`` (the list drawn, or ``None`` before the pass drew it) and
        ``"position"`` (items yielded in this pass).
        """
        sample = None if self._sample is None else list(self._sample)
        return {"seed": self.seed, "epoch": self.epoch, "k": self.k, "share": self._share, "sample": sample,
                "position": self._yielded}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the saved pass on the next iteration: the items of its sample not yielded yet.

        ``k`` must match, and the seed too unless this dataset's seed was drawn
        (``seed=None``): then the saved seed is adopted. The next iteration must run as
        the same shard (same worker and rank, same numbers of them).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"`state_dict` must be a mapping, got {describe(state_dict)}")
        for key in ("seed", "epoch", "k", "share", "sample", "position"):
            if key not in state_dict:
                raise ValueError(f"`state_dict` must have the key {key!r}, got keys {sorted(state_dict)}")
        seed = check_int("state_dict['seed']", state_dict["seed"], min=0, max=2**63 - 1)
        if seed != self.seed and not self._seed_drawn:
            raise ValueError(f"`state_dict['seed']` must equal this dataset's seed {self.seed}, got {seed!r}")
        if state_dict["k"] != self.k:
            raise ValueError(f"`state_dict['k']` must equal this dataset's k {self.k}, got {state_dict['k']!r}")
        share = state_dict["share"]
        if not (isinstance(share, (tuple, list)) and len(share) == 2 and 0 <= share[0] < share[1]):
            raise ValueError(f"`state_dict['share']` must be a pair (shard, shards) with 0 <= shard < shards, "
                             f"got {share!r}")
        sample = state_dict["sample"]
        if sample is not None and not isinstance(sample, (list, tuple)):
            raise ValueError(f"`state_dict['sample']` must be a list of items or None, got {describe(sample)}")
        longest = 0 if sample is None else len(sample)
        position = check_int("state_dict['position']", state_dict["position"], min=0, max=longest)
        epoch = check_int("state_dict['epoch']", state_dict["epoch"], min=0)
        self.seed, self.epoch = seed, epoch
        self._pending = {"share": tuple(share), "sample": sample, "position": position}
