"""Seeded synthetic data for tests, recipes and benchmarks (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._random import resolve_generator
from .._validate import check_float, check_float_dtype, check_int, check_nonnegative_weights

__all__ = ["make_imbalanced_classification"]


def make_imbalanced_classification(
    n_samples: int,
    class_proportions: Sequence[float] | torch.Tensor,
    *,
    n_features: int = 2,
    class_sep: float = 2.0,
    noise: float = 1.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs with given class proportions.

    Class ``c`` has exactly ``round`` (largest remainder) ``n_samples * p_c`` examples,
    centred on a random point of norm ``class_sep`` with isotropic noise of standard
    deviation ``noise``. Rows are shuffled.

    Args:
        n_samples: total number of rows ``N``.
        class_proportions: ``(C,)`` non-negative weights, normalised to sum 1.
        n_features: ``D``.
        class_sep: distance of each class centre from the origin.
        noise: per-feature standard deviation around the centre.
        generator: CPU generator of the draws (``None``: a fresh OS-seeded one).
        dtype: floating dtype of ``x``.

    Returns:
        ``x`` of shape ``(N, D)`` and ``y`` of shape ``(N,)`` int64, on the CPU.

    Example:
        >>> x, y = make_imbalanced_classification(1000, [0.99, 0.01], generator=torch.Generator().manual_seed(0))
        >>> x.shape, torch.bincount(y).tolist()
        (torch.Size([1000, 2]), [990, 10])
    """
    n = check_int("n_samples", n_samples, min=1)
    d = check_int("n_features", n_features, min=1)
    check_float("class_sep", class_sep, min=0.0)
    check_float("noise", noise, min=0.0)
    check_float_dtype("dtype", dtype)
    p = check_nonnegative_weights("class_proportions", class_proportions)
    g = resolve_generator(generator)

    exact = p / p.sum() * n
    counts = exact.floor().long()
    short = n - int(counts.sum())
    counts[torch.argsort(exact - counts, descending=True)[:short]] += 1  # largest remainder

    centres = torch.randn(len(p), d, generator=g, dtype=torch.float64)
    centres = centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-12) * class_sep
    y = torch.repeat_interleave(torch.arange(len(p)), counts)
    x = centres[y] + noise * torch.randn(n, d, generator=g, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    return x[perm].to(dtype), y[perm]
