"""Argument checks shared by every public part of torch_mlsd.

Every message has one shape: ``` `name` must be <constraint>, got <value> ```, with the
shape and dtype for tensors. ``TypeError`` for a wrong type, ``ValueError`` for a wrong
value. ``bool`` is rejected wherever an ``int`` is meant.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, Literal, TypeVar, overload

import torch

__all__ = [
    "check_int",
    "check_float",
    "check_probability",
    "check_choice",
    "check_bool",
    "check_seed",
    "check_tensor",
    "check_same_length",
    "check_finite",
    "check_real_vector",
    "as_real_vector",
    "check_nonnegative_weights",
    "describe",
    "assert_values",
    "show_items",
    "as_id_set",
    "check_float_dtype",
]


def describe(value: Any) -> str:
    """Short description of a value for an error message (tensors by shape and dtype)."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype} on {value.device}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def show_items(items: Any, limit: int = 10) -> str:
    """The first ``limit`` items of a tensor or sequence for a message: ``[3, 8, 9, ...]``."""
    values = items.tolist() if isinstance(items, torch.Tensor) else list(items)
    return str(values[:limit])[:-1] + (", ...]" if len(values) > limit else "]")


def as_id_set(name: str, ids: Any) -> torch.Tensor:
    """Row ids (a 1-D integer tensor or sequence) as sorted distinct ``int64`` on the CPU."""
    ids = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
    check_tensor(name, ids, ndim=1, dtypes="integer")
    return torch.unique(ids.cpu().long())


@overload
def check_int(
    name: str, value: Any, *, min: int | None = ..., max: int | None = ..., allow_none: Literal[False] = ...
) -> int: ...
@overload
def check_int(
    name: str, value: Any, *, min: int | None = ..., max: int | None = ..., allow_none: bool
) -> int | None: ...
def check_int(
    name: str,
    value: Any,
    *,
    min: int | None = None,
    max: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """Check that ``value`` is an int (not a bool) within ``[min, max]``; return it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {describe(value)}")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"`{name}` must be >= {min}, got {value!r}")
    if max is not None and value > max:
        raise ValueError(f"`{name}` must be <= {max}, got {value!r}")
    return value


@overload
def check_float(
    name: str,
    value: Any,
    *,
    min: float | None = ...,
    max: float | None = ...,
    min_open: bool = ...,
    max_open: bool = ...,
    allow_none: Literal[False] = ...,
) -> float: ...
@overload
def check_float(
    name: str,
    value: Any,
    *,
    min: float | None = ...,
    max: float | None = ...,
    min_open: bool = ...,
    max_open: bool = ...,
    allow_none: bool,
) -> float | None: ...
def check_float(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Check that ``value`` is a finite real number within the given bounds; return it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if min is not None and (value < min or (min_open and value == min)):
        raise ValueError(f"`{name}` must be {'>' if min_open else '>='} {min}, got {value!r}")
    if max is not None and (value > max or (max_open and value == max)):
        raise ValueError(f"`{name}` must be {'<' if max_open else '<='} {max}, got {value!r}")
    return value


@overload
def check_float_dtype(name: str, value: Any, *, allow_none: Literal[False] = ...) -> torch.dtype: ...
@overload
def check_float_dtype(name: str, value: Any, *, allow_none: bool) -> torch.dtype | None: ...
def check_float_dtype(name: str, value: Any, *, allow_none: bool = False) -> torch.dtype | None:
    """Check that ``value`` is a floating ``torch.dtype`` (not a string, not an integer
    dtype that would truncate the result); return it."""
    if value is None and allow_none:
        return None
    if not isinstance(value, torch.dtype):
        raise TypeError(f"`{name}` must be a torch.dtype such as torch.float32, got {describe(value)}")
    if not value.is_floating_point:
        raise TypeError(f"`{name}` must be a floating dtype, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """Check that ``value`` is a real number in ``[0, 1]``; return it as float."""
    return check_float(name, value, min=0.0, max=1.0)


_Choice = TypeVar("_Choice", bound=str)


def check_choice(name: str, value: Any, choices: Collection[_Choice]) -> _Choice:
    """Check that ``value`` is one of ``choices``; the message lists them."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}, got {describe(value)}")
    return next(c for c in choices if c == value)  # the member itself, typed as the choices are


def check_bool(name: str, value: Any) -> bool:
    """Check that ``value`` is a bool; return it."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {describe(value)}")
    return value


def check_seed(name: str, value: Any) -> int | None:
    """Check a seed: ``None`` (draw one from the OS) or a non-negative int < 2**63."""
    return check_int(name, value, min=0, max=2**63 - 1, allow_none=True)


def check_tensor(
    name: str,
    value: Any,
    *,
    ndim: int | Collection[int] | None = None,
    dtypes: Collection[torch.dtype] | str | None = None,
) -> torch.Tensor:
    """Check that ``value`` is a tensor with an allowed number of dims and dtype.

    ``dtypes`` may be a collection of dtypes or one of the kinds ``"float"``,
    ``"integer"`` (int8..int64, uint8), ``"numeric"`` (integer or float, not bool).
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {describe(value)}")
    if ndim is not None:
        allowed_ndim = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed_ndim:
            want = " or ".join(str(n) for n in allowed_ndim)
            raise ValueError(f"`{name}` must have {want} dimensions, got shape {tuple(value.shape)}")
    if dtypes is not None:
        ok = _dtype_ok(value.dtype, dtypes)
        if not ok:
            raise TypeError(f"`{name}` must have a {_dtype_text(dtypes)} dtype, got {value.dtype}")
    return value


def _dtype_ok(dtype: torch.dtype, dtypes: Collection[torch.dtype] | str) -> bool:
    if dtypes == "float":
        return dtype.is_floating_point
    if dtypes == "integer":
        return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool
    if dtypes == "numeric":
        return not dtype.is_complex and dtype != torch.bool
    if isinstance(dtypes, str):
        raise ValueError(f"unknown dtype kind {dtypes!r}")
    return dtype in dtypes


def _dtype_text(dtypes: Collection[torch.dtype] | str) -> str:
    if isinstance(dtypes, str):
        return {"float": "floating-point", "integer": "integer", "numeric": "numeric (not bool)"}[dtypes]
    return " or ".join(str(d) for d in dtypes)


def check_same_length(**tensors: Any) -> int:
    """Check that all given sequences/tensors have the same first dimension; return it."""
    lengths = {name: len(t) for name, t in tensors.items()}
    if len(set(lengths.values())) > 1:
        parts = ", ".join(f"`{n}` has {k}" for n, k in lengths.items())
        raise ValueError(f"arguments must have the same length along dim 0: {parts}")
    return next(iter(lengths.values())) if lengths else 0


def assert_values(condition: torch.Tensor, message: str) -> None:
    """Per-call value check that never reads a tensor back to the host.

    ``condition`` is a 0-d bool tensor (for example ``((t >= 0) & (t < n)).all()``) computed
    on the data's device. The check is a device-side assertion (``torch._assert_async``):
    it compiles into ``torch.compile`` graphs and does not synchronise a GPU. Where it
    fails:

    - on the CPU, in eager mode: ``ValueError(message)``, at once;
    - on a GPU: a device-side assertion error at the next synchronisation point, with
      ``message`` printed by the kernel (the CUDA context is unusable afterwards, as after
      any device-side assert: a bad value is a bug to fix, not an event to handle);
    - under ``torch.compile``: the compiled graph raises ``RuntimeError(message)``.

    This is the one mechanism torch_mlsd uses for checks that need values per call
    (class ids in range, lengths in range); buffers are checked once, when set.
    """
    if torch.compiler.is_compiling():
        torch._assert_async(condition, message)
        return
    try:
        torch._assert_async(condition, message)
    except RuntimeError:
        raise ValueError(message) from None


def check_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    """Check that a floating tensor has no NaN or inf (forces a device sync)."""
    if value.dtype.is_floating_point and not bool(torch.isfinite(value).all()):
        bad = (~torch.isfinite(value)).sum().item()
        raise ValueError(f"`{name}` must be finite, got {bad} NaN/inf entries in {describe(value)}")
    return value


def check_real_vector(name: str, value: Any) -> torch.Tensor:
    """Convert a sequence or tensor to a 1-D floating tensor (float64 unless already floating)
    and check it is finite."""
    return check_finite(name, as_real_vector(name, value))


def as_tensor(name: str, value: Any, want: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` if a tensor, else ``torch.as_tensor(value, dtype=dtype)``; a value torch cannot
    convert is a ``TypeError``: "`name` must be <want>, got <value>".

    Example:
        >>> as_tensor("counts", [1, 2], "a 1-D sequence of numbers").tolist()
        [1, 2]
    """
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"`{name}` must be {want}, got {describe(value)}") from exc


def as_real_vector(name: str, value: Any) -> torch.Tensor:
    """Convert a sequence or tensor to a 1-D floating tensor (float64 unless already floating).

    Checks only the type, dimensions and dtype, so it reads no tensor value: the values are
    the caller's to check (once, or per call with :func:`assert_values`).
    """
    value = as_tensor(name, value, "a 1-D sequence of real numbers", torch.float64)
    check_tensor(name, value, ndim=1, dtypes="numeric")
    return value if value.dtype.is_floating_point else value.to(torch.float64)


def check_nonnegative_weights(name: str, value: Any, *, require_positive_sum: bool = True) -> torch.Tensor:
    """Convert weights to a 1-D floating tensor and check they are finite, >= 0 and not all 0."""
    value = as_real_vector(name, value)
    low, high = (float(v) for v in torch.aminmax(value)) if value.numel() else (0.0, 0.0)
    if not (math.isfinite(low) and math.isfinite(high)):  # one pass when the weights are fine
        check_finite(name, value)
    if low < 0:
        raise ValueError(f"`{name}` must be >= 0, got {int((value < 0).sum())} negative entries")
    if require_positive_sum and not high > 0:
        raise ValueError(f"`{name}` must have at least one positive entry, got all zeros ({len(value)} entries)")
    return value
