"""Record the aten ops a call dispatches and find the ones that read values to the host.

Used to prove that per-batch paths (losses, batch transforms' ``transform``, MLM masking)
never synchronise a GPU: on any device, these ops are the ones that do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HOST_READS = (
    "aten._local_scalar_dense",
    "aten.nonzero",
    "aten.is_nonzero",
    "aten.equal",
    "aten.unique",
    "aten._unique",
    "aten.masked_select",
)


class RecordOps(TorchDispatchMode):
    """Collect the names (``aten.op.overload``) of every op dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def host_reads(fn: Callable[[], Any]) -> list[str]:
    """Run ``fn()`` and return the host-reading ops it dispatched (empty when none)."""
    with RecordOps() as recorder:
        fn()
    return [op for op in recorder.ops if op.startswith(HOST_READS)]
