"""Feature-subset ablation and the feature-addition curve: planted leaks stand out, clean
data raises no alarm, the scorers agree with scikit-learn's models where they must."""

from __future__ import annotations

import math

import pytest
import torch

from torch_mlsd.evaluation import addition_curve, binned_score, feature_ablation, logistic_score


def _leaky_table(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """6 features: 0-1 modest signals, 2 + 3 an XOR of the label, 4 the label plus noise, 5 noise."""
    g = torch.Generator().manual_seed(seed)
    n = 1500
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 6, generator=g)
    x[:, :2] += 0.4 * y[:, None]
    sign = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, -1.0)
    x[:, 2] = sign * x[:, 2].abs()
    x[:, 3] = torch.where(y.bool(), -sign, sign) * x[:, 3].abs()  # sign(x2) != sign(x3) exactly when y = 1
    x[:, 4] = y + 0.2 * torch.randn(n, generator=g)
    return x, y


def test_ablation_shows_the_leaks():
    x, y = _leaky_table(0)
    names = ["age", "visits", "scanner_a", "scanner_b", "label_copy", "noise"]
    table = feature_ablation(x, y, names=names, generator=torch.Generator().manual_seed(0))
    kinds = [r.kind for r in table.rows]
    assert kinds == ["all"] + ["single"] * 6 + ["pair"] + ["without"] * 6
    pair = table.rows[7]
    assert pair.features == (2, 3) and pair.scores["binned"] > 0.95 and pair.scores["logistic"] < 0.65
    assert [table.label(r) for r in table.very_high] == ["label_copy", "scanner_a + scanner_b"]
    singles = {r.features[0]: r for r in table.rows if r.kind == "single"}
    assert all(max(singles[i].scores.values()) < 0.6 for i in (2, 3, 5))  # the XOR halves: chance
    assert table.all_features.scores["logistic"] > 0.95
    assert table.rows[-1].scores["binned"] > 0.95  # 5 features: 2 bins each (1050 rows / 32 cells >= 10)
    text = table.to_markdown()
    assert text.splitlines()[0] == "| subset | kind | logistic | binned | note |"
    assert "| scanner_a + scanner_b | pair |" in text and "VERY HIGH" in text
    few_rows = feature_ablation(x[:150], y[:150], pairs=[], generator=torch.Generator().manual_seed(0))
    assert math.isnan(few_rows.all_features.scores["binned"]) and "n/a" in few_rows.to_markdown()  # 2^6 cells > 105 / 10


def test_ablation_leave_one_out_names_the_costly_feature():
    x, y = _leaky_table(1)
    table = feature_ablation(x[:, [0, 1, 4, 5]], y, pairs=[], scorers={"logistic": logistic_score},
                             generator=torch.Generator().manual_seed(0))
    assert [table.label(r) for r in table.costly] == ["all but x2"]  # the label copy
    assert table.drop(table.costly[0]) > 0.1


def test_ablation_on_clean_data_marks_nothing():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1200, 5, generator=g)
    y = (torch.rand(1200, generator=g) < torch.sigmoid(0.7 * x[:, 0] + 0.5 * x[:, 1])).long()
    table = feature_ablation(x, y, generator=g)
    assert not table.very_high and not [r for r in table.rows if r.kind == "pair"]
    assert [table.label(r) for r in table.costly] == ["all but x0"]  # the real, strongest signal: costly, not "very high"


def _addition_data(seed: int, leak_at: int | None, n: int = 1000, d: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, d, generator=g) + 0.25 * y[:, None]  # modest, similar features
    if leak_at is not None:
        x[:, leak_at] = y + 0.3 * torch.randn(n, generator=g)
    return x, y


def test_addition_curve_jumps_at_the_late_leak():
    x, y = _addition_data(0, leak_at=6)
    curve = addition_curve(x, y, generator=torch.Generator().manual_seed(0))
    assert curve.jump_features == ["x6"] and curve.flagged.nonzero().flatten().tolist() == [6]
    assert float(curve.jumps[6]) > 0.1 and curve.fold_scores.shape == (8, 5)
    assert "| 7 | x6 |" in curve.to_markdown() and "JUMP" in curve.to_markdown()
    first = addition_curve(x[:, [0, 1, 6]], y, [2, 0, 1], n_folds=3, generator=torch.Generator().manual_seed(0))
    assert first.jump_features == [] and float(first.mean[0]) > 0.95  # the leak first: no step to compare it with


@pytest.mark.parametrize("seed", range(20))
def test_addition_curve_finds_the_late_leak_in_every_seed(seed):
    x, y = _addition_data(seed, leak_at=6)
    curve = addition_curve(x, y, generator=torch.Generator().manual_seed(seed))
    assert curve.jump_features == ["x6"], curve.to_markdown()


FOLD_DRAWS = (0, 1000, 2000)  # added to the seed: three different fold assignments of the same rows


@pytest.mark.parametrize("seed", range(40))
def test_addition_curve_no_alarm_on_clean_data(seed):
    """Modest features that each add real but ordinary gain (about 0.03, 0.02, 0.02, 0.02 of
    AUC): no step is flagged, whichever folds are drawn (the old rule, a gain against 3 fold
    sd of the scores, alarmed on 6 of these 200 curves: 40 seeds x 5 fold draws)."""
    x, y = _addition_data(seed, leak_at=None, n=600, d=5)
    for draw in FOLD_DRAWS:
        curve = addition_curve(x, y, n_folds=3, generator=torch.Generator().manual_seed(seed + draw))
        assert curve.jump_features == [], curve.to_markdown()


def test_addition_curve_rule_is_the_paired_gain_lower_bound():
    x, y = _addition_data(3, leak_at=4, n=600, d=6)
    curve = addition_curve(x, y, n_folds=4, n_sigmas=2.0, min_jump=0.03, generator=torch.Generator().manual_seed(1))
    gains = curve.fold_scores[1:] - curve.fold_scores[:-1]  # (D - 1, F): the same fold with and without
    stderr = math.sqrt(gains.var(dim=1).mean() * (1 / 4 + 1 / 3))
    assert curve.stderr == pytest.approx(stderr, rel=1e-12)
    torch.testing.assert_close(curve.jumps[1:], gains.mean(1))
    torch.testing.assert_close(curve.jump_std[1:], gains.std(1))
    torch.testing.assert_close(curve.lower[1:], gains.mean(1) - 2.0 * stderr)
    assert curve.flagged.tolist() == [False] + (gains.mean(1) - 2.0 * stderr > 0.03).tolist()
    assert curve.jump_features == ["x4"] and math.isnan(float(curve.jumps[0])) and math.isnan(float(curve.lower[0]))


def _fold_effect_scorer(x_train, y_train, x_test, y_test):
    """A score set by the fold (its test rows) plus 0.1 once the third feature is in: every fold
    gains exactly 0.1 at that step, while the folds' scores spread over about 0.3."""
    fold = float(x_test[:, 0].sum()) % 1.0
    return 0.55 + 0.3 * fold + 0.1 * (x_test.shape[1] >= 3)


def test_addition_curve_pairs_the_folds():
    """A gain every fold agrees on is found even when the folds' scores differ far more than
    the gain: the fold's own difficulty cancels in the paired gains (against the spread of the
    scores, 0.1 is within noise)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 2
    x = torch.randn(300, 4, generator=g)
    curve = addition_curve(x, y, scorer=_fold_effect_scorer, n_folds=5, generator=g)
    assert 3 * float(curve.std.min()) > 0.1  # 3 sd of the scores over the folds: more than the gain ...
    assert curve.jump_features == ["x2"] and curve.stderr < 1e-5  # ... their paired gains do not
    torch.testing.assert_close(curve.jumps[1:], torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64))


def test_addition_curve_markdown_shows_the_paired_gain_and_its_spread():
    x, y = _addition_data(0, leak_at=6)
    curve = addition_curve(x, y, generator=torch.Generator().manual_seed(0))
    lines = curve.to_markdown().splitlines()
    header = "| step | feature added | mean score | sd over folds | paired gain | sd of gain | lower bound | status |"
    assert lines[0] == header
    row = lines[2 + 6]
    expected = f"{float(curve.jumps[6]):+.4f} | {float(curve.jump_std[6]):.4f} | {float(curve.lower[6]):+.4f}"
    assert row.startswith("| 7 | x6 |") and expected in row and row.endswith("JUMP: a very good feature, or leakage |")
    assert lines[2].startswith("| 1 | x0 |") and "| | |" in lines[2]  # the first step has no gain
    assert f"standard error of a gain {curve.stderr:.4f}" in lines[-1] and "> 0.05" in lines[-1]


def test_scorers_agree_with_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = _leaky_table(2)
    x_tr, y_tr, x_te, y_te = x[:1000, :2], y[:1000], x[1000:, :2], y[1000:]
    mean, std = x_tr.mean(0), x_tr.std(0, unbiased=False)
    model = sklearn.LogisticRegression(C=1.0, tol=1e-10).fit(((x_tr - mean) / std).numpy(), y_tr.numpy())
    expected = metrics.roc_auc_score(y_te.numpy(), model.predict_proba(((x_te - mean) / std).numpy())[:, 1])
    assert logistic_score(x_tr, y_tr, x_te, y_te) == pytest.approx(expected, abs=1e-6)
    # binned: three classes, one feature with 4 bins -> class frequencies per quartile
    y3 = torch.bucketize(x[:, 0].contiguous(), torch.tensor([-0.5, 0.5]))
    assert binned_score(x[:1000, :1], y3[:1000], x[1000:, :1], y3[1000:], bins=4) > 0.85


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda x, y: feature_ablation(x, y, scorers={}), TypeError, "scorers"),
        (lambda x, y: feature_ablation(x, y, pairs=[[0, 9]]), ValueError, "pairs"),
        (lambda x, y: feature_ablation(x, y, names=["a"]), ValueError, "names"),
        (lambda x, y: feature_ablation(x, y, test_size=1.0), ValueError, "test_size"),
        (lambda x, y: addition_curve(x, y, order=[0, 0, 1]), ValueError, "order"),
        (lambda x, y: addition_curve(x, y, n_folds=1), ValueError, "n_folds"),
        (lambda x, y: addition_curve(x, y, scorer=3), TypeError, "scorer"),
        (lambda x, y: addition_curve(x, y, n_sigmas=-1.0), ValueError, "n_sigmas"),
        (lambda x, y: addition_curve(x, y, min_jump=math.nan), ValueError, "min_jump"),
        (lambda x, y: binned_score(x, y, x[:, :2], y), ValueError, "x_test"),
        (lambda x, y: binned_score(x, y, x, y, bins=0), ValueError, "bins"),
    ],
)
def test_bad_inputs(call, exc, name):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 3, generator=g), torch.arange(60) % 2
    with pytest.raises(exc, match=f"`{name}`"):
        call(x, y)
