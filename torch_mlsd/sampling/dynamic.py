"""A weighted sampler whose weights change while it is being iterated (pytorch #7359).

The weights live in a sum tree (``_sum_tree.SumTree``): ``update_weights`` rewrites ``k``
leaves and their ancestors in ``O(k log n)`` tensor operations, and a draw is one
inverse-CDF descent of ``O(log n)`` levels, vectorised over a chunk of draws.

When an update takes effect: **from the very next index the sampler yields.** The sampler
draws ahead in chunks (256 indices after the start of an epoch or an update, doubling
up to 16384; a resumed run keeps the saved run's chunks), but an update discards the drawn, not yet yielded rest of the
current chunk and the next chunk is drawn from the new weights. Indices already handed
out are not affected; note that a ``DataLoader`` takes indices from the sampler ahead of
the training loop (``prefetch_factor * num_workers`` batches with workers, none without),
so an update made after step ``t`` reaches the batches the loader assembles after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .._distributed import is_distributed
from .._random import make_generator, mix_seed
from .._validate import check_bool, check_int, check_nonnegative_weights, check_real_vector, check_tensor
from ._base import EpochSampler, ShardMode
from ._dynamic_checks import check_chunk, check_distinct, check_indices
from ._sum_tree import SumTree

__all__ = ["DynamicWeightedSampler"]

_FIRST_CHUNK = 256  # indices drawn after an epoch start, a resume or an update
_MAX_CHUNK = 1 << 14  # below torch's parallel grain (32768): small parallel ops stall on a busy CPU
_HEAD = 1024  # without replacement: first global items kept for "pad" shares (at least num_replicas)


@dataclass
class _Chunk:
    """Indices drawn ahead for this rank: ``values`` are rank positions ``begin, begin + 1, ...``."""

    origin: int  # rank position the chunk was drawn from (with ``size``, what replays it)
    size: int  # rank positions the chunk was drawn for
    begin: int  # rank position of values[0] (after a resume, past origin)
    values: list[int]
    global_begin: int  # without replacement: global position (in the epoch) of global_items[0]
    global_items: torch.Tensor | None  # without replacement: the global draws behind the chunk


class DynamicWeightedSampler(EpochSampler[int]):
    """Weighted sampler whose weights can be changed at any time, mid-epoch included.

    Same contract as :class:`~torch_mlsd.sampling.WeightedSampler` (seed, ``set_epoch``,
    DDP shares, ``shard``, exact resume, with and without replacement), plus
    :meth:`update_weights`, which takes effect from the next index yielded (see the
    module docstring for the exact granularity) at a cost of ``O(k log n)`` for ``k``
    items. Draws cost ``O(log n)`` each, made in vectorised chunks.

    Args:
        weights: non-negative finite weights, shape ``(n,)``, at least one positive;
            copied to the CPU as float64 (the caller's tensor is never modified).
        num_samples: indices per epoch over all ranks. Default ``None``: ``n`` with
            replacement, the number of positive weights without.
        replacement: ``True`` (default): i.i.d. draws with ``P(i) = w_i / sum(w)`` at the
            time of the draw. ``False``: successive sampling without replacement (each
            next index is drawn with probability proportional to its current weight among
            the items not yet drawn this epoch).
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas, rank, shard: as for :class:`WeightedSampler`.

    Without replacement: a drawn item leaves the tree for the rest of the epoch. An
    update of an item already drawn this epoch is stored and applies from the next epoch
    (the item is not drawn again). An update may not leave fewer positive weights than
    ``num_samples``, nor fewer positive undrawn items than the epoch still needs.

    Distributed: as :class:`WeightedSampler` (with replacement every rank draws its own
    share from the global weights; without, every rank draws the global order and keeps
    every ``num_replicas``-th index, so the shares are disjoint). :meth:`update_weights`
    is then **collective**; see there.

    Checkpoints: ``state_dict()`` holds the weights (and, without replacement, which
    items this epoch has drawn), so ``load_state_dict`` resumes exactly, updates made
    before the checkpoint included. As with every sampler here, a plain ``DataLoader``
    runs ahead of the loop: to resume exactly, overwrite ``"position"`` with the number
    of items the loop consumed; without replacement it may not go back before
    ``state["chunk"][0]``, the start of the chunk drawn last (use ``StatefulDataLoader``).

    Elastic resume: loaded into a world of another size (one rank's state on every new
    rank), the epoch continues after the global prefix every old rank consumed,
    ``consumed = start + num_replicas * position`` (see
    :class:`~torch_mlsd.sampling._base.EpochSampler`), from the saved weights, updates
    included. Without replacement the items drawn before the old ranks' last chunk stay
    out of the epoch (``state["taken"]``, a bool mask, ``O(n)`` like the weights); that
    chunk is drawn again from the saved state, its items within the prefix stay out and
    the rest (drawn, never yielded) go back into the pool; the new ranks draw the rest of
    the epoch as disjoint shares of equal length (``shard``), so over all worlds every
    item comes at most once, plus ``"pad"``'s repeats of the epoch's first items. With
    replacement the new ranks make the ``num_samples - consumed`` draws left afresh,
    per-rank streams keyed by ``consumed`` as :meth:`rank_generator`: the count and the
    distribution (the current weights) are right, the sequence is not the one the old
    world would have drawn.

    Example:
        >>> sampler = DynamicWeightedSampler([1.0, 1.0, 1.0, 1.0], 8, seed=0)
        >>> it = iter(sampler)
        >>> first = [next(it) for _ in range(4)]
        >>> sampler.update_weights([0, 1, 2], [0.0, 0.0, 0.0])  # only item 3 is left
        >>> list(it)
        [3, 3, 3, 3]
        >>> sampler.probabilities([2, 3]).tolist()
        [0.0, 1.0]
    """

    _elastic: ClassVar[bool] = True  # shares start at the global offset self._start (see "Elastic resume")

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
        w = check_nonnegative_weights("weights", weights).to(torch.float64, copy=True)
        self.n = len(w)
        self._weights = w
        self._positive = int(torch.count_nonzero(w))
        if num_samples is None:
            num_samples = self.n if self.replacement else self._positive
        self.num_samples = check_int("num_samples", num_samples, min=1)
        if not self.replacement and self.num_samples > self._positive:
            raise ValueError(
                f"`num_samples` must be <= the number of positive weights ({self._positive}) "
                f"without replacement, got {self.num_samples}"
            )
        self._tree = SumTree(w)
        self._taken = torch.zeros(self.n if not self.replacement else 0, dtype=torch.bool)
        self._drawn = 0  # items taken this epoch (without replacement)
        self._open = self._positive  # positive items not taken this epoch (without replacement)
        self._head: list[int] = []  # first global items of the epoch, for "pad" shares
        self._live: _Chunk | None = None
        self._resumed_epoch: int | None = None  # epoch whose state load_state_dict restored
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)

    # -- weights -------------------------------------------------------------------------
    @property
    def weights(self) -> torch.Tensor:
        """The current weights, float64 ``(n,)`` (a copy)."""
        return self._weights.clone()

    def probabilities(self, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Current probability ``w_i / sum(w)`` of drawing each of ``indices`` (float64).

        With replacement this is the proposal ``q`` of the next draws: feed it to
        :func:`~torch_mlsd.sampling.importance_weights` to undo the sampling bias.
        Without replacement it is the probability of the first draw of an epoch (this
        sums all ``n`` weights; with replacement the cost is ``O(k)``).
        """
        index = check_indices("indices", indices, self.n)
        if self.replacement:  # the tree's root is the sum of the weights: O(k)
            return self._weights.index_select(0, index) / self._tree.total()
        return self._weights.index_select(0, index) / self._weights.sum()  # drawn items are out of the tree: O(n)

    def update_weights(self, indices: torch.Tensor | Sequence[int], weights: torch.Tensor | Sequence[float]) -> None:
        """Set ``weights[indices[j]] = weights[j]`` for the indices yielded from now on.

        Costs ``O(k log n)`` for ``k`` indices, vectorised. Every draw after the call uses
        the new weights (see the module docstring), mid-epoch included.

        Args:
            indices: item indices, shape ``(k,)``, an integer tensor or a sequence of ints,
                in ``[0, n)``, **without duplicates** (a duplicate raises: which of two
                values should win is the caller's decision).
            weights: new weights, shape ``(k,)``, finite and >= 0.

        Distributed (a process group is initialised and ``num_replicas > 1``): the call is
        collective, every rank must make it (with ``k = 0`` if it has nothing to update).
        Each rank passes the updates it computed for its own share; the sampler
        all-gathers them (sizes first, so ranks may pass different ``k``), and every rank
        applies all of them in rank order, so the weights stay identical on every rank.
        The indices must then be distinct across ranks too. Without replacement, ranks
        must call it at the same position of the epoch (the same step). If any rank's
        input is bad, every rank raises (none hangs) and nothing changes.

        Raises:
            TypeError: indices not integers (floats, bools), weights not real numbers.
            ValueError: not 1-D or different lengths; indices out of range or duplicated;
                weights negative, NaN or inf; with replacement, all weights would be 0;
                without, too few positive weights would be left (see the class docstring).
        """
        error: Exception | None = None
        index, values = torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.float64)
        try:
            index, values = self._check_update(indices, weights)
        except (TypeError, ValueError) as exc:
            error = exc
        if is_distributed() and self.num_replicas > 1:
            index, values = self._gather_updates(index, values, error)
            check_distinct("indices (gathered from all ranks)", index)
        elif error is not None:
            raise error
        if len(index) == 0:
            return
        self._truncate()
        self._apply(index, values)

    def _check_update(self, indices: Any, weights: Any) -> tuple[torch.Tensor, torch.Tensor]:
        index = check_indices("indices", indices, self.n)
        values = check_real_vector("weights", weights).detach().to("cpu", torch.float64)
        if len(values) != len(index):
            raise ValueError(f"`weights` must have the length of `indices` ({len(index)}), got {len(values)}")
        if bool((values < 0).any()):
            raise ValueError(f"`weights` must be >= 0, got {int((values < 0).sum())} negative entries")
        check_distinct("indices", index)
        return index, values

    def _gather_updates(
        self, index: torch.Tensor, values: torch.Tensor, error: Exception | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dist = torch.distributed
        nccl = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        live = self._live is not None and self._unconsumed() > 0
        meta = torch.tensor([len(index), self.position(), int(error is None), int(live)], device=device)
        metas = [torch.empty_like(meta) for _ in range(self.num_replicas)]
        dist.all_gather(metas, meta)
        table = torch.stack(metas).cpu()
        if error is not None:
            raise error
        if not bool(table[:, 2].all()):
            bad = (table[:, 2] == 0).nonzero().squeeze(1).tolist()
            raise ValueError(f"`update_weights` got bad input on rank(s) {bad}; no weights were changed")
        if not self.replacement and bool(table[:, 3].any()) and len(set(table[:, 1].tolist())) > 1:
            raise ValueError(
                "`update_weights` must be called at the same position on every rank without replacement, "
                f"got positions {table[:, 1].tolist()}"
            )
        sizes = table[:, 0].tolist()
        width = max(sizes)
        parts = []
        for local, fill in ((index, 0), (values, 0.0)):
            padded = torch.full((width,), fill, dtype=local.dtype, device=device)
            padded[: len(local)] = local.to(device)
            gathered = [torch.empty_like(padded) for _ in sizes]
            dist.all_gather(gathered, padded)
            parts.append(torch.cat([g[:k] for g, k in zip(gathered, sizes, strict=True)]).cpu())
        return parts[0], parts[1]

    def _apply(self, index: torch.Tensor, values: torch.Tensor) -> None:
        was_positive, now_positive = self._weights.index_select(0, index) > 0, values > 0
        positive = self._positive + int(now_positive.sum()) - int(was_positive.sum())
        if self.replacement:
            if positive == 0:
                raise ValueError("`weights` must leave at least one positive weight, got updates that make all 0")
        else:
            open_ = ~self._taken.index_select(0, index)
            opened = self._open + int((now_positive & open_).sum()) - int((was_positive & open_).sum())
            needed = self.num_samples - self._drawn
            if positive < self.num_samples or opened < needed:
                raise ValueError(
                    f"`weights` must leave at least num_samples={self.num_samples} positive weights and "
                    f"{needed} positive items not yet drawn this epoch without replacement, "
                    f"got {positive} and {opened}"
                )
            self._open = opened
        self._positive = positive
        self._weights.index_copy_(0, index, values)
        if not self.replacement:
            values = values.masked_fill(self._taken.index_select(0, index), 0.0)
        self._tree.set(index, values)

    # -- drawing -------------------------------------------------------------------------
    def _unconsumed(self) -> int:
        live = self._live
        if live is None:
            return 0
        return live.begin + len(live.values) - max(self.position(), live.begin)

    def _truncate(self) -> None:
        """Discard the drawn, not yet yielded rest of the live chunk (its items go back)."""
        live = self._live
        if live is None or self._unconsumed() <= 0:
            return
        consumed = max(self.position(), live.begin) - live.begin
        del live.values[consumed:]  # the running list iterator stops here
        live.size = -1  # the next chunk starts small again
        if self._cursor is not None and self._cursor[0] == live.begin:
            self._cursor = (live.begin, consumed, self._cursor[2])
        if live.global_items is not None:
            kept = self._start + (live.begin + consumed) * self.num_replicas  # global items consumed
            back = live.global_items[kept - live.global_begin :]
            live.global_items = live.global_items[: len(live.global_items) - len(back)]
            self._put_back(back)

    def _put_back(self, items: torch.Tensor) -> None:
        self._taken.index_fill_(0, items, False)
        self._tree.set(items, self._weights.index_select(0, items))
        self._drawn -= len(items)
        self._open += len(items)

    def _draw(self, origin: int, size: int) -> _Chunk:
        """Draw the rank positions ``[origin, origin + size)`` (clipped to the epoch)."""
        count = min(size, len(self) - origin)
        start, reps, r = self._start, self.num_replicas, self.rank
        if self.replacement:  # keyed by the global offset as rank_generator(): a resumed world draws afresh
            keys = (self.epoch, r, reps) + ((start,) if start else ()) + (origin,)
            g = make_generator(mix_seed(self.seed, *keys))
            values = self._tree.find(torch.rand(count, dtype=torch.float64, generator=g))
            return _Chunk(origin, size, origin, values.tolist(), 0, None)
        # The global range depends on (origin, size) only, so every rank draws the same.
        g_begin, g_end = self._global_range(origin, size, start, reps)
        drawn = self._draw_global(g_begin, g_end - g_begin, start)
        mine = drawn[r::reps][:count].tolist()
        positions = range(g_begin + r + len(mine) * reps, start + (origin + count) * reps, reps)
        mine += [self._head[(p - self.num_samples) % len(self._head)] for p in positions]  # "pad" repeats
        return _Chunk(origin, size, origin, mine, g_begin, drawn)

    def _global_range(self, origin: int, size: int, start: int, reps: int) -> tuple[int, int]:
        """Global positions ``[begin, end)`` behind the rank positions ``[origin, origin + size)``
        of a world of ``reps`` ranks sharing the epoch from global offset ``start``."""
        return start + origin * reps, min(start + (origin + size) * reps, self.num_samples)

    def _draw_global(self, begin: int, count: int, start: int) -> torch.Tensor:
        """Successive sampling of ``count`` items from global position ``begin`` on: i.i.d.
        draws from the tree, repeats rejected (the first occurrences of an i.i.d. stream are
        a successive sample), the accepted items taken out of the tree after each round.
        Keyed by ``begin`` and the world's global offset ``start``; the items become the
        epoch's head (for ``"pad"``) where they extend it."""
        g = make_generator(mix_seed(self.seed, self.epoch, begin, *((start,) if start else ())))
        rounds = []
        while count > 0:
            candidates = self._tree.find(torch.rand(count, dtype=torch.float64, generator=g))
            unique, inverse = torch.unique(candidates, return_inverse=True)
            first = torch.full_like(unique, count).scatter_reduce_(0, inverse, torch.arange(count), "amin")
            accepted = candidates.index_select(0, first.sort().values)
            self._taken.index_fill_(0, accepted, True)
            self._tree.set(accepted, torch.zeros(len(accepted), dtype=torch.float64))
            self._drawn += len(accepted)
            self._open -= len(accepted)
            rounds.append(accepted)
            count -= len(accepted)
        drawn = torch.cat(rounds) if rounds else torch.zeros(0, dtype=torch.int64)
        limit = max(_HEAD, self.num_replicas)
        # The head is the epoch's prefix drawn so far; a redraw from `begin` (after a cut
        # chunk or a resume) replaces the items put back.
        if begin <= len(self._head) and begin < limit:
            self._head[begin:] = drawn[: limit - begin].tolist()
        return drawn

    def _reset_epoch(self) -> None:
        if not self.replacement and self._drawn:
            self._taken.zero_()
            self._tree = SumTree(self._weights)
            self._drawn, self._open = 0, self._positive
        self._head, self._live = [], None

    # -- EpochSampler hooks ------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration (all ranks must pass the same value)."""
        previous = self.epoch
        super().set_epoch(epoch)
        if self.epoch != previous:  # the draws of the previous epoch are not this epoch's state
            self._resumed_epoch = None
            self._reset_epoch()

    def _num_global_items(self) -> int:
        return self.num_samples

    def _rank_items(self) -> range:
        # Called by iter(): a new epoch starts from the weights as they are now, unless
        # load_state_dict restored this epoch's state. The "items" are the positions.
        if self._resumed_epoch != self.epoch:
            self._reset_epoch()
        self._resumed_epoch = None
        return range(len(self))

    def _yield_from(self, items: torch.Tensor | Sequence[int], start: int) -> Iterator[int]:
        length, position, size = len(items), start, _FIRST_CHUNK
        live = self._live
        if live is not None and live.begin != start:
            live = self._live = None
        while position < length:
            if live is None:
                live = self._live = self._draw(position, size)
            it = iter(live.values)
            self._cursor = (live.begin, len(live.values), it)
            yield from it
            position = live.begin + len(live.values)
            size = _FIRST_CHUNK if live.size < 0 else min(2 * live.size, _MAX_CHUNK)
            live = None
        self._cursor = (length, 0, iter(()))

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Epoch, position, the weights and what replays the chunk drawn last.

        Keys beyond :meth:`EpochSampler.state_dict`: ``"weights"`` (float64 ``(n,)``),
        ``"chunk"`` (``(origin, size)`` of the chunk drawn last, or ``None``), and without
        replacement ``"taken"`` (bool ``(n,)``, items drawn before that chunk) and
        ``"head"`` (the epoch's first indices drawn so far, up to ``max(1024,
        num_replicas)``, repeated by ``"pad"`` shares; a world of more ranks cycles over
        them). The state is ``O(n)``, as the weights are.
        """
        state = super().state_dict()
        live = self._live
        state["weights"] = self._weights.clone()
        state["chunk"] = None if live is None or live.size < 0 else (live.origin, live.size)
        if not self.replacement:
            taken = self._taken.clone()
            if live is not None and live.global_items is not None:
                taken.index_fill_(0, live.global_items, False)
            if live is not None and live.size < 0:  # a truncated chunk: its items are consumed
                state["chunk"] = None
                taken = self._taken.clone()
            state["taken"] = taken
            state["head"] = list(self._head)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume: weights as saved, and the next ``iter()`` continues the saved epoch.

        On the same ``num_replicas`` it continues right after ``state_dict["position"]``
        exactly as the saved run would have; on another, after the global prefix all old
        ranks consumed (class docstring, "Elastic resume").
        """
        keys = ("weights", "chunk") + (() if self.replacement else ("taken", "head"))
        for key in keys:
            if key not in state_dict:
                raise ValueError(f"`state_dict` must have the key {key!r}, got keys {sorted(state_dict)}")
        weights = check_nonnegative_weights("state_dict['weights']", state_dict["weights"]).to(torch.float64, copy=True)
        if weights.shape != (self.n,):
            raise ValueError(f"`state_dict['weights']` must have shape ({self.n},), got {tuple(weights.shape)}")
        taken = torch.zeros(0, dtype=torch.bool)
        if not self.replacement:
            taken = check_tensor("state_dict['taken']", state_dict["taken"], ndim=1, dtypes=(torch.bool,))
            if taken.shape != (self.n,):
                raise ValueError(f"`state_dict['taken']` must have shape ({self.n},), got {tuple(taken.shape)}")
        chunk = check_chunk(state_dict["chunk"])
        position, reps, start = state_dict.get("position"), state_dict.get("num_replicas"), state_dict.get("start", 0)
        if not self.replacement and isinstance(position, int) and isinstance(reps, int) and isinstance(start, int):
            if chunk is not None and position < chunk[0]:
                raise ValueError(
                    f"`state_dict['position']` must be >= the start of the last chunk {chunk[0]} without "
                    f"replacement (the items before it are already drawn), got {position}"
                )
            drawn = int(taken.sum())
            if chunk is None and start + reps * position < drawn:  # drawn items would be lost
                raise ValueError(
                    f"`state_dict['position']` must cover the {drawn} items already drawn this epoch without "
                    f"replacement (start + num_replicas * position >= {drawn}), got {position}"
                )
        super().load_state_dict(state_dict)
        self._weights, self._positive = weights, int(torch.count_nonzero(weights))
        self._live = None
        if self.replacement:
            self._tree = SumTree(weights)
        else:
            self._taken = taken.clone()
            self._tree = SumTree(weights.masked_fill(taken, 0.0))
            self._drawn = int(taken.sum())
            self._open = int(((weights > 0) & ~taken).sum())
            self._head = [int(i) for i in state_dict["head"]]
        self._resumed_epoch = self.epoch
        reps, start = int(state_dict["num_replicas"]), int(state_dict.get("start", 0))
        if reps != self.num_replicas:
            if not self.replacement:
                self._take_consumed(chunk, start, reps)
        elif chunk is not None and chunk[0] <= self._resume_at:
            origin, size = chunk
            live = self._draw(origin, size)
            skip = self._resume_at - origin
            live.begin, live.values = origin + skip, live.values[skip:]
            self._live = live

    def _take_consumed(self, chunk: tuple[int, int] | None, start: int, reps: int) -> None:
        """Without replacement, resumed on another world size: draw the old world's last
        chunk again (same tree, same generator), keep the part before the consumed global
        prefix ``self._start`` taken and put the rest back."""
        if chunk is not None:
            begin, end = self._global_range(chunk[0], chunk[1], start, reps)
            self._put_back(self._draw_global(begin, end - begin, start)[self._start - begin :])
