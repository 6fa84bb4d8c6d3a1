"""Weighted sampling of indices, with or without replacement, for any number of items.

With replacement the draw uses Walker's alias method: an O(n) table built once (a
vectorised form of the "sweeping" construction of Hübschle-Schneider & Sanders, 2019:
prefix sums, and a count over an integer grid instead of a search to match lights with
heavies), then every draw costs two uniforms and one 16-byte table lookup (on Linux a CPU
table of 2 MiB or more sits in memory advised for transparent huge pages, so these random
lookups do not also miss the TLB). Without
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

import math
import mmap
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from .._random import make_generator, mix_seed, resolve_generator
from .._validate import check_bool, check_int, check_nonnegative_weights
from ._base import EpochSampler, ShardMode

__all__ = ["WeightedSampler", "weighted_indices"]

_TOPK_FRACTION = 16  # below n / 16 draws without replacement, topk beats a full sort
# On the CPU the alias-table build and the draws go in pieces of fewer than 32768 elements,
# which ATen runs serially: no parallel region per op (a stall whenever a thread waits for a
# busy core), and temporaries that stay in cache instead of fresh n-sized pages.
_CPU_PIECE = (1 << 15) - 1
_HUGE_PAGE = 1 << 21  # tables smaller than one huge page stay in torch's allocator
_BLOCK = 1 << 20  # draws the sampler with replacement makes (and caches) at a time


def _piece(device: torch.device, size: int) -> int:
    """Elements per step of a piecewise pass on ``device`` (one step off the CPU)."""
    return _CPU_PIECE if device.type == "cpu" else max(size, 1)


class _Plan(NamedTuple):
    """What a draw needs, computed once from the weights."""

    n: int  # number of items
    positive: int  # number of items with a positive weight
    table: torch.Tensor | None  # with replacement: [n, 2] int64 rows (prob as float64 bits, alias)
    weights: torch.Tensor | None  # without replacement: the positive weights, float64, scaled to max 1
    positions: torch.Tensor | None  # without replacement: their positions, None when all are positive


def _alias_table(w: torch.Tensor) -> torch.Tensor:
    """Alias table for probabilities proportional to ``w`` (float64, >= 0, sum > 0).

    Returns ``[n, 2]`` int64 rows: the probability of keeping the bucket (float64 bits)
    and the alias. ``w`` is not modified.

    Scaled so the mean is 1, items are lights (p < 1) or heavies (p >= 1). A light keeps
    its bucket with probability p and sends its deficit 1 - p to a heavy; heavies pay the
    lights' deficits in index order and, once what is left of one drops below 1, the next
    heavy tops its bucket up. With ``done[i]`` the deficits summed up to position i (every
    deficit at most 1) and ``E_j`` heavy j's cumulative excess, heavy j pays the lights up
    to any position k with ``done[k]`` in ``[E_j, E_j + 1]`` and keeps ``1 + E_j - done[k]``.
    For the integer ``m = floor(E_j + 1)``, the first position with ``done >= m``, or the one
    before it, always qualifies; those first positions, for every m, come from one
    ``bincount`` of ``floor(done)`` per piece: no search, no sort, O(n), and ``done`` never
    leaves the piece it is computed in.
    """
    n, device = w.numel(), w.device
    total = float(w.sum())
    if not (math.isfinite(total) and math.isfinite(n / total)):  # the sum overflows, or n / sum does
        w = w / w.max()
        total = float(w.sum())
    scale, step = n / total, _piece(device, n)
    table = _empty_rows(n, device)
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    # Per-piece results go into buffers sized for the worst case; pages never written are never mapped.
    heavy, excess = w.new_empty(n, dtype=torch.int64), w.new_empty(n)
    first, at_m, before_m = w.new_empty(n + 2, dtype=torch.int64), w.new_empty(n + 2), w.new_empty(n + 2)
    first[0], hs, gs = 0, 0, 1  # grid point m = 0 is never used (E_j + 1 >= 1)
    size = min(step, n)
    p, done = w.new_empty(size), w.new_zeros(size + 1)  # done[0]: the deficits before the piece
    floors, one = w.new_empty(size + 1, dtype=torch.int64), w.new_ones(())
    for a in range(0, n, step):
        length = min(step, n - a)
        part, sums = p[:length], done[: length + 1]
        torch.mul(w[a : a + length], scale, out=part)
        h = _heavy_positions(part)
        torch.add(h, a, out=heavy[hs : hs + h.numel()])
        torch.index_select(part, 0, h, out=excess[hs : hs + h.numel()]).sub_(1)
        hs += h.numel()
        prob[a : a + length] = part.clamp_(max=1)  # lights keep their own p: exact
        torch.cumsum(torch.sub(one, part, out=part), 0, out=sums[1:]).add_(sums[:1])
        fl = floors[: length + 1].copy_(sums)
        # The first position of each new integer part of done: positions with floor(done) < m.
        below = torch.bincount(fl[1:].sub_(fl[:1])).cumsum_(0)[:-1]
        g = below.numel()
        torch.add(below, a, out=first[gs : gs + g])
        torch.index_select(sums[1:], 0, below, out=at_m[gs : gs + g])
        torch.index_select(sums, 0, below, out=before_m[gs : gs + g])
        gs += g
        done[0] = sums[-1]
    h_idx, heavies = heavy[:hs], hs
    if heavies in (0, n):  # every p equals 1 up to rounding
        prob.fill_(1.0)
        torch.arange(n, out=alias)
        return table
    # Past the last grid point: position n - 1, which never backs off.
    first[gs], at_m[gs], before_m[gs] = n - 1, done[0], done[0]
    first, at_m, before_m = first[: gs + 1], at_m[: gs + 1], before_m[: gs + 1]
    keep, k = excess[:hs], torch.empty_like(h_idx)
    top_carry, gates = w.new_ones(1), first.numel() - 1
    for a in range(0, heavies, step):
        top = keep[a : a + step].cumsum_(0).add_(top_carry)  # E_j + 1
        top_carry = top[-1:].clone()
        m = top.to(torch.int64).clamp_(max=gates)
        d = at_m.index_select(0, m)
        back = d > top
        torch.sub(first.index_select(0, m), back.to(torch.int64), out=k[a : a + step])
        top.sub_(torch.where(back, before_m.index_select(0, m), d)).clamp_(0, 1)  # what heavy j keeps
    keep[-1] = 1.0  # the last heavy pays no one and is topped up by no one
    # A light at position i is paid by the first heavy j with k_j >= i; heavy j's alias is heavy j + 1.
    starts = torch.arange(0, n + step, step, device=device).clamp_(max=n)
    k_at, h_at = torch.searchsorted(k, starts).tolist(), torch.searchsorted(h_idx, starts).tolist()
    for c, a in enumerate(range(0, n, step)):
        b = min(a + step, n)
        payer = torch.bincount(k[k_at[c] : k_at[c + 1]] - (a - 1), minlength=b - a + 1)[: b - a]
        payer.cumsum_(0).add_(k_at[c])
        here = h_idx[h_at[c] : h_at[c + 1]] - a
        payer.index_copy_(0, here, torch.arange(h_at[c] + 1, h_at[c + 1] + 1, device=device))
        alias[a:b] = h_idx.index_select(0, payer.clamp_(max=heavies - 1))
        prob[a:b].index_copy_(0, here, keep[h_at[c] : h_at[c + 1]])
    return table


def _empty_rows(n: int, device: torch.device) -> torch.Tensor:
    """An uninitialised ``[n, 2]`` int64 table; on Linux CPUs in memory advised for
    transparent huge pages (draws read rows at random, and with 4 KiB pages nearly every
    read of a large table also misses the TLB). Only this buffer is advised, nothing global;
    where the kernel does not allow it, the advice is ignored."""
    size = n * 16
    if device.type != "cpu" or size < _HUGE_PAGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(n, 2, dtype=torch.int64, device=device)
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # a kernel without transparent huge pages
        pass
    return torch.frombuffer(buffer, dtype=torch.int64).view(n, 2)


def _heavy_positions(p: torch.Tensor) -> torch.Tensor:
    """Positions where ``p >= 1``, int64 (on the CPU numpy's comparison and nonzero are each
    several times faster than torch's)."""
    if p.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(p.numpy() >= 1).astype(np.int64, copy=False))
    return (p >= 1).nonzero().squeeze(1)


def _plan(weights: Any, replacement: bool) -> _Plan:
    w = check_nonnegative_weights("weights", weights).to(torch.float64)
    positive = int(torch.count_nonzero(w))
    if replacement:
        return _Plan(len(w), positive, _alias_table(w), None, None)
    w = w / w.max()  # keys E / w stay finite for tiny or huge weights
    if positive == len(w):
        return _Plan(len(w), positive, None, w, None)
    index = w.nonzero().squeeze(1)
    return _Plan(len(w), positive, None, w.index_select(0, index), index)


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
        return _draw_alias(plan.table, num_samples, generator)
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
            self._cached = (b, _draw_alias(self.table, size, make_generator(mix_seed(self.seed, b))))
        return self._cached[1]

    def __getitem__(self, where: slice) -> torch.Tensor:
        start, stop, _ = where.indices(self.length)
        if stop <= start:
            return self.table.new_empty(0)
        first, last = start // _BLOCK, (stop - 1) // _BLOCK
        blocks = [self._block(b) for b in range(first, last + 1)]
        joined = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        return joined[start - first * _BLOCK : stop - first * _BLOCK]


def _draw_alias(table: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``num_samples`` i.i.d. alias draws: a uniform bucket, then a 53-bit coin against its
    keep probability (one 16-byte row read per draw).

    On the CPU the uniforms come from numpy's PCG64, seeded by one draw from ``generator``:
    an unbiased bounded integer for the bucket, about three times cheaper per number than
    torch's CPU generator. On another device they come from ``generator`` there, the bucket
    being ``floor(u * n)`` of a 53-bit uniform (CUDA ``randint`` is not exact either).
    """
    if table.device.type == "cpu":
        seed = int(torch.randint(2**63 - 1, (1,), generator=generator))
        return torch.from_numpy(_draw_alias_cpu(table.numpy(), num_samples, seed))
    return _draw_alias_torch(table, num_samples, generator)


def _draw_alias_torch(table: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """The draws of :func:`_draw_alias` with torch ops only, in one piece (off the CPU)."""
    n = len(table)
    u = torch.rand(num_samples, dtype=torch.float64, device=table.device, generator=generator)
    slot = u.mul_(n).to(torch.int64).clamp_(max=n - 1)
    # Rows viewed as complex128 gather about 1.5x faster than [n, 2] rows.
    row = table.view(torch.complex128).view(-1).index_select(0, slot).view(torch.float64)
    coin = u.uniform_(generator=generator)  # a second 53-bit uniform, in the first one's memory
    return torch.where(coin < row[0::2], slot, row[1::2].view(torch.int64))


def _draw_alias_cpu(table: np.ndarray, num_samples: int, seed: int) -> np.ndarray:
    """The CPU draws of :func:`_draw_alias`, in cache-sized pieces; ``table`` as ``[n, 2]`` int64."""
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.empty(num_samples, dtype=np.int64)
    coin = np.empty(min(_CPU_PIECE, num_samples))
    for a in range(0, num_samples, _CPU_PIECE):
        slot = out[a : a + _CPU_PIECE]
        slot[:] = rng.integers(len(table), size=len(slot))
        rows = table.take(slot, axis=0)  # (keep probability bits, alias) per draw
        flip = rng.random(len(slot), out=coin[: len(slot)]) >= rows[:, 0].view(np.float64)
        np.copyto(slot, rows[:, 1], where=flip)
    return out


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
