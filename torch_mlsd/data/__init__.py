"""Data generators for tests, recipes and benchmarks: long-tailed subsets, synthetic sets."""

from .long_tail import long_tail_counts, long_tail_indices
from .synthetic import make_imbalanced_classification

__all__ = ["long_tail_counts", "long_tail_indices", "make_imbalanced_classification"]
