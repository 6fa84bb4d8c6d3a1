"""Feature-addition curve: "monitor model performance as more features are added: a
sudden increase is either a very good feature or leakage".

:func:`addition_curve` adds the features one at a time in a given order (the order they
were engineered, say), scores each prefix by stratified k-fold cross-validation on one
set of folds, and flags the steps whose paired gain (the same fold scored with and
without the feature) is surely above a minimum gain, naming the feature added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._random import child_generator, resolve_generator
from .._validate import check_float, check_int, describe
from ._binning import features_and_labels
from ._inputs import as_labels
from .scorers import Scorer, logistic_score
from .splits import stratified_kfold

__all__ = ["AdditionCurve", "addition_curve"]


@dataclass(frozen=True)
class AdditionCurve:
    """The result of :func:`addition_curve`.

    Attributes:
        order: ``(D,)`` ``int64`` features in the order they were added.
        fold_scores: ``(D, F)`` ``float64``: the score of the first ``t + 1`` features on each fold.
        mean, std: ``(D,)`` mean and standard deviation of the scores over the folds.
        jumps: ``(D,)`` mean paired gain of each step over the folds,
            ``mean_f(fold_scores[t, f] - fold_scores[t - 1, f])`` (the first step: NaN).
        jump_std: ``(D,)`` standard deviation of the paired gains over the folds (first: NaN).
        stderr: standard error of a step's mean gain (pooled over the steps, corrected for
            the folds' overlapping training sets; NaN with one feature).
        lower: ``(D,)`` lower bound of each gain, ``jumps - n_sigmas * stderr`` (first: NaN).
        n_sigmas, min_jump: the rule's settings: a step is flagged when ``lower > min_jump``.
        flagged: ``(D,)`` bool, the steps that jumped.
        names: feature names.
    """

    order: torch.Tensor
    fold_scores: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    jumps: torch.Tensor
    jump_std: torch.Tensor
    stderr: float
    lower: torch.Tensor
    n_sigmas: float
    min_jump: float
    flagged: torch.Tensor
    names: list[str]

    @property
    def jump_features(self) -> list[str]:
        """Names of the features whose addition made the curve jump."""
        return [self.names[int(self.order[t])] for t in self.flagged.nonzero().flatten().tolist()]

    def to_markdown(self) -> str:
        """The curve as a markdown table: one row per step, with its paired gain and spread."""
        lines = [
            "| step | feature added | mean score | sd over folds | paired gain | sd of gain | lower bound | status |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in range(len(self.order)):
            gain = "| | |" if t == 0 else (
                f"{float(self.jumps[t]):+.4f} | {float(self.jump_std[t]):.4f} | {float(self.lower[t]):+.4f} |"
            )
            status = "JUMP: a very good feature, or leakage" if bool(self.flagged[t]) else ""
            lines.append(
                f"| {t + 1} | {self.names[int(self.order[t])]} | {float(self.mean[t]):.4f} | "
                f"{float(self.std[t]):.4f} | {gain} {status} |"
            )
        lines.append(
            f"\nstandard error of a gain {self.stderr:.4f}; flagged when gain - {self.n_sigmas:g} x "
            f"{self.stderr:.4f} > {self.min_jump:g}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def addition_curve(
    x: torch.Tensor,
    y: torch.Tensor,
    order: torch.Tensor | Sequence[int] | None = None,
    *,
    scorer: Scorer = logistic_score,
    n_folds: int = 5,
    n_sigmas: float = 3.0,
    min_jump: float = 0.05,
    names: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AdditionCurve:
    """Score the first ``1, 2, ..., D`` features of ``order`` by ``n_folds``-fold
    cross-validation and flag sudden gains.

    Every prefix is scored on the same folds, so step ``t`` has ``F`` paired gains
    ``g_f = score_f(t) - score_f(t - 1)``: the fold's own difficulty cancels in them,
    which the spread of the scores themselves does not show. A step is flagged when
    the lower bound of its mean gain is above ``min_jump``::

        mean_f(g_f) - n_sigmas * stderr > min_jump

    ``stderr`` is the standard error of a mean gain: the variance of the paired gains
    is pooled over the ``D - 1`` steps (``(D - 1)(F - 1)`` degrees of freedom, so a
    step whose few gains agree by chance does not look certain), and since the folds'
    training sets overlap their gains are correlated and ``sd / sqrt(F)`` would be too
    small: it is widened by Nadeau and Bengio's (2003) correction,
    ``stderr = sd * sqrt(1 / F + 1 / (F - 1))`` (``1 / (F - 1)``: test over training
    rows). Why the defaults: an ordinary useful feature is real gain too, and any
    gain is significant given enough rows, so it is ``min_jump`` that separates
    "sudden" from "useful": ``0.05`` (of ROC-AUC, the default scorer) is more than
    one of several modest features adds. ``n_sigmas = 3``: with the gain's true value
    at ``min_jump`` a step passes with probability about 0.13 % (normal approximation;
    more with few folds and steps, whose pooled ``sd`` is itself uncertain), so a curve
    of 15 steps raises a false alarm with probability at most about 2 % (a union bound over
    the steps; far less for the usual steps, whose true gain is below ``min_jump``).
    The first step has no gain (it is compared with nothing; a first feature that is
    already very high is the ablation's "very high on a subset").

    Args:
        x: ``(N, D)`` finite features, any device.
        y: ``(N,)`` integer labels, every class at least ``n_folds`` rows.
        order: a permutation of the ``D`` features (default ``0, 1, ...``).
        scorer: ``scorer(x_train, y_train, x_test, y_test) -> float`` (default: held-out
            ROC-AUC of the logistic regression).
        n_folds: cross-validation folds, ``>= 2``.
        n_sigmas: how many standard errors below the mean gain its lower bound lies, ``>= 0``.
        min_jump: the gain the lower bound must exceed, ``>= 0`` (in the scorer's units).
        names: ``D`` feature names (default ``x0, x1, ...``).
        generator: draws the folds (CPU; ``None``: fresh).

    Returns:
        :class:`AdditionCurve`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randint(0, 2, (600,), generator=g)
        >>> x = torch.randn(600, 4, generator=g) + 0.3 * y[:, None]
        >>> x[:, 3] = y + 0.1 * torch.randn(600, generator=g)  # a leak, added last
        >>> addition_curve(x, y, generator=g).jump_features
        ['x3']
    """
    a, _, _ = features_and_labels(x, y)
    d = a.shape[1]
    labels = as_labels("y", y)  # checked by features_and_labels: on the device of `x`
    if order is None:
        perm = torch.arange(d)
    else:
        perm = torch.as_tensor(order.cpu() if isinstance(order, torch.Tensor) else order, dtype=torch.long)
        if perm.ndim != 1 or len(perm) != d or not torch.equal(torch.sort(perm).values, torch.arange(d)):
            raise ValueError(f"`order` must be a permutation of the {d} features, got {describe(order)}")
    if not callable(scorer):
        raise TypeError(f"`scorer` must be a callable, got {describe(scorer)}")
    n_folds = check_int("n_folds", n_folds, min=2)
    n_sigmas = check_float("n_sigmas", n_sigmas, min=0.0)
    min_jump = check_float("min_jump", min_jump, min=0.0)
    if names is not None and len(names) != d:
        raise ValueError(f"`names` must name the {d} features, got {len(names)}")
    g = resolve_generator(generator, "cpu")

    folds = stratified_kfold(labels, n_folds, generator=child_generator(g))
    scores = torch.empty(d, n_folds, dtype=torch.float64)
    for t in range(d):
        cols = perm[: t + 1].to(a.device)
        for f, (train, test) in enumerate(folds):
            scores[t, f] = scorer(a[train][:, cols], labels[train], a[test][:, cols], labels[test])
    first = torch.full((1,), math.nan, dtype=torch.float64)
    gains = scores.diff(dim=0)  # (D - 1, F): paired, fold by fold
    jumps = torch.cat([first, gains.mean(1)])
    jump_std = torch.cat([first, gains.std(1)])
    stderr = float(gains.var(1).nanmean().sqrt()) * math.sqrt(1 / n_folds + 1 / (n_folds - 1)) if d > 1 else math.nan
    lower = jumps - n_sigmas * stderr
    flagged = torch.nan_to_num(lower, nan=-math.inf) > min_jump
    label_names = list(names) if names is not None else [f"x{i}" for i in range(d)]
    return AdditionCurve(
        perm, scores, scores.mean(1), scores.std(1), jumps, jump_std, stderr, lower, n_sigmas, min_jump, flagged,
        label_names,
    )
