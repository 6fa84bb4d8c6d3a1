"""Samplers for ``DataLoader``: weighted, stratified, ordering, bootstrap, reservoir, importance.

Every sampler is seeded, epoch-aware (``set_epoch``), DDP-aware (``num_replicas``/``rank``
from ``torch.distributed``) and resumable mid-epoch (``state_dict``/``load_state_dict``).
"""

from ._base import EpochSampler
from .bootstrap import BootstrapSampler
from .class_balanced import ClassBalancedBatchSampler, class_balanced_batch_indices
from .importance import ImportanceSampler, ImportanceWeighted, importance_weights
from .orders import ORDERS, Order, OrderSampler, order_indices
from .reservoir import ReservoirDataset, TensorReservoir, reservoir_sample, weighted_reservoir_sample
from ._rebalance import rebalance_copies, running_counts
from .stream import ClassStats, RebalancedStream
from .stratified import StratifiedBatchSampler, stratified_batch_indices
from .weighted import WeightedSampler, weighted_indices

__all__ = [
    "EpochSampler",
    "WeightedSampler",
    "weighted_indices",
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
    "RebalancedStream",
    "rebalance_copies",
    "ClassStats",
    "running_counts",
]
