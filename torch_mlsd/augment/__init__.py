"""Batch augmentation: mixup, cutmix, cutout, random erasing, spectrogram and MLM masking.

Every transform draws its random parameters per sample, vectorised, from an explicit seed
or generator, and runs unchanged in a DataLoader worker (as a ``collate_fn``) or on a GPU
batch. The modules split a call in two: ``sample_params`` draws (on the CPU, outside any
``torch.compile`` graph) and ``transform`` writes the batch without reading a value back to
the host, so ``torch.compile(t.transform, fullgraph=True)`` traces it whole.
"""

from .audio import (
    AxisMasks,
    FrequencyMasking,
    MaskParams,
    SpecAugment,
    TimeMasking,
    frequency_mask,
    spec_augment,
    time_mask,
)
from .collate import BatchTransform, BatchTransformCollate, apply_batch_transforms, to_device
from .erase import Cutout, EraseParams, EraseValue, RandomErasing, cutout, random_erasing
from .mix import CutMix, MixParams, MixUp, MixUpOrCutMix, cutmix, mixup
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
    "MaskParams",
    "mask_tokens",
    "MaskedLMCollator",
    "BatchTransform",
    "BatchTransformCollate",
    "apply_batch_transforms",
    "to_device",
]
