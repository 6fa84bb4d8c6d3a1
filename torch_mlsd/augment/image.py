"""Image batch augmentations: MixUp, CutMix, their per-sample switch, random erasing, Cutout.

Every transform takes a batch ``(B, C, H, W)`` (float or uint8, any device, contiguous or
channels-last), draws its random parameters per sample in a few vectorised CPU ops from an
explicit generator, and writes the batch in one pass on its device. The mixing ones turn
``(B,)`` class ids or ``(B, K)`` soft labels into ``(B, K)`` soft targets.
The implementations live in :mod:`torch_mlsd.augment.mix` and :mod:`torch_mlsd.augment.erase`.
"""

from .erase import Cutout, EraseParams, EraseValue, RandomErasing, cutout, random_erasing
from .mix import CutMix, MixParams, MixUp, MixUpOrCutMix, cutmix, mixup

__all__ = [
    "mixup",
    "cutmix",
    "MixUp",
    "CutMix",
    "MixUpOrCutMix",
    "MixParams",
    "random_erasing",
    "cutout",
    "RandomErasing",
    "Cutout",
    "EraseParams",
    "EraseValue",
]
