"""Class imbalance: class weights and resampling (random, SMOTE, Tomek links) on any device.

Weights: :func:`class_weights`, :func:`sample_weights`, :func:`class_counts`,
:func:`deferred_class_weights` / :class:`DeferredReweighting`. Resampling returns
``(x_resampled, y_resampled)`` like imbalanced-learn's ``fit_resample``, with the same
``sampling_strategy`` semantics, for rows of any shape, on the tensors' device.

Resampling functions take ``generator`` (see ``torch_mlsd._random`` for the contract);
draws happen on the data's device. They use torch's own intra-op threads and never
change the process's thread settings.
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
