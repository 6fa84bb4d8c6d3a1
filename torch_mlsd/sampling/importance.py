"""Importance weights: train on samples drawn from ``q`` as if they came from ``p``.

For samples ``x_i ~ q``, ``mean_i(w_i * f(x_i))`` with ``w_i = p(x_i) / q(x_i)`` is an
unbiased estimate of ``E_p[f]``. Fed to a loss as ``(loss(reduction='none') * w).mean()``
it makes training on a re-weighted or re-sampled data stream minimise the target risk.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from .._validate import check_bool, check_float, check_nonnegative_weights, check_tensor, describe
from ._base import _CHUNK, ShardMode
from .weighted import WeightedSampler

__all__ = ["importance_weights", "ImportanceSampler", "ImportanceWeighted"]


def importance_weights(
    p: torch.Tensor,
    q: torch.Tensor,
    *,
    self_normalize: bool = False,
    log_space: bool = False,
    max_weight: float | None = None,
) -> torch.Tensor:
    """Importance weights ``w = p / q`` of samples drawn from ``q`` for the target ``p``.

    Args:
        p: target density (or probability) of each sample, floating, any shape.
        q: proposal density of each sample (the one it was drawn from), same shape.
        self_normalize: rescale the weights to sum to their number ``N`` (so their mean
            is 1). ``(loss * w).mean()`` then equals ``sum(w * loss) / sum(w)``, the
            self-normalised estimator: slightly biased, often lower variance, and valid
            when ``p`` and ``q`` are known only up to constants. Default ``False``.
        log_space: ``p`` and ``q`` are log-densities; ``w = exp(log p - log q)``
            (``-inf`` means density 0). Self-normalised log weights are computed as a
            softmax, so they never overflow. Default ``False``.
        max_weight: clip the weights at this value before any normalisation (truncated
            importance sampling: biased, bounded variance). Default ``None``: no clip.

    Returns:
        Weights of the shape and floating dtype of ``p`` and ``q`` (promoted), on their
        device; 0 where ``p`` is 0.

    Raises:
        TypeError: ``p`` or ``q`` not a floating tensor.
        ValueError: different shapes; NaN; negative or infinite densities (``+inf``
            log-densities); ``q`` = 0 where ``p`` > 0 (such a sample cannot come from
            ``q``); self-normalised weights of an all-zero ``p``.

    Example:
        >>> p = torch.tensor([0.5, 0.25, 0.25])
        >>> q = torch.tensor([0.25, 0.25, 0.5])
        >>> importance_weights(p, q)
        tensor([2.0000, 1.0000, 0.5000])
        >>> importance_weights(p.log(), q.log(), log_space=True, self_normalize=True)
        tensor([1.7143, 0.8571, 0.4286])
    """
    p, q = check_tensor("p", p, dtypes="float"), check_tensor("q", q, dtypes="float")
    if p.shape != q.shape:
        raise ValueError(f"`q` must have the shape of `p` {tuple(p.shape)}, got {tuple(q.shape)}")
    self_normalize, log_space = check_bool("self_normalize", self_normalize), check_bool("log_space", log_space)
    max_weight = check_float("max_weight", max_weight, min=0.0, min_open=True, allow_none=True)
    for name, value in (("p", p), ("q", q)):
        if bool(torch.isnan(value).any()):
            raise ValueError(f"`{name}` must not contain NaN, got {describe(value)}")
        bad = value == torch.inf if log_space else (value < 0) | (value == torch.inf)
        if bool(bad.any()):
            what = "log-densities below +inf" if log_space else "finite densities >= 0"
            raise ValueError(f"`{name}` must hold {what}, got {int(bad.sum())} bad entries")
    p_zero = p == -torch.inf if log_space else p == 0
    q_zero = q == -torch.inf if log_space else q == 0
    if bool((q_zero & ~p_zero).any()):
        raise ValueError(f"`q` must be > 0 wherever `p` > 0, got {int((q_zero & ~p_zero).sum())} such samples")
    if log_space:
        log_w = torch.where(p_zero, -torch.inf, p - q)
        if self_normalize and max_weight is None:
            if bool(p_zero.all()):
                raise ValueError("`p` must be positive for some sample to self-normalise the weights")
            return torch.softmax(log_w.flatten(), 0).reshape(p.shape) * p.numel()
        w = log_w.exp()
    else:
        w = torch.where(p_zero, 0.0, p / torch.where(q_zero, 1.0, q))
    if max_weight is not None:
        w = w.clamp(max=max_weight)
    if self_normalize:
        total = w.sum()
        if not bool(total > 0):
            raise ValueError("`p` must be positive for some sample to self-normalise the weights")
        w = w * (w.numel() / total)
    return w


class ImportanceSampler(Sampler[tuple[int, float]]):
    """Draw indices from a proposal ``q`` and yield ``(index, weight)`` pairs for a target ``p``.

    Indices are drawn with replacement with probability ``proposal_i / sum(proposal)``
    by the :class:`WeightedSampler` it holds (:attr:`sampler`); each comes with
    ``w_i = p_i / q_i``, ``p`` being ``target`` normalised (uniform over all items by
    default). So oversampling hard or rare examples (``proposal``) while weighting the
    loss by ``w`` keeps the training objective the plain average over the data set,
    unbiased.

    Args:
        proposal: non-negative sampling weights, shape ``(n,)``.
        target: target weights, shape ``(n,)``; ``None`` (default): uniform.
        num_samples: indices per epoch over all ranks; default ``n``.
        seed, num_replicas, rank, shard: as for :class:`WeightedSampler`.

    Epochs, DDP shares and (elastic) resume are the inner sampler's: ``set_epoch``,
    ``len``, ``state_dict`` and ``load_state_dict`` pass through, the state counting the
    pairs yielded. A map-style dataset receives the ``(index, weight)`` pair as its
    key: wrap it in :class:`ImportanceWeighted` to get ``(dataset[index], weight)``.

    Raises:
        ValueError: bad weights (as :class:`WeightedSampler`); a ``proposal`` of 0 where
            the target is positive.

    Example:
        >>> sampler = ImportanceSampler([1.0, 3.0], num_samples=4, seed=0)
        >>> sorted(set(sampler))
        [(0, 2.0), (1, 0.6666666666666666)]
    """

    def __init__(
        self,
        proposal: torch.Tensor | Sequence[float],
        target: torch.Tensor | Sequence[float] | None = None,
        num_samples: int | None = None,
        *,
        seed: int | None = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        shard: ShardMode = "pad",
    ) -> None:
        q = check_nonnegative_weights("proposal", proposal).detach().to("cpu", torch.float64)
        if target is None:
            p = torch.full_like(q, 1.0 / len(q))
        else:
            p = check_nonnegative_weights("target", target).detach().to("cpu", torch.float64)
            if p.shape != q.shape:
                raise ValueError(f"`target` must have the shape of `proposal` {tuple(q.shape)}, got {tuple(p.shape)}")
        q, p = q / q.sum(), p / p.sum()
        if bool(((q == 0) & (p > 0)).any()):
            raise ValueError("`proposal` must be > 0 wherever the target is > 0 (those items could never be drawn)")
        self.item_weights = importance_weights(p, q)
        self.sampler = WeightedSampler(
            q, num_samples, replacement=True, seed=seed, num_replicas=num_replicas, rank=rank, shard=shard
        )
        self._pending: Iterator[tuple[int, float]] = iter(())  # pairs made, not yet yielded

    @property
    def epoch(self) -> int:
        """The inner sampler's epoch."""
        return self.sampler.epoch

    @property
    def seed(self) -> int:
        """The inner sampler's seed."""
        return self.sampler.seed

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration (as :meth:`WeightedSampler.set_epoch`)."""
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        self._pending = iter(())
        return self._pairs(iter(self.sampler))

    def _pairs(self, indices: Iterator[int]) -> Iterator[tuple[int, float]]:
        # Weights are looked up a chunk at a time; state_dict subtracts what is pending.
        while chunk := list(islice(indices, _CHUNK)):
            weights = self.item_weights.index_select(0, torch.tensor(chunk)).tolist()
            self._pending = iter(list(zip(chunk, weights, strict=True)))
            yield from self._pending

    def state_dict(self) -> dict[str, Any]:
        """The inner sampler's state, its ``"position"`` counting the pairs yielded."""
        state = self.sampler.state_dict()
        state["position"] -= operator.length_hint(self._pending)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume as :meth:`WeightedSampler.load_state_dict` (any number of ranks)."""
        self.sampler.load_state_dict(state_dict)
        self._pending = iter(())


class ImportanceWeighted(Dataset):
    """Map-style dataset wrapper for :class:`ImportanceSampler`: ``ds[(i, w)] == (dataset[i], w)``.

    Example:
        >>> ds = ImportanceWeighted(["a", "b"])
        >>> ds[(1, 0.5)], len(ds)
        (('b', 0.5), 2)
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, float]) -> tuple[Any, float]:
        index, weight = key
        return self.dataset[index], weight
