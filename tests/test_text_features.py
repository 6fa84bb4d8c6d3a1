"""Text featurizer: normalisation steps, n-grams, stable hashing, tf-idf equal to
scikit-learn's on the same tokens, fit on training rows only, outputs, bad inputs."""

from __future__ import annotations

import zlib

import pytest
import torch

from torch_mlsd.features import STOPWORDS, TextFeaturizer, ngrams, tokenize

TRAIN = [
    "The movie wasn't good, it was GREAT!",
    "I didn't like it. The plot can't hold together.",
    "What's not to love? Great acting, great plot.",
    "Won't watch again; boring and too long...",
    "An okay film, I'd say.",
]
TEST = ["Great plot but boring acting", "I'm not sure it's good"]


def test_each_normalisation_step():
    text = "It's NOT what you'd think—Bob's café can't close!"
    assert tokenize(text) == ["not", "think", "bob", "café", "not", "close"]  # "can" is a stopword
    assert tokenize(text, remove_stopwords=False)[:4] == ["it", "is", "not", "what"]
    assert tokenize(text, expand_contractions=False, remove_stopwords=False)[:2] == ["it", "s"]
    assert tokenize(text, lowercase=False, remove_stopwords=False)[2] == "NOT"
    assert "café" in tokenize(text) and "think—bob" in " ".join(tokenize(text, remove_punctuation=False))
    assert tokenize("don\u2019t") == ["not"]  # curly apostrophe
    assert {"no", "not", "nor", "never"}.isdisjoint(STOPWORDS)


def test_ngrams():
    assert ngrams(["a", "b", "c"], (2, 3)) == ["a b", "b c", "a b c"]
    assert ngrams(["a"], (2, 2)) == []


def test_hashing_is_stable():
    """CRC-32, not Python's salted hash(): the same column in every process."""
    f = TextFeaturizer(n_features=1000, use_idf=False, norm=None, output="dense")
    x = f.transform(["great"])
    assert x[0].nonzero().flatten().tolist() == [zlib.crc32(b"great") % 1000] == [951]


def _vocab_columns(f: TextFeaturizer, texts: list[str]) -> dict[str, int]:
    terms = {t for text in texts for t in f.analyze(text)}
    columns = {t: zlib.crc32(t.encode()) % f.n_features for t in terms}
    assert len(set(columns.values())) == len(columns), "no collisions at this size"
    return columns


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2)])
def test_tfidf_equals_sklearn_on_the_same_tokens(ngram_range, device):
    text_mod = pytest.importorskip("sklearn.feature_extraction.text")
    f = TextFeaturizer(n_features=2**20, ngram_range=ngram_range, output="dense", device=device)
    ours = f.fit(TRAIN, ids=range(len(TRAIN))).transform(TRAIN + TEST)
    assert ours.device.type == device.type
    sk = text_mod.TfidfVectorizer(analyzer=f.analyze).fit(TRAIN)
    theirs = torch.from_numpy(sk.transform(TRAIN).toarray()).float()
    cols = _vocab_columns(f, TRAIN)
    for term, j in sk.vocabulary_.items():
        assert torch.allclose(ours[: len(TRAIN), cols[term]].cpu(), theirs[:, j], atol=1e-6)
    assert torch.allclose(ours.norm(dim=1).cpu(), torch.ones(len(TRAIN + TEST)))


def test_counts_equal_sklearn_count_vectorizer():
    text_mod = pytest.importorskip("sklearn.feature_extraction.text")
    f = TextFeaturizer(n_features=2**20, use_idf=False, norm=None, output="dense")
    ours = f.transform(TRAIN)
    sk = text_mod.CountVectorizer(analyzer=f.analyze).fit(TRAIN)
    theirs = torch.from_numpy(sk.transform(TRAIN).toarray()).float()
    cols = _vocab_columns(f, TRAIN)
    assert ours.sum() == theirs.sum()
    for term, j in sk.vocabulary_.items():
        assert torch.equal(ours[:, cols[term]], theirs[:, j])
    binary = TextFeaturizer(n_features=2**20, use_idf=False, norm=None, binary=True, output="dense").transform(TRAIN)
    assert torch.equal(binary, (ours > 0).float())


def test_idf_comes_from_training_rows_only():
    f = TextFeaturizer(n_features=2**20)
    f.fit(TRAIN, ids=range(5))
    col = zlib.crc32(b"great") % f.n_features
    assert f.idf_[col].item() == pytest.approx(float(torch.log(torch.tensor(6 / 3.0)) + 1))  # in 2 of 5 texts
    unseen = zlib.crc32(b"sure") % f.n_features  # only in a test text: df 0
    assert f.idf_[unseen].item() == pytest.approx(float(torch.log(torch.tensor(6.0)) + 1))


def test_featurizer_refuses_test_rows():
    texts = TRAIN + TEST
    f = TextFeaturizer(n_features=64).protect([5, 6])
    with pytest.raises(ValueError, match=r"protected \(test\) rows, got 2"):
        f.fit(texts, ids=range(7))
    f.fit(texts[:5], ids=range(5))
    assert f.fit_ids_.tolist() == [0, 1, 2, 3, 4]


def test_sparse_and_dense_agree():
    f = TextFeaturizer(n_features=128, ngram_range=(1, 2)).fit(TRAIN, ids=range(5))
    sparse = f.transform(TEST + [""])
    assert sparse.is_sparse and sparse.is_coalesced() and sparse.dtype == torch.float32
    dense = TextFeaturizer(n_features=128, ngram_range=(1, 2), output="dense").fit(TRAIN, ids=range(5)).transform(TEST + [""])
    assert torch.equal(sparse.to_dense(), dense)
    assert dense[-1].abs().sum() == 0  # an empty text is a zero row, not NaN


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: TextFeaturizer(n_features=0), ValueError, "n_features"),
        (lambda: TextFeaturizer(ngram_range=(2, 1)), ValueError, "ngram_range"),
        (lambda: TextFeaturizer(ngram_range=[1, 2]), TypeError, "ngram_range"),
        (lambda: TextFeaturizer(norm="l1"), ValueError, "norm"),
        (lambda: TextFeaturizer(output="csr"), ValueError, "output"),
        (lambda: TextFeaturizer(binary=1), TypeError, "binary"),
        (lambda: TextFeaturizer().fit("one text"), TypeError, "texts"),
        (lambda: TextFeaturizer().fit(["ok", 3]), TypeError, "texts"),
        (lambda: TextFeaturizer().fit([]), ValueError, "texts"),
        (lambda: tokenize(b"bytes"), TypeError, "text"),
    ],
)
def test_bad_inputs(call, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        call()


def test_transform_before_fit():
    with pytest.raises(RuntimeError, match="not fitted"):
        TextFeaturizer().transform(["a"])
    assert TextFeaturizer(use_idf=False).transform(["a b"]).shape == (1, 2**16)  # pure hashing needs no fit
