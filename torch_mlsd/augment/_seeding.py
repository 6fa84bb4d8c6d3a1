"""The random stream of a transform that is copied into DataLoader workers and DDP ranks."""

from __future__ import annotations

import os
from typing import Any

import torch

from .._random import make_generator, new_seed, worker_seed
from .._validate import check_int, check_seed

__all__ = ["ProcessGenerator"]


class ProcessGenerator:
    """A CPU ``torch.Generator`` made lazily in the process that draws from it.

    With an int ``seed`` the stream of a process is fixed by ``(seed, epoch, DataLoader
    worker id, distributed rank)``: each worker and rank draws different numbers, the same
    ones run after run, and ``seed=0`` is a seed like any other. With ``seed=None`` every
    process draws fresh entropy from the operating system.

    A copy made by ``fork`` or ``pickle`` (how DataLoader workers get the transform) never
    shares the parent's stream: the generator is rebuilt in the new process. Inside a
    DataLoader worker the stream also mixes in the worker's seed, which the DataLoader
    draws afresh every epoch from its ``generator`` (or torch's global RNG). So workers,
    persistent or not, draw new numbers every epoch even when ``set_epoch`` is never
    called; for run-to-run reproducibility with workers, seed the DataLoader too
    (``DataLoader(..., generator=torch.Generator().manual_seed(s))``), as its shuffling
    already requires.
    """

    def __init__(self, seed: int | None) -> None:
        self.seed = check_seed("seed", seed)
        self.epoch = 0
        self._generator: torch.Generator | None = None
        self._pid: int | None = None

    def set_epoch(self, epoch: int) -> None:
        """Restart the stream from ``(seed, epoch, worker, rank)``."""
        self.epoch = check_int("epoch", epoch, min=0)
        self._generator = None

    def get(self) -> torch.Generator:
        """The generator of the calling process (created on first use in each process)."""
        if self._generator is None or self._pid != os.getpid():
            info = torch.utils.data.get_worker_info()
            keys = (self.epoch,) if info is None else (self.epoch, info.seed)
            seed = new_seed() if self.seed is None else worker_seed(self.seed, *keys)
            self._generator = make_generator(seed)
            self._pid = os.getpid()
        return self._generator

    def __getstate__(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch, "_generator": None, "_pid": None}

    def __repr__(self) -> str:
        return f"ProcessGenerator(seed={self.seed!r}, epoch={self.epoch})"
