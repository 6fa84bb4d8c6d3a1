"""Class weights for re-weighting a loss or a sampler: inverse frequency, scikit-learn's
'balanced', square-root inverse, effective number (Cui et al. 2019), and the deferred
re-weighting schedule of LDAM-DRW (Cao et al. 2019).

Labels and counts look alike (both 1-D integer tensors), so the functions never guess:
``class_weights(labels)`` takes one label per example, ``class_weights(counts=...)``
takes one count per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from .._labels import as_int64
from .._validate import as_tensor, check_choice, check_float, check_float_dtype, check_int, check_tensor, describe

__all__ = [
    "Scheme",
    "Normalize",
    "class_counts",
    "class_weights",
    "sample_weights",
    "deferred_class_weights",
    "DeferredReweighting",
]

Scheme = Literal["inverse", "balanced", "sqrt_inverse", "effective_number"]
Normalize = Literal["sum", "mean", "sample_mean"]
_SCHEMES = ("inverse", "balanced", "sqrt_inverse", "effective_number")
_NORMALIZE = ("sum", "mean", "sample_mean")


def class_counts(labels: torch.Tensor, *, num_classes: int | None = None) -> torch.Tensor:
    """Number of examples of each class.

    Args:
        labels: ``(N,)`` integer class ids in ``[0, num_classes)``, any device.
        num_classes: number of classes ``C``; default ``labels.max() + 1``.

    Returns:
        ``(C,)`` int64 counts on the labels' device.

    Example:
        >>> class_counts(torch.tensor([0, 2, 2]), num_classes=4).tolist()
        [1, 0, 2, 0]
    """
    check_tensor("labels", labels, ndim=1, dtypes="integer")
    num_classes = check_int("num_classes", num_classes, min=1, allow_none=True)
    if labels.numel() == 0:
        if num_classes is None:
            raise ValueError("`labels` must not be empty when `num_classes` is not given, got 0 labels")
        return torch.zeros(num_classes, dtype=torch.long, device=labels.device)
    labels = as_int64("labels", labels)  # uint64 values past int64 are an error, not a wrapped label
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0:
        raise ValueError(f"`labels` must be >= 0, got a label {low}")
    if num_classes is not None and high >= num_classes:
        raise ValueError(f"`labels` must be < num_classes={num_classes}, got a label {high}")
    return torch.bincount(labels, minlength=num_classes or 0)


def class_weights(
    labels: torch.Tensor | None = None,
    *,
    counts: torch.Tensor | Sequence[float] | None = None,
    scheme: Scheme = "inverse",
    num_classes: int | None = None,
    beta: float = 0.999,
    normalize: Normalize | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""One weight per class, from the labels or from the class counts.

    With :math:`N` examples, :math:`C` classes and :math:`n_c` examples of class
    :math:`c`:

    * ``"inverse"``: :math:`N / n_c` (the lecture's :math:`W_c`).
    * ``"balanced"``: :math:`N / (C\,n_c)`, scikit-learn's
      ``compute_class_weight("balanced")``; the weighted examples then average 1.
      It differs from ``"inverse"`` by the factor :math:`C`, which cancels under a
      weighted mean but not under ``reduction="sum"`` or a mean over :math:`N`.
    * ``"sqrt_inverse"``: :math:`\sqrt{N / n_c}`, a milder correction.
    * ``"effective_number"``: :math:`(1-\beta) / (1-\beta^{n_c})` (Cui et al., CVPR
      2019, "Class-Balanced Loss Based on Effective Number of Samples"). The paper
      then rescales the weights to sum to :math:`C`: pass ``normalize="mean"``.

    Args:
        labels: ``(N,)`` integer class ids in ``[0, C)``. Give either this or ``counts``.
        counts: ``(C,)`` number of examples per class (non-negative, ints or reals;
            a tensor or a sequence), keyword only.
        scheme: one of the formulas above. Default ``"inverse"``.
        num_classes: ``C``; default ``labels.max() + 1``, or ``len(counts)`` (it must
            then equal it).
        beta: for ``"effective_number"``, in ``[0, 1)``; 0 gives uniform weights,
            values near 1 approach inverse frequency. Default 0.999.
        normalize: ``None`` (the formula as is, default), ``"sum"`` (weights sum to 1),
            ``"mean"`` (weights average 1 over classes, i.e. sum to ``C``) or
            ``"sample_mean"`` (weights average 1 over the examples:
            :math:`\sum_c n_c w_c = N`, so a weighted loss keeps its scale).
        dtype: floating dtype of the result; default ``torch.get_default_dtype()``.
            The arithmetic is done in float64.

    Returns:
        ``(C,)`` weights on the device of ``labels``/``counts`` (CPU for a sequence).

    Raises:
        ValueError: a class has no example (every scheme divides by :math:`n_c`; the
            message names the class), a negative label or count, a label
            ``>= num_classes``, ``beta`` outside ``[0, 1)``, an unknown ``scheme`` or
            ``normalize``, or both/neither of ``labels`` and ``counts``.
        TypeError: non-integer labels, a non-numeric count.

    Example:
        >>> y = torch.tensor([0, 0, 0, 1])
        >>> class_weights(y)
        tensor([1.3333, 4.0000])
        >>> class_weights(counts=[3, 1], scheme="balanced")
        tensor([0.6667, 2.0000])
        >>> class_weights(counts=[3, 1], scheme="effective_number", beta=0.5, normalize="mean")
        tensor([0.7273, 1.2727])
    """
    dtype = check_float_dtype("dtype", dtype, allow_none=True)
    n = _counts_from(labels, counts, num_classes)
    check_choice("scheme", scheme, _SCHEMES)
    beta = check_float("beta", beta, min=0.0, max=1.0, max_open=True)
    if normalize is not None:
        check_choice("normalize", normalize, _NORMALIZE)
    empty = (n == 0).nonzero().flatten()
    if empty.numel():
        source = "`labels`" if labels is not None else "`counts`"
        raise ValueError(
            f"{source} has no example of class {int(empty[0])} (classes with no example: "
            f"{empty.tolist()[:10]}); scheme {scheme!r} divides by the class count, so pass "
            "only the classes that occur or set `num_classes` accordingly"
        )
    total, num = n.sum(), n.numel()
    if scheme == "inverse":
        w = total / n
    elif scheme == "balanced":
        w = total / (num * n)
    elif scheme == "sqrt_inverse":
        w = (total / n).sqrt()
    else:
        w = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64, device=n.device), n))
    if normalize == "sum":
        w = w / w.sum()
    elif normalize == "mean":
        w = w * (num / w.sum())
    elif normalize == "sample_mean":
        w = w * (total / (w * n).sum())
    return w.to(dtype or torch.get_default_dtype())


def sample_weights(
    labels: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    scheme: Scheme = "inverse",
    num_classes: int | None = None,
    beta: float = 0.999,
    normalize: Normalize | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One weight per example: the weight of its class.

    For a weighted sampler (``"inverse"`` weights give every class the same total
    probability) or a per-example weighted loss.

    Args:
        labels: ``(N,)`` integer class ids in ``[0, C)``.
        weights: ``(C,)`` per-class weights to use as given; by default they are
            :func:`class_weights` of ``labels`` with the remaining arguments.
        scheme, num_classes, beta, normalize, dtype: as in :func:`class_weights`
            (ignored, except ``dtype``, when ``weights`` is given).

    Returns:
        ``(N,)`` weights on the labels' device.

    Example:
        >>> sample_weights(torch.tensor([0, 0, 0, 1]), scheme="balanced")
        tensor([0.6667, 0.6667, 0.6667, 2.0000])
    """
    if weights is None:
        weights = class_weights(
            labels, scheme=scheme, num_classes=num_classes, beta=beta, normalize=normalize, dtype=dtype
        )
    else:
        dtype = check_float_dtype("dtype", dtype, allow_none=True)
        check_tensor("weights", weights, ndim=1, dtypes="float")
        class_counts(labels, num_classes=len(weights))  # validates the labels against C
        weights = weights.to(device=labels.device, dtype=dtype or weights.dtype)
    return weights[labels.long()]


def deferred_class_weights(
    epoch: int,
    *,
    start_epoch: int,
    labels: torch.Tensor | None = None,
    counts: torch.Tensor | Sequence[float] | None = None,
    scheme: Scheme = "effective_number",
    num_classes: int | None = None,
    beta: float = 0.9999,
    normalize: Normalize | None = "mean",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Deferred re-weighting (DRW): uniform weights before ``start_epoch``, class weights from it.

    Cao et al., NeurIPS 2019 ("Learning Imbalanced Datasets with Label-Distribution-Aware
    Margin Loss") train with plain weights first and switch on class-balanced weights
    (effective number, beta 0.9999, normalised to sum ``C``: the defaults here) late, e.g.
    at epoch 160 of 200. The uniform weights are all ones, the same scale as
    ``normalize="mean"``.

    Args:
        epoch: current epoch, ``>= 0``.
        start_epoch: first epoch with class weights, ``>= 0``.
        labels, counts, scheme, num_classes, beta, normalize, dtype: as in
            :func:`class_weights`.

    Returns:
        ``(C,)`` weights on the device of ``labels``/``counts``.

    Example:
        >>> deferred_class_weights(0, start_epoch=2, counts=[9, 1])
        tensor([1., 1.])
        >>> deferred_class_weights(2, start_epoch=2, counts=[9, 1])
        tensor([0.2001, 1.7999])
    """
    epoch = check_int("epoch", epoch, min=0)
    start_epoch = check_int("start_epoch", start_epoch, min=0)
    w = class_weights(
        labels, counts=counts, scheme=scheme, num_classes=num_classes, beta=beta, normalize=normalize, dtype=dtype
    )
    return w if epoch >= start_epoch else torch.ones_like(w)


class DeferredReweighting:
    """Deferred re-weighting schedule as an object: ``drw(epoch)`` gives the weights.

    The class weights are computed once, at construction; see
    :func:`deferred_class_weights` for the arguments and defaults.

    Example:
        >>> drw = DeferredReweighting(counts=[9, 1], start_epoch=160)
        >>> drw(0), drw(160)
        (tensor([1., 1.]), tensor([0.2001, 1.7999]))
    """

    def __init__(
        self,
        *,
        start_epoch: int,
        labels: torch.Tensor | None = None,
        counts: torch.Tensor | Sequence[float] | None = None,
        scheme: Scheme = "effective_number",
        num_classes: int | None = None,
        beta: float = 0.9999,
        normalize: Normalize | None = "mean",
        dtype: torch.dtype | None = None,
    ) -> None:
        self.start_epoch: int = check_int("start_epoch", start_epoch, min=0)
        self.weights = class_weights(
            labels, counts=counts, scheme=scheme, num_classes=num_classes, beta=beta, normalize=normalize, dtype=dtype
        )

    def __call__(self, epoch: int) -> torch.Tensor:
        epoch = check_int("epoch", epoch, min=0)
        return self.weights if epoch >= self.start_epoch else torch.ones_like(self.weights)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(start_epoch={self.start_epoch}, num_classes={len(self.weights)})"


def _counts_from(
    labels: torch.Tensor | None, counts: torch.Tensor | Sequence[float] | None, num_classes: int | None
) -> torch.Tensor:
    """float64 counts per class from exactly one of ``labels`` and ``counts``."""
    if (labels is None) == (counts is None):
        raise ValueError(
            "give exactly one of `labels` (one class id per example) and `counts` (one count per class), "
            f"got {'both' if labels is not None else 'neither'}"
        )
    if labels is not None:
        return class_counts(labels, num_classes=num_classes).to(torch.float64)
    counts = as_tensor("counts", counts, "a 1-D sequence of numbers", torch.float64)
    check_tensor("counts", counts, ndim=1, dtypes="numeric")
    n = counts.to(torch.float64)
    if n.numel() == 0 or not bool(torch.isfinite(n).all()) or bool((n < 0).any()):
        raise ValueError(f"`counts` must be finite, >= 0 and non-empty, got {describe(counts)}")
    num_classes = check_int("num_classes", num_classes, min=1, allow_none=True)
    if num_classes is not None and num_classes != n.numel():
        raise ValueError(f"`num_classes` must equal len(counts)={n.numel()}, got {num_classes}")
    return n
