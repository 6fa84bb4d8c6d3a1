"""Class rebalancing of a stream whose length and class counts are unknown.

An ``IterableDataset`` cannot use a sampler, so rebalancing happens on the way: every
item is emitted ``K`` times (``K = 0`` drops it), with ``E[K] = m_c`` for its class ``c``
chosen from the class proportions seen so far. With running proportions ``p_c`` and the
target ``t_c`` (renormalised over the classes seen so far), every class is emitted at the
same rate per target share: ``m_c = r * t_c / p_c``, where the output rate ``r`` (outputs
per input) is the largest one that keeps every ``m_c <= max_repeats``, or the ``rate``
asked for when that is lower. The output proportions are then ``t_c``, and a factor
``g_c`` near 1 steers a class back when its share of the outputs so far strays from its
target (see :func:`~torch_mlsd.sampling.rebalance_copies`); ``memory`` makes the
estimate forget old items.

An emitted copy carries the importance weight ``w = 1 / m``: the number of input items
it stands for (Horvitz-Thompson). As ``m`` depends only on what came before the item,
``sum(w * [label == c])`` over the output is an unbiased estimate of the number of class
``c`` items that came in, whatever the drift of the stream or of the rate, and weighted
class frequencies estimate the input's proportions. A loss weighted by ``w`` (as a
weighted mean, ``sum(w * loss) / sum(w)``) trains for the input's distribution, not the
rebalanced one; ``w * r`` is the class's input over output proportion (mean about 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Literal, NamedTuple

import torch
from torch.utils.data import IterableDataset, get_worker_info

from .._distributed import is_distributed, shared_seed
from .._labels import as_int64
from .._random import make_generator, mix_seed
from .._validate import check_bool, check_float, check_int, check_probability, check_seed, check_tensor, describe
from ._rebalance import HORIZON, decide_copies

__all__ = ["ClassStats", "RebalancedStream"]

_COUNTS = ("seen", "kept", "emitted", "estimate")  # per class; "estimate" holds the (decayed) float counts
_BLOCK = 1024  # items decided together: the steering sees the outputs of the blocks before
_SUM_TOLERANCE = 1e-6


class ClassStats(NamedTuple):
    """What a :class:`RebalancedStream` did with one class.

    ``seen`` items came in; ``kept`` of them were emitted at least once, ``emitted``
    outputs in all (repeats included); ``dropped = seen - kept``.
    """

    seen: int
    kept: int
    emitted: int

    @property
    def dropped(self) -> int:
        return self.seen - self.kept


TargetSpec = Literal["balanced"] | Mapping[Hashable, float]


class RebalancedStream(IterableDataset):
    """Rebalance the classes of a stream of ``(example, label)`` pairs on the fly.

    Frequent classes are under-sampled and, with ``max_repeats > 1``, rare ones repeated,
    so that the output's class proportions approach ``target``; the incoming proportions
    are estimated online from running counts (memory: O(number of classes)). The rules
    are those of :func:`~torch_mlsd.sampling.rebalance_copies`; each item is judged by
    the counts up to it.
    The first items of a stream pass while only one class has been seen.

    Sharing: with ``W`` DataLoader workers and ``R`` DDP ranks there are ``S = R * W``
    shares; share ``rank * W + worker`` reads items ``s, s + S, s + 2S, ...`` of the
    stream (every share iterates it, skipping in C), keeps its own counts and draws with
    the seed ``mix_seed(seed, epoch, rank, worker)``. No item is yielded by two shares.

    Shuffle buffer: an item repeated ``m`` times comes out ``m`` times in a row, so a
    batch may hold copies of one example. ``shuffle_buffer=N`` passes the outputs through
    a bounded buffer, as torchdata's and webdataset's shuffle buffers do: the first ``N``
    outputs fill it, then each new output takes the place of a uniformly random one, which
    is yielded; at the end of the stream the rest comes out in a random order. Each share
    has its own buffer, drawn from a generator of its own (``mix_seed(seed, epoch, rank,
    worker, 1)``), so the decisions, the counts and the weights are exactly those without
    a buffer (every output keeps its own weight); only the order changes, and the first
    output waits for ``N`` decisions. Memory: ``N`` outputs.

    Resuming: :meth:`state_dict` holds the counts, the position and the generator state
    of the share that iterated this object (inside a worker under torchdata's
    ``StatefulDataLoader``; in the main process with ``num_workers=0``), and with a shuffle
    buffer the outputs in it (references to your examples, up to ``N``: the only part of
    the state that is not O(number of classes)) and the buffer's generator state (5 KB).
    :meth:`load_state_dict` makes the next iteration continue exactly where it stopped;
    the stream must replay the same items when iterated again.

    Args:
        stream: an iterable of ``(example, label)`` pairs, or of examples with
            ``label_fn``; with ``chunked=True``, of ``(examples, labels)`` tensor chunks
            with ``labels`` a 1-D integer tensor of class ids ``>= 0`` and ``examples`` a
            tensor (or anything indexable by an index tensor) of as many rows. Re-iterable when
            there are several shares, several epochs or a resume.
        target: ``"balanced"`` (default: equal shares of the classes seen), or a mapping
            ``label -> proportion`` (``>= 0``, summing to 1; a label outside it raises).
        seed: base seed, the same on every rank; ``None`` (default) draws one from the OS
            now (under an initialised process group: rank 0's, broadcast, so build the
            stream on every rank; a given seed is checked to be the same on every rank).
        label_fn: ``label_fn(item) -> label`` (hashable); items are then yielded whole.
        max_repeats: most copies of one item, ``>= 1``; default 1 (under-sampling only).
        rate: expected outputs per input item; ``None`` (default): as many as the target
            allows (the rarest class, relative to target, kept whole or repeated
            ``max_repeats`` times; no class repeated more than needed).
        max_per_class: cap on the outputs of each class per pass (an int for all
            classes, or a mapping ``label -> cap``); later items of a full class are
            dropped. Default ``None``.
        return_weights: yield ``(example, label, weight)`` (``(item, weight)`` with
            ``label_fn``; ``(examples, labels, weights)`` when chunked), ``weight`` the
            float importance weight ``1 / m``, the number of input items the output
            stands for (see the module notes). Default ``False``.
        memory: estimate the incoming proportions from about the last ``memory`` items
            (exponential forgetting, decay ``1 - 1 / memory``; ``>= 2``), so the
            acceptance follows a stream whose class mix drifts; ``None`` (default): from
            every item seen.
        chunked: the stream yields tensor chunks (see ``stream``); each chunk gives one
            output chunk of its rows kept (``index_select``, repeats adjacent) and the
            decisions are vectorised. Default ``False``.
        shuffle_buffer: size ``N`` of the shuffle buffer (see above), ``>= 0``; 0 (default):
            outputs in the order decided, repeats adjacent. Item mode only (``chunked=False``).

    Example:
        >>> pairs = [(i, int(i % 20 == 0)) for i in range(20_000)]  # 5% of class 1
        >>> ds = RebalancedStream(pairs, seed=0, return_weights=True)
        >>> out = list(ds)
        >>> labels = [label for _, label, _ in out]
        >>> round(sum(labels) / len(labels), 2)
        0.5
        >>> ds.stats[1]
        ClassStats(seen=1000, kept=1000, emitted=1000)
        >>> weighted = sum(w for _, label, w in out if label == 1) / sum(w for *_, w in out)
        >>> round(weighted, 2)  # the input's 5%
        0.05
    """

    def __init__(
        self,
        stream: Iterable[Any],
        target: TargetSpec = "balanced",
        *,
        seed: int | None = None,
        label_fn: Callable[[Any], Hashable] | None = None,
        max_repeats: int = 1,
        rate: float | None = None,
        max_per_class: int | Mapping[Hashable, int] | None = None,
        return_weights: bool = False,
        chunked: bool = False,
        memory: float | None = None,
        shuffle_buffer: int = 0,
    ) -> None:
        super().__init__()
        try:
            iter(stream)
        except TypeError:
            raise TypeError(f"`stream` must be iterable, got {describe(stream)}") from None
        if label_fn is not None and not callable(label_fn):
            raise TypeError(f"`label_fn` must be callable or None, got {describe(label_fn)}")
        self.chunked = check_bool("chunked", chunked)
        if self.chunked and label_fn is not None:
            raise ValueError("`label_fn` must be None when `chunked=True` (chunks are (examples, labels)), "
                             f"got {describe(label_fn)}")
        self.stream, self.label_fn = stream, label_fn
        self.max_repeats: int = check_int("max_repeats", max_repeats, min=1)
        self.rate = check_float("rate", rate, min=0.0, min_open=True, allow_none=True)
        self.memory = check_float("memory", memory, min=2.0, allow_none=True)
        self.return_weights = check_bool("return_weights", return_weights)
        self.shuffle_buffer: int = check_int("shuffle_buffer", shuffle_buffer, min=0)
        if self.chunked and self.shuffle_buffer:
            raise ValueError(f"`shuffle_buffer` must be 0 when `chunked=True` (it shuffles single outputs), "
                             f"got {self.shuffle_buffer}")
        seed = check_seed("seed", seed)
        self._seed_drawn = seed is None  # load_state_dict then adopts the saved seed
        self.seed: int = shared_seed(seed, collective=is_distributed())
        self.epoch = 0
        self._proportions = _check_target(target, self.chunked)
        self.target = target
        self._caps, self._default_cap = _check_caps(max_per_class, self.chunked)
        self._labels: list[Hashable] = []  # class id -> label
        self._ids: dict[Hashable, int] = {}
        if self.chunked:  # class ids are the labels themselves
            self._grow(1 + max((k for k in self._proportions or () if isinstance(k, int)), default=-1))
        else:
            for label in self._proportions or ():
                self._id(label)
        self._buffer: list[Any] = []  # the shuffle buffer's outputs
        self._reset(0, 1)
        self._pending: dict[str, Any] | None = None

    # ------------------------------------------------------------ public state

    def set_epoch(self, epoch: int) -> None:
        """Use the draws of ``epoch`` on the next pass (workers hold copies of the dataset)."""
        self.epoch = check_int("epoch", epoch, min=0)

    @property
    def stats(self) -> dict[Hashable, ClassStats]:
        """Per label, what this share did so far in the current pass (see :class:`ClassStats`).

        Includes the decisions on the current block of up to 1024 items (item mode) or
        the current chunk, also where not all of its outputs were consumed yet (or are
        still in the shuffle buffer).
        """
        seen, kept, emitted = (self._sized(self._counts[k]).tolist() for k in _COUNTS[:3])
        return {label: ClassStats(*counts) for label, *counts in zip(self._labels, seen, kept, emitted, strict=True)}

    def state_dict(self) -> dict[str, Any]:
        """Counts, position and generator state of this share, to continue exactly.

        ``"position"`` is the first item of the block being read, ``"skip"`` how many of
        its outputs were taken (yielded, or put in the shuffle buffer); with a shuffle
        buffer also ``"buffer"`` (the outputs in it) and ``"shuffle_generator"``.
        """
        start = self._start
        return {"seed": self.seed, "epoch": self.epoch, "share": self._share, "labels": list(self._labels),
                "position": start["position"], "skip": self._yielded, "generator": start["generator"],
                "shuffle_buffer": self.shuffle_buffer, "buffer": list(self._buffer),
                "shuffle_generator": start["shuffle_generator"], **{k: start[k].clone() for k in _COUNTS}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` on the next iteration (same seed and share).

        The saved seed must equal this stream's, unless this stream's seed was drawn
        (``seed=None``): then the saved seed is adopted.

        ``state_dict['shuffle_buffer']`` must equal this stream's; a state without it
        (saved before the buffer existed) counts as saved with ``shuffle_buffer=0``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"`state_dict` must be a mapping, got {describe(state_dict)}")
        keys = ("seed", "epoch", "share", "labels", "position", "skip", "generator", *_COUNTS)
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise ValueError(f"`state_dict` must have the keys {list(keys)}, got {sorted(state_dict)}")
        seed = check_int("state_dict['seed']", state_dict["seed"], min=0, max=2**63 - 1)
        if seed != self.seed and not self._seed_drawn:
            raise ValueError(f"`state_dict['seed']` must equal this stream's seed {self.seed}, got {seed!r}")
        _check_buffer_state(state_dict, self.shuffle_buffer)
        labels = list(state_dict["labels"])
        if labels[: len(self._labels)] != self._labels:
            raise ValueError(f"`state_dict['labels']` must start with this stream's labels {self._labels}, "
                             f"got {labels}")
        if self.chunked:
            self._grow(len(labels))
        else:
            for label in labels:
                self._id(label)
        self.epoch = check_int("state_dict['epoch']", state_dict["epoch"], min=0)
        self.seed = seed
        self._pending = dict(state_dict)

    # ------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        ranks, rank = (torch.distributed.get_world_size(), torch.distributed.get_rank()) if is_distributed() else (1, 0)
        shares, share = ranks * workers, rank * workers + worker
        self._reset(share, shares)
        generator = make_generator(mix_seed(self.seed, self.epoch, rank, worker))
        shuffler = make_generator(mix_seed(self.seed, self.epoch, rank, worker, 1)) if self.shuffle_buffer else None
        skip = 0
        if self._pending is not None:
            state, self._pending = self._pending, None
            if state["generator"] is not None and tuple(state["share"]) != (share, shares):
                raise ValueError(f"`state_dict` was saved by share {tuple(state['share'])} (share, shares), "
                                 f"cannot continue as share {(share, shares)}")
            if state["generator"] is not None:  # else saved before any item: a fresh start
                self._counts = {k: self._sized(state[k]) for k in _COUNTS}
                generator.set_state(state["generator"])
                self._position, skip = int(state["position"]), int(state["skip"])
                if shuffler is not None:
                    shuffler.set_state(state["shuffle_generator"])
                    self._buffer = list(state.get("buffer", ()))
        source = islice(self.stream, share + self._position * shares, None, shares)
        blocks = source if self.chunked else _blocks(source)
        return self._run(blocks, generator, shuffler, skip)

    def _run(
        self, blocks: Iterator[Any], generator: torch.Generator, shuffler: torch.Generator | None, skip: int
    ) -> Iterator[Any]:
        # `skip`: outputs of the first block (or of the final flush) taken before a resume.
        for block in blocks:
            self._mark(generator, shuffler, skip)
            outputs = self._chunk(block, generator) if self.chunked else self._items(block, generator)
            self._position += 1 if self.chunked else len(block)
            if shuffler is None:
                for output in islice(outputs, skip, None):
                    self._yielded += 1
                    yield output
            else:
                yield from self._shuffle(list(outputs), shuffler, skip)
            skip = 0
        if shuffler is None:
            self._mark(generator, None, 0)
            return
        self._mark(generator, shuffler, skip)
        yield from self._flush(shuffler, skip)
        self._buffer = []
        self._mark(generator, shuffler, 0)

    def _shuffle(self, outputs: list[Any], shuffler: torch.Generator, skip: int) -> Iterator[Any]:
        """Put a block's outputs in the buffer, each yielding a random one once it is full."""
        buffer, size = self._buffer, self.shuffle_buffer
        slots = torch.randint(size, (len(outputs),), generator=shuffler).tolist()  # drawn whole: a resume redraws them
        for output, slot in islice(zip(outputs, slots, strict=True), skip, None):
            self._yielded += 1  # taken before the yield, so a state saved while suspended holds it in `buffer`
            if len(buffer) < size:
                buffer.append(output)
            else:
                buffer[slot], previous = output, buffer[slot]
                yield previous

    def _flush(self, shuffler: torch.Generator, skip: int) -> Iterator[Any]:
        """The buffer in a random order; it stays whole until the end, so a resume redraws the order."""
        buffer = self._buffer
        for slot in torch.randperm(len(buffer), generator=shuffler).tolist()[skip:]:
            self._yielded += 1
            yield buffer[slot]

    def _items(self, block: list[Any], generator: torch.Generator) -> Iterator[Any]:
        labels = [self._label(item) for item in block]
        ids = torch.tensor([self._id(label) for label in labels], dtype=torch.int64)
        copies, weights = self._decide(ids, generator)
        for item, _label, n, w in zip(block, labels, copies.tolist(), weights.tolist(), strict=True):
            if self.label_fn is not None:
                output = (item, w) if self.return_weights else item
            else:
                output = (item[0], item[1], w) if self.return_weights else item
            for _ in range(n):
                yield output

    def _chunk(self, chunk: Any, generator: torch.Generator) -> Iterator[Any]:
        if not (isinstance(chunk, (tuple, list)) and len(chunk) == 2):
            raise TypeError(f"`stream` must yield (examples, labels) chunks when chunked=True, got {describe(chunk)}")
        examples, labels = chunk
        labels = check_tensor("labels", labels, dtypes="integer", ndim=1)
        if len(examples) != len(labels):
            raise ValueError(f"`examples` and `labels` of a chunk must have the same length, "
                             f"got {len(examples)} and {len(labels)}")
        ids = as_int64("labels", labels).cpu()  # any integer dtype; uint64 past int64 is an error
        low, high = (int(v) for v in torch.aminmax(ids)) if len(ids) else (0, -1)
        if low < 0:
            raise ValueError(f"`labels` must be class ids >= 0 when chunked=True, got {low}")
        self._grow(high + 1)
        if self._proportions is not None and len(ids):
            self._check_known(ids)
        decided = [self._decide(part, generator) for part in ids.split(_BLOCK)]
        copies = torch.cat([c for c, _ in decided]) if decided else ids
        weights = torch.cat([w for _, w in decided]) if decided else ids.double()
        index = torch.repeat_interleave(copies).to(labels.device)
        out = (examples[index] if not isinstance(examples, torch.Tensor) else examples.index_select(0, index),
               labels.index_select(0, index))
        yield (*out, weights.to(labels.device).index_select(0, index)) if self.return_weights else out

    # ------------------------------------------------------------ helpers

    def _label(self, item: Any) -> Hashable:
        if self.label_fn is not None:
            label = self.label_fn(item)
        else:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(f"`stream` must yield (example, label) pairs, or pass `label_fn`, got {describe(item)}")
            label = item[1]
        if isinstance(label, torch.Tensor) and label.numel() == 1:
            label = label.item()
        try:
            hash(label)
        except TypeError:
            raise TypeError(f"labels must be hashable, got {describe(label)}") from None
        return label

    def _id(self, label: Hashable) -> int:
        index = self._ids.get(label)
        if index is None:
            if self._proportions is not None and label not in self._proportions:
                raise ValueError(f"every label must be a key of `target` {sorted(map(repr, self._proportions))}, "
                                 f"got {label!r}")
            index = self._ids[label] = len(self._labels)
            self._labels.append(label)
        return index

    def _grow(self, num_classes: int) -> None:
        for label in range(len(self._labels), num_classes):
            self._ids[label] = label
            self._labels.append(label)

    def _check_known(self, ids: torch.Tensor) -> None:
        proportions = self._proportions or {}
        known = torch.tensor([label in proportions for label in self._labels])
        if not bool(known[ids].all()):
            bad = int(ids[~known[ids]][0])
            raise ValueError(f"every label must be a key of `target` {list(proportions)}, got {bad}")

    def _sized(self, counts: torch.Tensor) -> torch.Tensor:
        grown = torch.zeros(len(self._labels), dtype=counts.dtype)
        grown[: len(counts)] = counts
        return grown

    def _decide(self, ids: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        counts = self._counts = {k: self._sized(c) for k, c in self._counts.items()}
        n = len(self._labels)
        target = caps = None
        if self._proportions is not None:
            target = torch.tensor([float(self._proportions.get(label, 0.0)) for label in self._labels],
                                  dtype=torch.float64)
        if self._caps is not None or self._default_cap is not None:
            caps = torch.tensor([self._cap(label) for label in self._labels], dtype=torch.int64)
        decay = 1.0 if self.memory is None else 1 - 1 / self.memory
        copies, weights, counts["estimate"] = decide_copies(
            ids, counts["estimate"], counts["emitted"], target, self.rate, self.max_repeats, caps, HORIZON, decay,
            generator,
        )
        counts["seen"] += torch.bincount(ids, minlength=n)
        counts["kept"] += torch.bincount(ids, weights=(copies > 0).double(), minlength=n).long()
        counts["emitted"] += torch.bincount(ids, weights=copies.double(), minlength=n).long()
        return copies, weights

    def _cap(self, label: Hashable) -> int:
        if self._caps is not None and label in self._caps:
            return self._caps[label]
        return self._default_cap if self._default_cap is not None else 2**62

    def _reset(self, share: int, shares: int) -> None:
        self._share = (share, shares)
        self._counts = {k: torch.zeros(len(self._labels), dtype=torch.float64 if k == "estimate" else torch.int64)
                        for k in _COUNTS}
        self._position = self._yielded = 0
        self._buffer = []
        self._start: dict[str, Any] = {"position": 0, "generator": None, "shuffle_generator": None, **self._counts}

    def _mark(self, generator: torch.Generator, shuffler: torch.Generator | None, skip: int) -> None:
        """Remember the state before the next block (or the flush): a resume replays it."""
        self._start = {"position": self._position, "generator": generator.get_state(),
                       "shuffle_generator": None if shuffler is None else shuffler.get_state(),
                       **{k: c.clone() for k, c in self._counts.items()}}
        self._yielded = skip


def _check_buffer_state(state: Mapping[str, Any], size: int) -> None:
    saved = check_int("state_dict['shuffle_buffer']", state.get("shuffle_buffer", 0), min=0)
    if saved != size:
        raise ValueError(f"`state_dict['shuffle_buffer']` must equal this stream's shuffle_buffer {size}, got {saved}")
    buffer = state.get("buffer", [])
    if not isinstance(buffer, (list, tuple)) or len(buffer) > size:
        raise ValueError(f"`state_dict['buffer']` must be a list of at most {size} outputs, got {describe(buffer)}")
    if size and state["generator"] is not None and not isinstance(state.get("shuffle_generator"), torch.Tensor):
        raise ValueError(f"`state_dict['shuffle_generator']` must be a generator state (a uint8 tensor), "
                         f"got {describe(state.get('shuffle_generator'))}")


def _blocks(items: Iterator[Any]) -> Iterator[list[Any]]:
    while block := list(islice(items, _BLOCK)):
        yield block


def _check_target(target: Any, chunked: bool) -> dict[Hashable, float] | None:
    if isinstance(target, str):
        if target != "balanced":
            raise ValueError(f"`target` must be 'balanced' or a mapping label -> proportion, got {target!r}")
        return None
    if not isinstance(target, Mapping) or not target:
        raise TypeError(f"`target` must be 'balanced' or a non-empty mapping label -> proportion, "
                        f"got {describe(target)}")
    proportions = {label: check_probability(f"target[{label!r}]", p) for label, p in target.items()}
    total = math.fsum(proportions.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"`target` proportions must sum to 1, got {total!r}")
    if chunked:
        _check_int_labels("target", proportions)
    return proportions


def _check_caps(caps: Any, chunked: bool) -> tuple[dict[Hashable, int] | None, int | None]:
    if caps is None:
        return None, None
    if isinstance(caps, Mapping):
        checked = {label: check_int(f"max_per_class[{label!r}]", c, min=0) for label, c in caps.items()}
        if chunked:
            _check_int_labels("max_per_class", checked)
        return checked, None
    return None, check_int("max_per_class", caps, min=0)


def _check_int_labels(name: str, mapping: Mapping[Hashable, Any]) -> None:
    for label in mapping:
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ValueError(f"`{name}` keys must be class ids (ints >= 0) when chunked=True, got {label!r}")
