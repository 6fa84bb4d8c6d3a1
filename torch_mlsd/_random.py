"""Explicit randomness: seeds mixed from (seed, epoch, rank, worker, ...) and generators.

The one randomness contract of torch_mlsd:

- **Functions** take ``generator: torch.Generator | None`` (torch's convention).
  ``None`` means a fresh generator seeded from the operating system: a different result
  on every call. Pass a seeded generator for a reproducible one.
- **Classes** that must agree across DDP ranks or be pickled into DataLoader workers
  (samplers, batch transforms, collators) take ``seed: int | None``, as
  ``DistributedSampler`` does; ``None`` draws one from the OS (broadcast from rank 0
  under ``torch.distributed``).
- **Where draws happen**: draws over the data themselves (weighted indices, MLM masks,
  SMOTE, random over/under-sampling) happen on the generator's device, which must be
  the data's device. Draws of a few numbers per example or per row index -- per-sample
  augmentation parameters, splits, baselines, data subsets -- are made on a CPU
  generator and moved, so one seed gives the same result for CPU and GPU data.
- Nothing in torch_mlsd touches the global ``random``, ``numpy.random`` or torch RNG
  state. :func:`resolve_generator` is the one place a ``generator`` argument is checked.
"""

from __future__ import annotations

import secrets

import torch

__all__ = ["mix_seed", "new_seed", "make_generator", "worker_seed", "resolve_generator", "child_generator"]

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix_seed(seed: int, *keys: int) -> int:
    """Combine a base seed with integer keys into a well-spread 63-bit seed.

    ``mix_seed(s, epoch)`` and ``mix_seed(s, epoch, rank)`` give unrelated streams, and
    nearby inputs (seed 0 vs 1, epoch 3 vs 4) do not give correlated generators.

    Example:
        >>> mix_seed(0, 1) == mix_seed(0, 1) and mix_seed(0, 1) != mix_seed(1, 0)
        True
    """
    h = _splitmix64(int(seed) & _MASK64)
    for k in keys:
        h = _splitmix64(h ^ (int(k) & _MASK64))
    return h >> 1


def new_seed() -> int:
    """A fresh 63-bit seed from the operating system (used when ``seed=None``)."""
    return secrets.randbits(63)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def resolve_generator(
    generator: torch.Generator | None,
    device: torch.device | str | None = "cpu",
    *,
    name: str = "generator",
) -> torch.Generator:
    """Check a ``generator`` argument and return the generator to draw with.

    ``None`` gives a fresh OS-seeded generator on ``device``. A given generator must be
    on ``device`` (its type: ``cuda:1`` data accepts a ``cuda`` generator); pass
    ``device=None`` to accept a generator on any device.

    Example:
        >>> resolve_generator(torch.Generator().manual_seed(0)).initial_seed()
        0
    """
    if generator is None:
        return make_generator(new_seed(), "cpu" if device is None else device)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`{name}` must be a torch.Generator or None, got {type(generator).__name__}")
    if device is not None and generator.device.type != torch.device(device).type:
        raise ValueError(f"`{name}` must be on the data's device {torch.device(device)}, got one on {generator.device}")
    return generator


def child_generator(generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded by one draw of ``generator``: an independent stream
    for a sub-step (a split inside a check), so the sub-step's draws do not depend on
    how many numbers the caller draws afterwards."""
    return make_generator(int(torch.randint(2**62, (1,), generator=generator)), device)


def worker_seed(seed: int, *keys: int) -> int:
    """Seed for the calling process: ``seed`` mixed with the DataLoader worker id and the
    ``torch.distributed`` rank (when initialised), plus any extra ``keys``.

    A transform created once in the main process and copied into each worker thus draws
    different numbers in each worker and rank, but the same ones run after run.
    """
    info = torch.utils.data.get_worker_info()
    worker = -1 if info is None else info.id
    rank = torch.distributed.get_rank() if _dist_ready() else -1
    return mix_seed(seed, worker + 1, rank + 1, *keys)


def _dist_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()
