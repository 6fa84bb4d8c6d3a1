"""Class-balanced ("m-per-class") batches: P classes x K examples in every batch.

What metric learning needs (every anchor has positives in its batch) and what rare-class
training uses to see every class equally often, whatever its size. Classes come in
rounds: each round is a random permutation of the ``C`` classes cut into ``floor(C / P)``
batches (the last ``C % P`` classes of a round sit it out), so every class appears
equally often in expectation and at most once per batch. A class's examples are used in
passes, each pass in a fresh random order and cut to a multiple of ``K``: a class with at
least ``K`` examples never repeats one inside a batch and uses all but ``n_c % K`` of
them per pass; a class with fewer than ``K`` examples is sampled with replacement, its
passes laid end to end, so each of its examples appears about ``K / n_c`` times in the
batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._random import resolve_generator
from .._validate import check_int
from ._base import _CHUNK, EpochSampler, ShardMode
from ._labels import Classes, Labels, check_labels, group_by_class, group_order, stable_argsort

__all__ = ["ClassBalancedBatchSampler", "class_balanced_batch_indices"]


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x) - x


def _class_balanced_epoch(
    groups: Classes, per_batch: int, per_class: int, num_batches: int, generator: torch.Generator
) -> torch.Tensor:
    counts = groups.counts
    num_classes = len(counts)
    # Classes: rounds of random permutations, each cut into floor(C / P) groups of P.
    per_round = num_classes // per_batch
    rounds = -(-num_batches // per_round)
    keys = torch.rand(rounds, num_classes, generator=generator).numpy()
    seq = np.argsort(keys, axis=1)[:, : per_round * per_batch].reshape(-1)[: num_batches * per_batch]
    # How many times each class came before, at each of its appearances.
    appearances = np.bincount(seq, minlength=num_classes)
    by_class = stable_argsort(seq, num_classes)
    nth = np.empty_like(seq)
    nth[by_class] = np.arange(len(seq)) - _exclusive_cumsum(appearances)[seq[by_class]]
    # Each class's stream of examples: passes in fresh random orders, cut to a multiple of K.
    usable = np.where(counts >= per_class, counts // per_class * per_class, counts)
    passes = -(-appearances * per_class // usable)
    block_class = np.repeat(np.arange(num_classes), passes)
    block_size = counts[block_class]
    block = np.repeat(np.arange(len(block_class)), block_size)
    in_block = np.arange(len(block)) - np.repeat(_exclusive_cumsum(block_size), block_size)
    shuffled = group_order(block, len(block_class), generator)  # a random order inside each block
    stream = groups.members[_exclusive_cumsum(counts)[block_class[block]] + in_block[shuffled]]
    stream = stream[in_block < usable[block_class[block]]]
    start = _exclusive_cumsum(passes * usable)[seq] + nth * per_class
    batches = stream[start[:, None] + np.arange(per_class)]
    return torch.from_numpy(batches.reshape(num_batches, per_batch * per_class))


def _check_balanced(
    groups: Classes, classes_per_batch: Any, samples_per_class: Any, num_batches: Any
) -> tuple[int, int, int]:
    num_classes, total = len(groups.counts), len(groups.labels)
    per_batch: int = check_int("classes_per_batch", classes_per_batch, min=1)
    if per_batch > num_classes:
        raise ValueError(
            f"`classes_per_batch` must be <= the number of classes in `labels` ({num_classes}), got {per_batch}"
        )
    per_class: int = check_int("samples_per_class", samples_per_class, min=1)
    if num_batches is None:
        num_batches = total // (per_batch * per_class)
        if num_batches == 0:
            raise ValueError(
                f"`num_batches` must be given when `labels` has fewer than classes_per_batch * samples_per_class "
                f"= {per_batch * per_class} examples, got {total} examples"
            )
    num_batches = check_int("num_batches", num_batches, min=1)
    return per_batch, per_class, num_batches


def class_balanced_batch_indices(
    labels: Labels,
    *,
    classes_per_batch: int,
    samples_per_class: int,
    num_batches: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One epoch of m-per-class batches: each holds ``P`` distinct classes x ``K`` examples.

    See the module docstring for which classes and examples are chosen.

    Args:
        labels: class id of every example, shape ``(N,)``, any integer dtype, values >= 0;
            a tensor on any device, an array or a list.
        classes_per_batch: ``P``, 1 <= P <= number of distinct labels.
        samples_per_class: ``K`` >= 1.
        num_batches: batches in the epoch; default ``None`` means ``N // (P * K)``.
        generator: a CPU ``torch.Generator`` (the bookkeeping runs on the CPU whatever
            the labels' device); ``None`` (default): a fresh one seeded from the OS.

    Returns:
        ``int64`` tensor of shape ``(num_batches, P * K)`` on the labels' device (CPU for
        arrays and lists); row ``b`` is batch ``b``, the ``K`` examples of a class next to
        each other.

    Raises:
        TypeError: ``labels`` not integer; ``classes_per_batch``, ``samples_per_class``
            or ``num_batches`` not an int (or a bool); ``generator`` not a
            ``torch.Generator``.
        ValueError: ``labels`` empty, not 1-D or negative; ``classes_per_batch`` < 1 or
            more than the number of classes; ``samples_per_class`` < 1; ``num_batches``
            < 1, or ``None`` when ``N < P * K``; ``generator`` not on the CPU.

    Example:
        >>> labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 2)
        >>> g = torch.Generator().manual_seed(0)
        >>> out = class_balanced_batch_indices(labels, classes_per_batch=2, samples_per_class=3, generator=g)
        >>> out.shape
        torch.Size([2, 6])
        >>> [labels[row].view(2, 3).unique(dim=1).shape[1] for row in out]  # 3 alike, twice
        [1, 1]
    """
    device = labels.device if isinstance(labels, torch.Tensor) else torch.device("cpu")
    groups = group_by_class(check_labels(labels))
    per_batch, per_class, num_batches = _check_balanced(groups, classes_per_batch, samples_per_class, num_batches)
    generator = resolve_generator(generator)
    return _class_balanced_epoch(groups, per_batch, per_class, num_batches, generator).to(device)


class ClassBalancedBatchSampler(EpochSampler[list[int]]):
    """Batch sampler of m-per-class batches: ``classes_per_batch`` classes x ``samples_per_class``.

    Classes come in rounds of random permutations, examples in passes of random orders,
    and a class with fewer than ``samples_per_class`` examples repeats them inside its
    batch (sampling with replacement); details in the module docstring.

    Args:
        labels: class id of every example, shape ``(N,)``, any integer dtype, values >= 0;
            a tensor (copied to the CPU), an array or a list.
        classes_per_batch: ``P``, at most the number of distinct labels.
        samples_per_class: ``K`` >= 1; batches have ``P * K`` examples, the ``K`` of a
            class next to each other.
        num_batches: batches per epoch over all ranks; default ``None`` means
            ``N // (P * K)``.
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: ``"pad"`` (default), ``"drop"`` or ``"uneven"``; the unit is a batch
            (batch ``j`` goes to rank ``j % num_replicas``).

    Yields:
        ``list[int]`` batches, for ``DataLoader(dataset, batch_sampler=sampler)``.

    Example:
        >>> labels = [0] * 8 + [1] * 8 + [2] * 2
        >>> sampler = ClassBalancedBatchSampler(labels, classes_per_batch=2, samples_per_class=4, seed=0)
        >>> len(sampler), all(len({labels[i] for i in b}) == 2 for b in sampler)
        (2, True)
    """

    def __init__(
        self,
        labels: Labels,
        *,
        classes_per_batch: int,
        samples_per_class: int,
        num_batches: int | None = None,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        self._groups = group_by_class(check_labels(labels))
        checked = _check_balanced(self._groups, classes_per_batch, samples_per_class, num_batches)
        self.classes_per_batch, self.samples_per_class, self.num_batches = checked
        self._chunk = max(1, _CHUNK // (self.classes_per_batch * self.samples_per_class))
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)

    def _num_global_items(self) -> int:
        return self.num_batches

    def _global_items(self, generator: torch.Generator) -> torch.Tensor:
        return _class_balanced_epoch(
            self._groups, self.classes_per_batch, self.samples_per_class, self.num_batches, generator
        )
