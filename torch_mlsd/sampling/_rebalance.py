"""The rules of stream rebalancing: how many copies of each item to emit, and its weight.

With running class proportions ``p_c`` (optionally forgetting old items) and a target
``t_c`` renormalised over the classes seen so far, an item of class ``c`` is emitted
``K = floor(m) + Bernoulli(m - floor(m))`` times, ``E[K] = m = g_c * r * t_c / p_c``:
every class at the same output rate ``r`` per target share, times a factor ``g_c`` near 1
that steers a class back when its share of the outputs so far strays from the target.
Each copy's importance weight ``1 / m`` is the number of input items it stands for
(Horvitz-Thompson). :class:`~torch_mlsd.sampling.RebalancedStream` applies these rules to
an iterable stream.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._labels import as_int64
from .._random import resolve_generator
from .._validate import check_float, check_int, check_tensor

__all__ = ["rebalance_copies", "running_counts", "decide_copies", "HORIZON"]

HORIZON = 32.0  # outputs over which the steering makes up a shortfall


def rebalance_copies(
    labels: torch.Tensor,
    seen: torch.Tensor,
    emitted: torch.Tensor,
    *,
    target: torch.Tensor | None = None,
    rate: float | None = None,
    max_repeats: int = 1,
    max_per_class: torch.Tensor | None = None,
    horizon: float = HORIZON,
    decay: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """How many copies of each item of a stream to emit so its classes follow ``target``.

    Item ``i`` of class ``c`` is judged by the counts up to and including it,
    ``n_c = seen_c + (items of class c among labels[:i + 1])`` (each older item counting
    ``decay`` times less per item that came after it): with ``p_c = n_c / n``
    and ``t_c`` the target renormalised over the classes with ``n_c > 0``, it is emitted
    ``K = floor(m) + Bernoulli(m - floor(m))`` times, ``m = min(max_repeats, g_c * r * t_c / p_c)``.
    The rate ``r`` is ``min(max_repeats * min_k p_k / t_k, max_k p_k / t_k)`` (the rarest
    class, relative to its target, kept whole or repeated ``max_repeats`` times; the most
    frequent one at most kept whole), or ``min(rate, max_repeats * min_k p_k / t_k)``.

    ``g_c = 1 + d_c / H_c``, clamped to ``[1/2, 2]``, steers the outputs back to the target:
    ``d_c = t_c * E - E_c`` is the shortfall of class ``c`` among the ``E`` outputs so far
    (``emitted``) and ``H_c`` the larger of ``horizon`` and the class's expected outputs in
    this call, so a shortfall is made up over about ``H_c`` outputs of the class and the
    call never overshoots. The class at ``max_repeats`` (the rarest) is never steered
    down: it is not cut to make up for the others. As ``g_c`` depends only on what came before, every item's
    expected number of copies is ``m`` given the past, and the weights ``1 / m`` make
    weighted counts unbiased estimates of the input counts (Horvitz-Thompson).

    Args:
        labels: ``(N,)`` integer class ids in ``[0, C)``, in stream order.
        seen: ``(C,)`` counts of each class before ``labels`` (integer, or float decayed
            counts, see :func:`running_counts`).
        emitted: ``(C,)`` integer outputs of each class before ``labels``.
        target: ``(C,)`` non-negative target proportions; ``None`` (default) is balanced
            over the classes seen. A class with target 0 is never emitted.
        rate: expected outputs per input item, ``> 0``; ``None`` (default): the largest
            the target allows, as above.
        max_repeats: most copies of one item, ``>= 1`` (1: under-sampling only).
        max_per_class: ``(C,)`` caps on the outputs of each class, or ``None``; a class
            at its cap drops its items and leaves the steering.
        horizon: outputs over which a shortfall is made up, ``> 0`` (default 32).
        decay: forgetting factor of the counts, in ``[0.5, 1]``; 1 (default) counts every
            item seen alike, ``1 - 1 / M`` follows a drifting stream over about ``M`` items.
        generator: ``torch.Generator`` on the CPU for the Bernoulli draws; ``None`` draws
            a fresh OS-seeded one.

    Returns:
        ``copies`` ``(N,)`` int64 and ``weights`` ``(N,)`` float64: the importance weight
        ``1 / m`` of each copy of an item, 0 where ``m = 0`` (a class with target 0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> labels = (torch.rand(100_000, generator=g) < 0.1).long()  # 10% of class 1
        >>> zero = torch.zeros(2, dtype=torch.long)
        >>> copies, weights = rebalance_copies(labels, zero, zero, generator=g)
        >>> out = labels.repeat_interleave(copies)
        >>> round(out.float().mean().item(), 2)  # balanced output
        0.5
        >>> w = weights.repeat_interleave(copies)
        >>> round((w * out).sum().item() / w.sum().item(), 2)  # the input's 10%, recovered
        0.1
    """
    labels = as_int64("labels", check_tensor("labels", labels, dtypes="integer", ndim=1)).cpu()
    seen = check_tensor("seen", seen, dtypes="numeric", ndim=1).cpu()
    if not bool(((seen >= 0) & seen.isfinite()).all()):
        raise ValueError(f"`seen` must be finite counts >= 0, got {seen.tolist()}")
    emitted = as_int64("emitted", check_tensor("emitted", emitted, dtypes="integer", ndim=1)).cpu()
    num_classes = len(seen)
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        raise ValueError(f"`labels` must be class ids in [0, {num_classes}), got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    target = _check_class_vector("target", target, num_classes, torch.float64)
    caps = _check_class_vector("max_per_class", max_per_class, num_classes, torch.int64)
    if len(emitted) != num_classes:
        raise ValueError(f"`emitted` must have {num_classes} counts like `seen`, got shape {tuple(emitted.shape)}")
    rate = check_float("rate", rate, min=0.0, min_open=True, allow_none=True)
    max_repeats = check_int("max_repeats", max_repeats, min=1)
    horizon = check_float("horizon", horizon, min=0.0, min_open=True)
    decay = check_float("decay", decay, min=0.5, max=1.0)
    copies, weights, _ = decide_copies(
        labels, seen, emitted, target, rate, max_repeats, caps, horizon, decay, resolve_generator(generator)
    )
    return copies, weights


def decide_copies(
    labels: torch.Tensor,
    seen: torch.Tensor,
    emitted: torch.Tensor,
    target: torch.Tensor | None,
    rate: float | None,
    max_repeats: int,
    caps: torch.Tensor | None,
    horizon: float,
    decay: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`rebalance_copies` on checked CPU inputs; also returns the counts after the last item."""
    num_classes = len(seen)
    counts = running_counts(labels, seen, decay=decay)  # (N, C), item i included
    share = _shares(counts > 0, target)
    valid = share > 0
    ratio = torch.where(valid, counts / counts.sum(1, keepdim=True) / share, math.inf)  # p_k / t_k
    lowest = ratio.amin(1) * max_repeats
    if rate is None:
        r = torch.minimum(lowest, torch.where(valid, ratio, 0.0).amax(1))
    else:
        r = lowest.clamp(max=rate)
    own = ratio.gather(1, labels[:, None]).squeeze(1)
    base = r / own  # 0 for a class with target 0 (own = inf)
    open_ = torch.ones(num_classes, dtype=torch.bool) if caps is None else emitted < caps
    steer = _shares((seen > 0) & open_, target)  # the targets among the classes still emitting
    expected = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, base)
    shortfall = steer * (emitted * open_).sum() - emitted
    gain = (1 + shortfall / expected.clamp(min=horizon)).clamp(0.5, 2.0)
    gain = gain[labels]
    anchor = base >= max_repeats * (1 - 1e-9)  # the class kept whole (or repeated most) is never cut
    gain = torch.where(steer[labels] > 0, torch.where(anchor, gain.clamp(min=1.0), gain), 1.0)
    m = (base * gain).clamp(max=max_repeats)
    whole = m.floor()
    u = torch.rand(len(labels), dtype=torch.float64, generator=generator)
    copies = whole.long() + (u < m - whole).long()
    if caps is not None:
        cap, before = caps[labels], emitted[labels]
        onehot = torch.nn.functional.one_hot(labels, num_classes)
        upto = before + (onehot * copies[:, None]).cumsum(0).gather(1, labels[:, None]).squeeze(1)
        copies = torch.minimum(upto, cap).sub_(torch.minimum(upto - copies, cap))
    weights = torch.where(m > 0, 1 / m.clamp(min=torch.finfo(torch.float64).tiny), 0.0)
    return copies, weights, counts[-1] if len(counts) else seen.double()


def running_counts(labels: torch.Tensor, seen: torch.Tensor, *, decay: float = 1.0) -> torch.Tensor:
    """Counts of each class after each item: ``(N, C)`` float64, row ``i`` including item ``i``.

    ``n_i = decay * n_(i-1) + onehot(labels[i])`` from ``n_(-1) = seen``; with ``decay = 1``
    plain running counts. ``labels`` ``(N,)`` are class ids in ``[0, C)``, ``seen`` ``(C,)``.

    Example:
        >>> running_counts(torch.tensor([0, 1, 1]), torch.tensor([2, 0]), decay=0.5).round(decimals=6).tolist()
        [[2.0, 0.0], [1.0, 1.0], [0.5, 1.5]]
    """
    onehot = torch.nn.functional.one_hot(labels.long(), len(seen)).double()
    seen = seen.double()
    if decay == 1.0:
        return onehot.cumsum(0).add_(seen)
    parts = []
    step = max(1, int(300 / -math.log(decay)))  # decay ** -step stays below e^300: no overflow
    for part in onehot.split(step):
        scale = torch.arange(1, len(part) + 1, dtype=torch.float64).mul_(-math.log(decay)).exp_()  # decay ** -(j+1)
        counts = (part * scale[:, None]).cumsum(0).add_(seen).div_(scale[:, None])
        parts.append(counts)
        seen = counts[-1]
    return torch.cat(parts) if parts else onehot


def _shares(present: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Target proportions renormalised over the ``present`` classes (balanced without a target)."""
    share = present.double() if target is None else target * present
    return share / share.sum(-1, keepdim=True).clamp(min=torch.finfo(torch.float64).tiny)


def _check_class_vector(name: str, value: Any, num_classes: int, dtype: torch.dtype) -> torch.Tensor | None:
    if value is None:
        return None
    value = check_tensor(name, value, ndim=1).cpu()
    if len(value) != num_classes or not bool(((value >= 0) & value.isfinite()).all()):
        raise ValueError(f"`{name}` must be {num_classes} finite values >= 0, got {value.tolist()}")
    return value.to(dtype)
