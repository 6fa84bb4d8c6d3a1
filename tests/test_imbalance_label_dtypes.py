"""Every resampler and Tomek links read labels of any integer dtype as int64 and give back y's dtype."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.imbalance import random_oversample, random_undersample, remove_tomek_links, smote, tomek_links

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32, torch.uint64]


def _data(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    y64 = torch.tensor([0] * 30 + [2] * 10)
    return x, y64.to(dtype), y64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("resample", [random_oversample, random_undersample, smote])
def test_resamplers_equal_the_int64_result_for_any_integer_dtype(resample, dtype):
    x, y, y64 = _data(dtype)
    x_out, y_out = resample(x, y, generator=torch.Generator().manual_seed(1))[:2]
    x_ref, y_ref = resample(x, y64, generator=torch.Generator().manual_seed(1))[:2]
    assert y_out.dtype == dtype
    assert torch.equal(x_out, x_ref) and torch.equal(y_out.long(), y_ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tomek_links_equal_the_int64_result_for_any_integer_dtype(dtype):
    x, y, y64 = _data(dtype)
    assert torch.equal(tomek_links(x, y, sampling_strategy="all"), tomek_links(x, y64, sampling_strategy="all"))
    x_out, y_out = remove_tomek_links(x, y)
    assert y_out.dtype == dtype and torch.equal(y_out.long(), remove_tomek_links(x, y64)[1])


@pytest.mark.parametrize("call", [
    lambda x, y: random_oversample(x, y),
    lambda x, y: random_undersample(x, y),
    lambda x, y: smote(x, y),
    lambda x, y: tomek_links(x, y),
])
def test_uint64_labels_past_int64_are_refused_by_name(call):
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([2**63 + 5] * 30 + [3] * 10, dtype=torch.uint64)
    with pytest.raises(ValueError, match=r"`y` must hold values below 2\*\*63"):
        call(x, y)
