"""Run a function in real `torch.distributed` processes (gloo backend, CPU).

Usage in a test::

    def _body(rank, world_size, tmp):          # module-level, so it pickles
        ...                                    # may use torch.distributed collectives
        return something_picklable

    results = run_distributed(_body, world_size=2, args=(tmp,))   # list, one per rank

Exceptions in any rank are re-raised in the test with that rank's traceback.
"""

from __future__ import annotations

import os
import socket
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["run_distributed"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    result_path = os.path.join(out_dir, f"rank{rank}.pt")
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
        try:
            result: Any = ("ok", fn(rank, world_size, *args))
        finally:
            dist.destroy_process_group()
    except BaseException:  # report any failure to the parent
        result = ("error", traceback.format_exc())
    import torch

    torch.save(result, result_path)


def run_distributed(fn: Callable[..., Any], world_size: int = 2, args: tuple = (), timeout: float = 120.0) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned gloo processes."""
    with tempfile.TemporaryDirectory() as out_dir:
        ctx = mp.start_processes(
            _worker,
            args=(world_size, _free_port(), fn, args, out_dir),
            nprocs=world_size,
            join=False,
            start_method="spawn",
        )
        import time

        deadline = time.monotonic() + timeout
        while not ctx.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                raise TimeoutError(f"distributed run did not finish in {timeout} s")
        import torch

        results = []
        for rank in range(world_size):
            status, value = torch.load(os.path.join(out_dir, f"rank{rank}.pt"), weights_only=False)
            if status == "error":
                raise RuntimeError(f"rank {rank} failed:\n{value}")
            results.append(value)
        return results
