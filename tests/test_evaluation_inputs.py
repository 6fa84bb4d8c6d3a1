"""Inputs of the evaluation functions: any integer dtype gives int64's results (issue 11,
defect 1), splits depend only on which rows share a class or group (defect 6), non-finite
features are reported under the user's argument (defect 8), and randomness comes from a
``generator`` (issue 12)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_mlsd import evaluation as E

INT_DTYPES = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16, torch.uint32, torch.uint64]
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)  # fixed examples, run after run


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@st.composite
def int_column(draw: Any, min_size: int, max_size: int, max_distinct: int) -> tuple[list[int], torch.dtype]:
    """Values of one integer dtype: a few distinct values anywhere in its range, edges favoured."""
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = torch.iinfo(dtype)
    edges = st.sampled_from([info.min, info.min + 1, info.min + 7, info.max - 7, info.max - 1, info.max])
    low = st.integers(info.min, min(info.min + 40, info.max))
    pool = draw(
        st.lists(st.one_of(edges, low, st.integers(info.min, info.max)), min_size=1, max_size=max_distinct, unique=True)
    )
    return draw(st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size)), dtype


def _first_name(message: str) -> str:
    found = re.search(r"`[^`]+`", message)
    return found.group(0) if found else message


def _outcome(fn: Callable[[torch.Tensor], Any], values: torch.Tensor) -> Any:
    try:
        return fn(values)
    except (ValueError, TypeError) as exc:
        return exc


def _assert_same(ours: Any, reference: Any) -> None:
    if isinstance(reference, Exception):
        assert type(ours) is type(reference), f"int64 raised {reference!r}, the narrow dtype gave {ours!r}"
        assert _first_name(str(ours)) == _first_name(str(reference))
    elif isinstance(reference, torch.Tensor):
        assert torch.equal(ours, reference) or torch.allclose(ours, reference, equal_nan=True, rtol=0, atol=0)
    else:
        assert isinstance(ours, (tuple, list)) and len(ours) == len(reference)
        for a, b in zip(ours, reference):
            _assert_same(a, b)


def _check_like_int64(fn: Callable[[torch.Tensor], Any], name: str, values: list[int], dtype: torch.dtype) -> None:
    """``fn`` on ``values`` stored as ``dtype`` equals ``fn`` on them as int64, or is a clear error."""
    narrow = torch.tensor(values, dtype=dtype)
    if max(values) > torch.iinfo(torch.int64).max:  # uint64 beyond int64: rejected, never wrapped
        with pytest.raises(ValueError, match=f"`{name}` must hold values below 2\\*\\*63"):
            fn(narrow)
        return
    _assert_same(_outcome(fn, narrow), _outcome(fn, torch.tensor(values, dtype=torch.int64)))


# ------------------------------------------------------------------ defect 1: narrow integer dtypes


@PROPERTY
@given(int_column(min_size=4, max_size=40, max_distinct=4))
def test_labels_of_any_integer_dtype_give_int64_results(column):
    values, dtype = column

    def run(y: torch.Tensor) -> Any:
        pred = y.roll(1)
        return (
            E.stratified_split(y, test_size=0.5, generator=_gen(0)),
            E.stratified_kfold(y, 2, generator=_gen(1)),
            E.confusion_matrix(y, pred),
            E.f1_score(y, pred, average="macro"),
            E.balanced_accuracy_score(y, pred),
            E.most_frequent_baseline(y).labels,
            E.uniform_random_baseline(y, generator=_gen(2)).labels,
        )

    _check_like_int64(run, "labels", values, dtype)


@PROPERTY
@given(int_column(min_size=4, max_size=40, max_distinct=8))
def test_groups_of_any_integer_dtype_give_int64_results(column):
    values, dtype = column

    def run(groups: torch.Tensor) -> Any:
        return E.group_split(groups, test_size=0.5, generator=_gen(0)), E.group_kfold(groups, 2, generator=_gen(1))

    _check_like_int64(run, "groups", values, dtype)


@PROPERTY
@given(int_column(min_size=4, max_size=40, max_distinct=12), st.integers(0, 300))
def test_times_of_any_integer_dtype_give_int64_results(column, gap):
    values, dtype = column

    _check_like_int64(lambda t: E.temporal_split(t, test_size=0.5, gap=gap), "timestamps", values, dtype)
    _check_like_int64(lambda t: E.time_series_folds(t, 2, gap=gap), "timestamps", values, dtype)


def test_narrow_times_keep_the_gap():
    """The issue's cases: ``t[end] - gap`` wrapped around in uint8 and int16, so the gap was ignored."""
    with pytest.raises(ValueError, match="`gap`=5 leaves split 0 empty"):  # as with int64: no row is 5 before 3
        E.temporal_split(torch.arange(10, dtype=torch.uint8), test_size=0.7, gap=5)
    low = torch.arange(-(2**15), -(2**15) + 12, dtype=torch.int16)
    with pytest.raises(ValueError, match="`gap`"):
        E.time_series_folds(low, 3, gap=5)
    folds = E.time_series_folds(low, 3, gap=2)
    assert (folds[0][0].tolist(), folds[0][1].tolist()) == ([0], [3, 4, 5])
    near_min = -(2**63) + torch.tensor([0, 1, 2, 10, 11, 12])  # int64 itself must not wrap below its minimum
    with pytest.raises(ValueError, match="`gap`"):
        E.temporal_split(near_min, test_size=0.5, gap=20)
    assert E.temporal_split(near_min, test_size=0.5, gap=8)[0].tolist() == [0, 1]


def test_uint64_beyond_int64_is_rejected_by_name():
    big = torch.tensor([2**64 - 1, 1, 1, 2**64 - 1], dtype=torch.uint64)
    for call, name in [
        (lambda: E.stratified_split(big, test_size=0.5), "y"),
        (lambda: E.group_split(big, test_size=0.5), "groups"),
        (lambda: E.temporal_split(big, test_size=0.5), "timestamps"),
        (lambda: E.accuracy_score(big, big), "y_true"),
    ]:
        with pytest.raises(ValueError, match=f"`{name}` must hold values below 2\\*\\*63"):
            call()


# ------------------------------------------------------------------ defect 6: renaming classes changes nothing


def _relabel(values: torch.Tensor, seed: int) -> torch.Tensor:
    """The same partition of rows under other names: a random permutation of the ids, shifted."""
    ids, inverse = torch.unique(values, return_inverse=True)
    g = _gen(seed)
    names = torch.randperm(1000, generator=g)[: len(ids)] * 7 - 3000
    return names[inverse]


def _same_parts(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return len(a) == len(b) and all(_same_parts(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("seed", range(8))
def test_splits_depend_only_on_which_rows_share_a_class(seed):
    g = _gen(100 + seed)
    labels = torch.randint(0, 12, (1000,), generator=g)  # the size: 4-16 rows moved before
    renamed = _relabel(labels, seed)
    assert not torch.equal(labels, renamed)
    for split in (
        lambda y: E.stratified_kfold(y, 5, generator=_gen(seed)),
        lambda y: E.stratified_split(y, test_size=0.2, val_size=0.1, generator=_gen(seed)),
        lambda y: E.group_split(y, test_size=0.3, generator=_gen(seed)),
        lambda y: E.group_kfold(y, 4, generator=_gen(seed)),
    ):
        assert _same_parts(split(labels), split(renamed))


def test_group_ids_as_tensor_or_list_give_the_same_split():
    groups = torch.randint(0, 40, (300,), generator=_gen(3))
    names = [f"patient-{int(g) * 13 % 97}" for g in groups]  # other names, same partition
    for seed in range(4):
        assert _same_parts(
            E.group_split(groups, test_size=0.25, generator=_gen(seed)),
            E.group_split(names, test_size=0.25, generator=_gen(seed)),
        )


# ------------------------------------------------------------------ defect 8: the user's argument is named


def test_check_leakage_names_the_non_finite_argument():
    g = _gen(0)
    x = torch.randn(60, 4, generator=g)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"`x_train` must be finite, got 1 NaN/inf entries in tensor of shape \(40, 4\)"):
        E.check_leakage(bad[:40], x[40:])
    with pytest.raises(ValueError, match="`x_test` must be finite"):
        E.check_leakage(x[:40], torch.cat([x[40:], bad[3:4]]))
    with pytest.raises(ValueError, match="`x_train` must be finite"):  # the single-feature AUC needs it too
        E.check_leakage(bad[:40], x[40:], torch.arange(40) % 2, near_duplicate_threshold=None)
    with pytest.raises(ValueError, match="`x` must be finite"):
        E.near_duplicates(bad, x)
    with pytest.raises(ValueError, match="`other` must be finite"):
        E.near_duplicates(x, bad)
    report = E.check_leakage(bad[:40], torch.cat([x[40:], bad[3:4]]), near_duplicate_threshold=None)
    assert [f.kind for f in report.findings] == ["duplicate"]  # exact copies need no ordering: NaN rows allowed


# ------------------------------------------------------------------ issue 12: generator, not seed


def test_no_public_evaluation_function_takes_a_seed():
    for name in E.__all__:
        obj = getattr(E, name)
        if inspect.isfunction(obj):
            params = inspect.signature(obj).parameters
            assert "seed" not in params, f"{name} takes `seed`: functions take `generator`"


RANDOM_CALLS = {
    "stratified_split": lambda y, g: E.stratified_split(y, test_size=0.3, generator=g),
    "stratified_kfold": lambda y, g: E.stratified_kfold(y, 3, generator=g),
    "group_split": lambda y, g: E.group_split(torch.arange(len(y)) // 2, test_size=0.3, generator=g),
    "group_kfold": lambda y, g: E.group_kfold(torch.arange(len(y)) // 2, 3, generator=g),
    "uniform_random_baseline": lambda y, g: E.uniform_random_baseline(y, generator=g).labels,
    "label_distribution_baseline": lambda y, g: E.label_distribution_baseline(y, generator=g).labels,
    "compare_baselines": lambda y, g: torch.tensor(
        [v for row in E.compare_baselines(y, generator=g).values() for v in row.values()]
    ),
}


@pytest.mark.parametrize("name", list(RANDOM_CALLS))
def test_generator_none_is_fresh_entropy_and_a_seeded_one_repeats(name):
    call = RANDOM_CALLS[name]
    y = torch.randint(0, 3, (600,), generator=_gen(9))
    assert _same_parts(call(y, _gen(5)), call(y, _gen(5)))
    assert not _same_parts(call(y, _gen(5)), call(y, _gen(6)))
    assert not _same_parts(call(y, None), call(y, None))  # two OS-seeded draws of 600 rows: never equal
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator or None, got int"):
        call(y, 0)


def test_a_generator_on_another_device_is_rejected():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(ValueError, match="`generator` must be on"):
        E.stratified_split(torch.tensor([0, 1] * 10), generator=torch.Generator(device="cuda"))
