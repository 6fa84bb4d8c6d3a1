"""Metrics: equal to scikit-learn on random data, hand-computed cases, the undefined-value
policy, ties in rankings, devices, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torch_mlsd import evaluation as M

skm = pytest.importorskip("sklearn.metrics")

AVERAGES = ["micro", "macro", "weighted", None]


def _random_labels(seed: int, n: int, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y_true = torch.randint(0, n_classes, (n,), generator=g)
    noise = torch.randint(0, n_classes, (n,), generator=g)
    y_pred = torch.where(torch.rand(n, generator=g) < 0.6, y_true, noise)
    return y_true, y_pred


def _close(ours: torch.Tensor, theirs: object, tol: float = 1e-12) -> None:
    np.testing.assert_allclose(ours.cpu().numpy(), np.asarray(theirs, dtype=float), rtol=tol, atol=tol)


# ------------------------------------------------------------------ against scikit-learn


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("weighted", [False, True])
def test_label_metrics_match_sklearn(seed, weighted, device):
    y_true, y_pred = _random_labels(seed, 500, 4)
    w = torch.rand(500, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) if weighted else None
    kw = {} if w is None else {"sample_weight": w.numpy()}
    t, p = y_true.to(device), y_pred.to(device)
    wd = None if w is None else w.to(device)
    yt, yp = y_true.numpy(), y_pred.numpy()
    _close(M.accuracy_score(t, p, sample_weight=wd), skm.accuracy_score(yt, yp, **kw))
    _close(M.accuracy_score(t, p, normalize=False, sample_weight=wd), skm.accuracy_score(yt, yp, normalize=False, **kw))
    _close(M.balanced_accuracy_score(t, p, sample_weight=wd), skm.balanced_accuracy_score(yt, yp, **kw))
    _close(M.confusion_matrix(t, p, sample_weight=wd), skm.confusion_matrix(yt, yp, **kw))
    for normalize in ("true", "pred", "all"):
        _close(
            M.confusion_matrix(t, p, sample_weight=wd, normalize=normalize),
            skm.confusion_matrix(yt, yp, normalize=normalize, **kw),
        )
    for average in AVERAGES:
        for ours, theirs in [
            (M.precision_score, skm.precision_score),
            (M.recall_score, skm.recall_score),
            (M.f1_score, skm.f1_score),
        ]:
            _close(ours(t, p, average=average, sample_weight=wd), theirs(yt, yp, average=average, **kw))
        _close(
            M.fbeta_score(t, p, beta=0.5, average=average, sample_weight=wd),
            skm.fbeta_score(yt, yp, beta=0.5, average=average, **kw),
        )
    ours = M.precision_recall_fscore_support(t, p, sample_weight=wd)
    theirs = skm.precision_recall_fscore_support(yt, yp, **kw)
    for a, b in zip(ours, theirs):
        _close(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_binary_metrics_match_sklearn(seed, device):
    y_true, y_pred = _random_labels(seed, 300, 2)
    t, p = y_true.to(device), y_pred.to(device)
    for pos_label in (0, 1):
        for ours, theirs in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score), (M.f1_score, skm.f1_score)]:
            _close(ours(t, p, pos_label=pos_label), theirs(y_true.numpy(), y_pred.numpy(), pos_label=pos_label))


def test_labels_argument_matches_sklearn():
    y_true, y_pred = _random_labels(7, 400, 5)
    yt, yp = y_true.numpy(), y_pred.numpy()
    labels = [4, 1, 2, 9]  # reordered subset plus a label that never occurs
    _close(M.confusion_matrix(y_true, y_pred, labels=labels), skm.confusion_matrix(yt, yp, labels=labels))
    for average in AVERAGES:
        _close(
            M.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0.0),
            skm.f1_score(yt, yp, labels=labels, average=average, zero_division=0.0),
        )


def test_unusual_label_values_match_sklearn():
    """Negative labels, a wide range (the sorting path) and bool tensors."""
    g = torch.Generator().manual_seed(3)
    values = torch.tensor([-7, 0, 5, 100_000])
    y_true = values[torch.randint(0, 4, (200,), generator=g)]
    y_pred = values[torch.randint(0, 4, (200,), generator=g)]
    _close(M.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true.numpy(), y_pred.numpy()))
    _close(
        M.f1_score(y_true, y_pred, average="macro"), skm.f1_score(y_true.numpy(), y_pred.numpy(), average="macro")
    )
    b_true, b_pred = y_true > 0, y_pred > 0
    _close(M.f1_score(b_true, b_pred), skm.f1_score(b_true.numpy(), b_pred.numpy()))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weighted", [False, True])
def test_ranking_metrics_match_sklearn_with_ties(seed, weighted, device):
    g = torch.Generator().manual_seed(seed)
    n = 400
    y = (torch.rand(n, generator=g) < 0.3).long()
    # coarse scores: many ties, some of them across the two classes
    score = torch.round((y + torch.randn(n, generator=g, dtype=torch.float64)) * 3) / 3
    w = torch.rand(n, generator=g, dtype=torch.float64) if weighted else None
    kw = {} if w is None else {"sample_weight": w.numpy()}
    wd = None if w is None else w.to(device)
    assert len(torch.unique(score)) < n / 10
    _close(M.roc_auc_score(y.to(device), score.to(device), sample_weight=wd), skm.roc_auc_score(y, score, **kw))
    _close(
        M.average_precision_score(y.to(device), score.to(device), sample_weight=wd),
        skm.average_precision_score(y, score, **kw),
    )


def test_ranking_all_tied_scores():
    y = torch.tensor([0, 1, 0, 1, 1])
    s = torch.full((5,), 0.3)
    assert M.roc_auc_score(y, s).item() == 0.5 == skm.roc_auc_score(y, s)
    _close(M.average_precision_score(y, s), skm.average_precision_score(y, s))  # = prevalence 0.6


@pytest.mark.parametrize("average", ["macro", "weighted", None])
def test_multiclass_ranking_matches_sklearn(average, device):
    g = torch.Generator().manual_seed(11)
    n, c = 600, 4
    y = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64) + 1.5 * torch.nn.functional.one_hot(y, c)
    proba = torch.softmax(torch.round(logits * 2) / 2, dim=1)  # rounded: ties
    ours = M.roc_auc_score(y.to(device), proba.to(device), average=average)
    theirs = skm.roc_auc_score(y, proba, multi_class="ovr", average=average)
    _close(ours, theirs)
    one_hot = torch.nn.functional.one_hot(y, c).numpy()
    _close(
        M.average_precision_score(y.to(device), proba.to(device), average=average),
        skm.average_precision_score(one_hot, proba, average=average),
    )


# ------------------------------------------------------------------ hand cases


def test_hand_computed_binary_case():
    # TP=2, FP=1, FN=1, TN=4
    y_true = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0])
    y_pred = torch.tensor([1, 1, 0, 1, 0, 0, 0, 0])
    assert M.accuracy_score(y_true, y_pred).item() == 6 / 8
    assert M.precision_score(y_true, y_pred).item() == 2 / 3
    assert M.recall_score(y_true, y_pred).item() == 2 / 3
    assert M.f1_score(y_true, y_pred).item() == pytest.approx(2 / 3)
    assert M.balanced_accuracy_score(y_true, y_pred).item() == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert M.confusion_matrix(y_true, y_pred).tolist() == [[4, 1], [1, 2]]
    # F2 = 5 TP / (5 TP + 4 FN + FP)
    assert M.fbeta_score(y_true, y_pred, beta=2.0).item() == pytest.approx(10 / (10 + 4 + 1))


def test_hand_computed_ranking_case():
    # pairs (pos, neg): pos scores 0.8, 0.4; neg scores 0.4, 0.1 -> 3 wins + 1 tie of 4 pairs
    y = torch.tensor([1, 1, 0, 0])
    s = torch.tensor([0.8, 0.4, 0.4, 0.1])
    assert M.roc_auc_score(y, s).item() == pytest.approx(3.5 / 4)
    # thresholds 0.8 (P=1, R=.5), 0.4 (P=2/3, R=1): AP = .5*1 + .5*2/3
    assert M.average_precision_score(y, s).item() == pytest.approx(0.5 + 1 / 3)


# ------------------------------------------------------------------ the undefined-value policy


def test_always_negative_precision_is_nan_and_f1_zero_as_sklearn():
    """scikit-learn's rule since its PR #26965: F = 0 when precision or recall is defined and 0."""
    y_true = torch.tensor([0] * 99 + [1])
    y_pred = torch.zeros(100, dtype=torch.long)
    assert math.isnan(M.precision_score(y_true, y_pred).item())
    assert M.recall_score(y_true, y_pred).item() == 0.0
    for zd in ("nan", 0.0, 0.5, 1.0):
        if zd != 0.5:  # sklearn accepts only 0, 1 and NaN
            assert skm.f1_score(y_true, y_pred, zero_division=np.nan if zd == "nan" else zd) == 0.0
        assert M.f1_score(y_true, y_pred, zero_division=zd).item() == 0.0
        assert M.fbeta_score(y_true, y_pred, beta=2.0, zero_division=zd).item() == 0.0
    assert M.accuracy_score(y_true, y_pred).item() == 0.99


def test_no_positives_anywhere():
    y = torch.zeros(10, dtype=torch.long)
    for fn in (M.precision_score, M.recall_score, M.f1_score):
        assert math.isnan(fn(y, y).item())
        assert fn(y, y, zero_division=0.5).item() == 0.5
    assert M.accuracy_score(y, y).item() == 1.0
    assert M.confusion_matrix(y, y).tolist() == [[10]]


def test_all_positives():
    y = torch.ones(10, dtype=torch.long)
    assert M.f1_score(y, y).item() == 1.0
    assert math.isnan(M.precision_score(y, 1 - y).item())  # never predicts positive: precision 0/0 ...
    assert M.f1_score(y, 1 - y).item() == 0.0 == skm.f1_score(y, 1 - y)  # ... F1 0 (recall 0), as sklearn
    assert math.isnan(M.roc_auc_score(y, torch.rand(10, generator=torch.Generator().manual_seed(0))).item())
    assert M.average_precision_score(y, torch.arange(10.0)).item() == 1.0


def test_zero_division_matches_sklearn_on_degenerate_cases():
    cases = [([0, 0, 1, 1], [0, 0, 0, 0]), ([0, 0, 0, 0], [0, 1, 0, 1]), ([0, 0, 0], [0, 0, 0]), ([0, 1, 2, 2], [0, 1, 1, 1])]
    for yt, yp in cases:
        for average in ["binary", "macro", "weighted", "micro", None]:
            if average == "binary" and len(set(yt) | set(yp)) > 2:
                continue
            for ours, theirs in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score), (M.f1_score, skm.f1_score)]:
                _close(
                    ours(torch.tensor(yt), torch.tensor(yp), average=average, zero_division=0.0),
                    theirs(yt, yp, average=average, zero_division=0.0),
                )


def test_macro_average_keeps_nan_of_an_unpredicted_class():
    y_true = torch.tensor([0, 1, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 1])  # class 2 never predicted
    per_class = M.precision_score(y_true, y_pred, average=None)
    assert math.isnan(per_class[2].item())
    assert math.isnan(M.precision_score(y_true, y_pred, average="macro").item())
    assert M.precision_score(y_true, y_pred, average="macro", zero_division=0.0).item() == pytest.approx(
        skm.precision_score(y_true, y_pred, average="macro", zero_division=0.0)
    )
    assert M.f1_score(y_true, y_pred, average="macro").item() == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )  # class 2's F1 is 0 (recall defined and 0), not NaN


def test_ranking_undefined_cases():
    s = torch.tensor([0.1, 0.5, 0.9])
    assert math.isnan(M.roc_auc_score(torch.tensor([1, 1, 1]), s).item())
    assert M.roc_auc_score(torch.tensor([1, 1, 1]), s, zero_division=0.0).item() == 0.0
    assert math.isnan(M.average_precision_score(torch.tensor([0, 0, 0]), s).item())
    assert M.average_precision_score(torch.tensor([0, 0, 0]), s, zero_division=0.0).item() == 0.0
    y = torch.tensor([0, 1, 0])  # class 2 absent: its one-vs-rest AUC is undefined
    proba = torch.softmax(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)), 1)
    per_class = M.roc_auc_score(y, proba, average=None)
    assert math.isnan(per_class[2].item()) and not math.isnan(per_class[0].item())
    assert math.isnan(M.roc_auc_score(y, proba).item())


# ------------------------------------------------------------------ devices and dtypes


def test_outputs_on_input_device(device):
    y = torch.tensor([0, 1, 1, 0], device=device)
    s = torch.tensor([0.1, 0.9, 0.4, 0.3], device=device)
    for out in (M.accuracy_score(y, y), M.f1_score(y, y), M.confusion_matrix(y, y), M.roc_auc_score(y, s)):
        assert out.device.type == device.type


def test_cpu_and_cuda_agree():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    y_true, y_pred = _random_labels(5, 1000, 3)
    cpu = M.f1_score(y_true, y_pred, average=None)
    assert torch.allclose(cpu, M.f1_score(y_true.cuda(), y_pred.cuda(), average=None).cpu())


def test_accepts_lists_and_numpy():
    assert M.accuracy_score([0, 1, 1], np.array([0, 1, 0])).item() == pytest.approx(2 / 3)
    assert M.roc_auc_score([0, 1], [0.2, 0.7]).item() == 1.0


def test_inputs_not_modified():
    y_true, y_pred = _random_labels(0, 50, 3)
    before = (y_true.clone(), y_pred.clone())
    M.f1_score(y_true, y_pred, average="macro")
    assert torch.equal(y_true, before[0]) and torch.equal(y_pred, before[1])


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: M.accuracy_score(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long)), ValueError, "y_true"),
        (lambda: M.accuracy_score(torch.tensor([0, 1]), torch.tensor([0])), ValueError, "y_pred"),
        (lambda: M.accuracy_score(torch.tensor([0.0, 1.0]), torch.tensor([0, 1])), TypeError, "y_true"),
        (lambda: M.accuracy_score(torch.tensor([[0, 1]]), torch.tensor([[0, 1]])), ValueError, "y_true"),
        (lambda: M.accuracy_score("ab", [0, 1]), TypeError, "y_true"),
        (lambda: M.f1_score(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])), ValueError, "average"),
        (lambda: M.f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), average="samples"), ValueError, "average"),
        (lambda: M.f1_score(torch.tensor([0, 2]), torch.tensor([0, 2])), ValueError, "pos_label"),
        (lambda: M.f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), zero_division="warn"), ValueError, "zero_division"),
        (lambda: M.f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), zero_division=2.0), ValueError, "zero_division"),
        (lambda: M.fbeta_score(torch.tensor([0, 1]), torch.tensor([0, 1]), beta=0.0), ValueError, "beta"),
        (lambda: M.f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), sample_weight=torch.tensor([1.0])), ValueError, "sample_weight"),
        (lambda: M.f1_score(torch.tensor([0, 1]), torch.tensor([0, 1]), sample_weight=torch.tensor([1.0, -1.0])), ValueError, "sample_weight"),
        (lambda: M.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), labels=[1, 1]), ValueError, "labels"),
        (lambda: M.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), normalize="rows"), ValueError, "normalize"),
        (lambda: M.roc_auc_score(torch.tensor([0, 1]), torch.tensor([0.1])), ValueError, "y_score"),
        (lambda: M.roc_auc_score(torch.tensor([0, 1]), torch.tensor([0.1, float("nan")])), ValueError, "y_score"),
        (lambda: M.roc_auc_score(torch.tensor([0, 1, 2]), torch.tensor([0.1, 0.2, 0.3])), ValueError, "y_true"),
        (lambda: M.roc_auc_score(torch.tensor([0, 3]), torch.rand(2, 3)), ValueError, "y_true"),
        (lambda: M.roc_auc_score(torch.tensor([0, 1]), torch.rand(2, 2), average="micro"), ValueError, "average"),
    ],
)
def test_bad_inputs(call, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        call()


def test_device_mismatch_is_an_error():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    with pytest.raises(ValueError, match="`y_pred`"):
        M.accuracy_score(torch.tensor([0, 1]), torch.tensor([0, 1], device="cuda"))


# ------------------------------------------------------------------ issue 11, defect 5: where scikit-learn is right


@pytest.mark.parametrize("labels", [[0, 1], [0, 5000]])
def test_a_class_only_in_zero_weight_rows_still_counts(labels):
    y = torch.tensor(labels)
    w = torch.tensor([1.0, 0.0])
    kw = {"sample_weight": w.numpy()}
    _close(M.f1_score(y, y, average="macro", sample_weight=w, zero_division=0.0), 0.5)
    _close(M.f1_score(y, y, average="macro", sample_weight=w, zero_division=0.0),
           skm.f1_score(y.numpy(), y.numpy(), average="macro", zero_division=0.0, **kw))
    cm = M.confusion_matrix(y, y, sample_weight=w)
    assert cm.shape == (2, 2)  # the same for dense ({0, 1}) and sparse ({0, 5000}) label ranges
    _close(cm, skm.confusion_matrix(y.numpy(), y.numpy(), **kw))


@pytest.mark.parametrize("seed", range(4))
def test_zero_weight_classes_match_sklearn_everywhere(seed):
    y_true, y_pred = _random_labels(seed, 300, 5)
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(300, generator=g, dtype=torch.float64)
    w[(y_true == 4) | (y_pred == 4)] = 0.0  # class 4 is in the data, only with weight 0
    yt, yp, kw = y_true.numpy(), y_pred.numpy(), {"sample_weight": w.numpy()}
    _close(M.confusion_matrix(y_true, y_pred, sample_weight=w), skm.confusion_matrix(yt, yp, **kw))
    for average in AVERAGES:
        for ours, theirs in [(M.precision_score, skm.precision_score), (M.recall_score, skm.recall_score),
                             (M.f1_score, skm.f1_score)]:
            _close(ours(y_true, y_pred, average=average, sample_weight=w, zero_division=0.0),
                   theirs(yt, yp, average=average, zero_division=0.0, **kw))


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_f_score_rule_matches_sklearn_for_every_zero_division(zero_division):
    """F = 0 whenever precision or recall is defined and 0 (scikit-learn's PR #26965);
    undefined (zero_division) only with no true and no predicted rows."""
    cases = [([0, 0, 1, 1], [0, 0, 0, 0]), ([0, 0, 0, 0], [0, 1, 0, 1]), ([0, 0, 0], [0, 0, 0]),
             ([0, 1, 2, 2], [0, 1, 1, 1]), ([1, 1, 1], [0, 0, 0]), ([0, 1, 2, 3], [1, 2, 3, 0])]
    for yt, yp in cases:
        for average in ["binary", "macro", "weighted", "micro", None]:
            if average == "binary" and len(set(yt) | set(yp)) > 2:
                continue
            for beta in (0.5, 1.0, 2.0):
                _close(M.fbeta_score(torch.tensor(yt), torch.tensor(yp), beta=beta, average=average,
                                     zero_division=zero_division),
                       skm.fbeta_score(yt, yp, beta=beta, average=average, zero_division=zero_division))
    never = M.f1_score(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 0]), zero_division=zero_division)
    assert never.item() == 0.0  # missed every positive: 0.0, never zero_division
    nothing = M.f1_score(torch.tensor([0, 0]), torch.tensor([0, 0]), zero_division=zero_division)
    assert nothing.item() == zero_division  # no positive anywhere: undefined


def test_f_score_undefined_only_without_true_and_predicted_rows_by_default():
    p, r, f, _ = M.precision_recall_fscore_support(torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1]), labels=[0, 1, 2, 7])
    assert math.isnan(p[2].item()) and r[2].item() == 0.0 and f[2].item() == 0.0  # never predicted: F 0
    assert math.isnan(r[3].item()) and math.isnan(p[3].item()) and math.isnan(f[3].item())  # absent: undefined


def _both_raise(ours, theirs, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        ours()
    with pytest.raises(ValueError):
        theirs()


def test_average_precision_raises_where_sklearn_raises():
    s1 = np.array([0.1, 0.4, 0.35, 0.8])
    s2 = np.random.default_rng(0).random((4, 3))
    multiclass = np.array([0, 1, 2, 1])
    _both_raise(lambda: M.average_precision_score(torch.tensor(multiclass), torch.tensor(s1)),
                lambda: skm.average_precision_score(multiclass, s1), "y_true")
    _both_raise(lambda: M.roc_auc_score(torch.tensor(multiclass), torch.tensor(s1)),
                lambda: skm.roc_auc_score(multiclass, s1), "y_true")  # the two agree
    binary = np.array([0, 1, 0, 1])
    _both_raise(lambda: M.average_precision_score(torch.tensor(binary), torch.tensor(s1), pos_label=2),
                lambda: skm.average_precision_score(binary, s1, pos_label=2), "pos_label")
    _both_raise(lambda: M.average_precision_score(torch.tensor(multiclass), torch.tensor(s2), pos_label=2),
                lambda: skm.average_precision_score(multiclass, s2, pos_label=2), "pos_label")
    # what sklearn accepts still works: pos_label 1 with (N, C) scores, pos_label 0 of two classes
    _close(M.average_precision_score(torch.tensor(multiclass), torch.tensor(s2), pos_label=1),
           skm.average_precision_score(multiclass, s2, pos_label=1))
    _close(M.average_precision_score(torch.tensor(binary), torch.tensor(s1), pos_label=0),
           skm.average_precision_score(binary, s1, pos_label=0))


def test_confusion_matrix_labels_must_meet_y_true():
    y = np.array([0, 1, 1])
    _both_raise(lambda: M.confusion_matrix(torch.tensor(y), torch.tensor(y), labels=[3, 4]),
                lambda: skm.confusion_matrix(y, y, labels=[3, 4]), "labels")
    _both_raise(lambda: M.confusion_matrix(torch.tensor(y), torch.tensor(y), labels=[]),
                lambda: skm.confusion_matrix(y, y, labels=[]), "labels")
    with pytest.raises(ValueError, match="`labels` must hold at least one label, got \\[\\]"):
        M.f1_score(torch.tensor(y), torch.tensor(y), labels=[], average="macro")
    _close(M.confusion_matrix(torch.tensor(y), torch.tensor(y), labels=[1, 4]),
           skm.confusion_matrix(y, y, labels=[1, 4]))  # one label of y_true is enough
