"""torch_mlsd: the data side of model development, as parts for PyTorch training.

Subpackages: :mod:`~torch_mlsd.sampling`, :mod:`~torch_mlsd.imbalance`,
:mod:`~torch_mlsd.losses`, :mod:`~torch_mlsd.augment`, :mod:`~torch_mlsd.data`,
:mod:`~torch_mlsd.experiments`; modules :mod:`~torch_mlsd.splits`,
:mod:`~torch_mlsd.leakage`, :mod:`~torch_mlsd.baselines`, :mod:`~torch_mlsd.metrics`,
:mod:`~torch_mlsd.text_features`. The most used names are re-exported here.
"""

from . import augment, baselines, data, experiments, imbalance, leakage, losses, metrics, sampling, splits, text_features
from .augment import (
    BatchTransform,
    BatchTransformCollate,
    CutMix,
    Cutout,
    FrequencyMasking,
    MaskedLMCollator,
    MixUp,
    MixUpOrCutMix,
    RandomErasing,
    SpecAugment,
    TimeMasking,
)
from .baselines import compare_baselines
from .imbalance import (
    class_weights,
    random_oversample,
    random_undersample,
    remove_tomek_links,
    sample_weights,
    smote,
    tomek_links,
)
from .leakage import FitGuard, check_leakage
from .losses import BalancedSoftmaxLoss, BinaryFocalLoss, FocalLoss, LogitAdjustedLoss, adjust_logits
from .sampling import (
    BootstrapSampler,
    ClassBalancedBatchSampler,
    OrderSampler,
    StratifiedBatchSampler,
    TensorReservoir,
    WeightedSampler,
    importance_weights,
    reservoir_sample,
)
from .splits import group_kfold, group_split, stratified_kfold, stratified_split, temporal_split, time_series_folds

__version__ = "0.1.0"

__all__ = [
    # subpackages and modules
    "augment",
    "baselines",
    "data",
    "experiments",
    "imbalance",
    "leakage",
    "losses",
    "metrics",
    "sampling",
    "splits",
    "text_features",
    # sampling
    "WeightedSampler",
    "StratifiedBatchSampler",
    "ClassBalancedBatchSampler",
    "OrderSampler",
    "BootstrapSampler",
    "TensorReservoir",
    "reservoir_sample",
    "importance_weights",
    # imbalance
    "class_weights",
    "sample_weights",
    "random_oversample",
    "random_undersample",
    "smote",
    "tomek_links",
    "remove_tomek_links",
    # losses
    "FocalLoss",
    "BinaryFocalLoss",
    "LogitAdjustedLoss",
    "BalancedSoftmaxLoss",
    "adjust_logits",
    # augmentation
    "MixUp",
    "CutMix",
    "MixUpOrCutMix",
    "Cutout",
    "RandomErasing",
    "TimeMasking",
    "FrequencyMasking",
    "SpecAugment",
    "MaskedLMCollator",
    "BatchTransform",
    "BatchTransformCollate",
    # checks
    "stratified_split",
    "group_split",
    "temporal_split",
    "stratified_kfold",
    "group_kfold",
    "time_series_folds",
    "check_leakage",
    "FitGuard",
    "compare_baselines",
]
