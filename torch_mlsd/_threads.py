"""CPU parallelism by independent tasks instead of torch's intra-op threads.

Used by the neighbour search and the resamplers: their work splits into independent
tiles or copies, which run on Python threads (torch releases the GIL in its kernels)
while torch itself runs single-threaded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["worker_threads", "run_tasks"]

_state = threading.local()


@contextlib.contextmanager
def worker_threads(device: torch.device) -> Iterator[int]:
    """Turn torch's CPU intra-op threads into workers for independent tasks.

    Yields the number of workers for `run_tasks` (1 on a GPU or with one thread) and, on the
    CPU, runs torch single-threaded until the block exits (``torch.set_num_threads(1)``,
    restored after; nested blocks share the outer one's workers). scikit-learn likewise
    limits BLAS threads inside its neighbour search. Why: a multi-threaded op puts a
    barrier at its end, and when other processes compete for the cores every barrier
    waits for a descheduled thread (one scheduler tick, 4 ms or more): a search made of
    thousands of tiles ran 5-30x slower that way on a busy 2-core machine, and even the
    few large copies of random over-sampling 2-4x slower; independent tasks do not wait
    for each other.
    """
    outer = getattr(_state, "workers", None)
    threads = torch.get_num_threads()
    if outer is not None or device.type != "cpu" or threads < 2:
        yield outer or 1
        return
    torch.set_num_threads(1)
    _state.workers = threads
    try:
        yield threads
    finally:
        _state.workers = None
        torch.set_num_threads(threads)


def run_tasks(tasks: list[Callable[[], object]], workers: int) -> None:
    """Run independent tasks over ``workers`` Python threads (torch releases the GIL in
    its kernels), or in order with one worker (on a GPU the kernels queue up anyway)."""
    if workers < 2 or len(tasks) < 2:
        for task in tasks:
            task()
        return
    with ThreadPoolExecutor(min(workers, len(tasks))) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()
