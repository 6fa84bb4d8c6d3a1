"""Bootstrap bags for bagging: ``n`` draws with replacement per epoch, out-of-bag indices exposed.

Each epoch is one bag (Breiman, 1996): ``num_samples`` i.i.d. uniform draws from
``range(n)``. The examples left out of the bag (a fraction ``(1 - 1/n)^n``, about
``1/e ~ 0.368``, when ``num_samples == n``) give the out-of-bag estimate of the error of
the model trained on that bag.
"""

from __future__ import annotations

import torch

from .._validate import check_int
from ._base import EpochSampler, ShardMode
from .orders import uniform_indices

__all__ = ["BootstrapSampler"]


class BootstrapSampler(EpochSampler[int]):
    """Sampler yielding one bootstrap bag of ``range(n)`` per epoch.

    Args:
        n: number of examples, >= 1.
        num_samples: draws per bag over all ranks; default ``None`` means ``n``.
        seed: base seed shared by all ranks (default 0); ``None`` draws one from the OS.
        num_replicas: number of ranks; read from ``torch.distributed`` when ``None``.
        rank: this rank; read from ``torch.distributed`` when ``None``.
        shard: ``"pad"`` (default), ``"drop"`` or ``"uneven"``, as in
            :class:`~torch_mlsd.sampling._base.EpochSampler`.

    The bag of epoch ``e`` is drawn from ``(seed, e)``, so every rank knows the whole
    bag and yields every ``num_replicas``-th draw of it from its rank on;
    :meth:`bag`, :meth:`in_bag_counts` and :meth:`out_of_bag_indices` describe the
    whole bag of the current epoch (the one last set by ``set_epoch`` or iterated) and
    are the same on every rank.

    Example:
        >>> s = BootstrapSampler(1000, seed=0)
        >>> drawn = list(s)
        >>> len(drawn), len(set(drawn)) + len(s.out_of_bag_indices())
        (1000, 1000)
        >>> round(len(s.out_of_bag_indices()) / 1000, 1)
        0.4
    """

    def __init__(
        self,
        n: int,
        *,
        num_samples: int | None = None,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        self.n: int = check_int("n", n, min=1)
        self.num_samples: int = self.n if num_samples is None else check_int("num_samples", num_samples, min=1)
        super().__init__(seed=seed, num_replicas=num_replicas, rank=rank, shard=shard)

    def _num_global_items(self) -> int:
        return self.num_samples

    def _global_items(self, generator: torch.Generator) -> torch.Tensor:
        return uniform_indices(self.n, self.num_samples, generator)

    def bag(self) -> torch.Tensor:
        """The current epoch's whole bag (all ranks), ``int64`` of shape ``(num_samples,)``."""
        return self._global_items(self.epoch_generator())

    def in_bag_counts(self) -> torch.Tensor:
        """How often each example is in the current bag, ``int64`` of shape ``(n,)``."""
        return torch.bincount(self.bag(), minlength=self.n)

    def out_of_bag_indices(self) -> torch.Tensor:
        """The examples not in the current bag, sorted, ``int64`` of shape ``(n_oob,)``."""
        return (self.in_bag_counts() == 0).nonzero().squeeze(1)
