"""torch_mlsd: the data side of model development, as parts for PyTorch training.

Subpackages, one per concern:

- :mod:`~torch_mlsd.sampling`: samplers, reservoirs, importance weights;
- :mod:`~torch_mlsd.imbalance`: class weights, over/under-sampling, SMOTE, Tomek links;
- :mod:`~torch_mlsd.losses`: focal, class-weighted, logit-adjusted losses;
- :mod:`~torch_mlsd.augment`: batch augmentation and collate functions;
- :mod:`~torch_mlsd.evaluation`: splits, leakage checks, baselines, metrics;
- :mod:`~torch_mlsd.features`: fit-on-train-only scaler and text featurizer;
- :mod:`~torch_mlsd.data`, :mod:`~torch_mlsd.experiments`: data generators, the ordering experiment.

The most used names are re-exported here.
"""

from . import augment, data, evaluation, experiments, features, imbalance, losses, sampling
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
from .evaluation import (
    addition_curve,
    check_leakage,
    compare_baselines,
    feature_ablation,
    group_kfold,
    group_split,
    pair_scan,
    stratified_kfold,
    stratified_split,
    temporal_split,
    time_series_folds,
)
from .features import FitGuard
from .imbalance import (
    class_weights,
    random_oversample,
    random_undersample,
    remove_tomek_links,
    sample_weights,
    smote,
    tomek_links,
)
from .losses import BalancedSoftmaxLoss, BinaryFocalLoss, FocalLoss, LogitAdjustedLoss, adjust_logits
from .sampling import (
    BootstrapSampler,
    ClassBalancedBatchSampler,
    DynamicWeightedSampler,
    OrderSampler,
    RebalancedStream,
    StratifiedBatchSampler,
    TensorReservoir,
    WeightedSampler,
    importance_weights,
    loss_sampling_weights,
    reservoir_sample,
)

__version__ = "0.1.0"

__all__ = [
    # subpackages and modules
    "augment",
    "data",
    "evaluation",
    "experiments",
    "features",
    "imbalance",
    "losses",
    "sampling",
    # sampling
    "WeightedSampler",
    "DynamicWeightedSampler",
    "RebalancedStream",
    "loss_sampling_weights",
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
    "pair_scan",
    "feature_ablation",
    "addition_curve",
    "FitGuard",
    "compare_baselines",
]
