"""Held-out scorers for the ablation checks: fit on training rows, return the ROC-AUC on
test rows (one-vs-rest macro average for more than two classes).

A scorer is any callable ``scorer(x_train, y_train, x_test, y_test) -> float``; the two
here are the defaults of :func:`~torch_mlsd.evaluation.feature_ablation` and
:func:`~torch_mlsd.evaluation.addition_curve`: :func:`logistic_score` (linear, the
package's :class:`~torch_mlsd.evaluation.LogisticRegression`) and :func:`binned_score`
(nonlinear: class frequencies per cell of a joint quantile histogram, which sees an XOR).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._validate import check_int, describe
from ._binning import (
    bin_codes,
    check_bins,
    features_and_labels,
    log_frequencies,
    quantile_edges,
    smoothed_prior,
)
from ._inputs import as_labels, encode, unique_counts
from .logistic import LogisticRegression
from .ranking import roc_auc_score

__all__ = ["Scorer", "logistic_score", "binned_score"]

Scorer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], float]


def _test_part(x_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b = x_test.reshape(len(x_test), -1).to(x_train.dtype)
    if b.shape[1] != x_train.shape[1] or b.device != x_train.device:
        raise ValueError(
            f"`x_test` must have rows like `x_train` ({x_train.shape[1]} features), got {describe(x_test)}"
        )
    labels = as_labels("y_test", y_test)
    if len(labels) != len(b):
        raise ValueError(f"`y_test` must have {len(b)} labels like `x_test`, got {len(labels)}")
    return b, labels


def held_out_auc(y_test: torch.Tensor, proba: torch.Tensor, classes: torch.Tensor) -> float:
    """ROC-AUC of ``proba`` ``(M, C)`` (columns: ``classes``); NaN when ``y_test`` has one class
    or a class unseen in training."""
    index = encode(y_test, classes)
    if bool((index == len(classes)).any()) or len(unique_counts(index)[0]) < 2:
        return math.nan
    if len(classes) == 2:
        return float(roc_auc_score(index, proba[:, 1]))
    return float(roc_auc_score(index, proba))


def logistic_score(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Held-out ROC-AUC of an L2 logistic regression (``C=1``, standardised on the training rows,
    L-BFGS to a gradient of 1e-5).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(400, 3, generator=g)
        >>> y = (x[:, 0] > 0).long()
        >>> logistic_score(x[:300], y[:300], x[300:], y[300:]) > 0.95
        True
    """
    a, _, _ = features_and_labels(x_train, y_train)
    b, y_te = _test_part(a, x_test, y_test)
    model = LogisticRegression(tol=1e-5).fit(a, as_labels("y_train", y_train))  # ranks settle long before 1e-8
    return held_out_auc(y_te, model.predict_proba(b), model.classes_)


def binned_score(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    bins: int = 8,
    rows_per_cell: int = 10,
) -> float:
    """Held-out ROC-AUC of the class frequencies per cell of a joint quantile histogram.

    Each of the ``k`` features is cut at quantiles of the training rows into ``b`` bins,
    ``b = min(bins, floor((N / rows_per_cell) ** (1 / k)))``, so that cells hold about
    ``rows_per_cell`` training rows or more; the class frequencies of a cell (shrunk
    towards the prior by one pseudo-row) are the predicted probabilities. Nonlinear: it
    sees labels carried by combinations of features. Returns NaN when even 2 bins per
    feature would leave fewer than ``rows_per_cell`` rows per cell (too many features
    for a joint histogram).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(2000, 2, generator=g)
        >>> y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()  # XOR: a linear model is at chance
        >>> round(binned_score(x[:1500], y[:1500], x[1500:], y[1500:]), 2) > 0.95
        True
    """
    a, labels, n_classes = features_and_labels(x_train, y_train)
    b, y_te = _test_part(a, x_test, y_test)
    bins = check_bins(bins)
    rows_per_cell = check_int("rows_per_cell", rows_per_cell, min=1)
    k = a.shape[1]
    per_feature = min(bins, math.floor((len(a) / rows_per_cell) ** (1.0 / k) + 1e-9))
    if per_feature < 2:
        return math.nan
    edges = quantile_edges(a, per_feature)
    place = per_feature ** torch.arange(k, device=a.device)[:, None]
    cell_train = (bin_codes(a, edges) * place).sum(0)
    cell_test = (bin_codes(b, edges) * place).sum(0)
    cells = per_feature**k
    counts = torch.bincount(cell_train * n_classes + labels, minlength=cells * n_classes).view(cells, n_classes)
    prior = smoothed_prior(counts.sum(0))
    proba = log_frequencies(counts, prior).exp()[cell_test]
    return held_out_auc(y_te, proba, unique_counts(as_labels("y_train", y_train))[0])
