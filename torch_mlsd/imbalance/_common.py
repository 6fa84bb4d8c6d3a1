"""What every resampler shares: input checks, the classes present in ``y`` and their
rows, imbalanced-learn's ``sampling_strategy`` semantics, and output allocation."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from .._labels import as_int64
from .._validate import check_choice, check_float, check_int, check_same_length, check_tensor, describe

__all__ = [
    "SamplingStrategy",
    "ClassIndex",
    "check_xy",
    "resolve_sampling_strategy",
    "new_rows",
    "take_rows",
    "resampled",
]

SamplingStrategy = (
    Literal["auto", "minority", "majority", "not minority", "not majority", "all"]
    | float
    | Mapping[int, int]
    | Sequence[int]
)
Kind = Literal["over", "under", "clean"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "over": ("auto", "minority", "not minority", "not majority", "all"),
    "under": ("auto", "majority", "not minority", "not majority", "all"),
    "clean": ("auto", "majority", "not minority", "not majority", "all"),
}


def check_xy(x: torch.Tensor, y: torch.Tensor, *, x_kind: Literal["any", "real", "float"]) -> None:
    """Check ``x`` ``(N, *)`` and labels ``y`` ``(N,)`` (integer, same device, >= 2 classes checked later)."""
    dtypes = {"any": None, "real": "numeric", "float": "float"}[x_kind]
    check_tensor("x", x, dtypes=dtypes)
    if x.ndim == 0:
        raise ValueError(f"`x` must have a first (sample) dimension, got {describe(x)}")
    if x.requires_grad:
        raise ValueError("`x` must not require grad: resampling is not differentiable, pass `x.detach()`")
    check_tensor("y", y, ndim=1, dtypes="integer")
    check_same_length(x=x, y=y)
    if x.device != y.device:
        raise ValueError(f"`x` and `y` must be on the same device, got {x.device} and {y.device}")


class ClassIndex:
    """The classes present in ``y`` (ascending), their counts, and their rows on demand."""

    def __init__(self, y: torch.Tensor) -> None:
        self.y = y = as_int64("y", y)  # any integer dtype; uint64 past int64 is an error
        low, high = (int(v) for v in torch.aminmax(y)) if y.numel() else (0, -1)
        if high - low < 2 * y.numel() + 1024:  # dense label range: bincount is 5x cheaper than unique
            counts = torch.bincount(y - low if low else y)
            present = counts.nonzero().squeeze(1)
            labels, counts = present + low, counts[present]
        else:
            labels, counts = torch.unique(y, return_counts=True)
        self.labels: list[int] = labels.tolist()
        self.counts: list[int] = counts.tolist()
        if len(self.labels) < 2:
            raise ValueError(f"`y` must contain at least 2 classes, got {len(self.labels)} ({self.labels})")
        self._order: torch.Tensor | None = None
        self._span: dict[int, tuple[int, int]] = {}

    def members(self, label: int) -> torch.Tensor:
        """Rows of class ``label``, ascending, int64."""
        if len(self.labels) <= 8:  # one pass per class beats a sort for a few classes
            return (self.y == label).nonzero().squeeze(1)
        if self._order is None:
            self._order = torch.argsort(self.y, stable=True)
            ends = itertools.accumulate(self.counts)
            self._span = {c: (end - n, end) for c, n, end in zip(self.labels, self.counts, ends, strict=False)}
        start, end = self._span[label]
        return self._order[start:end]


def resolve_sampling_strategy(strategy: SamplingStrategy, classes: ClassIndex, kind: Kind) -> dict[int, int]:
    """imbalanced-learn's ``sampling_strategy``, as a dict sorted by class.

    ``over``: rows to *add* per class; ``under``: rows to *keep* per class; ``clean``: the
    classes whose rows may be removed (values unused). Ties for the majority/minority go
    to the lowest label, as in imbalanced-learn.
    """
    stats = dict(zip(classes.labels, classes.counts, strict=False))
    majority = max(stats, key=stats.__getitem__)
    minority = min(stats, key=stats.__getitem__)
    n_max, n_min = stats[majority], stats[minority]
    if isinstance(strategy, str):
        check_choice("sampling_strategy", strategy, _CHOICES[kind])
        if strategy == "auto":
            strategy = "not majority" if kind == "over" else "not minority"
        chosen = {
            "minority": [minority],
            "majority": [majority],
            "not minority": [c for c in stats if c != minority],
            "not majority": [c for c in stats if c != majority],
            "all": list(stats),
        }[strategy]
        return {c: (n_max - stats[c] if kind == "over" else n_min) for c in chosen}
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        return _from_ratio(float(strategy), stats, kind, majority, minority)
    if isinstance(strategy, Mapping):
        return _from_dict(strategy, stats, kind)
    if isinstance(strategy, Sequence) and kind == "clean":
        chosen = sorted(_check_class(c, stats, "sampling_strategy") for c in strategy)
        return {c: n_min for c in chosen}
    wanted = "a string, a float ratio or a dict" + (" or a list of classes" if kind == "clean" else "")
    raise TypeError(f"`sampling_strategy` must be {wanted}, got {describe(strategy)}")


def _from_ratio(ratio: float, stats: dict[int, int], kind: Kind, majority: int, minority: int) -> dict[int, int]:
    if kind == "clean":
        raise ValueError("`sampling_strategy` must not be a float for a cleaning method: give classes as a list")
    ratio = check_float("sampling_strategy", ratio, min=0.0, max=1.0, min_open=True)
    if len(stats) != 2:
        raise ValueError(
            f"`sampling_strategy` can be a float only for 2 classes, got {len(stats)} classes: use a dict instead"
        )
    if kind == "over":  # minority grows to ratio * majority
        out = {c: int(stats[majority] * ratio - n) for c, n in stats.items() if c != majority}
        if any(v <= 0 for v in out.values()):
            raise ValueError(
                f"`sampling_strategy`={ratio} asks for fewer minority rows than there are "
                f"({stats[minority]} of {stats[majority]}): increase the ratio"
            )
    else:  # majority shrinks to minority / ratio
        out = {c: int(stats[minority] / ratio) for c in stats if c != minority}
        if any(v > stats[c] for c, v in out.items()):
            raise ValueError(
                f"`sampling_strategy`={ratio} asks for more majority rows than there are "
                f"({stats[majority]} for {stats[minority]} minority rows): increase the ratio"
            )
    return out


def _from_dict(strategy: Mapping[int, int], stats: dict[int, int], kind: Kind) -> dict[int, int]:
    if kind == "clean":
        raise ValueError("`sampling_strategy` must not be a dict for a cleaning method: give classes as a list")
    out = {}
    for c, n in strategy.items():
        c = _check_class(c, stats, "sampling_strategy")
        n = check_int(f"sampling_strategy[{c}]", n, min=0)
        if kind == "over" and n < stats[c]:
            raise ValueError(
                f"`sampling_strategy[{c}]` must be >= {stats[c]}, the rows class {c} has (over-sampling "
                f"only adds rows), got {n}"
            )
        if kind == "under" and n > stats[c]:
            raise ValueError(
                f"`sampling_strategy[{c}]` must be <= {stats[c]}, the rows class {c} has (under-sampling "
                f"only removes rows), got {n}"
            )
        out[c] = n - stats[c] if kind == "over" else n
    return dict(sorted(out.items()))


def _check_class(c: object, stats: dict[int, int], name: str) -> int:
    c = check_int(f"{name} class", c)
    if c not in stats:
        raise ValueError(f"`{name}` names class {c}, which is not in `y` (classes: {list(stats)[:20]})")
    return c


def take_rows(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``x[indices]`` in a fresh tensor (one ``index_select``, torch's own threads)."""
    return torch.index_select(x, 0, indices, out=new_rows(len(indices), x))


def resampled(
    x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, return_indices: bool
) -> tuple[torch.Tensor, ...]:
    """``(x[indices], y[indices])``, plus ``indices`` when asked: what every resampler returns."""
    x_out, y_out = take_rows(x, indices), take_rows(y, indices)
    return (x_out, y_out, indices) if return_indices else (x_out, y_out)


_NUMPY_DTYPES = {
    torch.float64: np.float64,
    torch.float32: np.float32,
    torch.float16: np.float16,
    torch.int64: np.int64,
    torch.int32: np.int32,
    torch.int16: np.int16,
    torch.int8: np.int8,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


def new_rows(n: int, like: torch.Tensor) -> torch.Tensor:
    """Uninitialised ``(n, *like.shape[1:])`` tensor with ``like``'s dtype and device.

    Large CPU buffers come from numpy, which asks the kernel for transparent huge pages
    (``madvise``); torch's allocator does not, and the first write to a fresh 200 MB
    buffer then runs 3-5x slower (page faults) on machines with THP in madvise mode.
    Such a tensor behaves as any other (shares memory across processes, pins, views)
    except that its storage cannot grow with ``resize_``.
    """
    shape = (n, *like.shape[1:])
    np_dtype = _NUMPY_DTYPES.get(like.dtype)
    if like.device.type == "cpu" and np_dtype is not None and n * math.prod(shape[1:]) * like.element_size() >= 2**22:
        return torch.from_numpy(np.empty(shape, dtype=np_dtype))
    return torch.empty(shape, dtype=like.dtype, device=like.device)
