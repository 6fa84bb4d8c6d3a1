"""What the image augmentations share at call time: input checks, box weights, the blend kernel.

One kernel writes the mixing transforms: ``dst = lerp(other, own, weight)``, i.e. ``own``
where the weight is 1, ``other`` where it is 0 (both exact for finite values) and a blend
in between. The weight is ``(B, 1, 1, 1)`` for MixUp or a per-pixel ``(B, 1, H, W)`` map
that is 0 inside the boxes. ``torch.lerp`` is vectorised on every device, unlike
``torch.where``, whose CPU kernel is about twice as slow; integer and bool tensors (uint8
images, segmentation masks) take a 0/1 weight and are selected bitwise, also exactly.
Erasing selects on the bits instead (``torch.where`` being slower): a fill must replace
whatever a pixel held (inf, NaN) and leave every other pixel bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validate import check_tensor

__all__ = ["check_images", "block_rows", "box_keep", "box_area", "blend"]

_BLOCK_ELEMENTS = 1 << 20  # a CPU block: 4 MB of float32, small enough to stay in cache


def check_images(images: Tensor) -> Tensor:
    """``images`` must be a ``(B, C, H, W)`` float or uint8 tensor with ``H, W >= 1``."""
    check_tensor("images", images, ndim=4)
    if not (images.dtype.is_floating_point or images.dtype == torch.uint8):
        raise TypeError(f"`images` must have a floating-point or torch.uint8 dtype, got {images.dtype}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"`images` must have at least one pixel, got shape {tuple(images.shape)}")
    return images


def block_rows(x: Tensor) -> int:
    """Rows of ``x`` per block: about 1M elements on the CPU (at least one row), all of them elsewhere.

    Working block by block keeps temporaries (box maps, float copies of uint8 rows) in
    cache and off the allocator; a GPU is better served by one launch per step.
    """
    if x.device.type != "cpu" or len(x) == 0:
        return max(len(x), 1)
    return max(1, _BLOCK_ELEMENTS // max(1, x[0].numel()))


def box_keep(
    boxes: Tensor, height: int, width: int, dtype: torch.dtype, device: torch.device, scale: Tensor | None = None
) -> Tensor:
    """``(B, 1, H, W)`` weight of ``dtype``: 0 (False) inside any of the ``(B, N, 4)`` boxes of a
    sample, else 1 (True), or else ``scale`` ``(B,)`` when given.

    A pixel is outside a box when its row or its column is, so the map is the elementwise
    maximum of a row vector and a column vector per box: one pass over ``B * H * W``.
    """
    boxes = boxes.to(device, non_blocking=True)
    top, left, bottom, right = (b.unsqueeze(-1) for b in boxes.unbind(-1))  # (B, N, 1) each
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    out_rows = torch.bitwise_or(rows < top, rows >= bottom).to(dtype)  # (B, N, H)
    out_cols = torch.bitwise_or(cols < left, cols >= right).to(dtype)  # (B, N, W)
    if scale is not None:
        scale = scale.to(device=device, dtype=dtype).view(-1, 1, 1)
        out_rows, out_cols = out_rows * scale, out_cols * scale
    keep = torch.maximum(out_rows.unsqueeze(-1), out_cols.unsqueeze(-2))  # (B, N, H, W)
    return (keep.squeeze(1) if boxes.shape[1] == 1 else keep.amin(dim=1)).unsqueeze(1)


def box_area(boxes: Tensor) -> Tensor:
    """Area of each box, ``(...)`` int64 for boxes ``(..., 4)``."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _dense_weight(x: Tensor, weight: Tensor) -> Tensor:
    """A per-pixel weight expanded over the channels of a channels-last ``x``.

    Broadcasting ``(B, 1, H, W)`` along the innermost (channel) dimension leaves the
    kernel inner loops of length ``C``; expanding once keeps them long.
    """
    if weight.shape[-1] > 1 and x.shape[1] > 1 and x.dim() == 4 and not x.is_contiguous() \
            and x.is_contiguous(memory_format=torch.channels_last):
        return weight.expand(x.shape).contiguous(memory_format=torch.channels_last)
    return weight


def blend(dst: Tensor, own: Tensor, other: Tensor, weight: Tensor) -> Tensor:
    """``dst = lerp(other, own, weight)``; integer and bool tensors need a 0/1 ``weight``.

    ``dst`` may be ``own`` (in place), ``other`` or a fresh tensor; ``own`` is read only
    (unless it is ``dst``) and ``other`` is overwritten only when it is ``dst``.
    """
    if dst.dtype.is_floating_point:
        return torch.lerp(other, own, _dense_weight(own, weight.to(own.dtype)), out=dst)
    bits = weight == 0  # take ``other`` here: own ^ ((own ^ other) & bits)
    if dst.dtype != torch.bool:
        bits = bits.to(dst.dtype) * torch.zeros((), dtype=dst.dtype).bitwise_not()  # all bits set
    if dst.data_ptr() == own.data_ptr() and dst.numel():
        own.bitwise_xor_((own ^ other).bitwise_and_(bits))
        return own
    return torch.bitwise_xor(own, other, out=dst).bitwise_and_(bits).bitwise_xor_(own)
