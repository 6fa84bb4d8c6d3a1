"""Shared fixtures: `device` runs a test on cpu and, where a GPU is present, on cuda."""

from __future__ import annotations

import pytest
import torch

_DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


@pytest.fixture(params=_DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device to run on: cpu always, cuda when available."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Floating dtypes every numeric op must support."""
    return request.param
