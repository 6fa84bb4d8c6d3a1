"""Batch augmentation: mixup, cutmix, cutout, random erasing, spectrogram and MLM masking.

Every transform draws its random parameters per sample, vectorised, from an explicit seed
or generator, and runs unchanged in a DataLoader worker (as a ``collate_fn``) or on a GPU
batch.
"""

from .audio import AxisMasks, FrequencyMasking, SpecAugment, TimeMasking, frequency_mask, spec_augment, time_mask
from .collate import BatchTransform, BatchTransformCollate, apply_batch_transforms, to_device
from .image import (
    CutMix,
    Cutout,
    EraseParams,
    EraseValue,
    MixParams,
    MixUp,
    MixUpOrCutMix,
    RandomErasing,
    cutmix,
    cutout,
    mixup,
    random_erasing,
)
from .text import MaskedLMCollator, mask_tokens

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
    "time_mask",
    "frequency_mask",
    "spec_augment",
    "TimeMasking",
    "FrequencyMasking",
    "SpecAugment",
    "AxisMasks",
    "mask_tokens",
    "MaskedLMCollator",
    "BatchTransform",
    "BatchTransformCollate",
    "apply_batch_transforms",
    "to_device",
]
