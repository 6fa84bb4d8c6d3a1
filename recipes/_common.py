"""Helpers the recipes share: a progress bar, markdown tables, figures, time and memory.

The recipes import this module as ``_common``: ``python recipes/<name>.py`` and
``torchrun recipes/<name>.py`` put the ``recipes`` folder on ``sys.path`` themselves.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

FIGURES = Path(__file__).resolve().parent / "figures"


class Progress:
    """A tqdm bar when tqdm is installed, else a printed line every 10%.

    ``update(n, **postfix)`` advances by ``n`` and shows ``postfix`` (e.g. the loss);
    ``enabled=False`` shows nothing (the other ranks of a distributed run).
    """

    def __init__(self, total: int, *, desc: str, unit: str, enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.done = total, desc, unit, 0
        self._bar: Any = None
        self._every = max(1, total // 10)
        self.enabled = enabled
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, desc=desc, unit=unit, mininterval=0.5)

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(n)
        elif self.done % self._every < n or self.done == self.total:
            shown = " ".join(f"{k}={v}" for k, v in postfix.items())
            print(f"{self.desc}: {self.unit} {self.done}/{self.total} {shown}".rstrip(), flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats are printed with 4 decimals."""

    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("the plot needs matplotlib: pip install 'torch_mlsd[recipes]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out: Path) -> None:
    """Lay out ``fig``, write it as a PNG to ``out`` (folders created) and close it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    pyplot().close(fig)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


@contextlib.contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op CPU threads (0: leave torch's setting), restored afterwards.

    Small models gain little from a second thread, and on a busy machine a parallel
    region can spin for milliseconds waiting for a thread that is not scheduled.
    """
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
