"""Leakage checks: every planted leak is found and names its rows/features/groups, clean
data raises no alarm (20 seeds), the pieces agree with brute force and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torch_mlsd.evaluation import duplicates
from torch_mlsd.evaluation import (
    LeakageReport,
    check_leakage,
    exact_duplicates,
    feature_auc,
    near_duplicates,
)
from torch_mlsd.features import FitGuard, StandardScaler


def _brute_duplicates(x: torch.Tensor, other: torch.Tensor | None = None) -> tuple[list[int], list[int]]:
    def key(row: torch.Tensor) -> tuple:
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v + 0 for v in row.flatten().tolist())

    first: dict[tuple, int] = {}
    rows, matches = [], []
    for i, row in enumerate(x):
        k = key(row)
        if k in first and other is None:
            rows.append(i)
            matches.append(first[k])
        first.setdefault(k, i)
    if other is not None:
        for i, row in enumerate(other):
            if key(row) in first:
                rows.append(i)
                matches.append(first[key(row)])
    return rows, matches


def _with_copies(seed: int, dtype: torch.dtype, shape=(6,)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = 300
    if dtype.is_floating_point:
        x = torch.randn(n, *shape, generator=g).to(dtype)
    elif dtype == torch.bool:
        x = torch.rand(n, *shape, generator=g) < 0.5
    else:
        x = torch.randint(0, 200, (n, *shape), generator=g).to(dtype)
    x[torch.randint(0, n, (40,), generator=g)] = x[torch.randint(0, n, (40,), generator=g)]  # copies
    return x[:200], torch.cat([x[200:], x[torch.randint(0, 200, (15,), generator=g)]])


DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.uint8, torch.bool]


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_duplicates_equal_brute_force(dtype, device):
    shape = (3,) if dtype == torch.bool else (6,)
    train, test = _with_copies(DTYPES.index(dtype), dtype, shape)
    rows, matches = exact_duplicates(train.to(device), test.to(device))
    expected_rows, _ = _brute_duplicates(train, test)
    assert rows.cpu().tolist() == expected_rows
    assert torch.equal(train[matches.cpu()], test[rows.cpu()])
    within, originals = exact_duplicates(train.to(device))
    assert (within.cpu().tolist(), originals.cpu().tolist()) == _brute_duplicates(train)


def test_exact_duplicates_of_images_and_special_floats():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 3, 8, 8), generator=g, dtype=torch.uint8)
    rows, matches = exact_duplicates(images, images[[7, 3]])
    assert rows.tolist() == [0, 1] and matches.tolist() == [7, 3]
    x = torch.tensor([[0.0, float("nan")], [-0.0, float("nan")], [0.0, 1.0], [0.0, 1.0 + 1e-7]])
    assert [t.tolist() for t in exact_duplicates(x)] == [[1], [0]]  # -0.0 == 0.0, NaN alike, 1e-7 differs


def test_exact_duplicates_survive_hash_collisions(monkeypatch):
    """With a hash that collides for every row, the exact confirmation still gives the true answer."""
    train, test = _with_copies(5, torch.float32)
    expected = [t.tolist() for t in exact_duplicates(train, test)], [t.tolist() for t in exact_duplicates(train)]
    monkeypatch.setattr(duplicates, "_row_hashes", lambda x, max_bytes: torch.zeros(len(x), dtype=torch.long))
    got = [t.tolist() for t in exact_duplicates(train, test)], [t.tolist() for t in exact_duplicates(train)]
    assert got[0][0] == expected[0][0] and got[1] == expected[1]
    rows, matches = exact_duplicates(train, test)
    assert torch.equal(train[matches], test[rows])


def test_exact_duplicates_in_small_blocks():
    train, test = _with_copies(2, torch.float32)
    full = exact_duplicates(train, test)
    blocked = exact_duplicates(train, test, max_bytes=64)
    assert all(torch.equal(a, b) for a, b in zip(full, blocked))


def test_near_duplicates_found_and_centering_matters():
    g = torch.Generator().manual_seed(1)
    train = torch.rand(500, 32, generator=g)  # all-positive features: raw cosines are all high
    test = torch.cat([torch.rand(100, 32, generator=g), train[[10, 20, 30]] + 1e-3])
    rows, matches, sim = near_duplicates(train, test, threshold=0.99)
    assert rows.tolist() == [100, 101, 102] and matches.tolist() == [10, 20, 30]
    assert bool((sim >= 0.99).all())
    raw = near_duplicates(train, test, threshold=0.8, center=False)[0]
    assert len(raw) > 50  # without centring, unrelated positive rows look alike
    assert len(near_duplicates(train, test, threshold=0.8)[0]) == 3


def test_feature_auc_matches_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 2, (300,), generator=g)
    x = torch.stack([y + torch.randn(300, generator=g), -y + 0.3 * torch.randn(300, generator=g), torch.randn(300, generator=g).round()], 1)
    ours = feature_auc(x, y, max_bytes=300 * 64)  # one feature per block
    for j in range(3):
        auc = skm.roc_auc_score(y.numpy(), x[:, j].numpy())
        assert ours[j].item() == pytest.approx(max(auc, 1 - auc))
    y3 = torch.randint(0, 3, (300,), generator=g)
    x3 = torch.stack([(y3 == 2).double() + torch.randn(300, generator=g, dtype=torch.float64)], 1)
    expected = max(max(a, 1 - a) for a in (skm.roc_auc_score(y3.numpy() == c, x3[:, 0].numpy()) for c in range(3)))
    assert feature_auc(x3, y3).item() == pytest.approx(expected)


# ------------------------------------------------------------------ fitted statistics


def test_standard_scaler_matches_sklearn(device):
    pre = pytest.importorskip("sklearn.preprocessing")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(100, 4, generator=g) * torch.tensor([1.0, 10.0, 0.0, 3.0]) + 5
    ours = StandardScaler().fit(x.to(device), ids=torch.arange(100)).transform(x.to(device))
    theirs = pre.StandardScaler().fit_transform(x.numpy())
    assert ours.device.type == device.type and ours.dtype == torch.float32
    assert torch.allclose(ours.cpu(), torch.from_numpy(theirs).float(), atol=1e-5)


def test_fit_guard_refuses_protected_rows():
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(4))
    scaler = StandardScaler().protect([8, 9])
    with pytest.raises(ValueError, match=r"`ids` must not include protected \(test\) rows, got 1 .*\[9\]"):
        scaler.fit(x[[0, 9]], ids=[0, 9])
    with pytest.raises(ValueError, match="`ids` is required"):
        scaler.fit(x)
    scaler.protect(torch.tensor([0]))  # accumulates
    with pytest.raises(ValueError, match=r"\[0\]"):
        scaler.fit(x[:2], ids=[0, 1])
    scaler.fit(x[1:8], ids=torch.arange(1, 8))
    assert scaler.fit_ids_.tolist() == list(range(1, 8))
    with pytest.raises(ValueError, match="`ids` must name the 7 rows"):
        scaler.fit(x[1:8], ids=[1, 2])
    with pytest.raises(TypeError, match="`ids`"):
        scaler.fit(x[1:3], ids=torch.tensor([1.0, 2.0]))


def test_fit_guard_is_a_small_base_for_any_statistic():
    class Vocabulary(FitGuard):
        def fit(self, words: list[str], *, ids=None):
            self._guard_fit(ids, len(words))
            self.words_ = sorted(set(words))
            return self

    vocab = Vocabulary().protect([2])
    assert vocab.fit(["a", "b"], ids=[0, 1]).words_ == ["a", "b"]
    with pytest.raises(ValueError, match="protected"):
        vocab.fit(["a", "b", "c"], ids=[0, 1, 2])


# ------------------------------------------------------------------ check_leakage


def _clean(seed: int, n: int = 600, d: int = 16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] + 2 * torch.randn(n, generator=g) > 0).long()  # a real but modest signal
    groups = torch.arange(n) // 3
    time = torch.arange(n, dtype=torch.float64)
    cut = int(0.8 * n) // 3 * 3  # split between groups, and in time order
    return dict(
        x_train=x[:cut], x_test=x[cut:], y_train=y[:cut], y_test=y[cut:], groups_train=groups[:cut],
        groups_test=groups[cut:], time_train=time[:cut], time_test=time[cut:],
        generator=torch.Generator().manual_seed(seed),  # the pair scan's draws: a fixed report
    )


@pytest.mark.parametrize("seed", range(20))
def test_no_false_alarm_on_clean_data(seed):
    report = check_leakage(**_clean(seed))
    assert report.ok, str(report)
    assert [c.status for c in report.checks] == ["ok"] * 8  # 6 checks + feature pairs + interpolated rows


def test_planted_exact_duplicates_found():
    data = _clean(0)
    data["x_test"] = torch.cat([data["x_test"], data["x_train"][[4, 44, 104]]])
    data["y_test"] = torch.cat([data["y_test"], 1 - data["y_train"][[4, 44, 104]]])
    data["groups_test"] = torch.cat([data["groups_test"], torch.tensor([900, 901, 902])])
    data["time_test"] = torch.cat([data["time_test"], torch.full((3,), 1e4, dtype=torch.float64)])
    report = check_leakage(**data)
    assert [f.kind for f in report.findings] == ["duplicate"]
    f = report.findings[0]
    n_test = len(data["x_test"])
    assert f.test_rows.tolist() == [n_test - 3, n_test - 2, n_test - 1] and f.train_rows.tolist() == [4, 44, 104]
    assert f.measure == pytest.approx(3 / n_test) and "3 of them with a different label" in f.message
    assert not check_leakage(**data, max_duplicate_ratio=0.05).findings  # deepchecks' threshold tolerates 3


def test_planted_near_duplicates_found():
    data = _clean(1)
    noise = 1e-3 * torch.randn(5, 16, generator=torch.Generator().manual_seed(9))
    data["x_test"] = torch.cat([data["x_test"][:-5], data["x_train"][:5] + noise])
    report = check_leakage(**data)
    assert [f.kind for f in report.findings] == ["near_duplicate"]
    assert report.findings[0].train_rows.tolist() == [0, 1, 2, 3, 4]
    assert report.findings[0].test_rows.tolist() == list(range(len(data["x_test"]) - 5, len(data["x_test"])))


def test_oversampling_before_the_split_is_found():
    """The lecture's trap: random over-sampling of the minority, then a random split."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1000, 8, generator=g)
    y = (torch.arange(1000) < 50).long()
    extra = torch.randint(0, 50, (450,), generator=g)  # minority copies up to 500
    x_all, y_all = torch.cat([x, x[extra]]), torch.cat([y, y[extra]])
    perm = torch.randperm(len(x_all), generator=g)
    train, test = perm[:1160], perm[1160:]
    report = check_leakage(x_all[train], x_all[test], y_all[train], y_all[test], max_feature_auc=None)
    kinds = {f.kind: f for f in report.findings}
    assert set(kinds) == {"duplicate", "train_duplicates"}
    assert "100% of the copies are of class 1" in kinds["train_duplicates"].message
    assert kinds["duplicate"].measure > 0.3


def test_leaky_feature_found():
    data = _clean(3)
    for split in ("train", "test"):
        y = data[f"y_{split}"]
        data[f"x_{split}"][:, 7] = y + 0.05 * torch.randn(len(y), generator=torch.Generator().manual_seed(1))
    report = check_leakage(**data)
    assert [f.kind for f in report.findings] == ["feature_auc"]
    assert report.findings[0].features == [7] and report.findings[0].measure > 0.99
    assert not check_leakage(**data, max_feature_auc=None).findings


def test_group_overlap_found_with_tensor_and_string_ids():
    data = _clean(4)
    data["groups_test"] = data["groups_test"].clone()
    data["groups_test"][:4] = torch.tensor([0, 0, 0, 17])
    report = check_leakage(**data)
    assert [f.kind for f in report.findings] == ["group_overlap"]
    assert report.findings[0].groups == [0, 17] and report.findings[0].test_rows.tolist() == [0, 1, 2, 3]
    names_train = [f"patient-{g}" for g in data["groups_train"].tolist()]
    names_test = [f"patient-{g}" for g in data["groups_test"].tolist()]
    report = check_leakage(**{**data, "groups_train": names_train, "groups_test": names_test})
    assert report.findings[0].groups == ["patient-0", "patient-17"]


def test_temporal_overlap_found_with_numbers_and_datetimes():
    data = _clean(5)
    data["time_test"] = data["time_test"].clone()
    data["time_test"][[3, 9]] = 5.0  # two test rows from the training period
    report = check_leakage(**data)
    assert [f.kind for f in report.findings] == ["temporal_overlap"]
    assert report.findings[0].test_rows.tolist() == [3, 9]
    base = np.datetime64("2024-01-01T00:00")
    days = lambda t: base + t.numpy().astype("timedelta64[h]")  # noqa: E731
    report = check_leakage(**{**data, "time_train": days(data["time_train"]), "time_test": days(data["time_test"])})
    assert report.findings[0].test_rows.tolist() == [3, 9]


def test_premature_featurization_found():
    data = _clean(6)
    n_train, n_test = len(data["x_train"]), len(data["x_test"])
    all_x = torch.cat([data["x_train"], data["x_test"]])
    test_ids = torch.arange(n_train, n_train + n_test)
    good = StandardScaler().fit(data["x_train"], ids=torch.arange(n_train))
    bad = StandardScaler().fit(all_x, ids=torch.arange(n_train + n_test))
    unknown = StandardScaler().fit(data["x_train"])
    report = check_leakage(**data, fitted={"good": good, "bad": bad, "unknown": unknown}, test_ids=test_ids)
    assert [(f.kind, f.message.split()[0]) for f in report.findings] == [
        ("premature_fit", "'bad'"), ("premature_fit", "'unknown'"),
    ]
    assert report.findings[0].test_rows.tolist() == test_ids.tolist()


def test_report_prints_a_table(device):
    data = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in _clean(7).items()}
    del data["groups_train"], data["groups_test"]
    report = check_leakage(**data)
    text = str(report)
    assert text.splitlines()[0] == "| check | measure | threshold | status | detail |"
    assert "| group overlap |  |  | skipped | no groups given |" in text
    assert text.endswith("No leakage found.")
    assert isinstance(report, LeakageReport) and repr(report) == "LeakageReport(8 checks, 0 findings)"
    data["x_test"] = torch.cat([data["x_test"], data["x_train"][:1]])
    data["y_test"] = torch.cat([data["y_test"], data["y_train"][:1]])
    data["time_test"] = torch.cat([data["time_test"], data["time_test"][:1]])
    report = check_leakage(**data)
    assert report.findings[0].test_rows.device.type == "cpu"  # findings are reports: CPU indices
    assert "| exact duplicates across splits |" in str(report) and "LEAK" in str(report)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(x_test=torch.randn(5, 3)), ValueError, "x_test"),
        (dict(x_test=torch.randn(5, 4, dtype=torch.float64)), ValueError, "x_test"),
        (dict(x_test=torch.randn(0, 4)), ValueError, "x_train"),
        (dict(x_train=[[1.0]]), TypeError, "x_train"),
        (dict(y_train=torch.tensor([0, 1])), ValueError, "y_train"),
        (dict(groups_train=torch.arange(20)), ValueError, "groups_train"),
        (dict(groups_train=torch.arange(3), groups_test=torch.arange(5)), ValueError, "groups_train"),
        (dict(time_test=torch.arange(5)), ValueError, "time_train"),
        (dict(time_train=torch.arange(20.0), time_test=torch.tensor([1.0, float("nan"), 2, 3, 4])), ValueError, "timestamps"),
        (dict(fitted={"s": StandardScaler()}), ValueError, "test_ids"),
        (dict(fitted={"s": object()}, test_ids=[1]), TypeError, "fitted"),
        (dict(max_duplicate_ratio=1.5), ValueError, "max_duplicate_ratio"),
        (dict(near_duplicate_threshold=2.0), ValueError, "near_duplicate_threshold"),
        (dict(max_feature_auc=0.3, y_train=torch.tensor([0, 1] * 10)), ValueError, "max_feature_auc"),
    ],
)
def test_check_leakage_bad_inputs(kwargs, exc, name):
    args = dict(x_train=torch.randn(20, 4), x_test=torch.randn(5, 4))
    args.update(kwargs)
    with pytest.raises(exc, match=f"`{name}`"):
        check_leakage(**args)


def test_piece_bad_inputs():
    with pytest.raises(ValueError, match="`y`"):
        feature_auc(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="`x`"):
        feature_auc(torch.tensor([[float("nan")], [1.0]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="`other`"):
        exact_duplicates(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="`threshold`"):
        near_duplicates(torch.zeros(3, 2), torch.zeros(3, 2), threshold=1.5)
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(torch.zeros(2, 2))
