"""Run batch transforms inside a DataLoader's ``collate_fn``, or on the device after the move.

A batch transform runs on whatever device its batch is on. In DataLoader workers the
batch is a CPU batch: :class:`BatchTransformCollate` collates it and transforms it there,
and nothing in it touches CUDA (so forked workers never hit "Cannot re-initialize CUDA in
forked subprocess"). To transform on the GPU instead, keep the plain collate in the
workers and call :class:`BatchTransform` with ``device=...`` in the training loop: it moves
the batch (``non_blocking``, fast with ``pin_memory=True``) and runs the same transforms.
Neither changes the model, so both work with ``torch.compile``-d models and under DDP
(our transforms seed themselves per worker and rank, see their ``seed`` argument).

Which fields of a batch a transform receives:

* a tensor batch: the tensor;
* a tuple or list batch ``(x, y, ...)``: ``x`` and ``y`` (images and labels, the call
  ``transform(images, labels) -> (images, soft_labels)`` of the image transforms);
* a dict batch: ``batch["image"]`` and ``batch["label"]``;

unless the transform is given as a pair ``(transform, keys)``: ``keys`` is a sequence of
field indices or names passed positionally, or a dict ``{argument: field}`` passed by
keyword (``(SpecAugment(), {"specgrams": 0, "lengths": 1})``). A transform returns one
tensor or a tuple; its outputs replace the fields it received, in order, and fields it
returns nothing for (such as ``lengths``) are kept. The input batch is never modified:
the result is a new tuple/list/dict.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate

from .._validate import describe

__all__ = ["BatchTransform", "BatchTransformCollate", "apply_batch_transforms", "to_device"]

Key = int | str
Keys = Sequence[Key] | Mapping[str, Key]
TransformSpec = Callable[..., Any] | tuple[Callable[..., Any], Keys]


def to_device(batch: Any, device: torch.device | str, *, non_blocking: bool = True) -> Any:
    """Move every tensor of a (nested) batch to ``device``; other leaves are kept.

    Tuples, lists, named tuples and dicts are rebuilt with their type.

    Example:
        >>> b = to_device({"x": torch.ones(2), "meta": ["a", "b"]}, "cpu")
        >>> b["x"].device.type, b["meta"]
        ('cpu', ['a', 'b'])
    """
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        moved = {k: to_device(v, device, non_blocking=non_blocking) for k, v in batch.items()}
        return _rebuild_mapping(batch, moved)
    if isinstance(batch, (tuple, list)):
        return _rebuild_sequence(batch, [to_device(v, device, non_blocking=non_blocking) for v in batch])
    return batch


def _rebuild_mapping(batch: Mapping[Any, Any], items: dict[Any, Any]) -> Mapping[Any, Any]:
    if type(batch) is dict:
        return items
    if isinstance(batch, MutableMapping):
        out = copy.copy(batch)
        out.update(items)
        return out
    return items


def _rebuild_sequence(batch: tuple[Any, ...] | list[Any], items: list[Any]) -> Any:
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # named tuple
        return type(batch)(*items)
    return type(batch)(items)


def _split(spec: Any) -> tuple[Callable[..., Any], Keys | None]:
    if isinstance(spec, tuple):
        if len(spec) != 2 or not callable(spec[0]) or isinstance(spec[1], (str, int)):
            raise TypeError(f"`transforms` entries must be callables or (callable, keys) pairs, got {describe(spec)}")
        return spec[0], spec[1]
    if not callable(spec):
        raise TypeError(f"`transforms` entries must be callables or (callable, keys) pairs, got {describe(spec)}")
    return spec, None


def _default_keys(batch: Any) -> Keys:
    if isinstance(batch, Mapping):
        return ("image", "label")
    return (0, 1) if len(batch) >= 2 else (0,)


def _apply_one(batch: Any, transform: Callable[..., Any], keys: Keys | None) -> Any:
    if isinstance(batch, Tensor):
        if keys is not None:
            raise ValueError(f"`keys` must be None for a tensor batch, got {describe(keys)}")
        return transform(batch)
    if not isinstance(batch, (Mapping, tuple, list)):
        raise TypeError(f"`batch` must be a tensor, tuple, list or dict, got {describe(batch)}")
    keys = _default_keys(batch) if keys is None else keys
    fields = list(keys.values()) if isinstance(keys, Mapping) else list(keys)
    try:
        inputs = [batch[k] for k in fields]  # type: ignore[index]  # Mapping keys or positions, checked below
    except (KeyError, IndexError, TypeError) as exc:
        have = list(batch.keys()) if isinstance(batch, Mapping) else f"{len(batch)} fields"
        raise ValueError(f"`keys` must name fields of the batch ({have}), got {describe(keys)}") from exc
    out = transform(**dict(zip(keys, inputs, strict=False))) if isinstance(keys, Mapping) else transform(*inputs)
    outs = (out,) if isinstance(out, Tensor) else tuple(out)
    if len(outs) > len(fields):
        raise ValueError(f"transform {transform!r} returned {len(outs)} outputs for {len(fields)} inputs")
    if isinstance(batch, Mapping):
        return _rebuild_mapping(batch, {**batch, **dict(zip(fields, outs, strict=False))})
    items = list(batch)
    for k, o in zip(fields, outs, strict=False):
        items[k] = o  # type: ignore[index]  # a dict or list copy of the batch, indexed as the batch was
    return _rebuild_sequence(batch, items)


def apply_batch_transforms(batch: Any, transforms: Sequence[TransformSpec], *, keys: Keys | None = None) -> Any:
    """Apply ``transforms`` in order to the fields of ``batch`` (see the module docstring).

    ``keys`` is the default field selection for transforms given without their own.

    Example:
        >>> double = lambda x, y: (2 * x, y)
        >>> apply_batch_transforms((torch.ones(2), torch.tensor([0, 1])), [double])[0]
        tensor([2., 2.])
    """
    for spec in transforms:
        transform, own_keys = _split(spec)
        batch = _apply_one(batch, transform, keys if own_keys is None else own_keys)
    return batch


def _as_list(transforms: TransformSpec | Sequence[TransformSpec]) -> list[TransformSpec]:
    specs: Sequence[Any] = [transforms] if callable(transforms) else transforms
    if not isinstance(specs, Sequence):
        raise TypeError(f"`transforms` must be a callable or a sequence of them, got {describe(transforms)}")
    for spec in specs:
        _split(spec)
    return list(specs)


def _set_epoch(objects: Sequence[Any], epoch: int) -> None:
    for obj in objects:
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


class BatchTransform:
    """Apply batch transforms to a collated batch, after moving it to ``device`` if given.

    Use it in the training loop for GPU-side augmentation (the batch comes from a
    DataLoader with the plain ``default_collate``, ideally with ``pin_memory=True``).

    Args:
        transforms: a callable, or a list of callables and ``(callable, keys)`` pairs.
        keys: default field selection (see the module docstring).
        device: move the batch here first (``None``: leave it where it is).
        non_blocking: passed to ``Tensor.to``.

    Example:
        >>> from torch_mlsd.augment.audio import SpecAugment
        >>> gpu_aug = BatchTransform([SpecAugment(seed=0)], keys=(0,), device="cpu")
        >>> specs, labels = gpu_aug((torch.randn(4, 1, 80, 300), torch.tensor([0, 1, 2, 3])))
        >>> specs.shape
        torch.Size([4, 1, 80, 300])
    """

    def __init__(
        self,
        transforms: TransformSpec | Sequence[TransformSpec],
        *,
        keys: Keys | None = None,
        device: torch.device | str | None = None,
        non_blocking: bool = True,
    ) -> None:
        self.transforms = _as_list(transforms)
        self.keys = keys
        self.device = None if device is None else torch.device(device)
        self.non_blocking = non_blocking

    def set_epoch(self, epoch: int) -> None:
        """Call ``set_epoch`` on every transform that has one."""
        _set_epoch([_split(s)[0] for s in self.transforms], epoch)

    def __call__(self, batch: Any) -> Any:
        if self.device is not None:
            batch = to_device(batch, self.device, non_blocking=self.non_blocking)
        return apply_batch_transforms(batch, self.transforms, keys=self.keys)

    def __repr__(self) -> str:
        return f"BatchTransform({self.transforms!r}, keys={self.keys!r}, device={self.device})"


class BatchTransformCollate:
    """``collate_fn`` that collates with ``base`` and then applies batch transforms.

    The transforms run where the collate runs, on the CPU batch (in the DataLoader
    workers when ``num_workers > 0``); nothing here touches CUDA. It pickles when its
    transforms and ``base`` do (for ``spawn`` workers). Seeded transforms give each worker
    its own stream; with workers that are not persistent call ``set_epoch(epoch)`` before
    each epoch, which forwards to every transform that has ``set_epoch``.

    Args:
        transforms: a callable, or a list of callables and ``(callable, keys)`` pairs.
        base: collates the list of samples (default ``torch.utils.data.default_collate``).
        keys: default field selection (see the module docstring).

    Example:
        >>> from torch_mlsd.augment.audio import SpecAugment
        >>> collate = BatchTransformCollate([(SpecAugment(seed=0), (0,))])
        >>> samples = [(torch.randn(1, 80, 300), 3), (torch.randn(1, 80, 300), 5)]
        >>> specs, labels = collate(samples)
        >>> specs.shape, labels.tolist()
        (torch.Size([2, 1, 80, 300]), [3, 5])
    """

    def __init__(
        self,
        transforms: TransformSpec | Sequence[TransformSpec],
        *,
        base: Callable[[list[Any]], Any] = default_collate,
        keys: Keys | None = None,
    ) -> None:
        if not callable(base):
            raise TypeError(f"`base` must be a callable collate function, got {describe(base)}")
        self.transform = BatchTransform(transforms, keys=keys)
        self.base = base

    def set_epoch(self, epoch: int) -> None:
        """Call ``set_epoch`` on every transform (and on ``base``) that has one."""
        self.transform.set_epoch(epoch)
        _set_epoch([self.base], epoch)

    def __call__(self, samples: list[Any]) -> Any:
        return self.transform(self.base(samples))

    def __repr__(self) -> str:
        return f"BatchTransformCollate({self.transform.transforms!r}, base={self.base!r}, keys={self.transform.keys!r})"
