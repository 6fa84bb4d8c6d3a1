"""Loss-based importance sampling: sample hard examples more, weight them back to stay unbiased.

Drawing example ``i`` with probability ``q_i`` proportional to its loss (or to a bound on
its gradient norm, as Katharopoulos & Fleuret, 2018, "Not all samples are created
equal", do) and weighting its loss by ``p_i / q_i`` keeps the expected gradient the one
of the plain average (``p`` uniform), while the variance of the estimate drops when the
scores track the per-example gradient norms. A floor mixes in uniform sampling so no
example starves (a stale low loss would otherwise never be refreshed).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .._validate import check_float, check_nonnegative_weights
from .importance import importance_weights

__all__ = ["LossSampling", "loss_sampling_weights"]


class LossSampling(NamedTuple):
    """Sampling weights and the matching importance weights (see :func:`loss_sampling_weights`)."""

    weights: torch.Tensor  # unnormalised sampling weights, mean 1 when ``scale`` is the mean score
    importance: torch.Tensor  # p / q: multiply each drawn example's loss by its entry


def loss_sampling_weights(
    scores: torch.Tensor,
    *,
    floor: float = 0.1,
    scale: float | torch.Tensor | None = None,
    target: Any = None,
) -> LossSampling:
    """Turn per-example losses (or gradient-norm bounds) into sampling weights with a floor.

    ``weights_i = (1 - floor) * scores_i / scale + floor``, so with ``scale`` the mean score
    the weights average 1, and the sampling probability ``q_i = weights_i / sum(weights)``
    is at least ``floor / n``: a fraction ``floor`` of the draws is uniform. The returned
    ``importance`` is ``p / q`` (``p`` uniform, or ``target`` normalised), computed by
    :func:`~torch_mlsd.sampling.importance_weights`; ``E_q[importance * f] = E_p[f]`` for
    any per-example ``f``, so ``(loss(reduction="none") * importance[idx]).mean()`` over
    indices ``idx`` drawn from ``q`` is an unbiased estimate of the average loss.

    Args:
        scores: per-example losses or gradient-norm bounds, shape ``(n,)``, finite and
            >= 0, any floating or integer dtype (computed in float64 unless floating).
        floor: fraction of uniform sampling mixed in, in ``(0, 1]``; ``1`` is uniform
            sampling. Default 0.1.
        scale: what a score is measured against; default ``None``: the mean of
            ``scores`` (all weights 1 when every score is 0). Pass a fixed value (a
            running mean loss) to turn a batch's scores into weights for
            :meth:`DynamicWeightedSampler.update_weights` without the other examples'.
        target: target weights ``p`` of shape ``(n,)``, normalised here; default
            ``None``: uniform (the plain average over the data set).

    Returns:
        :class:`LossSampling` ``(weights, importance)``, both of shape ``(n,)`` in the
        dtype of ``scores`` (float64 for integers) on its device.

    Raises:
        TypeError: non-numeric ``scores``; ``floor`` or ``scale`` not a real number.
        ValueError: ``scores`` not 1-D, negative, NaN or inf; ``floor`` outside
            ``(0, 1]``; ``scale`` <= 0; a bad ``target`` (as ``importance_weights``).

    Example:
        >>> w, iw = loss_sampling_weights(torch.tensor([0.0, 1.0, 3.0]), floor=0.25)
        >>> w  # mean 1, none below the floor
        tensor([0.2500, 0.8125, 1.9375])
        >>> iw  # p / q with p = 1/3 and q = w / 3
        tensor([4.0000, 1.2308, 0.5161])
        >>> q = w / w.sum()
        >>> float((q * iw * torch.tensor([2.0, 4.0, 6.0])).sum())  # E_q[w f] = mean of f
        4.0
    """
    s = check_nonnegative_weights("scores", scores, require_positive_sum=False)
    floor = check_float("floor", floor, min=0.0, max=1.0, min_open=True)
    if scale is None:
        mean = s.mean()
        weights = s * ((1 - floor) / mean) + floor if bool(mean > 0) else torch.ones_like(s)
    else:
        if isinstance(scale, torch.Tensor):
            scale = float(scale)
        weights = s * ((1 - floor) / check_float("scale", scale, min=0.0, min_open=True)) + floor
    q = weights / weights.sum()
    if target is None:
        p = torch.full_like(q, 1.0 / len(q))
    else:
        p = check_nonnegative_weights("target", target).to(device=q.device, dtype=q.dtype)
        if p.shape != q.shape:
            raise ValueError(f"`target` must have the shape of `scores` {tuple(q.shape)}, got {tuple(p.shape)}")
        p = p / p.sum()
    return LossSampling(weights, importance_weights(p, q))
