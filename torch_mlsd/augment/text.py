"""BERT-style masked-language-model masking and a padding collator, vectorised over the batch.

Every real token that is not special is chosen with probability ``mlm_probability``
(or, with ``exact_count=True``, exactly ``round(n * mlm_probability)`` of the ``n``
candidates of each sequence, at least one, as the original BERT code does). A chosen
token becomes ``[MASK]`` with probability ``mask_replace_prob``, a random token with
probability ``random_replace_prob`` and stays as it is otherwise; its label is the
original id, every other label is ``ignore_index``.

Random tokens are drawn uniformly from the ids that are *not* special (nor ``[MASK]``
nor padding), unlike transformers' collator, which may emit them (transformers #15342):
a draw ``r`` from ``[0, vocab_size - n_special)`` becomes the ``r``-th allowed id.

Shapes are static: every position gets its draws and the result is selected with
``torch.where``, so the cost does not depend on how many tokens are masked and no value
is read back to the host (the id range check is a device-side assertion); ids are
computed in int64 whatever their dtype.

With ``mask_replace_prob=0`` and ``random_replace_prob=1`` the same function is plain
random-token replacement augmentation: ``mlm_probability`` of the tokens are replaced,
and the returned labels mark which ones.

Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019, https://arxiv.org/abs/1810.04805
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import default_collate

from .._labels import as_int64
from .._random import resolve_generator
from .._validate import assert_values, check_bool, check_choice, check_int, check_probability, check_tensor, describe
from ._seeding import ProcessGenerator

__all__ = ["mask_tokens", "MaskedLMCollator"]

PaddingSide = Literal["right", "left"]
# per-token keys of dict examples and the value their padding takes
_TOKEN_FIELDS = {"attention_mask": 0, "special_tokens_mask": 1, "word_ids": -1, "token_type_ids": 0}


class _Config(NamedTuple):
    mask_token_id: int
    is_special: Tensor  # (vocab_size,) bool: never chosen, never drawn (incl. [MASK] and padding)
    skips: Tensor  # (n_special,) int64: allowed ids below each sorted special id
    mlm_probability: float
    mask_replace_prob: float
    random_replace_prob: float
    exact_count: bool
    ignore_index: int


def _config(
    vocab_size: int,
    mask_token_id: int,
    pad_token_id: int | None,
    special_token_ids: Iterable[int],
    mlm_probability: float,
    mask_replace_prob: float,
    random_replace_prob: float,
    exact_count: bool,
    ignore_index: int,
) -> _Config:
    vocab_size = check_int("vocab_size", vocab_size, min=1)
    mask_token_id = check_int("mask_token_id", mask_token_id, min=0, max=vocab_size - 1)
    if isinstance(special_token_ids, (str, bytes)) or not isinstance(special_token_ids, Iterable):
        raise TypeError(f"`special_token_ids` must be an iterable of ints, got {describe(special_token_ids)}")
    ids = {check_int("special_token_ids", i, min=0, max=vocab_size - 1) for i in special_token_ids}
    ids.add(mask_token_id)
    if pad_token_id is not None:
        ids.add(check_int("pad_token_id", pad_token_id, min=0, max=vocab_size - 1))
    is_special = torch.zeros(vocab_size, dtype=torch.bool)
    is_special[sorted(ids)] = True
    mask_replace_prob = check_probability("mask_replace_prob", mask_replace_prob)
    random_replace_prob = check_probability("random_replace_prob", random_replace_prob)
    if mask_replace_prob + random_replace_prob > 1.0 + 1e-12:
        raise ValueError(
            "`mask_replace_prob` + `random_replace_prob` must be <= 1, "
            f"got {mask_replace_prob!r} + {random_replace_prob!r}"
        )
    if random_replace_prob > 0 and len(ids) == vocab_size:
        raise ValueError(f"`vocab_size` must exceed the {len(ids)} special ids to draw random tokens, got {vocab_size}")
    return _Config(
        mask_token_id,
        is_special,
        torch.tensor(sorted(ids), dtype=torch.int64) - torch.arange(len(ids)),
        check_probability("mlm_probability", mlm_probability),
        mask_replace_prob,
        random_replace_prob,
        check_bool("exact_count", exact_count),
        check_int("ignore_index", ignore_index),
    )


def _uniform(shape: torch.Size, generator: torch.Generator, device: torch.device) -> Tensor:
    """U[0, 1) float32 drawn on ``device`` (the generator's)."""
    return torch.rand(shape, generator=generator, device=device)


def _random_ids(shape: torch.Size, cfg: _Config, generator: torch.Generator, device: torch.device) -> Tensor:
    """Uniform int64 draws among the ids that are not special: ``r`` in ``[0, n_allowed)``
    becomes the ``r``-th allowed id, ``r`` plus the number of special ids it passes."""
    skips = cfg.skips.to(device)
    r = torch.randint(len(cfg.is_special) - len(skips), shape, generator=generator, device=device)
    # a 1-D search: torch's batched multi-threaded kernel waits for threads on a busy CPU
    return r + torch.searchsorted(skips, r.reshape(-1), right=True).view(r.shape)


def _output_dtype(dtype: torch.dtype, vocab_size: int) -> torch.dtype:
    """``dtype`` when it holds every id below ``vocab_size``, else int64 (the ids are widened)."""
    return dtype if torch.iinfo(dtype).max >= vocab_size - 1 else torch.int64


def _exact(units: Tensor, u: Tensor, probability: float) -> Tensor:
    """The ``max(1, round(n * probability))`` entries of smallest ``u`` among the ``n`` True
    entries of each row of ``units`` (none in a row without any)."""
    n = units.sum(dim=1)
    k = torch.round(n * probability)
    if probability > 0:  # BERT's max(1, round(n * p)) for a sequence with candidates
        k = torch.where(n > 0, k.clamp(min=1), 0)
    order = torch.where(units, u, 2.0).argsort(dim=1)
    first_k = torch.arange(units.shape[1], device=units.device) < k[:, None]
    return torch.zeros_like(units).scatter_(1, order, first_k)


def _word_starts(candidates: Tensor, word_ids: Tensor) -> Tensor:
    """First token of each run of adjacent candidates that share a word id."""
    previous = torch.nn.functional.pad(word_ids[:, :-1], (1, 0), value=-1)
    previous_candidate = torch.nn.functional.pad(candidates[:, :-1], (1, 0), value=False)
    return candidates & ((word_ids != previous) | ~previous_candidate)


def _select(
    candidates: Tensor, word_ids: Tensor | None, cfg: _Config, generator: torch.Generator
) -> tuple[Tensor, Tensor, float]:
    """Chosen tokens ``(B, L)`` and, for each, a number ``v`` uniform on ``[0, width)`` that
    decides its replacement; returns ``(chosen, v, width)``."""
    p, device = cfg.mlm_probability, candidates.device
    u = _uniform(candidates.shape, generator, device)
    if word_ids is None and not cfg.exact_count:
        return candidates & (u < p), u, p  # given u < p, u is uniform on [0, p): no second draw
    if word_ids is None:
        return _exact(candidates, u, p), _uniform(candidates.shape, generator, device), 1.0
    # whole words: decide at each word's first token, then copy the decision along the word
    candidates = candidates & (word_ids >= 0)
    starts = _word_starts(candidates, word_ids)
    decided = _exact(starts, u, p) if cfg.exact_count else starts & (u < p)
    position = torch.arange(candidates.shape[1], device=device).expand_as(candidates)
    word_start = torch.where(starts, position, 0).cummax(dim=1).values
    return decided.gather(1, word_start) & candidates, _uniform(candidates.shape, generator, device), 1.0


def _mask(
    input_ids: Tensor,
    cfg: _Config,
    candidates: Tensor,
    word_ids: Tensor | None,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Vectorised masking of ``input_ids`` ``(B, L)`` among ``candidates``; new tensors out.

    Every position gets its draws; ``torch.where`` picks. No host read, static shapes.
    """
    vocab_size, device = len(cfg.is_special), input_ids.device
    ids = as_int64("input_ids", input_ids, per_batch=True)  # a narrow dtype can neither wrap nor fail the check
    if ids.numel():
        low, high = torch.aminmax(ids)
        assert_values((low >= 0) & (high < vocab_size),
                      f"`input_ids` must be in [0, vocab_size={vocab_size}), got a {input_ids.dtype} tensor with "
                      "values out of range")
    # a uint8 gather is several times faster than bool indexing or isin on the CPU
    is_special = cfg.is_special.to(device).view(torch.uint8)
    candidates = candidates & (is_special.gather(0, ids.reshape(-1)).view_as(candidates) == 0)
    chosen, v, width = _select(candidates, word_ids, cfg, generator)
    labels = torch.where(chosen, ids, cfg.ignore_index)
    mask_below = cfg.mask_replace_prob * width
    random_below = mask_below + cfg.random_replace_prob * width
    output = torch.where(chosen & (v < mask_below), cfg.mask_token_id, ids)
    if random_below > mask_below:
        to_random = chosen & (v >= mask_below) & (v < random_below)
        output = torch.where(to_random, _random_ids(ids.shape, cfg, generator, device), output)
    return output.to(_output_dtype(input_ids.dtype, vocab_size)), labels


def mask_tokens(
    input_ids: Tensor,
    *,
    vocab_size: int,
    mask_token_id: int,
    special_token_ids: Iterable[int] = (),
    attention_mask: Tensor | None = None,
    special_tokens_mask: Tensor | None = None,
    word_ids: Tensor | None = None,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    exact_count: bool = False,
    ignore_index: int = -100,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Mask tokens for masked-language-model training (BERT's 15% / 80-10-10 by default).

    Args:
        input_ids: ``(B, L)`` integer token ids, any device; not modified.
        vocab_size: number of ids; random replacements are drawn from ``[0, vocab_size)``.
        mask_token_id: id of ``[MASK]`` (never chosen, never drawn as a random token).
        special_token_ids: ids never chosen and never drawn as random tokens; include the
            padding id and ``[CLS]``, ``[SEP]``, ... .
        attention_mask: ``(B, L)``, nonzero for real tokens; padding is never chosen.
        special_tokens_mask: ``(B, L)``, nonzero for tokens to leave alone (as tokenizers
            return with ``return_special_tokens_mask=True``).
        word_ids: ``(B, L)`` integer word index of each token (negative for tokens outside
            any word, such as specials): whole-word masking. A run of adjacent tokens with
            the same id is one word; it is chosen (or counted, with ``exact_count``) as a
            unit, and each of its tokens then gets [MASK] / random / kept on its own, as
            in the original BERT code.
        mlm_probability: probability that a candidate token (or word) is chosen.
        mask_replace_prob: probability that a chosen token becomes ``mask_token_id``.
        random_replace_prob: probability that a chosen token becomes a random non-special
            id (the rest, ``1 - mask_replace_prob - random_replace_prob``, are kept).
        exact_count: choose exactly ``max(1, round(n * mlm_probability))`` of the ``n``
            candidates (or words) of every sequence instead of independent draws.
        ignore_index: label of the tokens that are not chosen (``nn.CrossEntropyLoss``'s).
        generator: ``torch.Generator`` on ``input_ids``' device to draw from (default: a
            fresh one there, OS entropy). The call never synchronises a GPU: the id range
            check is a device-side assertion.

    Returns:
        ``(masked_ids, labels)``: ``masked_ids`` on the device of ``input_ids``, with its
        dtype when that dtype holds every id below ``vocab_size`` and int64 otherwise
        (uint8 ids with ``vocab_size=1000`` come back as int64, never wrapped modulo 256);
        ``labels`` is int64 with the original id at chosen tokens, ``ignore_index`` elsewhere.

    Example:
        >>> ids = torch.tensor([[101, 7, 8, 9, 10, 11, 12, 102, 0, 0]])
        >>> masked, labels = mask_tokens(ids, vocab_size=1000, mask_token_id=103,
        ...     special_token_ids=[0, 101, 102], mlm_probability=0.5,
        ...     generator=torch.Generator().manual_seed(0))
        >>> bool(((labels == -100) | (labels == ids)).all()), bool((masked[:, 7:] == ids[:, 7:]).all())
        (True, True)
    """
    cfg = _config(
        vocab_size, mask_token_id, None, special_token_ids, mlm_probability, mask_replace_prob, random_replace_prob,
        exact_count, ignore_index,
    )
    check_tensor("input_ids", input_ids, ndim=2, dtypes="integer")
    candidates = torch.ones_like(input_ids, dtype=torch.bool)
    if attention_mask is not None:
        candidates &= _check_like("attention_mask", attention_mask, input_ids).to(input_ids.device) != 0
    if special_tokens_mask is not None:
        candidates &= _check_like("special_tokens_mask", special_tokens_mask, input_ids).to(input_ids.device) == 0
    if word_ids is not None:
        word_ids = _check_like("word_ids", word_ids, input_ids, dtypes="integer").to(input_ids.device)
    return _mask(input_ids, cfg, candidates, word_ids, resolve_generator(generator, input_ids.device))


def _check_like(name: str, value: Any, input_ids: Tensor, *, dtypes: str | None = None) -> Tensor:
    check_tensor(name, value, ndim=2, dtypes=dtypes)
    if value.shape != input_ids.shape:
        want, got = tuple(input_ids.shape), tuple(value.shape)
        raise ValueError(f"`{name}` must have the shape of `input_ids` {want}, got {got}")
    return value


class MaskedLMCollator:
    """``collate_fn`` for masked-language-model training: pad, build the attention mask, mask.

    Like transformers' ``DataCollatorForLanguageModeling`` without a tokenizer and with
    the whole batch masked in a few tensor operations (see :func:`mask_tokens` for the
    masking arguments).

    Examples may be lists of ints, 1-D integer tensors or arrays, or dicts with
    ``"input_ids"`` and optionally ``"attention_mask"`` (zeros are padding),
    ``"special_tokens_mask"`` (ones are left alone), ``"word_ids"`` (whole-word masking;
    ``None`` entries, as tokenizers' ``word_ids()`` return, are no word) and
    ``"token_type_ids"`` (padded with 0 and returned). Other keys of dict examples are
    collated with ``default_collate`` and returned; a ``"labels"`` key is an error since
    the collator makes the labels.

    Args:
        vocab_size: number of token ids.
        mask_token_id: id of ``[MASK]``.
        pad_token_id: id used for padding; never chosen, never drawn as a random token.
        special_token_ids: further ids never chosen nor drawn (``[CLS]``, ``[SEP]``, ...).
        mlm_probability: see :func:`mask_tokens` (default 0.15).
        mask_replace_prob: see :func:`mask_tokens` (default 0.8).
        random_replace_prob: see :func:`mask_tokens` (default 0.1).
        exact_count: see :func:`mask_tokens` (default False).
        ignore_index: label of unchosen tokens (default -100).
        pad_to_multiple_of: pad the length up to a multiple of this (e.g. 8 for tensor cores).
        padding_side: ``"right"`` (default) or ``"left"``.
        seed: int for a reproducible stream per DataLoader worker and distributed rank
            (``0`` is a seed like any other); ``None`` (default) draws fresh entropy. With
            workers that are not persistent call ``set_epoch(epoch)`` before each epoch, or
            an epoch repeats the previous one's masks.

    Returns (from a call):
        dict with int64 ``input_ids`` ``(B, L)``, ``attention_mask`` ``(B, L)`` (1 for
        real tokens) and ``labels`` ``(B, L)``, plus the passed-through keys.

    Example:
        >>> collate = MaskedLMCollator(vocab_size=1000, mask_token_id=103, pad_token_id=0,
        ...                            special_token_ids=[101, 102], seed=0)
        >>> batch = collate([[101, 7, 8, 9, 102], [101, 5, 102]])
        >>> batch["input_ids"].shape, batch["attention_mask"].tolist()
        (torch.Size([2, 5]), [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        mask_token_id: int,
        pad_token_id: int,
        special_token_ids: Iterable[int] = (),
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        exact_count: bool = False,
        ignore_index: int = -100,
        pad_to_multiple_of: int | None = None,
        padding_side: PaddingSide = "right",
        seed: int | None = None,
    ) -> None:
        vocab_size = check_int("vocab_size", vocab_size, min=1)
        pad_token_id = check_int("pad_token_id", pad_token_id, min=0, max=vocab_size - 1)
        self.config = _config(
            vocab_size, mask_token_id, pad_token_id, special_token_ids, mlm_probability, mask_replace_prob,
            random_replace_prob, exact_count, ignore_index,
        )
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = check_int("pad_to_multiple_of", pad_to_multiple_of, min=1, allow_none=True)
        self.padding_side: PaddingSide = check_choice("padding_side", padding_side, ("right", "left"))
        self.rng = ProcessGenerator(seed)

    def set_epoch(self, epoch: int) -> None:
        """Restart the random stream from ``(seed, epoch, worker, rank)``."""
        self.rng.set_epoch(epoch)

    def __call__(self, examples: Sequence[Any]) -> dict[str, Tensor]:
        """Collate a list of examples into a masked, padded batch (see the class docstring)."""
        if not isinstance(examples, Sequence) or len(examples) == 0:
            raise ValueError(f"`examples` must be a non-empty list of sequences or dicts, got {describe(examples)}")
        if all(isinstance(e, Mapping) for e in examples):
            fields = _fields(examples)
        elif any(isinstance(e, Mapping) for e in examples):
            raise TypeError("`examples` must be all dicts or all sequences, got a mix")
        else:
            fields = {"input_ids": list(examples)}
        sequences = fields.pop("input_ids")
        lengths = _lengths("input_ids", sequences)
        width = max(lengths)
        if self.pad_to_multiple_of is not None:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        real = self._real_positions(torch.tensor(lengths), width)
        input_ids = self._pad("input_ids", sequences, lengths, real, self.pad_token_id)
        padded = {}
        for name, pad_value in _TOKEN_FIELDS.items():
            if name in fields:
                padded[name] = self._pad(name, fields.pop(name), lengths, real, pad_value)
        attention = padded.pop("attention_mask", real.long())
        candidates = attention != 0
        if "special_tokens_mask" in padded:
            candidates &= padded.pop("special_tokens_mask") == 0
        masked, labels = _mask(input_ids, self.config, candidates, padded.pop("word_ids", None), self.rng.get())
        batch = {"input_ids": masked, "attention_mask": attention, "labels": labels, **padded}
        batch.update({name: default_collate(values) for name, values in fields.items()})
        return batch

    def _real_positions(self, lengths: Tensor, width: int) -> Tensor:
        position = torch.arange(width)
        if self.padding_side == "left":
            return position >= width - lengths[:, None]
        return position < lengths[:, None]

    @staticmethod
    def _pad(name: str, sequences: list[Any], lengths: list[int], real: Tensor, pad_value: int) -> Tensor:
        if _lengths(name, sequences) != lengths:
            raise ValueError(f"`{name}` must have one entry per token of `input_ids` in every example")
        return torch.full(real.shape, pad_value, dtype=torch.int64).masked_scatter_(real, _flatten(name, sequences))

    def __repr__(self) -> str:
        c = self.config
        return (
            f"MaskedLMCollator(mask_token_id={c.mask_token_id}, pad_token_id={self.pad_token_id}, "
            f"mlm_probability={c.mlm_probability}, mask_replace_prob={c.mask_replace_prob}, "
            f"random_replace_prob={c.random_replace_prob}, exact_count={c.exact_count}, "
            f"pad_to_multiple_of={self.pad_to_multiple_of}, padding_side={self.padding_side!r}, seed={self.rng.seed})"
        )


def _fields(examples: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Column lists of dict examples, checked to share their keys."""
    keys = list(examples[0].keys())
    if "input_ids" not in keys:
        raise ValueError(f"`examples` must be dicts with an 'input_ids' key, got keys {keys}")
    if "labels" in keys:
        raise ValueError("`examples` must not have a 'labels' key: the collator makes the labels")
    if any(set(e.keys()) != set(keys) for e in examples):
        raise ValueError(f"`examples` must all have the same keys, got {keys} and others")
    return {k: [e[k] for e in examples] for k in keys}


def _lengths(name: str, sequences: list[Any]) -> list[int]:
    lengths = []
    for s in sequences:
        if type(s) is list:  # the common case, checked fast
            lengths.append(len(s))
            continue
        if isinstance(s, (Tensor, np.ndarray)) and s.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D per example, got shape {tuple(s.shape)}")
        if not isinstance(s, (Tensor, np.ndarray, Sequence)) or isinstance(s, (str, bytes)):
            raise TypeError(f"`{name}` must be a list, tuple, 1-D tensor or array of ints, got {describe(s)}")
        lengths.append(len(s))
    return lengths


def _flatten(name: str, sequences: list[Any]) -> Tensor:
    """All sequences concatenated into one int64 tensor (``None`` becomes -1)."""
    if all(isinstance(s, Tensor) for s in sequences):
        flat = torch.cat([s.reshape(-1) for s in sequences]) if sequences else torch.empty(0)
        if flat.dtype.is_floating_point or flat.dtype in (torch.bool, torch.complex64, torch.complex128):
            raise TypeError(f"`{name}` must hold integers, got a {flat.dtype} tensor")
        return flat.to(torch.int64)
    items = list(itertools.chain.from_iterable(sequences))
    if name == "word_ids":
        items = [-1 if w is None else w for w in items]
    values = np.array(items) if items else np.zeros(0, dtype=np.int64)
    if values.dtype.kind not in "iu":  # no silent truncation of floats, no bools taken for ids
        raise TypeError(f"`{name}` must hold integers, got entries of dtype {values.dtype}")
    return torch.from_numpy(values.astype(np.int64, copy=False))
