"""Class labels: the checks every label argument shares.

Three kinds of caller take labels, each with a rule of its own on top of these checks:

- the evaluation functions (``y``, ``y_true``, ...): any integers, negative ones too,
  bool outcomes read as 0/1, at least one label;
- the label-aware samplers: class ids ``>= 0``, kept on the CPU and checked once, on the
  host, where the message can count the bad labels;
- the batch transforms: the class ids of a batch, on any device, checked per call by a
  device-side assertion (no host read, so the path compiles whole), or ``(B, K)`` soft
  labels, which are theirs alone.

What they share is here: :func:`label_tensor` (a tensor, 1-D, an integer dtype, widened
to ``int64``), :func:`check_class_ids` (the ids ``>= 0``, and below the number of classes
when it is given) and :func:`as_int64`.
"""

from __future__ import annotations

from typing import Any

import torch

from ._validate import as_tensor, assert_values, describe

__all__ = ["as_int64", "label_tensor", "check_class_ids"]


def as_int64(name: str, value: torch.Tensor, *, per_batch: bool = False) -> torch.Tensor:
    """An integer tensor as ``int64``, the dtype ids, labels, times and counts are computed in.

    Arithmetic in a narrow dtype wraps (``uint8`` 3 - 5 is 254), so every integer input is
    widened where it is read. ``uint64`` values of ``2**63`` or more do not fit and are
    rejected: on the host, or with ``per_batch`` by a device-side assertion.

    Example:
        >>> as_int64("ids", torch.tensor([3, 250], dtype=torch.uint8)).tolist()
        [3, 250]
    """
    if value.dtype != torch.uint64:
        return value.long()
    wide = value.view(torch.int64)
    message = f"`{name}` must hold values below 2**63 (computed in int64), got {describe(value)}"
    if per_batch:
        assert_values((wide >= 0).all(), message)
    elif bool((wide < 0).any()):
        raise ValueError(message)
    return wide


def label_tensor(name: str, value: Any, *, bools: bool = False, per_batch: bool = False) -> torch.Tensor:
    """``value`` as a 1-D ``int64`` tensor of labels, on its own device (a sequence: the CPU).

    Reads no tensor value except, without ``per_batch``, the range of ``uint64`` labels.
    An empty sequence has no dtype (torch would make it float): it becomes an empty
    ``int64`` tensor, and whether labels may be empty is the caller's rule.

    Args:
        name: the argument's name, for the messages.
        value: ``(N,)`` tensor, array or sequence of integer labels, any integer dtype.
        bools: read a bool dtype as 0/1 (binary outcomes); otherwise it is a ``TypeError``.
        per_batch: check ``uint64`` values by a device-side assertion (see :func:`as_int64`).

    Raises:
        TypeError: ``value`` is not convertible to a tensor; a float, complex or (without
            ``bools``) bool dtype.
        ValueError: not 1-D; ``uint64`` values of ``2**63`` or more.

    Example:
        >>> label_tensor("y", [True, False], bools=True).tolist()
        [1, 0]
    """
    if not isinstance(value, torch.Tensor):
        value = as_tensor(name, value, "a 1-D tensor or sequence of integer labels")
        if value.numel() == 0:
            value = value.long()
    if value.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {tuple(value.shape)}")
    if value.dtype.is_floating_point or value.dtype.is_complex or (value.dtype == torch.bool and not bools):
        raise TypeError(f"`{name}` must have an integer{' or bool' if bools else ''} dtype, got {value.dtype}")
    return as_int64(name, value, per_batch=per_batch)


def check_class_ids(name: str, ids: torch.Tensor, num_classes: int | None = None, *, per_batch: bool = False) -> None:
    """Check that ``int64`` labels are class ids: ``>= 0``, and ``< num_classes`` when given.

    On the host by default (the message counts the bad labels); with ``per_batch`` by
    :func:`~torch_mlsd._validate.assert_values`, which reads nothing back (a ``ValueError``
    at once on the CPU, a device-side assertion on a GPU).

    Example:
        >>> check_class_ids("labels", torch.tensor([0, 3, 1]), 3)
        Traceback (most recent call last):
        ...
        ValueError: `labels` must be in [0, 3), got 1 labels out of range (min 0, max 3)
    """
    ok = ids >= 0
    if num_classes is not None:
        ok = ok & (ids < num_classes)
    want = ">= 0" if num_classes is None else f"in [0, {num_classes})"
    if per_batch:
        shape = tuple(ids.shape)
        assert_values(ok.all(), f"`{name}` must be {want}, got a tensor of shape {shape} with values out of range")
        return
    bad = int(ids.numel() - ok.sum())
    if bad:
        low, high = (int(v) for v in torch.aminmax(ids))
        raise ValueError(f"`{name}` must be {want}, got {bad} labels out of range (min {low}, max {high})")
