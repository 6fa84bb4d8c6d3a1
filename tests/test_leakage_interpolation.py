"""Training-data leaks: SMOTE before the split (test rows interpolated between training
rows) and premature featurisation (a fitted transformer that saw test rows)."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.evaluation import check_leakage, interpolated_rows, refit_difference
from torch_mlsd.features import GuardedTransformer, StandardScaler, TextFeaturizer
from torch_mlsd.imbalance import smote


def _smote_before_split(seed: int, d: int = 8):
    """SMOTE on the whole data, then a random 80/20 split; returns the split and the truth."""
    g = torch.Generator().manual_seed(seed)
    n = 2000
    y = (torch.rand(n, generator=g) < 0.1).long()
    x = torch.randn(n, d, generator=g) + 1.5 * y[:, None] + 10.0  # away from the origin: rounding matters
    xr, yr = smote(x, y, generator=torch.Generator(x.device).manual_seed(seed))
    perm = torch.randperm(len(xr), generator=g)
    cut = int(0.8 * len(xr))
    return xr[perm[:cut]], xr[perm[cut:]], yr[perm[:cut]], yr[perm[cut:]], perm[cut:] >= n


@pytest.mark.parametrize("seed", range(3))
def test_smote_before_the_split_is_found(seed, device):
    x_tr, x_te, y_tr, _, synthetic = _smote_before_split(seed)
    found = interpolated_rows(x_tr.to(device), x_te.to(device), y_tr.to(device))
    rows = torch.zeros(len(x_te), dtype=torch.bool)
    rows[found.rows] = True
    assert not bool((rows & ~synthetic).any())  # no original row is flagged
    # A synthetic test row whose two parents both landed in train (about 64% of them) can be
    # found; at least 80% of all synthetic test rows that could be found are.
    assert rows.sum() >= 0.8 * 0.64 * synthetic.sum() * 0.8
    assert bool((y_tr[found.left] == y_tr[found.right]).all())
    assert bool(((found.position > 0) & (found.position < 1)).all()) and float(found.residual.max()) <= 1e-5
    ends = x_tr[found.left] + found.position[:, None].float() * (x_tr[found.right] - x_tr[found.left])
    assert torch.allclose(ends, x_te[found.rows], atol=1e-4)


@pytest.mark.parametrize("seed", range(20))
def test_clean_continuous_data_has_no_interpolated_rows(seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(1500, 4, generator=g), torch.randint(0, 2, (1500,), generator=g)
    assert len(interpolated_rows(x[:1200], x[1200:], y[:1200]).rows) == 0


def test_copies_are_left_to_the_duplicate_checks():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g)
    assert len(interpolated_rows(x[:200], x[:10]).rows) == 0  # a copy is an end, not inside


def test_check_leakage_reports_smote_before_the_split():
    x_tr, x_te, y_tr, y_te, synthetic = _smote_before_split(4)
    report = check_leakage(x_tr, x_te, y_tr, y_te, max_feature_auc=None, scan_pairs=False)
    kinds = {f.kind: f for f in report.findings}
    assert set(kinds) == {"interpolated", "near_duplicate"}  # new rows close to a parent are near copies too
    finding = kinds["interpolated"]
    assert bool(synthetic[finding.test_rows].all()) and finding.train_rows.shape == (len(finding.test_rows), 2)
    assert "SMOTE" in finding.message
    skipped = check_leakage(x_tr, x_te, y_tr, y_te, max_feature_auc=None, scan_pairs=False,
                            interpolation_tolerance=None)
    assert [f.kind for f in skipped.findings] == ["near_duplicate"]


def test_interpolated_rows_bad_inputs():
    x = torch.randn(30, 3)
    with pytest.raises(ValueError, match="`x_test`"):
        interpolated_rows(x, torch.randn(5, 2))
    with pytest.raises(ValueError, match="`k`"):
        interpolated_rows(x, x, k=1)
    with pytest.raises(ValueError, match="`tolerance`"):
        interpolated_rows(x, x, tolerance=0.0)
    with pytest.raises(ValueError, match="`y_train`"):
        interpolated_rows(x, x, torch.zeros(29, dtype=torch.long))
    with pytest.raises(ValueError, match="`x_train`"):
        interpolated_rows(torch.full((30, 3), float("inf")), x)


# ------------------------------------------------------------ premature featurisation

TRAIN_TEXTS = ["the scan was clear", "a small nodule on the scan", "clear lungs", "nodule grew", "follow up scan"]
TEST_TEXTS = ["nodule on the new scanner", "new scanner shows a nodule", "clear scan"]


def test_refit_difference_catches_a_vocabulary_fit_on_test_texts():
    clean = TextFeaturizer(n_features=256, output="dense").fit(TRAIN_TEXTS)
    leaky = TextFeaturizer(n_features=256, output="dense").fit(TRAIN_TEXTS + TEST_TEXTS)
    assert refit_difference(clean, TRAIN_TEXTS, TEST_TEXTS) < 1e-6
    assert refit_difference(leaky, TRAIN_TEXTS, TEST_TEXTS) > 0.01
    sparse = TextFeaturizer(n_features=256).fit(TRAIN_TEXTS + TEST_TEXTS)  # sparse output works too
    assert refit_difference(sparse, TRAIN_TEXTS, TEST_TEXTS) > 0.01


def test_refit_difference_with_scikit_learn_and_guarded_objects():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g, dtype=torch.float64)
    x[80:] += 2.0
    assert refit_difference(preprocessing.MinMaxScaler().fit(x[:80].numpy()), x[:80].numpy(), x[80:].numpy()) == 0.0
    assert refit_difference(preprocessing.MinMaxScaler().fit(x.numpy()), x[:80].numpy(), x[80:].numpy()) > 0.1
    guarded = GuardedTransformer(preprocessing.StandardScaler()).protect(torch.arange(80, 100))
    guarded.fit(x[:80].numpy(), ids=torch.arange(80))
    assert refit_difference(guarded, x[:80].numpy(), x[80:].numpy(), train_ids=torch.arange(80)) == 0.0
    with pytest.raises(TypeError, match="`fitted`"):
        refit_difference(object(), x, x)


def test_guarded_transformer_refuses_test_rows_and_is_read_by_check_leakage():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(100, 4, generator=g)
    test_ids = torch.arange(80, 100)
    guarded = GuardedTransformer(preprocessing.StandardScaler()).protect(test_ids)
    with pytest.raises(ValueError, match="protected"):
        guarded.fit(x.numpy(), ids=torch.arange(100))
    with pytest.raises(ValueError, match="`ids` is required"):
        guarded.fit(x.numpy())
    unprotected = GuardedTransformer(preprocessing.StandardScaler()).fit(x.numpy(), ids=torch.arange(100))
    good = guarded.fit(x[:80].numpy(), ids=torch.arange(80))
    assert good.transform(x[80:].numpy()).shape == (20, 4)
    scaler = StandardScaler().fit(x[:80], ids=torch.arange(80))
    fitted = {"good": good, "all rows": unprotected, "scaler": scaler}
    report = check_leakage(x[:80], x[80:], fitted=fitted, test_ids=test_ids, scan_pairs=False)
    assert [(f.kind, f.message.split()[0]) for f in report.findings] == [("premature_fit", "'all")]
    with pytest.raises(TypeError, match="`transformer`"):
        GuardedTransformer(object())
