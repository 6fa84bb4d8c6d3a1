"""Feature engineering that cannot see the test split: statistics fit on training rows only.

:class:`FitGuard` is the base of every fitted statistic here: once the test rows are
protected, fitting on any of them raises. :class:`StandardScaler` and the hashed tf-idf
:class:`TextFeaturizer` use it, :class:`GuardedTransformer` puts any other fitted object
(a scikit-learn transformer, a vocabulary) under it, and
:func:`~torch_mlsd.evaluation.check_leakage` reads it.
"""

from .fit_guard import FitGuard
from .guarded import GuardedTransformer
from .scaler import StandardScaler
from .text import CONTRACTIONS, STOPWORDS, TextFeaturizer, ngrams, tokenize

__all__ = [
    "FitGuard",
    "GuardedTransformer",
    "StandardScaler",
    "TextFeaturizer",
    "tokenize",
    "ngrams",
    "STOPWORDS",
    "CONTRACTIONS",
]
