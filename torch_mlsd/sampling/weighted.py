"""Weighted sampling of indices, with or without replacement, for any number of items.

With replacement the draw uses Walker's alias method (:mod:`._alias`): an O(n) table built
once, then every draw costs two uniforms and one 16-byte table lookup. Without
replacement it is exact successive sampling by exponential keys (Efraimidis & Spirakis,
2006): item ``i`` gets ``E_i / w_i`` with ``E_i ~ Exp(1)`` and the ``num_samples``
smallest keys win, in increasing order, which is the same as drawing one item at a time
with probability proportional to its weight among those left. Neither has
``torch.multinomial``'s limit of 2^24 categories.

"Exact" means exact up to double-precision rounding: weights are held in float64, the
alias probabilities come from float64 prefix sums, a bucket is an unbiased bounded
integer on the CPU and ``floor(u * n)`` of a 53-bit uniform ``u`` on a GPU (relative bias
below ``n * 2**-53``, about 1e-9 at n = 1e7), the coin is a 53-bit uniform, and a weight
ratio beyond about 1e308 cannot be represented. The alias probabilities are
within a relative 1e-10 of ``w_i / sum(w)`` at n = 1e5 and about 1e-8 at n = 1e6-1e7 for
weights of one order of magnitude; a heavy item's share is the difference of two long
prefix sums, so weights spread over many orders lose more (8e-6 at n = 1e7 for
``exp(8 * randn)`` weights). A float32 prefix sum over 1e7 uniform weights, by contrast,
gets the last items' probabilities wrong by a median 34% (the sum's spacing there is 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from .._random import make_generator, mix_seed, resolve_generator
from .._validate import check_bool, check_int, check_nonnegative_weights
from ._alias import alias_table, draw_alias
from ._base import EpochSampler, ShardMode

__all__ = ["WeightedSampler", "weighted_indices"]

_TOPK_FRACTION = 16  # below n / 16 draws without replacement, topk beats a full sort
_BLOCK = 1 << 20  # draws the sampler with replacement makes (and caches) at a time


class _Plan(NamedTuple):
    """What a draw needs, computed once from the weights."""

    n: int  # number of items
    table: torch.Tensor | None  # with replacement: [n, 2] int64 rows (prob as float64 bits, alias)
    weights: torch.Tensor | None  # without replacement: the positive weights, float64, scaled to max 1
    positions: torch.Tensor | None  # without replacement: their positions, None when all are positive

    @property
    def positive(self) -> int:
        """Without replacement the number of positive weights (the most one epoch can hold); with, ``n``."""
        return self.n if self.weights is None else len(self.weights)


def _plan(weights: Any, replacement: bool) -> _Plan:
    w = check_nonnegative_weights("weights", weights).to(torch.float64)
    if replacement:
        return _Plan(len(w), alias_table(w), None, None)
    w = w / w.max()  # keys E / w stay finite for tiny or huge weights
    if bool(w.all()):
        return _Plan(len(w), None, w, None)
    index = w.nonzero().squeeze(1)
    return _Plan(len(w), None, w.index_select(0, index), index)


def _check_num_samples(num_samples: Any, plan: _Plan, replacement: bool) -> int:
    if num_samples is None:
        return plan.n if replacement else plan.positive
    num_samples = check_int("num_samples", num_samples, min=1)
    if not replacement and num_samples > plan.positive:
        raise ValueError(
            f"`num_samples` must be <= the number of positive weights ({plan.positive}) "
            f"without replacement, got {num_samples}"
        )
    return num_samples


def _draw(plan: _Plan, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    if plan.table is not None:
        return draw_alias(plan.table, num_samples, generator)
    return _draw_successive(plan, num_samples, generator)


class _LazyDraws:
    """One epoch of i.i.d. alias draws, made block by block as the sampler slices it.

    Block ``b`` comes from its own generator seeded by ``(seed, b)``, so any slice (a
    resumed epoch starts anywhere) is reproducible and memory stays at one block, not
    ``8 * length`` bytes. The last block is cached for slices that straddle two blocks.
    """

    def __init__(self, table: torch.Tensor, length: int, seed: int) -> None:
        self.table, self.length, self.seed = table, length, seed
        self._cached: tuple[int, torch.Tensor] = (-1, table.new_empty(0))

    def __len__(self) -> int:
        return self.length

    def _block(self, b: int) -> torch.Tensor:
        if self._cached[0] != b:
            size = min(_BLOCK, self.length - b * _BLOCK)
            self._cached = (b, draw_alias(self.table, size, make_generator(mix_seed(self.seed, b))))
        return self._cached[1]

    def __getitem__(self, where: slice) -> torch.Tensor:
        start, stop, _ = where.indices(self.length)
        if stop <= start:
            return self.table.new_empty(0)
        first, last = start // _BLOCK, (stop - 1) // _BLOCK
        blocks = [self._block(b) for b in range(first, last + 1)]
        joined = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        return joined[start - first * _BLOCK : stop - first * _BLOCK]


def _draw_successive(plan: _Plan, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    w: torch.Tensor = plan.weights  # type: ignore[assignment]  # without replacement the plan always holds weights
    keys = torch.empty_like(w).exponential_(generator=generator).div_(w)
    # Keys are >= 0 and never NaN, so their bit patterns sort like the floats; the int64
    # sort takes the radix path, more than twice as fast as sorting float64.
    bits = keys.view(torch.int64)
    if num_samples * _TOPK_FRACTION < len(bits):
        order = bits.topk(num_samples, largest=False, sorted=True).indices
    else:
        order = bits.sort(stable=True).indices[:num_samples]
    return order if plan.positions is None else plan.positions.index_select(0, order)


def weighted_indices(
    weights: torch.Tensor | Sequence[float],
    num_samples: int | None = None,
    *,
    replacement: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw indices with probability proportional to ``weights``.

    Args:
        weights: non-negative, finite weights, shape ``(n,)``, any real dtype (used in
            float64); at least one must be positive. Any device; the draw runs there.
        num_samples: how many indices. Default ``None``: ``n`` with replacement, the
            number of positive weights without.
        replacement: ``True`` (default): i.i.d. draws, ``P(i) = w_i / sum(w)``.
            ``False``: successive sampling without replacement (each next index is drawn
            with probability proportional to its weight among those not yet drawn).
        generator: a ``torch.Generator`` on the weights' device; ``None`` seeds a fresh
            one from the operating system.

    Returns:
        ``int64`` tensor of shape ``(num_samples,)`` on the weights' device. Zero-weight
        indices never appear.

    Raises:
        TypeError: ``weights`` not numeric, ``num_samples`` not an int (or a bool).
        ValueError: ``weights`` not 1-D, negative, NaN/inf or all zero; ``num_samples``
            < 1, or larger than the number of positive weights without replacement;
            ``generator`` on another device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> idx = weighted_indices(torch.tensor([0.0, 1.0, 3.0]), 10_000, generator=g)
        >>> bool((idx != 0).all()), 0.73 < (idx == 2).float().mean().item() < 0.77
        (True, True)
        >>> weighted_indices([0.0, 1.0, 3.0], replacement=False, generator=g).sort().values.tolist()
        [1, 2]
    """
    replacement = check_bool("replacement", replacement)
    plan = _plan(weights, replacement)
    num_samples = _check_num_samples(num_samples, plan, replacement)
    device = (plan.table if plan.table is not None else plan.weights).device  # type: ignore[union-attr]  # a plan holds a table or weights, never neither
    return _draw(plan, num_samples, resolve_generator(generator, device))


class WeightedSampler(EpochSampler[int]):
    """Sampler of indices drawn with probability proportional to ``weights``.

    A seeded, epoch-aware, DDP-aware and resumable replacement for
    ``torch.utils.data.WeightedRandomSampler`` that also works past 2^24 items and
    without replacement at any size (see :func:`weighted_indices` for the draws and what
    "exact" means).

    Args:
        weights: non-negative finite weights, shape ``(n,)``, at least one positive; a
            sequence, array or tensor (copied to the CPU as float64).
        num_samples: indices per epoch over all ranks. Default ``None``: ``n`` with
            replacement, the number of positive weights without.
        replacement: ``True`` (default) for i.i.d. draws, ``False`` for successive
            sampling without replacement (no index twice in an epoch).
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: ``"pad"`` (default), ``"drop"`` or ``"uneven"``: how the epoch's
            ``num_samples`` split over ranks, as in
            :class:`~torch_mlsd.sampling._base.EpochSampler`.

    Distributed (the sampler pytorch #77154 asks for): every rank gets a disjoint share
    of the same epoch, of equal length under ``"pad"``/``"drop"``.

    * Without replacement the draw is global: every rank draws the whole epoch from
      ``(seed, epoch)`` and keeps every ``num_replicas``-th index from its rank on, so
      the shares are disjoint and their union is exactly the single-process epoch
      (``"pad"`` repeats the first few indices, as ``DistributedSampler`` does).
    * With replacement each rank draws only its own share, i.i.d., from a stream seeded
      by ``(seed, epoch, rank)``. Draws with replacement are independent, so the union
      of the shares has exactly the distribution of one global draw of that size (it is
      just not the same sequence as the single-process run), and no rank spends time
      or memory on the other ranks' indices.

    Resume (``state_dict``/``load_state_dict``) continues the epoch exactly on the same
    number of ranks. On another number (elastic resume, see
    :class:`~torch_mlsd.sampling._base.EpochSampler`): without replacement the epoch
    goes on with exactly the indices of the global draw the old ranks had not consumed;
    with replacement the ``num_samples - consumed`` draws left in the epoch are made
    afresh, i.i.d. from the weights, by the new ranks (keyed by seed, epoch, rank, world
    size and ``consumed``): the epoch keeps its size and its distribution, not the
    sequence the old world would have drawn.

    Call ``set_epoch(epoch)`` before each epoch; a forgotten call still gives a new
    order (the epoch advances by itself). With replacement the alias table is built once
    and the draws are made 2^20 at a time as the epoch is iterated, so memory stays flat
    for any ``num_samples``; without replacement the epoch's order is one int64 tensor
    (it needs every key). Indices are handed out in chunks, never as one Python list.

    Example:
        >>> sampler = WeightedSampler([1.0, 0.0, 2.0, 1.0], 6, seed=0)
        >>> len(sampler), 1 in list(sampler)
        (6, False)
        >>> sorted(WeightedSampler([1.0, 0.0, 2.0, 1.0], replacement=False))
        [0, 2, 3]
    """

    _elastic = True  # shares from EpochSampler._shard, or per-rank draws keyed by the offset

    def __init__(
        self,
        weights: torch.Tensor | Sequence[float],
        num_samples: int | None = None,
        *,
        replacement: bool = True,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        self.replacement = check_bool("replacement", replacement)
        if isinstance(weights, torch.Tensor):
            weights = weights.detach().cpu()
        self._plan = _plan(weights, self.replacement)
        self.num_samples = _check_num_samples(num_samples, self._plan, self.replacement)
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)

    def _num_global_items(self) -> int:
        return self.num_samples

    def _global_items(self, generator: torch.Generator) -> torch.Tensor:
        return _draw(self._plan, self.num_samples, generator)

    def _rank_items(self) -> torch.Tensor | _LazyDraws:  # type: ignore[override]  # lazy draws are a sequence of indices, as the base's items are
        if self.replacement:
            seed = int(torch.randint(2**62, (1,), generator=self.rank_generator()))
            return _LazyDraws(self._plan.table, len(self), seed)  # type: ignore[arg-type]  # with replacement the plan always holds a table
        return super()._rank_items()  # type: ignore[return-value]  # the base's items are index tensors here
