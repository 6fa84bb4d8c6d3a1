"""Baselines: the lecture's table, scikit-learn's DummyClassifier semantics, the logistic
regression against scikit-learn's, the report, and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from torch_mlsd.evaluation import (
    BaselineReport,
    LogisticRegression,
    compare_baselines,
    constant_baseline,
    heuristic_baseline,
    label_distribution_baseline,
    logistic_regression_baseline,
    most_frequent_baseline,
    uniform_random_baseline,
)

ALPHA = 1e-3  # chi-square tests: fixed seeds, reject at this level


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _lecture_labels(n: int = 1_000_000) -> torch.Tensor:
    y = torch.zeros(n, dtype=torch.long)
    y[::100] = 1  # exactly 10,000 positives (1%)
    return y


def test_lecture_table():
    """n = 1e6 with 1% positives: uniform random acc 0.50 / F1 0.0196, label-distribution
    random 0.9802 / 0.01, most common 0.99 / 0.0 (scikit-learn's F rule: recall is 0, so F1
    is 0 although precision, 0/0, is undefined).

    Tolerances are 5 binomial standard errors: uniform acc sd = sqrt(.25/1e6) = 5e-4,
    F1 = 2TP/(pred_pos + n_pos) with sd(TP) = 50 -> sd(F1) ~ 2e-4; label distribution:
    FP ~ Bin(990000, .01) sd 99, FN sd 10 -> sd(acc) ~ 1e-4, TP ~ Bin(10000, .01) sd 10
    -> sd(F1) ~ 2 * 10 / 20000 = 1e-3.
    """
    report = compare_baselines(_lecture_labels(), generator=_gen(0))
    assert list(report) == ["uniform random", "label distribution random", "most common class"]
    assert report["uniform random"]["accuracy"] == pytest.approx(0.5, abs=5 * 5e-4)
    assert report["uniform random"]["f1"] == pytest.approx(10_000 / 510_000, abs=5 * 2e-4)
    assert report["label distribution random"]["accuracy"] == pytest.approx(0.9802, abs=5 * 1e-4)
    assert report["label distribution random"]["f1"] == pytest.approx(0.01, abs=5 * 1e-3)
    assert report["most common class"]["accuracy"] == 0.99
    assert report["most common class"]["f1"] == 0.0
    text = str(report)
    assert "| most common class | 0.9900 | 0.0000 |" in text
    assert "n = 1,000,000, positives (1) = 1.00%" in text


def test_lecture_table_with_sklearn_zero_division():
    report = compare_baselines(_lecture_labels(10_000), generator=_gen(1), zero_division=0.0)
    assert report["most common class"]["f1"] == 0.0


def test_lecture_table_agrees_with_sklearn_dummy_classifier():
    """Our baselines scored by sklearn's own metric give the same numbers as ours."""
    skm = pytest.importorskip("sklearn.metrics")
    y = _lecture_labels(100_000)
    for pred in (uniform_random_baseline(y, generator=_gen(3)), label_distribution_baseline(y, generator=_gen(3))):
        assert float(compare_baselines(y, heuristics={"p": pred.labels})["p"]["f1"]) == pytest.approx(
            skm.f1_score(y.numpy(), pred.labels.numpy())
        )


def test_uniform_random_frequencies():
    stats = pytest.importorskip("scipy.stats")
    y = torch.tensor([3, 5, 5, 9, 9, 9])
    p = uniform_random_baseline(y, n_samples=30_000, generator=_gen(4))
    counts = torch.stack([(p.labels == c).sum() for c in (3, 5, 9)]).numpy()
    assert counts.sum() == 30_000
    assert stats.chisquare(counts).pvalue > ALPHA
    assert torch.equal(p.classes, torch.tensor([3, 5, 9]))
    assert torch.allclose(p.scores, torch.full((30_000, 3), 1 / 3, dtype=torch.float64))


def test_label_distribution_frequencies_follow_prior():
    stats = pytest.importorskip("scipy.stats")
    y = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    p = label_distribution_baseline(y, n_samples=50_000, generator=_gen(5))
    counts = torch.bincount(p.labels, minlength=3).numpy()
    assert stats.chisquare(counts, [35_000, 10_000, 5_000]).pvalue > ALPHA
    assert torch.equal(p.scores.argmax(1), p.labels)  # one-hot of the drawn labels, as sklearn's


def test_zero_rule_and_constant_match_sklearn_dummy():
    dummy = pytest.importorskip("sklearn.dummy")
    y = torch.tensor([4, 1, 1, 7, 4, 4, 1, 7])  # tie between 1 and 4: smallest label wins
    x = torch.zeros(8, 1)
    for ours, strategy, kw in [
        (most_frequent_baseline(y), "most_frequent", {}),
        (constant_baseline(y, 7), "constant", {"constant": 7}),
    ]:
        clf = dummy.DummyClassifier(strategy=strategy, **kw).fit(x.numpy(), y.numpy())
        assert ours.labels.tolist() == clf.predict(x.numpy()).tolist()
        assert ours.scores.tolist() == clf.predict_proba(x.numpy()).tolist()
        assert ours.classes.tolist() == clf.classes_.tolist()


def test_random_baselines_are_seeded(device):
    y = torch.tensor([0, 0, 0, 1, 2], device=device)
    for fn in (uniform_random_baseline, label_distribution_baseline):
        a, b, c = fn(y, n_samples=200, generator=_gen(7)), fn(y, n_samples=200, generator=_gen(7)), fn(y, n_samples=200, generator=_gen(8))
        assert torch.equal(a.labels, b.labels) and not torch.equal(a.labels, c.labels)
        assert a.labels.device.type == device.type
        assert torch.equal(a.labels.cpu(), fn(y.cpu(), n_samples=200, generator=_gen(7)).labels)  # same on every device


def test_heuristic_baseline_labels_and_scores():
    x = torch.tensor([[0.0], [2.0], [5.0]])
    p = heuristic_baseline(lambda v: ((v[:, 0] > 1).long(), torch.sigmoid(v[:, 0] - 1)), x)
    assert p.labels.tolist() == [0, 1, 1]
    assert torch.allclose(p.scores.sum(1), torch.ones(3, dtype=torch.float64))
    q = heuristic_baseline(lambda v: (v[:, 0] > 1).long(), x, classes=torch.tensor([0, 1, 2]))
    assert q.scores.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_logistic_regression_matches_sklearn(n_classes, C, device):
    sklm = pytest.importorskip("sklearn.linear_model")
    g = torch.Generator().manual_seed(n_classes)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64)
    w = torch.randn(4, n_classes, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(x @ w * 2, 1), 1, generator=g)[:, 0]
    ours = LogisticRegression(C=C, standardize=False).fit(x.to(device), y.to(device))
    theirs = sklm.LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x.numpy(), y.numpy())
    assert torch.allclose(ours.coef_.cpu(), torch.from_numpy(theirs.coef_), atol=1e-4)
    assert torch.allclose(ours.intercept_.cpu(), torch.from_numpy(theirs.intercept_), atol=1e-4)
    proba = ours.predict_proba(x.to(device)).cpu()
    assert torch.allclose(proba, torch.from_numpy(theirs.predict_proba(x.numpy())), atol=1e-5)
    assert ours.predict(x.to(device)).device.type == device.type


def test_logistic_regression_standardizes_with_training_rows_only():
    x = torch.tensor([[0.0, 100.0], [1.0, 300.0], [2.0, 100.0], [3.0, 300.0]])
    model = LogisticRegression().fit(x, torch.tensor([0, 0, 1, 1]))
    assert model.mean_.tolist() == [1.5, 200.0]
    assert model.predict(torch.tensor([[-5.0, 200.0], [9.0, 200.0]])).tolist() == [0, 1]


def test_compare_baselines_with_features_heuristics_and_metrics():
    g = torch.Generator().manual_seed(0)
    n = 2000
    x = torch.randn(n, 3, generator=g)
    y = (x[:, 0] + 0.5 * torch.randn(n, generator=g) > 1.0).long()
    human = torch.where(torch.rand(n, generator=g) < 0.9, y, 1 - y)
    report = compare_baselines(
        y,
        x=x,
        heuristics={"x0 > 1": lambda v: (v[:, 0] > 1).long(), "annotator": human},
        constant=1,
        metrics=("accuracy", "balanced_accuracy", "f1", "roc_auc", "average_precision"),
    )
    assert list(report) == [
        "uniform random", "label distribution random", "most common class", "constant 1", "x0 > 1", "annotator",
        "logistic regression",
    ]
    lr = report["logistic regression"]
    assert lr["roc_auc"] > 0.9 and lr["f1"] > report["uniform random"]["f1"]
    assert report["most common class"]["roc_auc"] == 0.5 and report["uniform random"]["roc_auc"] == 0.5
    assert report["constant 1"]["f1"] == pytest.approx(2 * y.double().mean().item() / (1 + y.double().mean().item()))
    assert report["annotator"]["accuracy"] == pytest.approx(0.9, abs=5 * math.sqrt(0.09 / n))


def test_compare_baselines_with_a_training_set_and_custom_metric():
    g = torch.Generator().manual_seed(1)
    x_train, x_test = torch.randn(500, 2, generator=g), torch.randn(300, 2, generator=g)
    y_train, y_test = (x_train[:, 1] > 0).long(), (x_test[:, 1] > 0).long()
    report = compare_baselines(
        y_test, x=x_test, x_train=x_train, y_train=y_train, metrics={"errors": lambda t, p: (t != p).sum()}
    )
    assert report["logistic regression"]["errors"] < 15
    assert list(report["most common class"]) == ["errors"]


def test_compare_baselines_multiclass_uses_macro_averages():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    report = compare_baselines(y, metrics=("accuracy", "f1", "roc_auc"))
    assert report["most common class"]["accuracy"] == 0.5
    assert report["most common class"]["f1"] == pytest.approx((2 * 50 / 150) / 3)  # classes 1, 2: F1 0 (recall 0)
    assert math.isnan(compare_baselines(y, metrics=("precision",))["most common class"]["precision"])  # 0/0 kept
    assert report["most common class"]["roc_auc"] == 0.5


def test_report_is_a_mapping_and_prints_markdown():
    report = BaselineReport({"a": {"accuracy": 0.5, "f1": 0.25}, "b": {"accuracy": 1.0, "f1": float("nan")}})
    assert dict(report["a"]) == {"accuracy": 0.5, "f1": 0.25} and len(report) == 2
    assert report.to_markdown().splitlines() == [
        "| baseline | accuracy | f1 |",
        "|---|---|---|",
        "| a | 0.5000 | 0.2500 |",
        "| b | 1.0000 | NaN |",
    ]


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: uniform_random_baseline(torch.tensor([0, 1]), n_samples=0), ValueError, "n_samples"),
        (lambda: uniform_random_baseline(torch.tensor([0, 1]), generator=3), TypeError, "generator"),
        (lambda: label_distribution_baseline(torch.tensor([0, 1]), generator=0), TypeError, "generator"),
        (lambda: compare_baselines(torch.tensor([0, 1]), generator="0"), TypeError, "generator"),
        (lambda: most_frequent_baseline(torch.tensor([], dtype=torch.long)), ValueError, "y"),
        (lambda: constant_baseline(torch.tensor([0, 1]), 5), ValueError, "value"),
        (lambda: heuristic_baseline("rule", torch.zeros(2, 1)), TypeError, "fn"),
        (lambda: heuristic_baseline(lambda v: (torch.zeros(2, dtype=torch.long), torch.zeros(2, 3)), None), ValueError, "fn\\(x\\)"),
        (lambda: LogisticRegression(C=0.0), ValueError, "C"),
        (lambda: LogisticRegression().fit(torch.zeros(3, 1), torch.tensor([1, 1, 1])), ValueError, "y"),
        (lambda: LogisticRegression().fit(torch.zeros(3, 1), torch.tensor([0, 1])), ValueError, "y"),
        (lambda: LogisticRegression().fit(torch.tensor([[0.0], [float("nan")]]), torch.tensor([0, 1])), ValueError, "x"),
        (lambda: LogisticRegression().fit(torch.zeros(2, 1), torch.tensor([0, 1])).predict(torch.zeros(2, 3)), ValueError, "x"),
        (lambda: compare_baselines(torch.tensor([0, 1]), x=torch.zeros(3, 1)), ValueError, "x"),
        (lambda: compare_baselines(torch.tensor([0, 1]), heuristics={"h": lambda v: v}), ValueError, "x"),
        (lambda: compare_baselines(torch.tensor([0, 1]), metrics=("accuracy", "auc")), ValueError, "metrics"),
        (lambda: compare_baselines(torch.tensor([0, 1]), metrics="accuracy"), ValueError, "metrics"),
        (lambda: compare_baselines(torch.tensor([0, 1]), x=torch.zeros(2, 1), x_train=torch.zeros(2, 1)), ValueError, "y_train"),
        (lambda: compare_baselines(torch.tensor([0, 0, 1]), x=torch.zeros(3, 1)), ValueError, "y_true"),
    ],
)
def test_bad_inputs(call, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        call()


def test_predict_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticRegression().predict(torch.zeros(2, 1))


def test_logistic_regression_baseline_returns_predictions():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    p = logistic_regression_baseline(x, torch.tensor([0, 0, 1, 1]), x[:2])
    assert p.labels.tolist() == [0, 0] and p.scores.shape == (2, 2)
