"""Single-feature predictive power: how well each feature alone ranks the label."""

from __future__ import annotations

import torch

from .._validate import describe
from ._inputs import as_labels, as_rows, unique_counts
from ._ranking import rank_scores
from .duplicates import MAX_BYTES

__all__ = ["feature_auc"]


def feature_auc(x: torch.Tensor, y: torch.Tensor, *, max_bytes: int = MAX_BYTES) -> torch.Tensor:
    """How well each feature alone ranks the classes: ROC-AUC as ``max(auc, 1 - auc)``
    (0.5: no information, 1: perfectly separating, in either direction).

    Two classes: the AUC of each feature for the larger label. More classes: the
    largest one-vs-rest value over the classes. Ties count 1/2, as in
    :func:`torch_mlsd.evaluation.roc_auc_score`.

    Args:
        x: ``(N, D)`` (or ``(N, ...)``, flattened) finite features, any real dtype.
        y: ``(N,)`` integer labels with at least two classes.
        max_bytes: bound on the working memory of one block of features.

    Returns:
        ``(D,)`` ``float64`` on ``x``'s device.

    Example:
        >>> x = torch.tensor([[0.1, 5.0], [0.2, 1.0], [0.9, 3.0], [0.8, 2.0]])
        >>> feature_auc(x, torch.tensor([0, 0, 1, 1]))
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    a = as_rows("x", x)
    y = as_labels("y", y)
    if len(y) != len(a):
        raise ValueError(f"`y` must have {len(a)} labels like `x`, got {len(y)}")
    if a.dtype.is_floating_point and not bool(torch.isfinite(a).all()):
        raise ValueError(f"`x` must be finite, got NaN or inf in {describe(x)}")
    classes = unique_counts(y)[0]
    if len(classes) < 2:
        raise ValueError(f"`y` must hold at least 2 classes, got only {classes.tolist()}")
    positives = classes[1:] if len(classes) == 2 else classes
    step = max(1, max_bytes // (len(a) * 8 * 8))  # the ranking holds about 8 float64 copies
    out = torch.zeros(a.shape[1], dtype=torch.float64, device=a.device)
    for start in range(0, a.shape[1], step):
        cols = a[:, start : start + step].T.double()
        for c in positives:
            auc = rank_scores(cols, (y == c)[None, :], None, "roc")
            out[start : start + step] = torch.maximum(out[start : start + step], torch.maximum(auc, 1 - auc))
    return out

