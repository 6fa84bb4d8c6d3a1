"""The sort-based ranking core shared by ROC-AUC, average precision and the
single-feature leakage check: one sort per row, ties as one threshold."""

from __future__ import annotations

import math

import torch


def descending(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row descending order of ``scores`` ``(K, N)``, and sorted keys that are equal
    exactly where the scores are.

    Floats are mapped to integers of the same order (their bits, with the magnitude bits
    of negatives flipped; -0.0 first made +0.0), because torch sorts 1-D integers by
    radix, several times faster than floats on the CPU. float32 keys of all rows go
    into one 1-D sort with the row number in the high bits.
    """
    k, n = scores.shape
    if scores.dtype == torch.float64:
        bits = (scores + 0.0).view(torch.int64)
        key = ~torch.where(bits < 0, bits ^ 0x7FFF_FFFF_FFFF_FFFF, bits)  # ~: ascending sort gives descending
        if k > 1:
            return torch.sort(key, dim=1)
        flat, order = torch.sort(key.flatten())
        return flat[None], order[None]
    bits = (scores.float() + 0.0).view(torch.int32)
    key = ~torch.where(bits < 0, bits ^ 0x7FFF_FFFF, bits)
    rows = torch.arange(k, device=scores.device)[:, None]
    flat, order = torch.sort((key.long() + 2**31 + rows * 2**32).flatten())
    return flat.view(k, n), order.view(k, n) - rows * n


def rank_scores(scores: torch.Tensor, positive: torch.Tensor, weight: torch.Tensor | None, kind: str) -> torch.Tensor:
    """ROC-AUC or average precision of each row of ``scores`` ``(K, N)`` against the
    ``(K, N)`` or ``(1, N)`` boolean ``positive``; NaN where undefined.

    One sort per row; tied scores form one threshold, as in scikit-learn (ROC-AUC counts
    a tied (positive, negative) pair as 1/2). All rows are handled at once: the
    thresholds of every row are gathered into one flat list of groups.
    """
    k, n = scores.shape
    s, order = descending(scores)
    pos = positive.expand(k, n).gather(1, order)
    if weight is None:
        tp = torch.cumsum(pos, 1, dtype=torch.float64)
        seen = None
    else:
        w = weight.expand(k, n).gather(1, order)
        tp, seen = torch.cumsum(w * pos, 1), torch.cumsum(w, 1)
    is_end = torch.ones((k, n), dtype=torch.bool, device=s.device)  # last row of a run of equal scores
    is_end[:, :-1] = s[:, 1:] != s[:, :-1]
    ends = is_end.flatten().nonzero().flatten()
    row = ends // n
    tp_end = tp.flatten()[ends]
    seen_end = (ends % n + 1).double() if seen is None else seen.flatten()[ends]
    fp_end = seen_end - tp_end
    first = torch.ones_like(row, dtype=torch.bool)
    first[1:] = row[1:] != row[:-1]
    tp_before = torch.where(first, 0.0, tp_end.roll(1))
    pos_g = tp_end - tp_before
    n_pos, n_neg = tp[:, -1], (seen[:, -1] if seen is not None else float(n)) - tp[:, -1]
    total = torch.zeros(k, dtype=torch.float64, device=s.device)
    if kind == "roc":
        neg_g = fp_end - torch.where(first, 0.0, fp_end.roll(1))
        value = total.index_add_(0, row, neg_g * (tp_before + 0.5 * pos_g)) / (n_pos * n_neg)
        defined = (n_pos > 0) & (n_neg > 0)
    else:
        precision = torch.where(seen_end > 0, tp_end / seen_end.clamp_min(1e-300), 0.0)
        value = total.index_add_(0, row, pos_g * precision) / n_pos
        defined = n_pos > 0
    return torch.where(defined, value, torch.full_like(value, math.nan))

