"""The shared argument checks: types, bounds and the one message shape."""

import math

import pytest
import torch

from torch_mlsd._device import resolve_device
from torch_mlsd._distributed import resolve_replicas_rank
from torch_mlsd._random import make_generator, mix_seed, worker_seed
from torch_mlsd._validate import (
    check_choice,
    check_float,
    check_int,
    check_nonnegative_weights,
    check_same_length,
    check_seed,
    check_tensor,
)


def test_check_int():
    assert check_int("k", 3, min=1) == 3
    assert check_int("k", None, allow_none=True) is None
    with pytest.raises(TypeError, match=r"`k` must be an int, got True"):
        check_int("k", True)
    with pytest.raises(TypeError, match="`k` must be an int"):
        check_int("k", 2.0)
    with pytest.raises(ValueError, match=r"`k` must be >= 1, got 0"):
        check_int("k", 0, min=1)
    with pytest.raises(ValueError, match=r"`k` must be <= 5, got 6"):
        check_int("k", 6, max=5)


def test_check_float():
    assert check_float("a", 1) == 1.0
    with pytest.raises(ValueError, match="`a` must be finite"):
        check_float("a", math.nan)
    with pytest.raises(ValueError, match="`a` must be > 0"):
        check_float("a", 0.0, min=0.0, min_open=True)
    with pytest.raises(TypeError, match="`a` must be a real number"):
        check_float("a", "1")


def test_check_choice_lists_allowed_values():
    with pytest.raises(ValueError, match=r"`reduction` must be one of 'mean', 'sum', got 'avg'"):
        check_choice("reduction", "avg", ("mean", "sum"))


def test_check_seed():
    assert check_seed("seed", 0) == 0
    with pytest.raises(ValueError, match="`seed`"):
        check_seed("seed", -1)


def test_check_tensor():
    t = torch.zeros(2, 3)
    assert check_tensor("x", t, ndim=2, dtypes="float") is t
    with pytest.raises(ValueError, match=r"`x` must have 1 or 3 dimensions, got shape \(2, 3\)"):
        check_tensor("x", t, ndim=(1, 3))
    with pytest.raises(TypeError, match="`x` must have a integer dtype"):
        check_tensor("x", t, dtypes="integer")
    with pytest.raises(TypeError, match="`x` must be a torch.Tensor"):
        check_tensor("x", [1, 2])
    with pytest.raises(TypeError, match="numeric"):
        check_tensor("x", torch.zeros(2, dtype=torch.bool), dtypes="numeric")


def test_check_same_length():
    assert check_same_length(a=[1, 2], b=torch.zeros(2, 5)) == 2
    with pytest.raises(ValueError, match="`a` has 2, `b` has 3"):
        check_same_length(a=[1, 2], b=[1, 2, 3])


@pytest.mark.parametrize(
    ("weights", "err", "match"),
    [
        ([1.0, -1.0], ValueError, "negative"),
        ([1.0, float("nan")], ValueError, "NaN"),
        ([1.0, float("inf")], ValueError, "NaN/inf"),
        ([0.0, 0.0], ValueError, "at least one positive"),
        ([[1.0]], ValueError, "1 dimensions"),
        (["a"], TypeError, "sequence of real numbers"),
    ],
)
def test_check_nonnegative_weights_errors(weights, err, match):
    with pytest.raises(err, match=match):
        check_nonnegative_weights("weights", weights)


def test_check_nonnegative_weights_converts_ints():
    w = check_nonnegative_weights("weights", torch.tensor([1, 0, 2]))
    assert w.dtype == torch.float64 and w.tolist() == [1.0, 0.0, 2.0]


def test_mix_seed_spreads_and_is_stable():
    seeds = {mix_seed(s, e) for s in range(20) for e in range(20)}
    assert len(seeds) == 400
    assert all(0 <= s < 2**63 for s in seeds)
    assert mix_seed(7, 1, 2) == mix_seed(7, 1, 2) != mix_seed(7, 2, 1)


def test_generators_and_worker_seed():
    a = torch.rand(3, generator=make_generator(5))
    assert torch.equal(a, torch.rand(3, generator=make_generator(5)))
    assert worker_seed(5) == worker_seed(5) != worker_seed(6)  # main process, no group


def test_resolve_replicas_rank_and_device():
    assert resolve_replicas_rank(None, None) == (1, 0)
    assert resolve_replicas_rank(4, 3) == (4, 3)
    with pytest.raises(ValueError, match="`rank` must be in"):
        resolve_replicas_rank(2, 2)
    with pytest.raises(ValueError, match="`num_replicas`"):
        resolve_replicas_rank(0, 0)
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="`device`"):
        resolve_device("not-a-device")


def test_assert_values_raises_value_error_on_cpu_without_host_read() -> None:
    from tests._host_reads import host_reads
    from torch_mlsd._validate import assert_values

    t = torch.tensor([0, 1, 5])
    with pytest.raises(ValueError, match="`target` must be in"):
        assert_values(((t >= 0) & (t < 3)).all(), "`target` must be in [0, 3)")
    assert host_reads(lambda: assert_values(((t >= 0) & (t < 9)).all(), "unused")) == []


def test_host_reads_detects_item() -> None:
    from tests._host_reads import host_reads

    assert host_reads(lambda: torch.tensor([1.0]).sum().item()) == ["aten._local_scalar_dense.default"]


def test_resolve_generator_checks_type_and_device() -> None:
    from torch_mlsd._random import resolve_generator

    g = torch.Generator().manual_seed(5)
    assert resolve_generator(g) is g and resolve_generator(g, None) is g
    assert isinstance(resolve_generator(None), torch.Generator)
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator or None, got int"):
        resolve_generator(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`gen` must be on the data's device meta"):
        resolve_generator(g, "meta", name="gen")
