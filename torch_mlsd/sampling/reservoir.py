"""Reservoir sampling: ``k`` items from a stream whose length is not known in advance.

* :func:`reservoir_sample`: uniform, Algorithm L (Li, 1994). After the first ``k``
  items it jumps over a geometric number of items at a time (skipped in C by
  ``itertools.islice``), so it draws only O(k (1 + log(n / k))) random numbers and does
  Python work only for the items it keeps.
* :func:`weighted_reservoir_sample`: by weight, A-ExpJ (Efraimidis & Spirakis, 2006):
  the result is a successive sample without replacement (keys ``u ** (1 / w)``), with
  exponential jumps over weight mass so random numbers are drawn only on insertions.
* :class:`TensorReservoir`: uniform over the rows of tensor chunks, with no per-item
  Python work; checkpointable and mergeable across ranks or workers.

:class:`~torch_mlsd.sampling.reservoir_dataset.ReservoirDataset` wraps
:func:`reservoir_sample` as an ``IterableDataset``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import torch

from .._random import make_generator, new_seed, resolve_generator
from .._validate import check_int, check_seed, check_tensor, describe

__all__ = ["reservoir_sample", "weighted_reservoir_sample", "TensorReservoir"]

T = TypeVar("T")
_END = object()
_MAX_SKIP = 2**62
_FIRST_BLOCK, _MAX_BLOCK = 64, 8192


def _uniforms(g: torch.Generator) -> Iterator[float]:
    """Endless uniforms in the open interval (0, 1) from ``g``."""
    size = _FIRST_BLOCK
    while True:  # blocks grow, so a short stream does not pay for 8192 draws
        yield from filter(None, torch.rand(size, dtype=torch.float64, generator=g).tolist())
        size = min(2 * size, _MAX_BLOCK)


def iterate_checked(name: str, iterable: Any) -> Iterator[Any]:
    """``iter(iterable)``, or a ``TypeError`` naming ``name``."""
    try:
        return iter(iterable)
    except TypeError:
        raise TypeError(f"`{name}` must be iterable, got {describe(iterable)}") from None


def _seed(seed: Any) -> int:
    seed = check_seed("seed", seed)
    return new_seed() if seed is None else seed


def reservoir_sample(iterable: Iterable[T], k: int, *, generator: torch.Generator | None = None) -> list[T]:
    """Draw ``k`` items uniformly without replacement from a stream (Algorithm L).

    Every ``k``-subset of the ``n`` items is equally likely, so each item is kept with
    probability ``k / n``. The stream is read once; skipped items cost no Python work.

    Args:
        iterable: any iterable, read once; its length need not be known.
        k: number of items to keep, ``>= 1``.
        generator: the CPU ``torch.Generator`` that drives the draws; ``None``
            (default): a fresh one seeded from the operating system.

    Returns:
        A list of ``min(k, n)`` items in the order they appeared in the stream (a stream
        with fewer than ``k`` items is returned whole).

    Example:
        >>> sample = reservoir_sample(range(1_000_000), 5, generator=torch.Generator().manual_seed(0))
        >>> len(sample), sample == sorted(sample)
        (5, True)
        >>> reservoir_sample("abc", 5)
        ['a', 'b', 'c']
    """
    k = check_int("k", k, min=1)
    generator = resolve_generator(generator)
    it = iterate_checked("iterable", iterable)
    reservoir = list(islice(it, k))
    if len(reservoir) < k:
        return reservoir
    positions = list(range(k))
    u = _uniforms(generator)
    log_w = math.log(next(u)) / k  # log of W, the k-th largest of the uniform keys seen
    position = k - 1
    while True:
        # Items until the next key beats W: geometric with success probability 1 - W.
        skip = math.log(next(u)) / math.log1p(-math.exp(log_w))
        item = next(islice(it, min(int(skip), _MAX_SKIP), None), _END)
        if item is _END:
            break
        position += min(int(skip), _MAX_SKIP) + 1
        slot = min(int(next(u) * k), k - 1)
        reservoir[slot], positions[slot] = item, position
        log_w += math.log(next(u)) / k
    order = sorted(range(k), key=positions.__getitem__)
    return [reservoir[i] for i in order]


def weighted_reservoir_sample(
    iterable: Iterable[Any],
    k: int,
    *,
    weights: Iterable[float] | None = None,
    generator: torch.Generator | None = None,
) -> list[Any]:
    """Draw ``k`` items without replacement with probability proportional to weight (A-ExpJ).

    The result is distributed as successive sampling: the first item is ``i`` with
    probability ``w_i / sum(w)``, the next one proportional to weight among the rest, and
    so on; zero-weight items are never drawn. Each item costs a few Python operations
    (its weight must be read); random numbers are drawn only on insertions.

    Args:
        iterable: ``(item, weight)`` pairs, or items when ``weights`` is given.
        k: number of items to keep, ``>= 1``.
        weights: the items' weights (same length as ``iterable``), or ``None``.
        generator: the CPU ``torch.Generator`` that drives the draws; ``None``
            (default): a fresh one seeded from the operating system.

    Returns:
        A list of ``min(k, number of positive-weight items)`` items in successive-sampling
        order (decreasing key ``u ** (1 / w)``).

    Raises:
        ValueError: a weight that is negative, NaN or infinite; ``weights`` of another
            length than ``iterable``.
        TypeError: ``iterable`` not iterable or not yielding ``(item, weight)`` pairs;
            ``generator`` not a ``torch.Generator``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> weighted_reservoir_sample(["a", "b", "c", "d"], 2, weights=[0, 1, 0, 5], generator=g)
        ['b', 'd']
    """
    k = check_int("k", k, min=1)
    uniforms = _uniforms(resolve_generator(generator))
    pairs = iterate_checked("iterable", iterable)
    if weights is not None:
        pairs = zip(pairs, iterate_checked("weights", weights), strict=True)
    try:
        heap = _a_expj(pairs, k, uniforms)
    except ValueError as exc:
        if str(exc).startswith("zip()"):
            raise ValueError(f"`weights` must have as many entries as `iterable` ({exc})") from exc
        raise
    except TypeError as exc:
        raise TypeError(
            f"`iterable` must yield (item, weight) pairs with real weights, or pass `weights` ({exc})"
        ) from exc
    heap.sort(reverse=True)
    return [item for _, _, item in heap]


def _bad_weight(w: Any) -> ValueError:
    return ValueError(f"`weights` must be finite and >= 0, got {w!r}")


def _a_expj(pairs: Iterator[tuple[Any, float]], k: int, u: Iterator[float]) -> list[tuple[float, int, Any]]:
    # Min-heap of (log key, arrival, item), log key = log(u) / w; the largest keys win.
    heap: list[tuple[float, int, Any]] = []
    for item, w in pairs:
        if not 0 <= w < math.inf:
            raise _bad_weight(w)
        if w > 0:
            heapq.heappush(heap, (math.log(next(u)) / w, len(heap), item))
            if len(heap) == k:
                break
    if len(heap) < k:
        return heap
    arrival = k
    threshold = heap[0][0]
    jump = math.log(next(u)) / threshold  # weight mass to skip before the next insertion
    for item, w in pairs:
        if not 0 <= w < math.inf:
            raise _bad_weight(w)
        jump -= w
        if jump < 0:
            t = math.exp(w * threshold)  # this item's key must beat the threshold: u in (t, 1)
            key = math.log(t + (1 - t) * next(u)) / w
            heapq.heapreplace(heap, (key, arrival, item))
            arrival += 1
            threshold = heap[0][0]
            jump = math.log(next(u)) / threshold
    return heap


class TensorReservoir:
    """Uniform sample of ``k`` rows from a stream of tensor chunks, with no per-item Python work.

    Every row seen gets an (implicit) i.i.d. ``Exp(1)`` key; the reservoir holds the
    ``k`` rows with the smallest keys, which is a uniform ``k``-subset of all rows seen.
    Once the reservoir is full, only rows whose key would beat the current ``k``-th key
    ``tau`` matter: their positions in a chunk are found by geometric jumps
    (``floor(Exp(1) / tau)``) and their keys drawn from ``Exp(1)`` truncated to ``tau``,
    so a chunk of ``N`` rows costs O(N k / n) random draws, not O(N).

    Because the sample is "the ``k`` smallest keys", reservoirs filled from disjoint
    streams with different seeds merge (:meth:`merge`) into a uniform sample of the
    union: use one per DataLoader worker or DDP rank and merge at the end.

    Args:
        k: number of rows to keep, ``>= 1``.
        seed: seed of the reservoir's ``torch.Generator`` (created on the first chunk's
            device); ``None`` (default) draws one from the operating system.

    Shape:
        chunks ``(N, *)`` of any dtype, all with the same ``*``, dtype and device;
        :meth:`sample` returns ``(min(k, num_seen), *)`` on that device.

    The rows kept depend on the seed and on how the stream is cut into chunks (any
    chunking gives an equally valid uniform sample).

    Example:
        >>> r = TensorReservoir(3, seed=0)
        >>> for start in range(0, 10_000, 1000):
        ...     _ = r.update(torch.arange(start, start + 1000))
        >>> r.num_seen, r.sample().shape, bool((r.sample() < 10_000).all())
        (10000, torch.Size([3]), True)
    """

    def __init__(self, k: int, *, seed: int | None = None) -> None:
        self.k: int = check_int("k", k, min=1)
        self._seed_drawn = seed is None
        self.seed = _seed(seed)
        self.num_seen = 0
        self._items: torch.Tensor | None = None  # (m, *) with m <= k
        self._keys: torch.Tensor | None = None  # (m,) float64 Exp(1) keys
        self._generator: torch.Generator | None = None

    def __len__(self) -> int:
        return 0 if self._keys is None else len(self._keys)

    def _check_chunk(self, chunk: Any, name: str = "chunk") -> torch.Tensor:
        chunk = check_tensor(name, chunk)
        if chunk.ndim == 0:
            raise ValueError(f"`{name}` must have a leading item dimension, got shape {tuple(chunk.shape)}")
        if self._items is not None:
            ref = self._items
            if chunk.shape[1:] != ref.shape[1:] or chunk.dtype != ref.dtype or chunk.device != ref.device:
                raise ValueError(
                    f"`{name}` must have item shape {tuple(ref.shape[1:])}, dtype {ref.dtype} and device "
                    f"{ref.device} like the rows already kept, got {describe(chunk)}"
                )
        return chunk

    def _gen(self, device: torch.device) -> torch.Generator:
        if self._generator is None:
            self._generator = make_generator(self.seed, device)
        return self._generator

    def update(self, chunk: torch.Tensor) -> TensorReservoir:
        """Consume the rows of ``chunk`` (shape ``(N, *)``); returns ``self``."""
        chunk = self._check_chunk(chunk)
        n, g = chunk.shape[0], self._gen(chunk.device)
        start = min(n, self.k - len(self))
        if start:  # filling up: every row enters with a fresh key
            keys = torch.empty(start, dtype=torch.float64, device=chunk.device).exponential_(generator=g)
            self._absorb(chunk[:start], keys)
        if start < n:
            rows, keys = _candidates(n - start, float(self._keys.max()), g, chunk.device)  # type: ignore[union-attr]  # a full reservoir holds keys
            if len(rows):
                self._absorb(chunk[start:].index_select(0, rows), keys)
        self.num_seen += n
        return self

    def _absorb(self, items: torch.Tensor, keys: torch.Tensor) -> None:
        if self._items is not None:
            items, keys = torch.cat([self._items, items]), torch.cat([self._keys, keys])  # type: ignore[list-item]  # a full reservoir holds items and keys
        if len(keys) > self.k:
            best = keys.topk(self.k, largest=False).indices
            items, keys = items.index_select(0, best), keys.index_select(0, best)
        self._items, self._keys = items, keys

    def sample(self) -> torch.Tensor:
        """The rows kept, ``(min(k, num_seen), *)``, in a uniformly random order (by key).

        Before any chunk was seen: an empty float tensor of shape ``(0,)``.
        """
        if self._items is None:
            return torch.empty(0)
        return self._items.index_select(0, self._keys.argsort())  # type: ignore[union-attr]  # a non-empty reservoir holds items and keys

    def merge(self, other: TensorReservoir) -> TensorReservoir:
        """Absorb ``other``, filled from a disjoint stream with another seed; returns ``self``.

        The result is a uniform ``k``-subset of both streams together and keeps
        consuming chunks with this reservoir's generator. ``other`` must not be merged
        again later (its rows would count twice).
        """
        if not isinstance(other, TensorReservoir):
            raise TypeError(f"`other` must be a TensorReservoir, got {describe(other)}")
        if other.k != self.k:
            raise ValueError(f"`other` must have k={self.k} like this reservoir, got k={other.k}")
        if other.seed == self.seed:
            raise ValueError(
                f"`other` must have been filled with another seed (both use {self.seed}: their keys would be "
                "the same numbers, not independent)"
            )
        if other._items is not None:
            self._check_chunk(other._items, "other")
            self._gen(other._items.device)
            self._absorb(other._items, other._keys)  # type: ignore[arg-type]  # the other reservoir is non-empty here
        self.num_seen += other.num_seen
        return self

    def merged_across_ranks(self) -> TensorReservoir:
        """All ranks' reservoirs merged (a collective: every rank must call it).

        Each rank must use its own seed, e.g. ``mix_seed(seed, rank)``. Returns a new
        reservoir, identical on every rank, holding a uniform sample of all ranks' rows.
        """
        states: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(states, self.state_dict())
        merged = TensorReservoir.from_state_dict(states[0])
        for state in states[1:]:
            merged.merge(TensorReservoir.from_state_dict(state))
        return merged

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: rows, keys, count and generator state."""
        return {
            "k": self.k,
            "seed": self.seed,
            "num_seen": self.num_seen,
            "items": self._items,
            "keys": self._keys,
            "generator": None if self._generator is None else self._generator.get_state(),
            "device": None if self._generator is None else str(self._generator.device),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`.

        ``k`` must match, and ``seed`` too unless this reservoir's seed was drawn
        (``seed=None``): then the saved seed is adopted.
        """
        for key in ("k", "seed", "num_seen", "items", "keys", "generator", "device"):
            if key not in state_dict:
                raise ValueError(f"`state_dict` must have the key {key!r}, got keys {sorted(state_dict)}")
        for key in ("k", "seed") if not self._seed_drawn else ("k",):
            if state_dict[key] != getattr(self, key):
                raise ValueError(
                    f"`state_dict[{key!r}]` must equal this reservoir's {key} {getattr(self, key)}, "
                    f"got {state_dict[key]!r}"
                )
        self.seed = _seed(state_dict["seed"])  # adopted when this reservoir's seed was drawn
        self.num_seen = check_int("state_dict['num_seen']", state_dict["num_seen"], min=0)
        self._items, self._keys, self._generator = state_dict["items"], state_dict["keys"], None
        if state_dict["generator"] is not None:
            self._gen(torch.device(state_dict["device"])).set_state(state_dict["generator"])

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Any]) -> TensorReservoir:
        """A new reservoir restored from :meth:`state_dict` (e.g. another rank's)."""
        reservoir = cls(state_dict["k"], seed=state_dict["seed"])
        reservoir.load_state_dict(state_dict)
        return reservoir


def _candidates(n: int, tau: float, g: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of an ``n``-row chunk whose Exp(1) key is below ``tau``, and their keys."""
    q = -math.expm1(-tau)  # probability that one row's key is below tau
    found, start = [], 0.0
    while start < n:
        expected = (n - start) * q
        size = int(expected + 4 * math.sqrt(expected) + 16)
        gaps = torch.empty(size, dtype=torch.float64, device=device).exponential_(generator=g).div_(tau).floor_()
        rows = torch.cumsum(gaps.add_(1), 0).add_(start - 1)  # P(gap >= j) = exp(-j tau) = (1 - q)^j
        found.append(rows[: int((rows < n).sum())])  # rows increase: a prefix, no mask indexing
        start = float(rows[-1]) + 1
    rows = torch.cat(found).to(torch.int64)
    u = torch.rand(len(rows), dtype=torch.float64, device=device, generator=g)
    return rows, torch.log1p(u.mul_(-q)).neg_()  # inverse CDF of Exp(1) truncated to [0, tau)
