"""Feature-addition curve: "monitor model performance as more features are added: a
sudden increase is either a very good feature or leakage".

:func:`addition_curve` adds the features one at a time in a given order (the order they
were engineered, say), scores each prefix by stratified k-fold cross-validation, and
flags the steps whose gain exceeds the noise between folds, naming the feature added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._random import child_generator, resolve_generator
from .._validate import check_float, check_int, describe
from ._binning import features_and_labels
from .scorers import Scorer, logistic_score
from .splits import stratified_kfold

__all__ = ["AdditionCurve", "addition_curve"]


@dataclass(frozen=True)
class AdditionCurve:
    """The result of :func:`addition_curve`.

    Attributes:
        order: ``(D,)`` ``int64`` features in the order they were added.
        fold_scores: ``(D, F)`` ``float64``: the score of the first ``t + 1`` features on each fold.
        mean, std: ``(D,)`` mean and standard deviation over the folds.
        jumps: ``(D,)`` gain of each step, ``mean[t] - mean[t - 1]`` (the first step: NaN).
        noise: the noise between folds, ``sqrt(mean_t std[t]^2)``.
        threshold: the gain a step must exceed to be flagged.
        flagged: ``(D,)`` bool, the steps that jumped.
        names: feature names.
    """

    order: torch.Tensor
    fold_scores: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    jumps: torch.Tensor
    noise: float
    threshold: float
    flagged: torch.Tensor
    names: list[str]

    @property
    def jump_features(self) -> list[str]:
        """Names of the features whose addition made the curve jump."""
        return [self.names[int(self.order[t])] for t in self.flagged.nonzero().flatten().tolist()]

    def to_markdown(self) -> str:
        lines = ["| step | feature added | mean score | sd over folds | gain | status |", "|---|---|---|---|---|---|"]
        for t in range(len(self.order)):
            gain = "" if t == 0 else f"{float(self.jumps[t]):+.4f}"
            status = "JUMP: a very good feature, or leakage" if bool(self.flagged[t]) else ""
            lines.append(
                f"| {t + 1} | {self.names[int(self.order[t])]} | {float(self.mean[t]):.4f} | "
                f"{float(self.std[t]):.4f} | {gain} | {status} |"
            )
        lines.append(f"\nnoise between folds {self.noise:.4f}; a gain above {self.threshold:.4f} is flagged")
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
    min_jump: float = 0.02,
    names: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AdditionCurve:
    """Score the first ``1, 2, ..., D`` features of ``order`` by ``n_folds``-fold
    cross-validation and flag sudden gains.

    A step is flagged when its mean gain is above ``max(n_sigmas * noise, min_jump)``,
    ``noise`` being the typical standard deviation of the score over the folds (the
    root mean square over the steps): a gain the folds' disagreement cannot explain.
    The first step has no gain (it is compared with nothing; a first feature that is
    already very high is the ablation's "very high on a subset").

    Args:
        x: ``(N, D)`` finite features, any device.
        y: ``(N,)`` integer labels, every class at least ``n_folds`` rows.
        order: a permutation of the ``D`` features (default ``0, 1, ...``).
        scorer: ``scorer(x_train, y_train, x_test, y_test) -> float`` (default: held-out
            ROC-AUC of the logistic regression).
        n_folds: cross-validation folds, ``>= 2``.
        n_sigmas: how many fold standard deviations a gain must exceed.
        min_jump: the smallest gain ever flagged.
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
    labels = torch.as_tensor(y, device=a.device).long()
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
    mean, std = scores.mean(1), scores.std(1)
    jumps = torch.cat([torch.tensor([math.nan], dtype=torch.float64), mean.diff()])
    noise = float(std.pow(2).mean().sqrt())
    threshold = max(n_sigmas * noise, min_jump)
    flagged = torch.nan_to_num(jumps, nan=-math.inf) > threshold
    label_names = list(names) if names is not None else [f"x{i}" for i in range(d)]
    return AdditionCurve(perm, scores, mean, std, jumps, noise, threshold, flagged, label_names)
