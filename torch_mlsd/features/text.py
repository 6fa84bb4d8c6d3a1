"""A small text featurizer for the classical baseline: hashed word n-grams with tf-idf.

Steps: lowercase, expand contractions ("don't" -> "do not", a small embedded table),
remove punctuation, remove stopwords (a small embedded English list that keeps the
negations "no", "not", "nor", "never": dropping them turns "not good" into "good"),
word n-grams, hashed into ``n_features`` columns with CRC-32 (stable across runs and
machines, unlike Python's salted ``hash()``). Document frequencies (idf) are fit on
training rows only: :class:`TextFeaturizer` is a :class:`~torch_mlsd.features.FitGuard`.
Nothing is downloaded.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import torch

from .._validate import check_bool, check_choice, check_int, describe
from .fit_guard import FitGuard

__all__ = ["CONTRACTIONS", "STOPWORDS", "tokenize", "ngrams", "TextFeaturizer"]

CONTRACTIONS: dict[str, str] = {
    "can't": "can not", "won't": "will not", "shan't": "shall not", "ain't": "am not",
    "let's": "let us", "it's": "it is", "that's": "that is", "what's": "what is",
    "there's": "there is", "here's": "here is", "who's": "who is", "where's": "where is",
    "how's": "how is", "he's": "he is", "she's": "she is", "y'all": "you all",
    "o'clock": "of the clock", "ma'am": "madam",
}
"""Irregular contractions; the regular suffixes n't, 're, 've, 'll, 'd, 'm are expanded
by rule and any other 's (a possessive) is dropped."""

_SUFFIXES = {"n't": " not", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would", "'m": " am", "'s": ""}

STOPWORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves us""".split()
)
"""Common English function words; negations (no, not, nor, never) are deliberately absent."""

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_IRREGULAR = re.compile(r"\b(" + "|".join(re.escape(k) for k in CONTRACTIONS) + r")(?!\w)", re.IGNORECASE)
_SUFFIX = re.compile(r"(?<=\w)(n't|'re|'ve|'ll|'d|'m|'s)\b", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]|_")


def tokenize(
    text: str,
    *,
    lowercase: bool = True,
    expand_contractions: bool = True,
    remove_punctuation: bool = True,
    remove_stopwords: bool = True,
) -> list[str]:
    """Split one text into word tokens after the normalisation steps.

    Example:
        >>> tokenize("Don't STOP: it's John's best song, isn't it?")
        ['not', 'stop', 'john', 'best', 'song', 'not']
        >>> tokenize("Don't stop", remove_stopwords=False)
        ['do', 'not', 'stop']
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {describe(text)}")
    if lowercase:
        text = text.lower()
    if expand_contractions:
        text = text.translate(_APOSTROPHES)
        text = _IRREGULAR.sub(lambda m: CONTRACTIONS[m.group(1).lower()], text)
        text = _SUFFIX.sub(lambda m: _SUFFIXES[m.group(1).lower()], text)
    if remove_punctuation:
        text = _PUNCT.sub(" ", text)
    tokens = text.split()
    if remove_stopwords:
        tokens = [t for t in tokens if t.lower() not in STOPWORDS]
    return tokens


def ngrams(tokens: Sequence[str], ngram_range: tuple[int, int] = (1, 1)) -> list[str]:
    """Word n-grams for ``n`` in ``ngram_range`` (inclusive), joined by a space.

    Example:
        >>> ngrams(["not", "very", "good"], (1, 2))
        ['not', 'very', 'good', 'not very', 'very good']
    """
    low, high = _ngram_range(ngram_range)
    out: list[str] = []
    for n in range(low, high + 1):
        out += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return out


def _ngram_range(value: Any) -> tuple[int, int]:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise TypeError(f"`ngram_range` must be a tuple (min_n, max_n), got {describe(value)}")
    low = check_int("ngram_range", value[0], min=1)
    high = check_int("ngram_range", value[1], min=low)
    return low, high


@lru_cache(maxsize=2**18)
def _crc32(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def _texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"`texts` must be a sequence of strings (not one string), got {describe(texts)}")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"`texts` must hold only strings, got {describe(t)}")
    return list(texts)


class TextFeaturizer(FitGuard):
    """Hashed n-gram tf-idf features; idf statistics fit on training rows only.

    Each text becomes a row of ``n_features`` columns: the count of every n-gram in
    column ``crc32(ngram) % n_features`` (1 with ``binary``), times the idf of the column
    ``ln((1 + n) / (1 + df)) + 1`` (``n`` training texts, ``df`` of them containing the
    column; scikit-learn's smooth idf), each row scaled to unit L2 norm (``norm="l2"``).

    Args:
        n_features: number of hashed columns (collisions are rare when it is well above
            the vocabulary size).
        ngram_range: ``(min_n, max_n)`` word n-grams.
        lowercase, expand_contractions, remove_punctuation, remove_stopwords: the
            steps of :func:`tokenize`.
        binary: 1 for present n-grams instead of counts.
        use_idf: weight by idf (then ``fit`` is required before ``transform``).
        norm: ``"l2"`` or ``None``.
        output: ``"sparse"`` (a coalesced ``torch.sparse_coo`` tensor) or ``"dense"``.
        device: where the output goes.

    Example:
        >>> f = TextFeaturizer(n_features=32, output="dense")
        >>> x = f.fit_transform(["good movie", "bad movie", "not good"], ids=[0, 1, 2])
        >>> x.shape, round(float(x[0].norm()), 4)
        (torch.Size([3, 32]), 1.0)
    """

    def __init__(
        self,
        *,
        n_features: int = 2**16,
        ngram_range: tuple[int, int] = (1, 1),
        lowercase: bool = True,
        expand_contractions: bool = True,
        remove_punctuation: bool = True,
        remove_stopwords: bool = True,
        binary: bool = False,
        use_idf: bool = True,
        norm: Literal["l2"] | None = "l2",
        output: Literal["sparse", "dense"] = "sparse",
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_features = check_int("n_features", n_features, min=1)
        self.ngram_range = _ngram_range(ngram_range)
        self.steps = {
            name: check_bool(name, value)
            for name, value in [
                ("lowercase", lowercase), ("expand_contractions", expand_contractions),
                ("remove_punctuation", remove_punctuation), ("remove_stopwords", remove_stopwords),
            ]
        }
        self.binary = check_bool("binary", binary)
        self.use_idf = check_bool("use_idf", use_idf)
        if norm is not None:
            check_choice("norm", norm, ("l2",))
        self.norm = norm
        self.output = check_choice("output", output, ("sparse", "dense"))
        self.device = torch.device(device)

    def analyze(self, text: str) -> list[str]:
        """The n-grams of one text, after :func:`tokenize`."""
        return ngrams(tokenize(text, **self.steps), self.ngram_range)

    def _counts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rows, cols, counts)`` of the non-zero entries, sorted by row then column."""
        rows, cols = [], []
        for i, text in enumerate(texts):
            buckets = [_crc32(term) % self.n_features for term in self.analyze(text)]
            rows += [i] * len(buckets)
            cols += buckets
        keys = torch.tensor(rows, dtype=torch.long) * self.n_features + torch.tensor(cols, dtype=torch.long)
        keys, counts = torch.unique(keys, return_counts=True)
        return keys // self.n_features, keys % self.n_features, counts

    def fit(self, texts: Sequence[str], *, ids: torch.Tensor | Sequence[int] | None = None) -> TextFeaturizer:
        """Fit the idf on the training texts; ``ids`` names their rows (required once
        :meth:`protect` has named the test rows)."""
        texts = _texts(texts)
        if not texts:
            raise ValueError("`texts` must not be empty")
        self._guard_fit(ids, len(texts))
        _, cols, _ = self._counts(texts)
        df = torch.bincount(cols, minlength=self.n_features).double()
        self.n_fit_ = len(texts)
        self.idf_ = (torch.log((1 + len(texts)) / (1 + df)) + 1).float().to(self.device)
        return self

    def transform(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, n_features)`` float32 features of ``texts`` (sparse COO or dense)."""
        texts = _texts(texts)
        if self.use_idf and not hasattr(self, "idf_"):
            raise RuntimeError("this TextFeaturizer is not fitted yet: call fit(train_texts, ids=...) first")
        rows, cols, counts = self._counts(texts)
        rows, cols = rows.to(self.device), cols.to(self.device)
        values = torch.ones(len(counts), device=self.device) if self.binary else counts.float().to(self.device)
        if self.use_idf:
            values = values * self.idf_[cols]
        if self.norm == "l2":
            sq = torch.zeros(len(texts), device=self.device).index_add_(0, rows, values * values)
            values = values / sq.sqrt()[rows]
        shape = (len(texts), self.n_features)
        out = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, shape, is_coalesced=True, check_invariants=False
        )  # unique sorted keys: coalesced by construction
        return out.to_dense() if self.output == "dense" else out

    def fit_transform(self, texts: Sequence[str], *, ids: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """``fit(texts, ids=ids).transform(texts)``."""
        return self.fit(texts, ids=ids).transform(texts)

    def __repr__(self) -> str:
        return f"TextFeaturizer(n_features={self.n_features}, ngram_range={self.ngram_range}, output={self.output!r})"

