"""Class imbalance: class weights and resampling (random, SMOTE, Tomek links) on any device.

Weights: :func:`class_weights`, :func:`sample_weights`, :func:`class_counts`,
:func:`deferred_class_weights` / :class:`DeferredReweighting`. Resampling returns
``(x_resampled, y_resampled)`` like imbalanced-learn's ``fit_resample``, with the same
``sampling_strategy`` semantics, for rows of any shape, on the tensors' device.

On the CPU a resampling call runs torch single-threaded and spreads its independent
pieces (neighbour-search tiles, chunks of the output copy) over
``torch.get_num_threads()`` Python threads; ``torch.get_num_threads()`` reads 1 during
the call and is restored after. This keeps it fast on a machine whose cores other
processes (or DataLoader workers) also use.
"""

from ._common import SamplingStrategy
from .random_sampling import random_oversample, random_undersample
from .smote import smote
from .tomek import remove_tomek_links, tomek_links
from .weights import (
    DeferredReweighting,
    Normalize,
    Scheme,
    class_counts,
    class_weights,
    deferred_class_weights,
    sample_weights,
)

__all__ = [
    "class_counts",
    "class_weights",
    "sample_weights",
    "deferred_class_weights",
    "DeferredReweighting",
    "Scheme",
    "Normalize",
    "SamplingStrategy",
    "random_oversample",
    "random_undersample",
    "smote",
    "tomek_links",
    "remove_tomek_links",
]
