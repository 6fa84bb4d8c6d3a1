"""Random erasing and Cutout with a box per sample, drawn for the whole batch at once.

Both fill rectangles of each image with a value: zero, a constant (one number or one per
channel) or per-pixel random values. The boxes of all samples become one weight map
``(B, 1, H, W)`` (False inside a box) and the batch is written in one pass on the
images' device, selecting on the bits: pixels outside the boxes are copied exactly,
whatever they hold. Shapes never depend on the boxes, so ``transform`` reads no value back to
the host and compiles whole; per-pixel random values are drawn for the whole batch.

References: Zhong et al., "Random Erasing Data Augmentation", AAAI 2020,
https://arxiv.org/abs/1708.04896; DeVries and Taylor, "Improved Regularization of
Convolutional Neural Networks with Cutout", 2017, https://arxiv.org/abs/1708.04552
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .._random import make_generator, resolve_generator
from .._validate import check_bool, check_choice, check_float, check_int, check_probability, describe
from ._batch import block_rows, box_keep, check_images
from ._params import cutout_boxes, erasing_boxes, sample_coins
from ._transform import BatchTransformBase, check_params

__all__ = ["EraseParams", "EraseValue", "random_erasing", "cutout", "RandomErasing", "Cutout"]

EraseValue = float | Sequence[float] | Literal["random"]
_Value = float | tuple[float, ...] | str


@dataclass(frozen=True)
class EraseParams:
    """The random part of one erasing / Cutout call, as drawn by ``sample_params``.

    Attributes:
        boxes: ``(B, N, 4)`` int64 CPU tensor of ``(top, left, bottom, right)`` boxes,
            exclusive ends, ``N`` per sample (1 for random erasing, ``n_holes`` for
            Cutout); an empty box erases nothing.
        noise_seed: seeds the generator, on the images' device, of the per-pixel values of
            ``value="random"`` (so those values differ between CPU and CUDA; the boxes do not).
        shape: ``(B, C, H, W)`` of the batch they were drawn for; ``transform`` rejects any
            other batch (``None`` for parameters built by hand).
    """

    boxes: Tensor
    noise_seed: int
    shape: tuple[int, ...] | None = None


class _ErasingPolicy(NamedTuple):
    p: float
    scale: tuple[float, float]
    ratio: tuple[float, float]
    per_sample: bool

    def boxes(self, n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
        return erasing_boxes(n, height, width, self.scale, self.ratio, generator).unsqueeze(1)

    def draw(self, images: Tensor, generator: torch.Generator) -> EraseParams:
        return _sample(check_images(images).shape, self, generator)


class _CutoutPolicy(NamedTuple):
    p: float
    length: int
    n_holes: int
    per_sample: bool

    def boxes(self, n: int, height: int, width: int, generator: torch.Generator) -> Tensor:
        return cutout_boxes(n, self.n_holes, height, width, self.length, generator)

    def draw(self, images: Tensor, generator: torch.Generator) -> EraseParams:
        return _sample(check_images(images).shape, self, generator)


_Policy = _ErasingPolicy | _CutoutPolicy


def _check_pair(name: str, value: object, *, low: float, high: float | None, low_open: bool) -> tuple[float, float]:
    """A ``(min, max)`` pair of reals with ``low <= min <= max <= high``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"`{name}` must be a (min, max) pair of numbers, got {describe(value)}")
    lo = check_float(f"{name}[0]", value[0], min=low, max=high, min_open=low_open)
    hi = check_float(f"{name}[1]", value[1], min=low, max=high, min_open=low_open)
    if lo > hi:
        raise ValueError(f"`{name}` must be (min, max) with min <= max, got {tuple(value)!r}")
    return lo, hi


def _check_value(value: object) -> _Value:
    if isinstance(value, str):
        return check_choice("value", value, ("random",))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_float("value", value)
    if isinstance(value, Sequence) and len(value) > 0:
        return tuple(check_float(f"value[{i}]", v) for i, v in enumerate(value))
    raise TypeError(f"`value` must be a number, a non-empty sequence of numbers or 'random', got {describe(value)}")


def _erasing_policy(p: float, scale: object, ratio: object, per_sample: bool) -> _ErasingPolicy:
    return _ErasingPolicy(
        check_probability("p", p),
        _check_pair("scale", scale, low=0.0, high=1.0, low_open=False),
        _check_pair("ratio", ratio, low=0.0, high=None, low_open=True),
        check_bool("per_sample", per_sample),
    )


def _cutout_policy(p: float, length: int, n_holes: int, per_sample: bool) -> _CutoutPolicy:
    return _CutoutPolicy(
        check_probability("p", p),
        check_int("length", length, min=1),
        check_int("n_holes", n_holes, min=1),
        check_bool("per_sample", per_sample),
    )


# -- drawing and applying --------------------------------------------------------------------
def _sample(shape: torch.Size, policy: _Policy, generator: torch.Generator) -> EraseParams:
    batch, _, height, width = shape
    n = batch if policy.per_sample else 1
    applied = sample_coins(policy.p, n, generator)
    boxes = policy.boxes(n, height, width, generator) * applied[:, None, None]
    noise_seed = int(torch.randint(2**62, (), generator=generator))
    return EraseParams(boxes.expand(batch, -1, 4), noise_seed, tuple(shape))


def _fill(value: float | tuple[float, ...], images: Tensor) -> Tensor:
    """The fill as a tensor of the images' dtype: 0-dim, or ``(1, C, 1, 1)`` per channel.

    Values the dtype cannot hold are rejected (checked on the Python numbers, no host
    read): a float16 fill of 1e5 would become inf and the blend NaN everywhere.
    """
    values = value if isinstance(value, tuple) else (value,)
    channels = images.shape[1]
    if len(values) not in (1, channels) and isinstance(value, tuple):
        raise ValueError(f"`value` must have 1 or C = {channels} entries, got {len(values)}")
    if images.dtype.is_floating_point:
        largest = torch.finfo(images.dtype).max
        if any(abs(v) > largest for v in values):
            raise ValueError(f"`value` must be within +-{largest:g} for {images.dtype} images, got {value!r}")
    else:
        if any(not 0 <= v <= 255 for v in values):
            raise ValueError(f"`value` must be in [0, 255] for uint8 images, got {value!r}")
        value = tuple(float(round(v)) for v in values) if isinstance(value, tuple) else float(round(value))
    fill = torch.tensor(value, dtype=images.dtype, device=images.device)
    return fill.view(1, -1, 1, 1) if fill.ndim else fill


def _noise(images: Tensor, seed: int) -> Tensor:
    """Per-pixel values for the whole batch: standard normal (torchvision's), uniform 0..255 for uint8."""
    generator = make_generator(seed, images.device)
    if images.dtype.is_floating_point:
        return torch.randn(images.shape, dtype=images.dtype, device=images.device, generator=generator)
    return torch.randint(0, 256, images.shape, dtype=images.dtype, device=images.device, generator=generator)


_WORDS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}  # an integer per element size


def _zero_bits(value: _Value) -> bool:
    """True for fills whose bits are all zero (0.0, not -0.0): the fill step is then skipped."""
    values = value if isinstance(value, tuple) else (value,)
    return all(not isinstance(v, str) and v == 0 and math.copysign(1.0, v) > 0 for v in values)


def _apply(images: Tensor, params: EraseParams, value: _Value, inplace: bool) -> Tensor:
    """Fill the boxes of ``params``, block by block (see :func:`._batch.block_rows`).

    A select on the bits, not a blend: ``(pixel & keep) | (fill & ~keep)`` with ``keep``
    all ones outside the boxes, so pixels outside are copied bit for bit (even inf or NaN)
    and pixels inside take the fill whatever they held, as fast as a lerp.
    """
    _, _, height, width = images.shape
    word = _WORDS[images.element_size()]
    fill = _noise(images, params.noise_seed) if value == "random" else _fill(value, images)  # type: ignore[arg-type]  # value is a fill here: 'random' was handled on the left
    fill_bits = None if _zero_bits(value) else fill.view(word)
    per_row = fill.ndim == 4 and fill.shape[0] > 1
    out = images if inplace else torch.empty_like(images)
    step = block_rows(images)
    for a in range(0, len(images), step):
        rows = slice(a, a + step)
        keep = box_keep(params.boxes[rows], height, width, word, images.device).neg_()  # 1 -> all bits set
        dst = torch.bitwise_and(images[rows].view(word), keep, out=out[rows].view(word))
        if fill_bits is not None:
            dst.bitwise_or_(keep.bitwise_not_() & (fill_bits[rows] if per_row else fill_bits))
    return out


def _checked_apply(images: Tensor, params: EraseParams, value: _Value, inplace: bool) -> Tensor:
    """Check the batch against ``params`` and erase it (no tensor value is read back)."""
    check_images(images)
    check_params(params, EraseParams, images, "images")
    boxes = params.boxes
    if boxes.ndim != 3 or boxes.shape[0] != images.shape[0] or boxes.shape[2] != 4:
        raise ValueError(f"`params.boxes` must have shape ({images.shape[0]}, N, 4), got {tuple(boxes.shape)}")
    return _apply(images, params, value, inplace)


def _run(images: Tensor, policy: _Policy, value: _Value, inplace: bool, generator: torch.Generator | None) -> Tensor:
    return _checked_apply(images, policy.draw(images, resolve_generator(generator, "cpu")), value, inplace)


# -- functional forms ------------------------------------------------------------------------
def random_erasing(
    images: Tensor,
    *,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    value: EraseValue = 0.0,
    per_sample: bool = True,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Erase one random rectangle in each image (Zhong et al.; torchvision's ``RandomErasing``).

    Each sample, with probability ``p``, gets a box drawn as torchvision draws one: up to
    10 attempts of area ``U(scale) * H * W`` and aspect ratio ``h / w`` log-uniform in
    ``ratio``; the first that fits strictly inside the image is placed uniformly, and a
    sample with no fitting attempt is left unchanged (torchvision's fallback). All
    samples are drawn together and erased in one pass.

    Args:
        images: ``(B, C, H, W)`` floating or uint8 tensor, any device, any memory format.
        p: probability that a sample is erased (per sample, or once for the batch with
            ``per_sample=False``); default 0.5.
        scale: ``(min, max)`` erased fraction of the image, within ``[0, 1]`` (default
            ``(0.02, 0.33)``; the paper uses ``(0.02, 0.4)``).
        ratio: ``(min, max)`` aspect ratio ``h / w``, ``> 0`` (default ``(0.3, 3.3)``).
        value: fill: a number (default 0.0), one number per channel, or ``"random"`` for
            per-pixel standard-normal values (uniform integers 0..255 for uint8). uint8
            images take numbers in ``[0, 255]``, rounded.
        per_sample: a box per sample (default) or one box for the whole batch.
        inplace: write into ``images`` (returned) instead of a new tensor.
        generator: CPU ``torch.Generator`` for the draws (default: fresh OS entropy).

    Returns:
        Tensor of the shape, dtype, device and memory format of ``images``.

    Example:
        >>> x = torch.ones(4, 3, 32, 32)
        >>> y = random_erasing(x, p=1.0, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0).float().mean(dim=(1, 2, 3)) >= 0.01).all())  # every image erased
        True
    """
    policy = _erasing_policy(p, scale, ratio, per_sample)
    return _run(images, policy, _check_value(value), check_bool("inplace", inplace), generator)


def cutout(
    images: Tensor,
    *,
    length: int = 16,
    n_holes: int = 1,
    p: float = 1.0,
    value: EraseValue = 0.0,
    per_sample: bool = True,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Cutout (DeVries and Taylor): fill ``n_holes`` squares of side ``length`` per image.

    Each square is centred on a uniformly drawn pixel and clipped to the image (so near a
    border less than ``length ** 2`` pixels are filled; holes may overlap). The default
    ``length=16`` is the paper's CIFAR-10 setting.

    Args:
        images: ``(B, C, H, W)`` floating or uint8 tensor, any device, any memory format.
        length: side of each square in pixels, ``>= 1``.
        n_holes: squares per image, ``>= 1``.
        p: probability that a sample gets its holes (default 1.0, as in the paper).
        value, per_sample, inplace, generator: as :func:`random_erasing`.

    Returns:
        Tensor of the shape, dtype, device and memory format of ``images``.

    Example:
        >>> x = torch.ones(2, 3, 32, 32)
        >>> y = cutout(x, length=8, generator=torch.Generator().manual_seed(0))
        >>> int((y[0, 0] == 0).sum()) <= 64
        True
    """
    policy = _cutout_policy(p, length, n_holes, per_sample)
    return _run(images, policy, _check_value(value), check_bool("inplace", inplace), generator)


# -- module forms --------------------------------------------------------------------------
# The two modules differ only in their settings: they share these methods.
def _transform_method(self: BatchTransformBase, images: Tensor, params: EraseParams) -> Tensor:
    """Erase with parameters from :meth:`sample_params` (deterministic; CPU and CUDA agree
    except for the values of ``value="random"``).

    Reads no tensor value back to the host, so ``torch.compile(fullgraph=True)`` traces it
    whole (for a constant ``value``). ``params`` must have been drawn for this shape.
    """
    return _checked_apply(images, params, self.value, self.inplace)  # type: ignore[arg-type]  # the class attribute's policy type is the family's, narrowed per class


def _forward_method(self: BatchTransformBase, images: Tensor, labels: Tensor | None = None
                    ) -> Tensor | tuple[Tensor, Tensor]:
    """``images`` -> erased images; ``(images, labels)`` -> ``(erased images, labels)``
    (labels returned unchanged, so it composes with the mixing transforms in a collate)."""
    out = self.transform(images, self.sample_params(images))
    return out if labels is None else (out, labels)


def _extra_repr(self: BatchTransformBase) -> str:
    return f"{BatchTransformBase.extra_repr(self)}, value={self.value!r}"


class RandomErasing(BatchTransformBase):
    """Random erasing as a batch transform (module form of :func:`random_erasing`, same arguments).

    Unlike torchvision's ``RandomErasing`` on a batch (one box for all images), every
    image gets its own box and its own coin for ``p``, in one vectorised call.

    Args:
        seed: int for a reproducible stream per DataLoader worker and rank (``0`` is a
            seed like any other); ``None`` (default) draws fresh entropy. With workers that
            are not persistent call ``set_epoch(epoch)`` before each epoch.

    Example:
        >>> erase = RandomErasing(value="random", seed=0)
        >>> erase(torch.rand(16, 3, 32, 32)).shape
        torch.Size([16, 3, 32, 32])
    """

    def __init__(
        self,
        *,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: EraseValue = 0.0,
        per_sample: bool = True,
        inplace: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(_erasing_policy(p, scale, ratio, per_sample), inplace=inplace, seed=seed)
        self.value = _check_value(value)

    transform = _transform_method
    forward = _forward_method
    extra_repr = _extra_repr


class Cutout(BatchTransformBase):
    """Cutout as a batch transform (module form of :func:`cutout`, same arguments).

    Args:
        seed: int for a reproducible stream per DataLoader worker and rank (``0`` is a
            seed like any other); ``None`` (default) draws fresh entropy. With workers that
            are not persistent call ``set_epoch(epoch)`` before each epoch.

    Example:
        >>> Cutout(length=16, seed=0)(torch.rand(16, 3, 32, 32)).shape
        torch.Size([16, 3, 32, 32])
    """

    def __init__(
        self,
        *,
        length: int = 16,
        n_holes: int = 1,
        p: float = 1.0,
        value: EraseValue = 0.0,
        per_sample: bool = True,
        inplace: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(_cutout_policy(p, length, n_holes, per_sample), inplace=inplace, seed=seed)
        self.value = _check_value(value)

    transform = _transform_method
    forward = _forward_method
    extra_repr = _extra_repr
