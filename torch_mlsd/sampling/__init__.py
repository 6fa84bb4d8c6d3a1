"""Samplers for ``DataLoader``: weighted, stratified, ordering, bootstrap, reservoir, importance.

Every sampler is seeded, epoch-aware (``set_epoch``), DDP-aware (``num_replicas``/``rank``
from ``torch.distributed``) and resumable mid-epoch (``state_dict``/``load_state_dict``).
"""

from ._base import EpochSampler
from ._rebalance import rebalance_copies, running_counts
from .bootstrap import BootstrapSampler
from .class_balanced import ClassBalancedBatchSampler, class_balanced_batch_indices
from .dynamic import DynamicWeightedSampler
from .importance import ImportanceSampler, ImportanceWeighted, importance_weights
from .loss_weights import LossSampling, loss_sampling_weights
from .orders import ORDERS, Order, OrderSampler, order_indices
from .reservoir import TensorReservoir, reservoir_sample, weighted_reservoir_sample
from .reservoir_dataset import ReservoirDataset
from .stratified import StratifiedBatchSampler, stratified_batch_indices
from .stream import ClassStats, RebalancedStream
from .weighted import WeightedSampler, weighted_indices

__all__ = [
    "EpochSampler",
    "WeightedSampler",
    "weighted_indices",
    "DynamicWeightedSampler",
    "StratifiedBatchSampler",
    "stratified_batch_indices",
    "ClassBalancedBatchSampler",
    "class_balanced_batch_indices",
    "OrderSampler",
    "Order",
    "ORDERS",
    "order_indices",
    "BootstrapSampler",
    "reservoir_sample",
    "weighted_reservoir_sample",
    "TensorReservoir",
    "ReservoirDataset",
    "importance_weights",
    "ImportanceSampler",
    "ImportanceWeighted",
    "loss_sampling_weights",
    "LossSampling",
    "RebalancedStream",
    "rebalance_copies",
    "ClassStats",
    "running_counts",
]
