"""Baselines a model must beat, and a table comparing them.

The lecture's zero rule, random and heuristic baselines, scikit-learn's ``DummyClassifier``
strategies in torch, and a trained logistic regression::

    uniform_random_baseline      DummyClassifier("uniform")
    label_distribution_baseline  DummyClassifier("stratified"): draws from the class prior
    most_frequent_baseline       DummyClassifier("most_frequent"): the zero rule
    constant_baseline            DummyClassifier("constant")
    heuristic_baseline           any callable x -> labels (or labels and scores)
    LogisticRegression           L2-regularised, L-BFGS, as sklearn's (C, lbfgs)

Each baseline returns :class:`Predictions` (labels, per-class scores and the classes the
score columns stand for). :func:`compare_baselines` scores them all and prints the
lecture's table.

The random baselines take ``generator`` (torch's convention): ``None`` draws fresh OS
entropy (different predictions each call); a seeded generator repeats them. Draws happen
on that CPU generator, so one seed gives the same predictions on the CPU and on a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from .._random import resolve_generator
from .._validate import check_int, check_tensor, describe
from . import metrics as M
from . import ranking as R
from ._inputs import as_labels, encode, union, unique_counts
from .logistic import LogisticRegression
from .splits import stratified_kfold

__all__ = [
    "Predictions",
    "uniform_random_baseline",
    "label_distribution_baseline",
    "most_frequent_baseline",
    "constant_baseline",
    "heuristic_baseline",
    "logistic_regression_baseline",
    "BaselineReport",
    "compare_baselines",
]

Heuristic = Callable[[torch.Tensor], Any] | torch.Tensor
MetricFn = Callable[[torch.Tensor, torch.Tensor], Any]


class Predictions(NamedTuple):
    """What a baseline predicts for ``N`` rows.

    Attributes:
        labels: ``(N,)`` ``int64`` predicted labels.
        scores: ``(N, C)`` ``float64`` class probabilities (or scores), one column per class.
        classes: ``(C,)`` ``int64`` sorted labels the score columns stand for.
    """

    labels: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor


def _class_counts(y: Any, n_samples: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Sorted classes of ``y``, their counts, and the number of rows to predict."""
    y = as_labels("y", y)
    classes, counts = unique_counts(y)
    return classes, counts, len(y) if n_samples is None else check_int("n_samples", n_samples, min=1)


def _one_hot(index: torch.Tensor, n_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(index, n_classes).double()


def uniform_random_baseline(
    y: torch.Tensor, *, n_samples: int | None = None, generator: torch.Generator | None = None
) -> Predictions:
    """Predict each class with probability ``1 / C`` (the classes seen in ``y``).

    Args:
        y: ``(M,)`` labels that define the classes (usually the training labels).
        n_samples: number of rows to predict; default ``len(y)``.
        generator: CPU generator of the draw (``None``: fresh OS entropy); the same
            seed gives the same labels on any device.

    Returns:
        :class:`Predictions` with constant scores ``1 / C``.

    Example:
        >>> p = uniform_random_baseline(torch.tensor([0, 0, 0, 1]), n_samples=6)
        >>> p.labels.shape, p.scores[0].tolist()
        (torch.Size([6]), [0.5, 0.5])
    """
    classes, _, n = _class_counts(y, n_samples)
    k = len(classes)
    idx = torch.randint(0, k, (n,), generator=resolve_generator(generator, "cpu")).to(classes.device)
    return Predictions(classes[idx], torch.full((n, k), 1.0 / k, dtype=torch.float64, device=classes.device), classes)


def label_distribution_baseline(
    y: torch.Tensor, *, n_samples: int | None = None, generator: torch.Generator | None = None
) -> Predictions:
    """Predict at random following the label distribution of ``y`` (the prior).

    With 1% positives this predicts positive 1% of the time, independently of the
    input: accuracy ``p^2 + (1-p)^2`` and F1 ``p`` in expectation.
    scikit-learn's ``DummyClassifier(strategy="stratified")``.

    Args:
        y: ``(M,)`` labels whose frequencies are the prior.
        n_samples: number of rows to predict; default ``len(y)``.
        generator: CPU generator of the draw (``None``: fresh OS entropy).

    Returns:
        :class:`Predictions` whose scores are the one-hot drawn labels (as sklearn's).

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> p = label_distribution_baseline(torch.tensor([0, 0, 0, 1]), n_samples=1000, generator=g)
        >>> 0.15 < p.labels.double().mean().item() < 0.35
        True
    """
    classes, counts, n = _class_counts(y, n_samples)
    cdf = (counts.cumsum(0).double() / counts.sum()).cpu()
    u = torch.rand(n, generator=resolve_generator(generator, "cpu"), dtype=torch.float64)
    idx = torch.searchsorted(cdf, u, right=True).clamp_(max=len(classes) - 1).to(classes.device)
    return Predictions(classes[idx], _one_hot(idx, len(classes)), classes)


def _constant(classes: torch.Tensor, index: int, n: int) -> Predictions:
    idx = torch.full((n,), index, dtype=torch.long, device=classes.device)
    return Predictions(classes[idx], _one_hot(idx, len(classes)), classes)


def most_frequent_baseline(y: torch.Tensor, *, n_samples: int | None = None) -> Predictions:
    """Always predict the most common class of ``y`` (the zero rule; ties: smallest label).

    Args:
        y: ``(M,)`` labels.
        n_samples: number of rows to predict; default ``len(y)``.

    Returns:
        :class:`Predictions` with one-hot scores.

    Example:
        >>> most_frequent_baseline(torch.tensor([2, 0, 2, 1]), n_samples=3).labels.tolist()
        [2, 2, 2]
    """
    classes, counts, n = _class_counts(y, n_samples)
    return _constant(classes, int(torch.argmax(counts)), n)


def constant_baseline(y: torch.Tensor, value: int, *, n_samples: int | None = None) -> Predictions:
    """Always predict ``value``, which must be one of the classes of ``y``.

    Example:
        >>> constant_baseline(torch.tensor([0, 0, 1]), 1).labels.tolist()
        [1, 1, 1]
    """
    classes, _, n = _class_counts(y, n_samples)
    value = check_int("value", value)
    hits = (classes == value).nonzero()
    if len(hits) == 0:
        raise ValueError(f"`value` must be one of the classes {classes.tolist()[:20]}, got {value!r}")
    return _constant(classes, int(hits[0]), n)


def heuristic_baseline(fn: Callable[[Any], Any], x: Any, *, classes: torch.Tensor | None = None) -> Predictions:
    """Run a rule of thumb ``fn(x)`` that returns labels ``(N,)`` or ``(labels, scores)``.

    Args:
        fn: any callable; its scores, if returned, are ``(N, C)`` with one column per
            class in ``classes`` (or ``(N,)`` for the larger of two classes).
        x: the input handed to ``fn`` (features, texts, ...).
        classes: ``(C,)`` sorted labels the score columns stand for; default the labels
            ``fn`` predicted. Without scores, the scores are the one-hot labels.

    Example:
        >>> x = torch.tensor([[0.2], [3.0], [5.0]])
        >>> heuristic_baseline(lambda x: (x[:, 0] > 1).long(), x).labels.tolist()
        [0, 1, 1]
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable, got {describe(fn)}")
    out = fn(x)
    labels, scores = out if isinstance(out, tuple) else (out, None)
    return _from_labels(labels, scores, classes, name="fn(x)")


def _from_labels(labels: Any, scores: Any, classes: torch.Tensor | None, *, name: str) -> Predictions:
    labels = as_labels(name, labels)
    if classes is None:
        classes = unique_counts(labels)[0]
    if scores is None:
        index = encode(labels, classes).clamp_(max=len(classes) - 1)
        return Predictions(labels, _one_hot(index, len(classes)), classes)
    scores = torch.as_tensor(scores, device=labels.device).double()
    if scores.ndim == 1 and len(classes) == 2:
        scores = torch.stack([1 - scores, scores], dim=1)
    if scores.shape != (len(labels), len(classes)):
        raise ValueError(f"scores of `{name}` must have shape {(len(labels), len(classes))}, got {tuple(scores.shape)}")
    return Predictions(labels, scores, classes)


def logistic_regression_baseline(
    x_train: torch.Tensor, y_train: torch.Tensor, x: torch.Tensor, *, C: float = 1.0, standardize: bool = True
) -> Predictions:
    """Fit :class:`LogisticRegression` on ``(x_train, y_train)`` and predict ``x``.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> logistic_regression_baseline(x, torch.tensor([0, 0, 1, 1]), x, C=10.0).labels.tolist()
        [0, 0, 1, 1]
    """
    model = LogisticRegression(C=C, standardize=standardize).fit(x_train, y_train)
    proba = model.predict_proba(x)
    return Predictions(model.classes_[proba.argmax(1)], proba, model.classes_)


def _out_of_fold_logistic(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, n_folds: int) -> Predictions:
    """Out-of-fold predictions: every row predicted by a model that never saw it."""
    classes, counts = unique_counts(y)
    folds = min(n_folds, int(counts.min()))
    if folds < 2:
        raise ValueError(
            "`y_true` has a class with a single example: the logistic regression cannot be fit out of fold; "
            "pass `x_train` and `y_train`"
        )
    labels = torch.empty_like(y)
    scores = torch.empty(len(y), len(classes), dtype=torch.float64, device=y.device)
    for train, test in stratified_kfold(y, n_splits=folds, generator=generator):
        model = LogisticRegression().fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        labels[test] = model.classes_[proba.argmax(1)]
        scores[test] = proba  # every fold sees every class (stratified), so columns align
    return Predictions(labels, scores, classes)


class BaselineReport(Mapping[str, Mapping[str, float]]):
    """Baseline name -> metric name -> value; prints as a markdown table.

    Example:
        >>> r = BaselineReport({"most common class": {"accuracy": 0.99, "f1": float("nan")}})
        >>> print(r)
        | baseline | accuracy | f1 |
        |---|---|---|
        | most common class | 0.9900 | NaN |
        >>> r["most common class"]["accuracy"]
        0.99
    """

    def __init__(self, rows: Mapping[str, Mapping[str, float]], *, note: str = "") -> None:
        self.rows = {name: dict(values) for name, values in rows.items()}
        self.note = note

    def __getitem__(self, name: str) -> Mapping[str, float]:
        return self.rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_markdown(self) -> str:
        """The table in markdown; NaN (undefined) printed as ``NaN``."""
        metric_names = list(next(iter(self.rows.values()), {}))
        lines = ["| baseline | " + " | ".join(metric_names) + " |", "|---" * (len(metric_names) + 1) + "|"]
        for name, values in self.rows.items():
            cells = ["NaN" if math.isnan(v) else f"{v:.4f}" for v in values.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines + ([self.note] if self.note else []))

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"BaselineReport({self.rows!r})"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "average_precision")


def _user_metric(fn: MetricFn) -> Callable[[torch.Tensor, Predictions, torch.Tensor], float]:
    """A user's ``fn(y_true, y_pred)`` as ``f(y_true, predictions, y_index)`` -> float."""
    return lambda y, p, yi: float(fn(y, p.labels))


def _metric_functions(
    names: Sequence[str] | Mapping[str, MetricFn], classes: torch.Tensor, pos_label: int, zero_division: Any
) -> dict[str, Callable[[torch.Tensor, Predictions, torch.Tensor], float]]:
    """Each metric as ``f(y_true, predictions, y_index)`` -> float (scores aligned on ``classes``)."""
    binary = len(classes) <= 2
    pos_col = int(encode(torch.tensor([pos_label], device=classes.device), classes).clamp(max=len(classes) - 1))
    if isinstance(names, Mapping):
        return {str(k): _user_metric(fn) for k, fn in names.items()}
    if isinstance(names, str) or not all(isinstance(n, str) and n in _METRICS for n in names):
        raise ValueError(f"`metrics` must be names from {_METRICS} or a mapping name -> callable, got {names!r}")
    avg = dict(average="binary" if binary else "macro", pos_label=pos_label, zero_division=zero_division)
    label_fns = {"precision": M.precision_score, "recall": M.recall_score, "f1": M.f1_score}

    def make(name: str) -> Callable[[torch.Tensor, Predictions, torch.Tensor], float]:
        if name == "accuracy":
            return lambda y, p, yi: float(M.accuracy_score(y, p.labels))
        if name == "balanced_accuracy":
            return lambda y, p, yi: float(M.balanced_accuracy_score(y, p.labels))
        if name in label_fns:
            return lambda y, p, yi: float(label_fns[name](y, p.labels, **avg))
        ranking = R.roc_auc_score if name == "roc_auc" else R.average_precision_score
        if binary:
            return lambda y, p, yi: float(
                ranking((y == pos_label).long(), p.scores[:, pos_col], zero_division=zero_division)
            )
        return lambda y, p, yi: float(ranking(yi, p.scores, zero_division=zero_division))

    return {name: make(name) for name in names}


def _aligned(p: Predictions, classes: torch.Tensor) -> Predictions:
    """Scores re-indexed onto ``classes`` (zero columns for classes the baseline never saw)."""
    scores = torch.zeros(len(p.labels), len(classes), dtype=torch.float64, device=p.scores.device)
    cols = encode(p.classes, classes)
    keep = cols < len(classes)
    scores[:, cols[keep]] = p.scores[:, keep]
    return Predictions(p.labels, scores, classes)


def compare_baselines(
    y_true: torch.Tensor,
    *,
    x: torch.Tensor | None = None,
    y_train: torch.Tensor | None = None,
    x_train: torch.Tensor | None = None,
    heuristics: Mapping[str, Heuristic] | None = None,
    constant: int | None = None,
    metrics: Sequence[str] | Mapping[str, MetricFn] = ("accuracy", "f1"),
    pos_label: int = 1,
    zero_division: M.ZeroDivision = "nan",
    generator: torch.Generator | None = None,
    n_folds: int = 5,
) -> BaselineReport:
    """Score the standard baselines on ``y_true`` and return the lecture's table.

    Rows: ``uniform random``, ``label distribution random``, ``most common class``, then
    ``constant <value>`` (with ``constant``), one row per heuristic, and ``logistic
    regression`` (with ``x``). The random and zero-rule baselines learn the classes and
    their frequencies from ``y_train`` when given, else from ``y_true`` (as the lecture
    does). The logistic regression trains on ``(x_train, y_train)`` when given, else it
    predicts every row of ``x`` out of fold (stratified ``n_folds``-fold).

    Args:
        y_true: ``(N,)`` evaluation labels.
        x: ``(N, D)`` evaluation features, for heuristics and the logistic regression.
        y_train, x_train: training labels / features (optional).
        heuristics: name -> callable ``x -> labels`` (or ``(labels, scores)``), or name ->
            an ``(N,)`` tensor of ready predictions (a human annotator, an existing API).
        constant: also score always predicting this label.
        metrics: names from ``accuracy``, ``balanced_accuracy``, ``precision``,
            ``recall``, ``f1``, ``roc_auc``, ``average_precision`` (binary data: of
            ``pos_label``; more classes: macro averages), or a mapping name ->
            ``f(y_true, y_pred)``.
        pos_label: the positive class on binary data.
        zero_division: value of undefined metrics, ``"nan"`` (default) or a number in
            ``[0, 1]`` (see :mod:`torch_mlsd.evaluation.metrics`).
        generator: CPU generator of the random baselines and the folds, drawn from in
            that order (``None``: fresh OS entropy, a different table each call).
        n_folds: folds of the out-of-fold logistic regression.

    Returns:
        :class:`BaselineReport`, a mapping baseline -> metric -> float.

    Example:
        >>> y = torch.tensor([0] * 990 + [1] * 10)
        >>> g = torch.Generator().manual_seed(0)
        >>> r = compare_baselines(y, metrics=("accuracy", "precision", "f1"), generator=g)
        >>> r["most common class"]  # precision 0/0 is undefined; F1 is 0 since recall is 0
        {'accuracy': 0.99, 'precision': nan, 'f1': 0.0}
    """
    y_true = as_labels("y_true", y_true)
    y_prior = y_true if y_train is None else as_labels("y_train", y_train).to(y_true.device)
    g = resolve_generator(generator, "cpu")
    classes = union(y_true, y_prior)
    n = len(y_true)
    if x is not None:
        check_tensor("x", x, ndim=2, dtypes="numeric")
        if len(x) != n:
            raise ValueError(f"`x` must have {n} rows like `y_true`, got shape {tuple(x.shape)}")
    rows: dict[str, Predictions] = {
        "uniform random": uniform_random_baseline(y_prior, n_samples=n, generator=g),
        "label distribution random": label_distribution_baseline(y_prior, n_samples=n, generator=g),
        "most common class": most_frequent_baseline(y_prior, n_samples=n),
    }
    if constant is not None:
        rows[f"constant {constant}"] = constant_baseline(classes, constant, n_samples=n)
    for name, rule in (heuristics or {}).items():
        if isinstance(rule, torch.Tensor):
            rows[name] = _from_labels(rule, None, classes, name=f"heuristics[{name!r}]")
        elif x is None:
            raise ValueError(f"`x` is required to run the heuristic {name!r}")
        else:
            rows[name] = heuristic_baseline(rule, x, classes=classes)
    if x is not None:
        if x_train is None and y_train is None:
            folds = check_int("n_folds", n_folds, min=2)
            rows["logistic regression"] = _out_of_fold_logistic(x, y_true, g, folds)
        elif x_train is None or y_train is None:
            raise ValueError("`x_train` and `y_train` must be given together")
        else:
            rows["logistic regression"] = logistic_regression_baseline(x_train, y_prior, x)
    fns = _metric_functions(metrics, classes, pos_label, zero_division)
    ranked = not isinstance(metrics, Mapping) and bool({"roc_auc", "average_precision"} & set(metrics))
    y_index = encode(y_true, classes) if ranked else y_true
    table = {}
    for name, p in rows.items():
        p = _aligned(p, classes) if ranked else p
        table[name] = {m: fn(y_true, p, y_index) for m, fn in fns.items()}
    positives = float((y_true == pos_label).double().mean()) if len(classes) <= 2 else math.nan
    note = f"n = {n:,}" + ("" if math.isnan(positives) else f", positives ({pos_label}) = {positives:.2%}")
    return BaselineReport(table, note=note)

