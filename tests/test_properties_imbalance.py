"""Property-based checks (hypothesis) over the class-imbalance API: inputs are never
modified, outputs are finite for finite inputs, dtypes are kept, and labels of any integer
dtype give exactly the results of int64 labels."""

from __future__ import annotations

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torch_mlsd.imbalance import (  # noqa: E402
    class_weights,
    random_oversample,
    random_undersample,
    sample_weights,
    smote,
    tomek_links,
)

INT_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


@st.composite
def labelled_rows(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Float rows ``(N, D)`` and labels in ``[0, C)`` with every class at least 3 times."""
    n_classes = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(3, 12), min_size=n_classes, max_size=n_classes))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    y = torch.repeat_interleave(torch.arange(n_classes), torch.tensor(sizes))
    y = y[torch.randperm(len(y), generator=g)]
    scale = draw(st.sampled_from([1e-20, 1.0, 1e20]))
    x = torch.randn(len(y), d, generator=g, dtype=torch.float64) * scale
    return x, y, seed


def _same_results(fn, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, seed: int) -> None:
    reference = fn(x, y, generator=torch.Generator().manual_seed(seed))
    narrow = y.to(dtype)
    x0, y0 = x.clone(), narrow.clone()
    result = fn(x, narrow, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(x, x0) and torch.equal(narrow, y0)  # inputs untouched
    assert result[1].dtype == dtype and result[0].dtype == x.dtype
    assert torch.isfinite(result[0]).all()
    assert torch.equal(result[0], reference[0]) and torch.equal(result[1].long(), reference[1])


@settings(max_examples=25, deadline=None)
@given(data=labelled_rows(), dtype=st.sampled_from(INT_DTYPES))
def test_resamplers_accept_any_integer_label_dtype(data, dtype):
    x, y, seed = data
    _same_results(random_oversample, x, y, dtype, seed)
    _same_results(random_undersample, x, y, dtype, seed)
    _same_results(lambda x, y, generator: smote(x, y, k_neighbors=2, generator=generator), x, y, dtype, seed)
    assert torch.equal(tomek_links(x, y.to(dtype)), tomek_links(x, y))


@settings(max_examples=25, deadline=None)
@given(data=labelled_rows(), dtype=st.sampled_from(INT_DTYPES), scheme=st.sampled_from(
    ["inverse", "balanced", "sqrt_inverse", "effective_number"]))
def test_class_weights_accept_any_integer_label_dtype(data, dtype, scheme):
    _, y, _ = data
    narrow = y.to(dtype)
    w = class_weights(narrow, scheme=scheme, dtype=torch.float64)
    assert torch.isfinite(w).all() and (w > 0).all()
    assert torch.equal(w, class_weights(y, scheme=scheme, dtype=torch.float64))
    assert torch.equal(sample_weights(narrow, scheme=scheme), sample_weights(y, scheme=scheme))
    assert torch.equal(narrow, y.to(dtype))
