"""The order in which SGD visits the examples: reshuffle, shuffle once, with replacement, sequential.

Bottou (2009) observed that SGD on a strongly convex problem converges like t^-1 when
examples are drawn with replacement but "curiously close" to t^-2 when the data are
shuffled before each epoch, and a little slower when one shuffle is cycled; the theory
followed (Gurbuzbalaban, Ozdaglar & Parrilo 2015; HaoChen & Sra 2019; Mishchenko,
Khaled & Richtarik 2020; Safran & Shamir 2020). :class:`OrderSampler` gives the four
orders behind one argument so that runs differ in the order and nothing else;
:mod:`torch_mlsd.experiments.convergence` uses it to measure the slopes.

Every order is an endless stream of indices and epoch ``e`` is the slice
``[e * m, (e + 1) * m)`` of it (``m = num_samples``, default ``n``):

* ``"reshuffle"``: a new random permutation of ``range(n)`` for every pass over the
  data, so with ``m = n`` each epoch is a fresh permutation; with ``m < n`` consecutive
  epochs walk through one permutation before the next is drawn.
* ``"shuffle_once"``: one random permutation (the same as the first ``"reshuffle"``
  pass) repeated forever.
* ``"with_replacement"``: ``m`` i.i.d. uniform draws per epoch.
* ``"sequential"``: ``0, 1, ..., n - 1`` repeated.
"""

from __future__ import annotations

from typing import Literal

import torch

from .._random import make_generator, mix_seed, resolve_generator
from .._validate import check_choice, check_int
from ._base import EpochSampler, ShardMode

__all__ = ["Order", "ORDERS", "OrderSampler", "order_indices"]

Order = Literal["reshuffle", "shuffle_once", "with_replacement", "sequential"]
ORDERS: tuple[Order, ...] = ("reshuffle", "shuffle_once", "with_replacement", "sequential")
_PASS_KEY = 0x5EED  # keeps the per-pass permutation streams apart from the per-epoch ones


def uniform_indices(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` i.i.d. uniform draws from ``range(n)`` as int64.

    ``floor(u * n)`` of a 53-bit uniform ``u``: CPU ``torch.randint`` reduces 32-bit
    draws modulo ``n``, a relative bias of up to ``n / 2**32`` (0.2% at n = 1e7).
    """
    u = torch.rand(size, dtype=torch.float64, generator=generator)
    return u.mul_(n).to(torch.int64).clamp_(max=n - 1)


def _pass_permutation(n: int, seed: int, p: int) -> torch.Tensor:
    return torch.randperm(n, generator=make_generator(mix_seed(seed, _PASS_KEY, p)))


def _stream_seed(generator: torch.Generator) -> int:
    """The key of an order's endless stream: one 62-bit draw from ``generator``.

    Every epoch and pass is keyed by it, so any epoch is computed in O(its length).
    """
    return int(torch.randint(2**62, (1,), generator=generator))


def order_indices(
    n: int,
    *,
    order: Order = "reshuffle",
    num_samples: int | None = None,
    epoch: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The indices of epoch ``epoch`` in the given ``order`` (all ranks together).

    Args:
        n: number of examples, >= 1.
        order: ``"reshuffle"`` (default), ``"shuffle_once"``, ``"with_replacement"`` or
            ``"sequential"`` (see the module docstring).
        num_samples: indices per epoch, >= 1; default ``None`` means ``n``.
        epoch: non-negative int; which slice of the stream.
        generator: a CPU ``torch.Generator``; one number drawn from it keys the whole
            stream, so generators seeded alike give the same stream on any machine.
            ``None`` (default): a fresh generator seeded from the operating system.

    Returns:
        ``int64`` CPU tensor of shape ``(num_samples,)`` with values in ``[0, n)``.

    Raises:
        TypeError: ``n``, ``num_samples`` or ``epoch`` not an int (or a bool);
            ``generator`` not a ``torch.Generator``.
        ValueError: ``order`` unknown (the message lists the allowed values), ``n`` or
            ``num_samples`` < 1, ``epoch`` negative, ``generator`` not on the CPU.

    Example:
        >>> order_indices(5, order="sequential", num_samples=3, epoch=1).tolist()
        [3, 4, 0]
        >>> a = order_indices(5, order="shuffle_once", epoch=0, generator=torch.Generator().manual_seed(1))
        >>> b = order_indices(5, order="shuffle_once", epoch=7, generator=torch.Generator().manual_seed(1))
        >>> torch.equal(a, b), sorted(a.tolist())
        (True, [0, 1, 2, 3, 4])
    """
    n = check_int("n", n, min=1)
    order = check_choice("order", order, ORDERS)
    m = n if num_samples is None else check_int("num_samples", num_samples, min=1)
    epoch = check_int("epoch", epoch, min=0)
    seed = _stream_seed(resolve_generator(generator))
    return _order_indices(n, order, m, seed, epoch)


def _order_indices(n: int, order: str, m: int, seed: int, epoch: int, once: torch.Tensor | None = None) -> torch.Tensor:
    """Epoch ``epoch`` of the stream; ``once`` is the shuffle-once permutation when cached."""
    if order == "with_replacement":
        return uniform_indices(n, m, make_generator(mix_seed(seed, epoch)))
    start = epoch * m
    if order == "sequential":
        return _periodic(torch.arange(n), start, m)
    if order == "shuffle_once":
        return _periodic(_pass_permutation(n, seed, 0) if once is None else once, start, m)
    first, last = start // n, (start + m - 1) // n  # the passes this epoch touches
    passes = [_pass_permutation(n, seed, p) for p in range(first, last + 1)]
    stream = passes[0] if len(passes) == 1 else torch.cat(passes)
    offset = start - first * n
    return stream[offset : offset + m]


def _periodic(period: torch.Tensor, start: int, m: int) -> torch.Tensor:
    """Items ``[start, start + m)`` of ``period`` repeated forever."""
    n, offset = len(period), start % len(period)
    if offset == 0 and m == n:
        return period
    return period[torch.arange(offset, offset + m).remainder_(n)]


class OrderSampler(EpochSampler[int]):
    """Sampler of ``range(n)`` in one of the orders compared in SGD convergence studies.

    Args:
        n: number of examples, >= 1.
        order: ``"reshuffle"`` (default; a new permutation every epoch, what
            ``RandomSampler`` does), ``"shuffle_once"`` (one permutation from the seed,
            repeated every epoch), ``"with_replacement"`` (``num_samples`` i.i.d. uniform
            draws per epoch) or ``"sequential"`` (``0..n-1``).
        num_samples: indices per epoch over all ranks; default ``None`` means ``n``.
            Epochs are consecutive slices of the order's endless stream (module docs).
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: ``"pad"`` (default), ``"drop"`` or ``"uneven"``, as in
            :class:`~torch_mlsd.sampling._base.EpochSampler`.

    Every rank computes the same epoch, ``order_indices(..., epoch=epoch,
    generator=torch.Generator().manual_seed(seed))``, and keeps every
    ``num_replicas``-th index from its rank on, so the shares are disjoint slices of the
    single-process epoch. Call ``set_epoch(epoch)`` before each epoch (a forgotten call
    still advances the epoch); ``state_dict()``/``load_state_dict()`` resume mid-epoch,
    on any number of ranks.

    Example:
        >>> s = OrderSampler(4, order="shuffle_once", seed=0)
        >>> first, second = list(s), list(s)
        >>> first == second, sorted(first)
        (True, [0, 1, 2, 3])
        >>> list(OrderSampler(4, order="sequential", num_replicas=2, rank=1))
        [1, 3]
    """

    _elastic = True  # its shares come from EpochSampler._shard

    def __init__(
        self,
        n: int,
        *,
        order: Order = "reshuffle",
        num_samples: int | None = None,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        self.n: int = check_int("n", n, min=1)
        self.order: Order = check_choice("order", order, ORDERS)
        self.num_samples: int = self.n if num_samples is None else check_int("num_samples", num_samples, min=1)
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)
        self._stream: tuple[int, int, torch.Tensor | None] | None = None  # (seed, stream key, shuffle-once perm)

    def _num_global_items(self) -> int:
        return self.num_samples

    def _rank_items(self) -> torch.Tensor:
        # The stream key (and the shuffle-once permutation) are made once per seed: a
        # sampler whose seed was drawn adopts another one in load_state_dict.
        if self._stream is None or self._stream[0] != self.seed:
            key = _stream_seed(make_generator(self.seed))
            once = _pass_permutation(self.n, key, 0) if self.order == "shuffle_once" else None
            self._stream = (self.seed, key, once)
        _, key, once = self._stream
        items = _order_indices(self.n, self.order, self.num_samples, key, self.epoch, once)
        return self._shard(items)  # type: ignore[return-value]  # the shard of an index tensor is an index tensor

    def epoch_indices(self) -> torch.Tensor:
        """This rank's indices for the current epoch as an ``int64`` CPU tensor.

        The same values ``iter()`` yields for this epoch, without advancing anything:
        use it to drive a vectorised loop (``set_epoch(e)`` first).
        """
        return self._rank_items().clone()  # a copy: the shuffle-once permutation is cached
