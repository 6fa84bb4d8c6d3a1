"""One contract across the package: labels, ids and groups of any integer dtype give the result
of the same values in int64 (torch has no CPU min/aminmax/isin/comparison for uint16-uint64,
so each entry point reads them through ``torch_mlsd._labels.as_int64``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from torch_mlsd.augment import CutMix, MixUp
from torch_mlsd.data import long_tail_indices
from torch_mlsd.evaluation import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    group_kfold,
    most_frequent_baseline,
    stratified_kfold,
    stratified_split,
)
from torch_mlsd.imbalance import class_counts, class_weights, random_oversample, sample_weights
from torch_mlsd.losses import cross_entropy
from torch_mlsd.sampling import ClassBalancedBatchSampler, StratifiedBatchSampler

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32, torch.uint64]
Y = torch.tensor([0, 1, 1, 2, 0, 1, 2, 2, 0, 1] * 6)
X = torch.randn(len(Y), 3, generator=torch.Generator().manual_seed(0))
IMAGES = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(5)


CALLS: dict[str, Callable[[torch.Tensor], Any]] = {
    "class_counts": lambda y: class_counts(y),
    "class_weights": lambda y: class_weights(y),
    "sample_weights": lambda y: sample_weights(y),
    "random_oversample": lambda y: random_oversample(X, y, generator=_gen())[0],
    "cross_entropy": lambda y: cross_entropy(X, y),
    "accuracy_score": lambda y: accuracy_score(y, y.flip(0)),
    "f1_score": lambda y: f1_score(y, y.flip(0), average="macro"),
    "confusion_matrix": lambda y: confusion_matrix(y, y.flip(0)),
    "most_frequent_baseline": lambda y: most_frequent_baseline(y).labels,
    "stratified_split": lambda y: stratified_split(y, test_size=0.25, generator=_gen()),
    "stratified_kfold": lambda y: [fold for fold in stratified_kfold(y, 3, generator=_gen())],
    "group_kfold": lambda y: [fold for fold in group_kfold(y, 3, generator=_gen())],
    "long_tail_indices": lambda y: long_tail_indices(y, imbalance_ratio=2, generator=_gen()),
    "StratifiedBatchSampler": lambda y: list(StratifiedBatchSampler(y, 6, seed=0)),
    "ClassBalancedBatchSampler": lambda y: list(
        ClassBalancedBatchSampler(y, classes_per_batch=2, samples_per_class=2, num_batches=5, seed=0)
    ),
    "MixUp": lambda y: MixUp(num_classes=3, seed=0)(IMAGES, y[:8]),
    "CutMix": lambda y: CutMix(num_classes=3, seed=0)(IMAGES, y[:8]),
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a.double(), b.double())
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_any_integer_dtype_gives_the_int64_result(name, dtype):
    call = CALLS[name]
    assert _same(call(Y.to(dtype)), call(Y))
