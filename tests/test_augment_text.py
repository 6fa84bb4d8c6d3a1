"""MLM masking and the collator: rates, specials, whole words, exact counts, padding, seeds."""

import pickle

import pytest
import torch

from torch_mlsd._random import make_generator, worker_seed
from torch_mlsd.augment.text import MaskedLMCollator, mask_tokens

ALPHA = 1e-3  # significance level of every chi-square test in this file
VOCAB, PAD, CLS, SEP, MASK = 1000, 0, 101, 102, 103
SPECIALS = [PAD, CLS, SEP]


def _gen(seed=0, device="cpu"):
    return make_generator(seed, device)


def _batch(n=256, length=512, seed=0):
    """[CLS] tokens [SEP] [PAD]... rows of random lengths, and their attention mask."""
    g = _gen(seed)
    ids = torch.randint(104, VOCAB, (n, length), generator=g)
    lengths = torch.randint(length // 4, length + 1, (n,), generator=g)
    real = torch.arange(length) < lengths[:, None]
    ids[:, 0] = CLS
    ids[torch.arange(n), lengths - 1] = SEP
    ids[~real] = PAD
    return ids, real.long()


def _sequences(n=64, seed=0):
    g = _gen(seed)
    return [[CLS, *torch.randint(104, VOCAB, (int(k),), generator=g).tolist(), SEP]
            for k in torch.randint(0, 40, (n,), generator=g)]


def test_rates_15_percent_then_80_10_10():
    ids, attention = _batch()
    masked, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=attention, generator=_gen(1))
    candidates = (attention == 1) & ~torch.isin(ids, torch.tensor(SPECIALS))
    chosen = labels != -100
    n = int(candidates.sum())
    rate = chosen.sum().item() / n
    assert abs(rate - 0.15) < 5 * (0.15 * 0.85 / n) ** 0.5  # 5 binomial standard errors (~0.0055)
    assert torch.equal(labels[chosen], ids[chosen])
    assert _replacement_pvalue(ids, masked, chosen) > ALPHA


def _replacement_pvalue(ids, masked, chosen):
    """Chi-square p-value of [MASK] / changed / kept counts among chosen tokens vs 80-10-10."""
    from scipy.stats import chisquare

    k = int(chosen.sum())
    to_mask = int((masked[chosen] == MASK).sum())
    changed = int(((masked[chosen] != MASK) & (masked[chosen] != ids[chosen])).sum())
    n_allowed = VOCAB - 4  # a random draw equals the original id with probability 1/n_allowed
    expected = [0.8 * k, 0.1 * (1 - 1 / n_allowed) * k, (0.1 + 0.1 / n_allowed) * k]
    return chisquare([to_mask, changed, k - to_mask - changed], expected).pvalue


@pytest.mark.parametrize("mode", ["exact_count", "whole_words"])
def test_80_10_10_in_exact_and_whole_word_modes(mode):
    ids, attention = _batch(128, 256, seed=3)
    words = torch.arange(256).div(3, rounding_mode="floor").repeat(128, 1)  # words of 3 tokens
    extra = {"exact_count": True} if mode == "exact_count" else {"word_ids": words}
    masked, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=attention, mlm_probability=0.3, generator=_gen(9), **extra)
    assert _replacement_pvalue(ids, masked, labels != -100) > ALPHA


def test_specials_and_padding_never_touched(device):
    ids, attention = _batch(64, 128)
    ids, attention = ids.to(device), attention.to(device)
    masked, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=attention, mlm_probability=1.0, generator=_gen(2))
    keep = torch.isin(ids, torch.tensor(SPECIALS, device=device)) | (attention == 0)
    assert torch.equal(masked[keep], ids[keep]) and bool((labels[keep] == -100).all())
    assert bool((labels[~keep] == ids[~keep]).all())  # probability 1: every other token chosen


def test_random_replacements_are_uniform_over_non_special_ids():
    from scipy.stats import chisquare

    vocab, specials = 20, [0, 3, 4, 11, 19]
    ids = torch.randint(0, vocab, (400, 300), generator=_gen(3))
    masked, labels = mask_tokens(ids, vocab_size=vocab, mask_token_id=7, special_token_ids=specials,
                                 mlm_probability=1.0, mask_replace_prob=0.0, random_replace_prob=1.0,
                                 generator=_gen(4))
    replaced = masked[labels != -100]
    assert not bool(torch.isin(replaced, torch.tensor([*specials, 7])).any())  # transformers #15342
    counts = torch.bincount(replaced, minlength=vocab)
    allowed = [i for i in range(vocab) if i not in [*specials, 7]]
    assert counts[allowed].min() > 0 and chisquare(counts[allowed].numpy()).pvalue > ALPHA


def test_plain_random_replacement_augmentation():
    ids, attention = _batch(32, 64)
    masked, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=attention, mask_replace_prob=0.0, random_replace_prob=1.0,
                                 generator=_gen())
    assert not bool((masked == MASK).any())
    assert torch.equal(masked[labels == -100], ids[labels == -100])
    assert (masked != ids).sum() > 0


def test_whole_word_masking_masks_words_together():
    ids = torch.randint(104, VOCAB, (200, 60), generator=_gen(5))
    # words of 1-3 tokens; a special token (word id -1) between two runs of the same id
    lengths = torch.randint(1, 4, (200, 60), generator=_gen(6))
    word_ids = torch.repeat_interleave(torch.arange(60).repeat(200, 1).flatten(), lengths.flatten())
    word_ids = torch.stack([w[:60] for w in word_ids.split(lengths.sum(1).tolist())])
    word_ids[:, 30] = -1
    ids[:, 30] = SEP
    masked, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 word_ids=word_ids, mlm_probability=0.3, generator=_gen(7))
    chosen = labels != -100
    assert not bool(chosen[:, 30].any())
    segment = torch.cumsum(torch.nn.functional.pad(word_ids[:, 1:] != word_ids[:, :-1], (1, 0), value=True), 1)
    for b in range(20):
        for s in segment[b].unique():
            run = chosen[b][segment[b] == s]
            assert bool(run.all()) or not bool(run.any())
    # the word rate is 0.3: 5 binomial standard errors over all words
    starts = (segment.diff(dim=1, prepend=torch.zeros(200, 1, dtype=segment.dtype)) > 0) & (word_ids >= 0)
    n = int(starts.sum())
    assert abs(chosen[starts].float().mean().item() - 0.3) < 5 * (0.21 / n) ** 0.5


@pytest.mark.parametrize("probability", [0.15, 0.5, 0.01])
def test_exact_count_per_sequence(probability):
    ids, attention = _batch(64, 100)
    _, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                            attention_mask=attention, mlm_probability=probability, exact_count=True,
                            generator=_gen(8))
    n = ((attention == 1) & ~torch.isin(ids, torch.tensor(SPECIALS))).sum(1)
    want = torch.where(n > 0, torch.round(n * probability).clamp(min=1), 0)
    assert torch.equal((labels != -100).sum(1), want.long())


def test_exact_count_whole_words_counts_words():
    ids = torch.randint(104, VOCAB, (10, 40), generator=_gen())
    word_ids = torch.arange(40).div(2, rounding_mode="floor").repeat(10, 1)  # 20 words of 2 tokens
    _, labels = mask_tokens(ids, vocab_size=VOCAB, mask_token_id=MASK, word_ids=word_ids,
                            mlm_probability=0.25, exact_count=True, generator=_gen())
    assert bool(((labels != -100).sum(1) == 2 * 5).all())


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.uint16, torch.uint32, torch.uint64])
def test_any_integer_id_dtype_masks_as_int64(dtype):
    # Ids read as int64 whatever their dtype (unsigned ones had no aminmax on the CPU).
    ids, attention = _batch(8, 32)
    kw = dict(vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS, attention_mask=attention)
    narrow = ids.to(dtype) if torch.iinfo(dtype).max >= VOCAB - 1 else ids.clamp(max=torch.iinfo(dtype).max).to(dtype)
    masked, labels = mask_tokens(narrow, generator=_gen(0, torch.device("cpu")), **kw)
    wide_masked, wide_labels = mask_tokens(narrow.long(), generator=_gen(0, torch.device("cpu")), **kw)
    assert torch.equal(masked.long(), wide_masked) and torch.equal(labels, wide_labels)
    if dtype == torch.uint64:
        with pytest.raises(ValueError, match=r"`input_ids` must hold values below 2\*\*63"):
            mask_tokens(torch.full((2, 4), 2**63 + 1, dtype=torch.uint64), **kw | {"attention_mask": None})


def test_dtype_and_device_kept(device):
    ids, attention = _batch(8, 32)
    ids32 = ids.to(device=device, dtype=torch.int32)
    before = ids32.clone()
    masked, labels = mask_tokens(ids32, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=attention.to(device), generator=_gen(0, device))
    assert masked.dtype == torch.int32 and masked.device == ids32.device
    assert labels.dtype == torch.int64 and labels.device == ids32.device
    assert torch.equal(ids32, before)


def test_same_generator_seed_same_result():
    ids, attention = _batch(16, 64)
    kwargs = dict(vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS, attention_mask=attention)
    a = mask_tokens(ids, generator=_gen(5), **kwargs)
    b = mask_tokens(ids, generator=_gen(5), **kwargs)
    c = mask_tokens(ids, generator=_gen(6), **kwargs)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])


def test_collator_pads_builds_attention_and_labels():
    seqs = _sequences()
    collate = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD,
                               special_token_ids=[CLS, SEP], seed=0)
    batch = collate(seqs)
    width = max(len(s) for s in seqs)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape == (len(seqs), width) and batch["input_ids"].dtype == torch.int64
    real = batch["attention_mask"] == 1
    assert batch["attention_mask"].sum(1).tolist() == [len(s) for s in seqs]
    assert bool((batch["input_ids"][~real] == PAD).all()) and bool((batch["labels"][~real] == -100).all())
    original = torch.full_like(batch["input_ids"], PAD)
    original[real] = torch.tensor([t for s in seqs for t in s])
    chosen = batch["labels"] != -100
    assert torch.equal(batch["labels"][chosen], original[chosen])
    assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
    assert not bool(torch.isin(original[chosen], torch.tensor([PAD, CLS, SEP])).any())


def test_collator_equals_mask_tokens_on_the_padded_batch():
    seqs = _sequences(seed=1)
    batch = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD,
                             special_token_ids=[CLS, SEP], seed=11)(seqs)
    padded = torch.tensor([s + [PAD] * (max(map(len, seqs)) - len(s)) for s in seqs])
    masked, labels = mask_tokens(padded, vocab_size=VOCAB, mask_token_id=MASK, special_token_ids=SPECIALS,
                                 attention_mask=batch["attention_mask"], generator=_gen(worker_seed(11, 0)))
    assert torch.equal(batch["input_ids"], masked) and torch.equal(batch["labels"], labels)


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_to_multiple_of_and_padding_side(side):
    seqs = [torch.tensor([CLS, 5, 6, SEP]), torch.tensor([CLS, 7, SEP]), torch.tensor([CLS, SEP])]
    batch = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD, special_token_ids=[CLS, SEP],
                             pad_to_multiple_of=8, padding_side=side, mlm_probability=0.0, seed=0)(seqs)
    assert batch["input_ids"].shape == (3, 8)
    want = [[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]
    want = want if side == "right" else [row[::-1] for row in want]
    assert batch["attention_mask"].tolist() == want
    if side == "left":
        assert batch["input_ids"][1].tolist() == [PAD] * 5 + [CLS, 7, SEP]


def test_collator_dict_examples():
    examples = [
        {"input_ids": [CLS, 5, 6, 7, SEP], "word_ids": [None, 0, 0, 1, None], "token_type_ids": [0, 0, 0, 0, 0],
         "special_tokens_mask": [1, 0, 0, 0, 1], "attention_mask": [1, 1, 1, 1, 0], "idx": 0},
        {"input_ids": [CLS, 8, SEP], "word_ids": [None, 0, None], "token_type_ids": [0, 1, 1],
         "special_tokens_mask": [1, 0, 1], "attention_mask": [1, 1, 1], "idx": 1},
    ]
    batch = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD, mlm_probability=1.0,
                             mask_replace_prob=1.0, random_replace_prob=0.0, seed=0)(examples)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "token_type_ids", "idx"}
    assert batch["idx"].tolist() == [0, 1]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]
    # the given attention mask and special-tokens mask are respected; every word is masked
    assert batch["input_ids"].tolist() == [[CLS, MASK, MASK, MASK, SEP], [CLS, MASK, SEP, PAD, PAD]]


def test_collator_seeds():
    seqs = _sequences()

    def run(seed):
        return MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD, seed=seed)(seqs)["labels"]

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(1))
    assert not torch.equal(run(None), run(None))
    collate = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD, seed=0)
    first = collate(seqs)["labels"]
    assert torch.equal(pickle.loads(pickle.dumps(collate))(seqs)["labels"], first)
    assert not torch.equal(collate(seqs)["labels"], first)
    collate.set_epoch(2)
    e2 = collate(seqs)["labels"]
    collate.set_epoch(2)
    assert torch.equal(collate(seqs)["labels"], e2) and not torch.equal(e2, first)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"mlm_probability": 1.5}, ValueError, "mlm_probability"),
        ({"mlm_probability": -0.1}, ValueError, "mlm_probability"),
        ({"mask_replace_prob": 1.2}, ValueError, "mask_replace_prob"),
        ({"random_replace_prob": -1.0}, ValueError, "random_replace_prob"),
        ({"mask_replace_prob": 0.8, "random_replace_prob": 0.3}, ValueError, "random_replace_prob"),
        ({"mask_token_id": VOCAB}, ValueError, "mask_token_id"),
        ({"mask_token_id": -1}, ValueError, "mask_token_id"),
        ({"vocab_size": True}, TypeError, "vocab_size"),
        ({"special_token_ids": [VOCAB + 5]}, ValueError, "special_token_ids"),
        ({"special_token_ids": 5}, TypeError, "special_token_ids"),
        ({"exact_count": 1}, TypeError, "exact_count"),
        ({"ignore_index": 1.5}, TypeError, "ignore_index"),
        ({"vocab_size": 4, "mask_token_id": 3, "special_token_ids": [0, 1, 2]}, ValueError, "vocab_size"),
    ],
)
def test_bad_options_raise_naming_the_argument(kwargs, error, name):
    base = dict(vocab_size=VOCAB, mask_token_id=MASK)
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(error, match=name):
        mask_tokens(ids, **{**base, **kwargs})
    with pytest.raises(error, match=name):
        MaskedLMCollator(pad_token_id=0, **{**base, **kwargs})


def test_bad_inputs_raise_naming_the_argument():
    kw = dict(vocab_size=VOCAB, mask_token_id=MASK)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.tensor([1, 2, 3]), **kw)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.ones(2, 3, 4, dtype=torch.long), **kw)
    with pytest.raises(TypeError, match="input_ids"):
        mask_tokens(torch.ones(2, 3), **kw)
    with pytest.raises(ValueError, match="attention_mask"):
        mask_tokens(torch.ones(2, 3, dtype=torch.long), attention_mask=torch.ones(2, 4), **kw)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.tensor([[1, VOCAB]]), **kw)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(torch.tensor([[-1, 5]]), **kw)
    with pytest.raises(TypeError, match="word_ids"):
        mask_tokens(torch.ones(2, 3, dtype=torch.long), word_ids=torch.ones(2, 3), **kw)
    with pytest.raises(TypeError, match="generator"):
        mask_tokens(torch.ones(2, 3, dtype=torch.long), generator=0, **kw)
    collate = MaskedLMCollator(pad_token_id=0, **kw)
    with pytest.raises(ValueError, match="examples"):
        collate([])
    with pytest.raises(TypeError, match="examples"):
        collate([[1, 2], {"input_ids": [1]}])
    with pytest.raises(ValueError, match="input_ids"):
        collate([torch.ones(2, 3, dtype=torch.long)])
    with pytest.raises(TypeError, match="input_ids"):
        collate([[1, "a"]])
    with pytest.raises(TypeError, match="input_ids"):
        collate([torch.ones(3)])
    with pytest.raises(ValueError, match="labels"):
        collate([{"input_ids": [1, 2], "labels": [1, 2]}])
    with pytest.raises(ValueError, match="input_ids"):
        collate([{"ids": [1, 2]}])
    with pytest.raises(ValueError, match="word_ids"):
        collate([{"input_ids": [1, 2], "word_ids": [0]}])
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        MaskedLMCollator(pad_token_id=0, pad_to_multiple_of=0, **kw)
    with pytest.raises(ValueError, match="padding_side"):
        MaskedLMCollator(pad_token_id=0, padding_side="middle", **kw)
    with pytest.raises(ValueError, match="pad_token_id"):
        MaskedLMCollator(pad_token_id=VOCAB, **kw)
