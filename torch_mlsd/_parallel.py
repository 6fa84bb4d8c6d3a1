"""Independent pieces of one call run on torch's intra-op thread count, without touching it.

CPU passes over large tensors go in pieces small enough for ATen to run each op serially
(in cache, with no parallel region per op). Pieces that do not depend on each other run
on a short-lived thread pool of ``torch.get_num_threads()`` threads (torch ops and numpy
release the GIL while they compute), so such a pass uses the threads the user gave torch:
one inside a ``DataLoader`` worker, all of them in the main process. Nothing global is
set, and the pool is gone when the call returns. A result never depends on the number of
threads: every piece writes its own part, and any randomness is keyed by the piece.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

__all__ = ["map_pieces"]

T = TypeVar("T")


def map_pieces(fn: Callable[[int], T], starts: Sequence[int]) -> list[T]:
    """``[fn(a) for a in starts]``, on up to ``torch.get_num_threads()`` threads.

    Example:
        >>> map_pieces(lambda a: a * a, range(0, 10, 3))
        [0, 9, 36, 81]
    """
    threads = min(torch.get_num_threads(), len(starts))
    if threads <= 1:
        return [fn(a) for a in starts]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, starts))
