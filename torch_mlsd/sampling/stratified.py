"""Stratified batches: every batch carries the classes in the overall proportions.

:class:`StratifiedBatchSampler` cuts an epoch into batches whose class counts are as
close to the overall class proportions as integers allow, and uses every example exactly
once. With ``n_c`` examples of class ``c`` out of ``N`` and batch size ``B``, a full
batch holds ``floor(B n_c / N)`` or ``ceil(B n_c / N)`` examples of ``c`` (the short
last batch likewise for its size): the largest-remainder apportionment of each batch.
Which classes get an extra example in which batch is decided so that, over the epoch,
every class gets exactly ``n_c``, and a class whose share is a fraction of one example
per batch comes at regular intervals rather than in clumps.

How the extras are placed. The fractional parts ``r_c = frac(B n_c / N)`` add up to the
number ``e`` of extra slots per full batch. Laid end to end (in a random class order per
epoch) they tile ``[0, e)``; batch ``j`` gives an extra example to the classes under the
``e`` points ``u_j, u_j + 1, ..., u_j + e - 1``. As every ``r_c < 1`` no class is picked
twice in a batch, and exactly ``e`` are picked. The offsets ``u_j`` are the ``J`` points
``(i + phi) / J`` of a grid on ``[0, 1)`` (``J`` full batches, ``phi`` random per epoch)
taken in the order of the golden-ratio sequence ``frac(j * 0.618...)``. So the batches
that pick a class follow the visits of an irrational rotation to an arc of length
``r_c``: the gaps between them take few values (three for an exact rotation), spread
around their mean ``1 / r_c`` and below about twice it (a 0.5% class in batches of 64,
0.32 examples per batch, comes every 2, 3 or 5 batches, rarely 1). An arc of length
``r_c`` holds ``floor(J r_c)`` or ``ceil(J r_c)`` of the grid points, so what the full
batches leave of each class is ``floor`` or ``ceil`` of the short last batch's own quota
``s n_c / N``, and that batch takes it (no short batch: nothing is left). Everything is
integer arithmetic on arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._random import resolve_generator
from .._validate import check_bool, check_int
from ._base import _CHUNK, EpochSampler, ShardMode
from ._labels import BatchList, Classes, Labels, check_labels, group_by_class, group_order, small_int, stable_argsort

__all__ = ["StratifiedBatchSampler", "stratified_batch_indices"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _grid_order(num: int) -> np.ndarray:
    """Rank of ``frac(j * golden)`` among ``j < num``: a permutation that spreads like a rotation."""
    rank = np.empty(num, dtype=np.int64)
    rank[np.argsort(np.modf(np.arange(num) * _GOLDEN)[0])] = np.arange(num)
    return rank


def _extra_classes(counts: np.ndarray, batch_size: int, full: int, generator: torch.Generator) -> np.ndarray:
    """Class of each extra slot, shape ``(full, e)``: full batch ``j`` gives one more example to each."""
    total = int(counts.sum())
    remainder = (batch_size * counts) % total  # r_c * N
    extra = int(remainder.sum()) // total
    if extra == 0 or full == 0:
        return np.empty((full, 0), dtype=np.int64)
    # Units of 1 / (N * J): the arcs tile [0, e * N * J), grid points are N apart.
    order = torch.randperm(len(counts), generator=generator).numpy()
    ends = np.cumsum(remainder[order] * full)
    phi = int(torch.randint(total, (1,), generator=generator))
    points = _grid_order(full) * total + phi
    points = points[:, None] + np.arange(extra)[None, :] * (total * full)
    return order[np.searchsorted(ends, points, side="right")]


def _slot_classes(counts: np.ndarray, batch_size: int, generator: torch.Generator) -> np.ndarray:
    """Class of every slot of the epoch, batch after batch, shape ``(N,)``."""
    total, num_classes = int(counts.sum()), len(counts)
    full, short = divmod(total, batch_size)
    classes: np.ndarray = np.arange(num_classes, dtype=small_int(num_classes))
    base = np.repeat(classes, (batch_size * counts) // total)
    extras = _extra_classes(counts, batch_size, full, generator).astype(classes.dtype)
    slots = [np.concatenate([np.broadcast_to(base, (full, len(base))), extras], axis=1).reshape(-1)]
    if short:
        floor = (short * counts) // total
        given = full * ((batch_size * counts) // total) + np.bincount(extras.reshape(-1), minlength=num_classes)
        last = counts - given  # floor or floor + 1 by construction (see the module docstring)
        if not (((last >= floor) & (last <= floor + 1)).all() and int(last.sum()) == short):
            raise RuntimeError("internal error: stratified apportionment out of quota")  # pragma: no cover
        slots.append(np.repeat(classes, last))
    return np.concatenate(slots)


def _stratified_epoch(groups: Classes, batch_size: int, generator: torch.Generator) -> np.ndarray:
    """Example indices of one epoch, batch ``j`` at ``[j * B, (j + 1) * B)``, int64 ``(N,)``."""
    num_classes, total = len(groups.counts), len(groups.labels)
    num_batches = -(-total // batch_size)
    slots = _slot_classes(groups.counts, batch_size, generator)
    # The batch of each slot, class after class (slots of a class in batch order).
    slot_batches = stable_argsort(slots, num_classes) // batch_size
    # The examples, class after class in a random order within each class, take those
    # slots: which examples fill which slots is random. Then a random order in each batch.
    batch: np.ndarray = np.empty(total, dtype=small_int(num_batches))
    batch[group_order(groups.labels, num_classes, generator)] = slot_batches
    return group_order(batch, num_batches, generator)


def stratified_batch_indices(
    labels: Labels,
    batch_size: int,
    *,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One epoch of stratified batches, flattened: batch ``j`` is ``out[j * B : (j + 1) * B]``.

    Args:
        labels: class id of every example, shape ``(N,)``, any integer dtype, values >= 0
            (need not be contiguous); a tensor on any device, an array or a list.
        batch_size: ``B`` >= 1.
        drop_last: drop the final short batch (default ``False``).
        generator: a CPU ``torch.Generator`` (the bookkeeping runs on the CPU whatever
            the labels' device); ``None`` (default): a fresh one seeded from the OS.

    Returns:
        ``int64`` tensor on the labels' device (CPU for arrays and lists) of shape
        ``(N,)``, or ``(B * floor(N / B),)`` with ``drop_last``: a permutation of the
        examples (all but the dropped ones) in which every batch holds ``floor`` or
        ``ceil`` of ``size * n_c / N`` examples of each class ``c``, in random order.

    Raises:
        TypeError: ``labels`` not integer (floats, bools); ``batch_size`` not an int (or a
            bool); ``drop_last`` not a bool; ``generator`` not a ``torch.Generator``.
        ValueError: ``labels`` empty, not 1-D or negative; ``batch_size`` < 1;
            ``generator`` not on the CPU.

    Example:
        >>> labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 3)
        >>> out = stratified_batch_indices(labels, 4, generator=torch.Generator().manual_seed(0))
        >>> [sorted(labels[out[j:j + 4]].tolist()) for j in range(0, 12, 4)]
        [[0, 0, 1, 2], [0, 0, 1, 2], [0, 0, 1, 2]]
    """
    device = labels.device if isinstance(labels, torch.Tensor) else torch.device("cpu")
    groups = group_by_class(check_labels(labels))
    batch_size = check_int("batch_size", batch_size, min=1)
    drop_last = check_bool("drop_last", drop_last)
    out = torch.from_numpy(_stratified_epoch(groups, batch_size, resolve_generator(generator)))
    if drop_last:
        out = out[: len(out) - len(out) % batch_size]
    return out.to(device)


class StratifiedBatchSampler(EpochSampler[list[int]]):
    """Batch sampler whose batches follow the overall class proportions, every example once.

    A replacement for ``BatchSampler(RandomSampler(...), batch_size, drop_last)`` when
    the class mix of each batch matters: a rare class comes in every batch or at
    regular intervals, never in clumps. Each batch holds ``floor`` or ``ceil`` of
    ``size * n_c / N`` examples of class ``c`` (largest remainder), every example comes
    exactly once per epoch, which examples of a class go to which batch is random per
    epoch and each batch is in random order (the module docstring says how the extras
    are spread).

    Args:
        labels: class id of every example, shape ``(N,)``, any integer dtype, values >= 0;
            a tensor (copied to the CPU), an array or a list.
        batch_size: ``B`` >= 1.
        drop_last: drop the final short batch (default ``False``); only its examples
            are dropped, every other batch is as without it.
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: how the epoch's batches split over ranks (the unit is a batch: batch
            ``j`` goes to rank ``j % num_replicas``): ``"pad"`` (default) repeats the first
            batches so every rank gets as many, ``"drop"`` drops the last few,
            ``"uneven"`` gives every batch exactly once.

    Yields:
        ``list[int]`` batches; ``len(sampler)`` is this rank's number of batches. Use it
        as ``DataLoader(dataset, batch_sampler=sampler)``. ``state_dict()`` counts
        batches.

    Example:
        >>> labels = [0] * 90 + [1] * 10
        >>> sampler = StratifiedBatchSampler(labels, 20, seed=0)
        >>> [sum(labels[i] for i in batch) for batch in sampler]
        [2, 2, 2, 2, 2]
    """

    _elastic = True  # its batch ids come from EpochSampler._shard

    def __init__(
        self,
        labels: Labels,
        batch_size: int,
        *,
        drop_last: bool = False,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        self._groups = group_by_class(check_labels(labels))
        self.batch_size: int = check_int("batch_size", batch_size, min=1)
        self.drop_last = check_bool("drop_last", drop_last)
        self.num_examples = len(self._groups.labels)
        self._chunk = max(1, _CHUNK // self.batch_size)
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)

    def _num_global_items(self) -> int:
        full, short = divmod(self.num_examples, self.batch_size)
        return full + (1 if short and not self.drop_last else 0)

    def _rank_items(self) -> BatchList:
        generator = self.epoch_generator()
        rows = -(-self.num_examples // self.batch_size)
        padded = np.full(rows * self.batch_size, -1, dtype=np.int64)
        padded[: self.num_examples] = _stratified_epoch(self._groups, self.batch_size, generator)
        short = self.num_examples % self.batch_size
        ids = self._shard(torch.arange(self._num_global_items()))
        rows_tensor = torch.from_numpy(padded).view(rows, self.batch_size)
        return BatchList(rows_tensor, ids, (rows - 1, short) if short else None)  # type: ignore[arg-type]  # numpy int64 values stand for ints here
