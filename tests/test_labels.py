"""One core for label arguments (torch_mlsd._labels): what the evaluation functions, the
label-aware samplers and the batch transforms share, and one test per behaviour that changed
when the three checkers were joined (each case says what it was before)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests._host_reads import host_reads
from torch_mlsd._labels import as_int64, check_class_ids, label_tensor
from torch_mlsd.augment import mixup
from torch_mlsd.augment._targets import check_labels as batch_labels
from torch_mlsd.evaluation import confusion_matrix, stratified_split
from torch_mlsd.sampling import ClassBalancedBatchSampler, StratifiedBatchSampler

INTEGER_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint16, torch.uint32,
                  torch.uint64]


# -- the core ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_any_integer_dtype_becomes_int64(dtype):
    values = [0, 3, 127]
    out = label_tensor("y", torch.tensor(values, dtype=dtype))
    assert out.dtype == torch.int64 and out.tolist() == values
    wrapped = label_tensor("y", torch.tensor([3], dtype=dtype), per_batch=True) - 5  # computed in int64
    assert wrapped.tolist() == [-2]


def test_sequences_arrays_and_bools():
    assert label_tensor("y", [2, 0, 1]).tolist() == [2, 0, 1]
    assert label_tensor("y", np.array([5, 6], dtype=np.int16)).dtype == torch.int64
    assert label_tensor("y", range(3)).tolist() == [0, 1, 2]
    assert label_tensor("y", [True, False], bools=True).tolist() == [1, 0]
    empty = label_tensor("y", [])  # an empty list is float to torch: no dtype to reject
    assert empty.dtype == torch.int64 and empty.shape == (0,)
    with pytest.raises(TypeError, match=r"`y` must have an integer dtype, got torch.bool"):
        label_tensor("y", torch.tensor([True]))


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (torch.tensor([0.0, 1.0]), TypeError, r"`y` must have an integer or bool dtype, got torch.float32"),
        (torch.tensor([1j]), TypeError, r"`y` must have an integer or bool dtype, got torch.complex64"),
        ([0.5], TypeError, r"`y` must have an integer or bool dtype, got torch.float32"),
        (torch.tensor([], dtype=torch.float16), TypeError, r"`y` must have an integer or bool dtype"),
        (["a", "b"], TypeError, r"`y` must be a 1-D tensor or sequence of integer labels, got \['a', 'b'\]"),
        (None, TypeError, r"`y` must be a 1-D tensor or sequence of integer labels, got None"),
        ([[0, 1]], ValueError, r"`y` must be 1-D, got shape \(1, 2\)"),
        (3, ValueError, r"`y` must be 1-D, got shape \(\)"),
        (torch.tensor([2**63], dtype=torch.uint64), ValueError, r"`y` must hold values below 2\*\*63"),
    ],
)
def test_bad_labels_name_the_argument(value, error, match):
    with pytest.raises(error, match=match):
        label_tensor("y", value, bools=True)


def test_uint64_beyond_int64_is_caught_on_the_device_path_too():
    big = torch.tensor([1, 2**63 + 5], dtype=torch.uint64)
    with pytest.raises(ValueError, match=r"`ids` must hold values below 2\*\*63"):
        as_int64("ids", big, per_batch=True)
    with pytest.raises(ValueError, match=r"`ids` must hold values below 2\*\*63"):
        as_int64("ids", big)
    assert as_int64("ids", torch.tensor([2**63 - 1], dtype=torch.uint64)).tolist() == [2**63 - 1]


def test_class_ids_host_and_device_checks():
    ids = torch.tensor([0, 4, -1, 2, -3])
    with pytest.raises(ValueError, match=r"`labels` must be >= 0, got 2 labels out of range \(min -3, max 4\)"):
        check_class_ids("labels", ids)
    with pytest.raises(ValueError, match=r"`labels` must be in \[0, 4\), got 3 labels out of range"):
        check_class_ids("labels", ids, 4)
    with pytest.raises(ValueError, match=r"`labels` must be in \[0, 4\), got a tensor of shape \(5,\) with values"):
        check_class_ids("labels", ids, 4, per_batch=True)
    check_class_ids("labels", ids.abs(), 5)
    check_class_ids("labels", ids.abs(), 5, per_batch=True)


def test_per_batch_path_reads_nothing_back():
    ids = torch.tensor([0, 2, 1], dtype=torch.uint8)
    assert host_reads(lambda: check_class_ids("labels", label_tensor("labels", ids, per_batch=True), 3,
                                              per_batch=True)) == []
    big = torch.tensor([1, 2], dtype=torch.uint64)
    assert host_reads(lambda: label_tensor("labels", big, per_batch=True)) == []
    assert host_reads(lambda: batch_labels(ids, 3, 3)) == []


# -- the behaviours that changed (before -> after) ---------------------------------------------


def test_evaluation_messages_now_shared():
    """Before: "`y` must have 1 dimensions", "`y_true` must hold integer or bool class labels, got
    dtype ...", "must be a 1-D tensor of integer labels"."""
    with pytest.raises(ValueError, match=r"`y` must be 1-D, got shape \(2, 2\)"):
        stratified_split(torch.zeros(2, 2, dtype=torch.long), test_size=0.5)
    with pytest.raises(TypeError, match=r"`y_true` must have an integer or bool dtype, got torch.float32"):
        confusion_matrix(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match=r"`y_true` must be a 1-D tensor or sequence of integer labels"):
        confusion_matrix(["a", "b"], torch.tensor([0, 1]))


def test_evaluation_empty_float_tensor_is_a_dtype_error():
    """Before: "`y_true` must hold at least one label" (the emptiness was checked first); an empty
    float tensor is now rejected for its dtype, as every float tensor is. Empty integer labels
    and an empty list keep the emptiness message."""
    with pytest.raises(TypeError, match=r"`y_true` must have an integer or bool dtype, got torch.float32"):
        confusion_matrix(torch.tensor([]), torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match=r"`y_true` must hold at least one label"):
        confusion_matrix(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))


def test_samplers_reject_uint64_beyond_int64_by_name():
    """Before: wrapped to negative and reported as "`labels` must be >= 0, got 1 negative labels"."""
    labels = torch.tensor([0, 1, 2**63 + 1], dtype=torch.uint64)
    with pytest.raises(ValueError, match=r"`labels` must hold values below 2\*\*63"):
        StratifiedBatchSampler(labels, 2)


def test_samplers_negative_labels_message():
    """Before: "`labels` must be >= 0, got 1 negative labels (min -1)"."""
    with pytest.raises(ValueError, match=r"`labels` must be >= 0, got 1 labels out of range \(min -1, max 2\)"):
        ClassBalancedBatchSampler([0, -1, 2, 1], classes_per_batch=1, samples_per_class=1)


def test_samplers_empty_two_dimensional_labels_are_a_shape_error():
    """Before: "`labels` must not be empty" (checked before the shape); an empty list keeps it."""
    with pytest.raises(ValueError, match=r"`labels` must be 1-D, got shape \(0, 2\)"):
        StratifiedBatchSampler(torch.zeros(0, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="`labels` must not be empty"):
        StratifiedBatchSampler([], 2)


def test_samplers_take_what_torch_converts():
    """Before: converted through ``numpy.asarray``, so an object with only ``__array__`` was
    accepted by the samplers and rejected by the evaluation functions; now both reject it,
    while lists, ranges, numpy arrays and tensors work everywhere."""

    class ArrayOnly:
        def __array__(self, dtype=None, copy=None):
            return np.array([0, 1, 0, 1])

    with pytest.raises(TypeError, match=r"`labels` must be a 1-D tensor or sequence of integer labels"):
        StratifiedBatchSampler(ArrayOnly(), 2)
    for labels in ([0, 1, 0, 1], range(4), np.array([0, 1, 0, 1], dtype=np.uint8), torch.tensor([0, 1, 0, 1])):
        assert len(StratifiedBatchSampler(labels, 2)) == 2


def test_batch_transforms_messages_now_shared():
    """Before: "`labels` of shape (B,) must be integer class ids, got dtype torch.float32" and
    "`labels` must be in [0, 3), got a torch.uint8 tensor with values out of range"."""
    images = torch.rand(4, 3, 8, 8)
    with pytest.raises(TypeError, match=r"`labels` must have an integer dtype, got torch.float32"):
        mixup(images, torch.tensor([0.0, 1.0, 2.0, 1.0]), num_classes=3)
    with pytest.raises(ValueError, match=r"`labels` must be in \[0, 3\), got a tensor of shape \(4,\) with values"):
        mixup(images, torch.tensor([0, 1, 3, 1], dtype=torch.uint8), num_classes=3)


def test_batch_transforms_reject_uint64_beyond_int64_by_name():
    """Before: ``.long()`` wrapped the value and the range check reported "must be in [0, K)"."""
    with pytest.raises(ValueError, match=r"`labels` must hold values below 2\*\*63"):
        batch_labels(torch.tensor([1, 2**63], dtype=torch.uint64), 2, 3)
