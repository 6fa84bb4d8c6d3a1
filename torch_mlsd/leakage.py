"""Leakage checks: does anything of the test split reach training?

:func:`check_leakage` runs every check that its arguments allow and returns a
:class:`LeakageReport`: a table of checks (measure, threshold, status) and a list of
:class:`Finding`\\ s, empty when nothing is suspicious. Each finding names the rows,
features or groups involved.

=======================  ===================================================  =============
check                    measure                                              alarm above
=======================  ===================================================  =============
exact duplicates         fraction of test rows equal to a train row           0 (deepchecks: 5%)
near duplicates          fraction of test rows with a train row of cosine     0
                         similarity >= ``near_duplicate_threshold``
duplicates inside train  fraction of train rows that copy another train row   1%
                         (oversampling before the split leaves these)
feature AUC              per-feature ROC-AUC on train, ``max(auc, 1 - auc)``  0.95
group overlap            fraction of test rows whose group is also in train   0
temporal overlap         fraction of test rows older than the newest train    0
premature fit            fitted statistics (:class:`FitGuard`) that saw test  0
                         rows
=======================  ===================================================  =============

The pieces are public too: :func:`exact_duplicates` (row hashing, any number of rows),
:func:`near_duplicates` (chunked cosine k-NN on the tensors' device), :func:`feature_auc`,
and :class:`FitGuard` with a :class:`StandardScaler` that uses it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from . import metrics as M
from ._neighbors import knn
from ._validate import check_float, check_int, check_tensor, describe
from .splits import _times

__all__ = [
    "Finding",
    "CheckResult",
    "LeakageReport",
    "check_leakage",
    "exact_duplicates",
    "near_duplicates",
    "feature_auc",
    "FitGuard",
    "StandardScaler",
]

_MAX_BYTES = 256 * 2**20
_Guard = TypeVar("_Guard", bound="FitGuard")
_SHOWN = 10  # row / feature indices spelled out in a message


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class Finding:
    """One suspicious observation.

    Attributes:
        kind: ``"duplicate"``, ``"near_duplicate"``, ``"train_duplicates"``,
            ``"feature_auc"``, ``"group_overlap"``, ``"temporal_overlap"`` or ``"premature_fit"``.
        message: what was found, in words.
        measure: the value that crossed the threshold.
        threshold: the alarm threshold.
        test_rows: ``int64`` CPU indices of the test rows involved, or ``None``.
        train_rows: ``int64`` CPU indices of the training rows involved (for duplicates,
            the train row matching each test row), or ``None``.
        features: indices of the features involved, or ``None``.
        groups: the groups involved, or ``None``.
    """

    kind: str
    message: str
    measure: float
    threshold: float
    test_rows: torch.Tensor | None = None
    train_rows: torch.Tensor | None = None
    features: list[int] | None = None
    groups: list[Any] | None = None


@dataclass(frozen=True)
class CheckResult:
    """One row of the report table: ``status`` is ``"ok"``, ``"LEAK"`` or ``"skipped"``."""

    check: str
    measure: float
    threshold: float
    status: str
    detail: str


class LeakageReport:
    """Every check run (``checks``) and what crossed its threshold (``findings``).

    ``str(report)`` is a markdown table followed by the findings; ``report.ok`` is
    ``True`` when there are no findings.
    """

    def __init__(self, checks: list[CheckResult], findings: list[Finding]) -> None:
        self.checks = checks
        self.findings = findings

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_markdown(self) -> str:
        lines = ["| check | measure | threshold | status | detail |", "|---|---|---|---|---|"]
        for c in self.checks:
            measure = "" if c.status == "skipped" else f"{c.measure:.4g}"
            threshold = "" if c.status == "skipped" else f"> {c.threshold:.4g}"
            lines.append(f"| {c.check} | {measure} | {threshold} | {c.status} | {c.detail} |")
        lines.append("")
        lines += [f"- [{f.kind}] {f.message}" for f in self.findings] or ["No leakage found."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return f"LeakageReport({len(self.checks)} checks, {len(self.findings)} findings)"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _show(rows: torch.Tensor | Sequence[Any]) -> str:
    items = rows.tolist() if isinstance(rows, torch.Tensor) else list(rows)
    return str(items[:_SHOWN])[:-1] + (", ...]" if len(items) > _SHOWN else "]")


def _pct(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / max(whole, 1):.2%})"


# ---------------------------------------------------------------- exact duplicates


def _rows2d(name: str, x: Any) -> torch.Tensor:
    """``(N, ...)`` tensor as ``(N, D)``: the rows whose equality is checked."""
    check_tensor(name, x)
    if x.ndim == 0 or x.dtype.is_complex:
        raise ValueError(f"`{name}` must be a real tensor with a row dimension, got {describe(x)}")
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def _words(x: torch.Tensor) -> torch.Tensor:
    """Rows as ``int64`` words such that equal values give equal words (-0.0 == 0.0, all NaNs alike)."""
    if x.dtype.is_floating_point:
        x = x + 0.0  # a copy, and -0.0 + 0.0 == +0.0
        x.masked_fill_(torch.isnan(x), float("nan"))  # one NaN bit pattern
    elif x.dtype == torch.bool:
        x = x.to(torch.uint8)
    x = x.contiguous()
    row_bytes = x.shape[1] * x.element_size()
    if row_bytes % 8 == 0 and row_bytes:
        return x.view(torch.int64)
    as_int = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[x.element_size()]
    return x.view(as_int).to(torch.int64)


def _blocks(n: int, row_bytes: int, max_bytes: int) -> Iterator[slice]:
    step = max(1, max_bytes // max(row_bytes * 4, 1))  # a few temporaries of the block's size
    for start in range(0, n, step):
        yield slice(start, start + step)


def _row_hashes(x: torch.Tensor, max_bytes: int) -> torch.Tensor:
    """``(N,)`` ``int64`` hash of each row: sum of words times fixed odd random
    coefficients, modulo 2^64. Equal rows hash equal; unequal rows collide with
    probability about 2^-64 (candidates are confirmed exactly anyway)."""
    width = _words(x[:1]).shape[1]
    gen = torch.Generator().manual_seed(0x5EED)
    coef = (torch.randint(0, 2**62, (width,), generator=gen) * 2 + 1).to(x.device)
    out = torch.empty(len(x), dtype=torch.int64, device=x.device)
    for block in _blocks(len(x), width * 8, max_bytes):
        out[block] = (_words(x[block]) * coef).sum(1)
    return out


def _rows_equal(
    a: torch.Tensor, rows_a: torch.Tensor, b: torch.Tensor, rows_b: torch.Tensor, max_bytes: int
) -> torch.Tensor:
    out = torch.empty(len(rows_a), dtype=torch.bool, device=a.device)
    for block in _blocks(len(rows_a), a.shape[1] * 8, max_bytes):
        out[block] = (_words(a[rows_a[block]]) == _words(b[rows_b[block]])).all(1)
    return out


def exact_duplicates(
    x: torch.Tensor, other: torch.Tensor | None = None, *, max_bytes: int = _MAX_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``other`` equal to a row of ``x`` (or, without ``other``, rows of ``x``
    equal to an earlier row of ``x``), found by hashing rows and confirmed exactly.

    Floating values compare as numbers except that all NaNs are alike (``-0.0 == 0.0``).
    Cost: one pass to hash, a sort of ``N`` hashes, and an exact comparison of the
    candidate rows; memory bounded by ``max_bytes`` per block.

    Args:
        x: ``(N, ...)`` tensor of any real dtype (rows are flattened).
        other: optional ``(M, ...)`` tensor with the same row shape and dtype, same device.
        max_bytes: bound on the temporaries of one block of rows.

    Returns:
        ``(rows, matches)``: ``int64`` indices, increasing in ``rows``. With ``other``:
        ``other[rows[i]] == x[matches[i]]``. Without: ``x[rows[i]] == x[matches[i]]`` with
        ``matches[i] < rows[i]`` the first occurrence.

    Example:
        >>> train = torch.tensor([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]])
        >>> exact_duplicates(train)
        (tensor([2]), tensor([0]))
        >>> exact_duplicates(train, torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        (tensor([0]), tensor([1]))
    """
    a = _rows2d("x", x)
    b = a if other is None else _rows2d("other", other)
    if b.shape[1:] != a.shape[1:] or b.dtype != a.dtype or b.device != a.device:
        raise ValueError(f"`other` must have rows like `x` ({describe(x)}), got {describe(other)}")
    max_bytes = check_int("max_bytes", max_bytes, min=1)  # type: ignore[assignment]
    if len(a) == 0 or len(b) == 0:
        empty = torch.empty(0, dtype=torch.long, device=a.device)
        return empty, empty
    h, order = torch.sort(_row_hashes(a, max_bytes), stable=True)  # stable: a run lists rows in index order
    starts = torch.ones_like(h, dtype=torch.bool)
    starts[1:] = h[1:] != h[:-1]
    run_start = torch.where(starts, torch.arange(len(h), device=h.device), 0).cummax(0).values
    if other is None:  # every row but the first of its run, against that first row
        pos: torch.Tensor | None = (~starts).nonzero().flatten()
        rows, first = order[pos], run_start[pos]
    else:  # every row of `other` whose hash occurs in `x`, against the first row of that run
        hb = _row_hashes(b, max_bytes)
        first = torch.searchsorted(h, hb).clamp_(max=len(h) - 1)
        rows = (h[first] == hb).nonzero().flatten()
        first, pos = first[rows], None
    matches = order[first]
    equal = _rows_equal(b, rows, a, matches, max_bytes)
    for i in (~equal).nonzero().flatten().tolist():  # a 64-bit hash collision: scan the run
        lo = int(first[i])
        hi = int(pos[i]) if pos is not None else int(torch.searchsorted(h, h[lo], right=True))
        candidates = order[lo:hi]
        same = _rows_equal(b, rows[i].expand(len(candidates)), a, candidates, max_bytes).nonzero()
        if len(same):
            matches[i], equal[i] = candidates[same[0, 0]], True
    rows, matches = rows[equal], matches[equal]
    sort = torch.argsort(rows)
    return rows[sort], matches[sort]


# ---------------------------------------------------------------- near duplicates


def near_duplicates(
    x: torch.Tensor,
    other: torch.Tensor,
    *,
    threshold: float = 0.99,
    center: bool = True,
    max_bytes: int = _MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``other`` whose most similar row of ``x`` has cosine similarity
    ``>= threshold`` (exact copies included), by a chunked exact k-NN on the device.

    With ``center`` (default) both sets are centred on the mean row of ``x`` first, so
    that features that are all positive (pixels, counts) do not make every pair similar.
    Cosine similarity says little with very few features: below about ten, random
    rows are often within a few degrees of each other.

    Args:
        x: ``(N, ...)`` reference rows (train), any real dtype (compared in float32,
            float64 kept).
        other: ``(M, ...)`` rows to look up (test), same row shape and device.
        threshold: cosine similarity in ``[-1, 1]``.
        center: subtract the mean row of ``x`` from both.
        max_bytes: bound on one block of the similarity matrix.

    Returns:
        ``(rows, matches, similarity)``: rows of ``other``, their nearest row of ``x``,
        and the cosine similarity (float).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> train = torch.randn(100, 16, generator=g)
        >>> test = torch.cat([train[:2] + 0.01, torch.randn(3, 16, generator=g)])
        >>> near_duplicates(train, test)[:2]
        (tensor([0, 1]), tensor([0, 1]))
    """
    a, b = _rows2d("x", x), _rows2d("other", other)
    if b.shape[1] != a.shape[1] or b.device != a.device:
        raise ValueError(f"`other` must have rows like `x` ({describe(x)}), got {describe(other)}")
    threshold = check_float("threshold", threshold, min=-1.0, max=1.0)  # type: ignore[assignment]
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    a, b = a.to(dtype), b.to(dtype)
    if center:
        mean = a.mean(0)
        a, b = a - mean, b - mean
    sim, idx = knn(b, a, 1, metric="cosine", max_bytes=max_bytes)
    rows = (sim[:, 0] >= threshold).nonzero().flatten()
    return rows, idx[rows, 0], sim[rows, 0]


# ---------------------------------------------------------------- single-feature predictive power


def feature_auc(x: torch.Tensor, y: torch.Tensor, *, max_bytes: int = _MAX_BYTES) -> torch.Tensor:
    """How well each feature alone ranks the classes: ROC-AUC as ``max(auc, 1 - auc)``
    (0.5: no information, 1: perfectly separating, in either direction).

    Two classes: the AUC of each feature for the larger label. More classes: the
    largest one-vs-rest value over the classes. Ties count 1/2, as in
    :func:`torch_mlsd.metrics.roc_auc_score`.

    Args:
        x: ``(N, D)`` (or ``(N, ...)``, flattened) finite features, any real dtype.
        y: ``(N,)`` integer labels with at least two classes.
        max_bytes: bound on the working memory of one block of features.

    Returns:
        ``(D,)`` ``float64`` on ``x``'s device.

    Example:
        >>> x = torch.tensor([[0.1, 5.0], [0.2, 1.0], [0.9, 3.0], [0.8, 2.0]])
        >>> feature_auc(x, torch.tensor([0, 0, 1, 1]))
        tensor([1.0000, 0.5000], dtype=torch.float64)
    """
    a = _rows2d("x", x)
    y = M._as_labels("y", y)
    if len(y) != len(a):
        raise ValueError(f"`y` must have {len(a)} labels like `x`, got {len(y)}")
    if a.dtype.is_floating_point and not bool(torch.isfinite(a).all()):
        raise ValueError(f"`x` must be finite, got NaN or inf in {describe(x)}")
    classes = M._unique(y)[0]
    if len(classes) < 2:
        raise ValueError(f"`y` must hold at least 2 classes, got only {classes.tolist()}")
    positives = classes[1:] if len(classes) == 2 else classes
    step = max(1, max_bytes // (len(a) * 8 * 8))  # the ranking holds about 8 float64 copies
    out = torch.zeros(a.shape[1], dtype=torch.float64, device=a.device)
    for start in range(0, a.shape[1], step):
        cols = a[:, start : start + step].T.double()
        for c in positives:
            auc = M._ranking(cols, (y == c)[None, :], None, "roc")
            out[start : start + step] = torch.maximum(out[start : start + step], torch.maximum(auc, 1 - auc))
    return out


# ---------------------------------------------------------------- fitted statistics


def _ids(name: str, ids: Any) -> torch.Tensor:
    ids = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
    check_tensor(name, ids, ndim=1, dtypes="integer")
    return torch.unique(ids.cpu().long())


class FitGuard:
    """Base for fitted statistics (a scaler, a vocabulary, idf weights) that remembers
    which rows it was fit on and refuses rows of a protected (test) split.

    Premature featurisation (statistics computed on train + test) leaks the test split
    into every feature. A subclass calls ``self._guard_fit(ids, n_rows)`` at the start of
    ``fit``; once :meth:`protect` has been called, ``fit`` needs the row ``ids`` and
    raises ``ValueError`` when any of them is protected. :func:`check_leakage` also
    reads ``fit_ids_`` to report statistics fit on test rows.

    Attributes:
        fit_ids_: sorted ``int64`` ids of the rows of the last fit (``None`` when fit
            without ids).
        protected_ids_: sorted ``int64`` ids that fitting refuses.

    Example:
        >>> scaler = StandardScaler().protect(torch.tensor([8, 9]))
        >>> x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
        >>> _ = scaler.fit(x[:8], ids=torch.arange(8))
        >>> scaler.fit(x, ids=torch.arange(10))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `ids` must not include protected (test) rows, got 2 of them among the 10 rows ...
    """

    fit_ids_: torch.Tensor | None = None
    protected_ids_: torch.Tensor | None = None

    def protect(self: _Guard, ids: torch.Tensor | Sequence[int]) -> _Guard:
        """Refuse, from now on, to fit on any of these row ids (adds to earlier ones)."""
        new = _ids("ids", ids)
        old = self.protected_ids_
        self.protected_ids_ = new if old is None else torch.unique(torch.cat([old, new]))
        return self

    def _guard_fit(self, ids: Any, n_rows: int) -> None:
        """Check the rows about to be fit on, and record them."""
        if ids is None:
            if self.protected_ids_ is not None:
                raise ValueError("`ids` is required: this statistic protects test rows, so fit must name its rows")
            self.fit_ids_ = None
            return
        ids_t = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
        check_tensor("ids", ids_t, ndim=1, dtypes="integer")
        if len(ids_t) != n_rows:
            raise ValueError(f"`ids` must name the {n_rows} rows to fit on, got {len(ids_t)} ids")
        unique = _ids("ids", ids_t)
        if self.protected_ids_ is not None:
            bad = unique[torch.isin(unique, self.protected_ids_)]
            if len(bad):
                raise ValueError(
                    f"`ids` must not include protected (test) rows, got {len(bad)} of them among the {n_rows} "
                    f"rows to fit on: {_show(bad)}; fit on the training rows only"
                )
        self.fit_ids_ = unique


class StandardScaler(FitGuard):
    """Centre and scale features with statistics of the training rows only.

    ``(x - mean_) / scale_`` with the population standard deviation (``scale_`` 1 for
    constant features), as scikit-learn's ``StandardScaler``; statistics in float64.

    Example:
        >>> x = torch.tensor([[1.0, 10.0], [3.0, 10.0]])
        >>> StandardScaler().fit(x, ids=torch.tensor([0, 1])).transform(x)
        tensor([[-1.,  0.],
                [ 1.,  0.]])
    """

    def fit(self, x: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None) -> StandardScaler:
        """Fit on ``x`` ``(N, D)``; ``ids`` names its rows (required after :meth:`protect`)."""
        check_tensor("x", x, ndim=2, dtypes="float")
        if len(x) == 0:
            raise ValueError("`x` must have at least one row")
        self._guard_fit(ids, len(x))
        x64 = x.double()
        self.mean_ = x64.mean(0)
        std = x64.std(0, unbiased=False)
        self.scale_ = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean_) / scale_`` in ``x``'s dtype."""
        check_tensor("x", x, ndim=2, dtypes="float")
        if not hasattr(self, "mean_"):
            raise RuntimeError("this StandardScaler is not fitted yet: call fit(x, ids=...) first")
        if x.shape[1] != len(self.mean_):
            raise ValueError(f"`x` must have {len(self.mean_)} features as in fit, got shape {tuple(x.shape)}")
        return ((x - self.mean_.to(x.dtype)) / self.scale_.to(x.dtype)).to(x.dtype)

    def fit_transform(self, x: torch.Tensor, *, ids: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        return self.fit(x, ids=ids).transform(x)


# ---------------------------------------------------------------- the report


def _result(check: str, measure: float, threshold: float, detail: str) -> CheckResult:
    return CheckResult(check, measure, threshold, "LEAK" if measure > threshold else "ok", detail)


def _skipped(check: str, why: str) -> CheckResult:
    return CheckResult(check, float("nan"), float("nan"), "skipped", why)


def _duplicate_checks(
    a: torch.Tensor,
    b: torch.Tensor,
    y_train: Any,
    y_test: Any,
    max_ratio: float,
    max_train_ratio: float,
    max_bytes: int,
) -> tuple[list[CheckResult], list[Finding], torch.Tensor]:
    checks, findings = [], []
    rows, matches = (t.cpu() for t in exact_duplicates(a, b, max_bytes=max_bytes))
    ratio = len(rows) / len(b)
    label_note = ""
    if y_train is not None and y_test is not None and len(rows):
        differ = int((y_train.cpu()[matches] != y_test.cpu()[rows]).sum())
        label_note = f"; {differ} of them with a different label"
    checks.append(_result("exact duplicates across splits", ratio, max_ratio, f"{_pct(len(rows), len(b))} test rows"))
    if ratio > max_ratio:
        findings.append(Finding(
            "duplicate",
            f"{_pct(len(rows), len(b))} test rows are exact copies of train rows{label_note}: "
            f"test rows {_show(rows)}, train rows {_show(matches)}",
            ratio, max_ratio, test_rows=rows, train_rows=matches,
        ))
    copies = exact_duplicates(a, max_bytes=max_bytes)[0].cpu()
    ratio_train = len(copies) / len(a)
    detail = f"{_pct(len(copies), len(a))} train rows"
    checks.append(_result("duplicates inside train", ratio_train, max_train_ratio, detail))
    if ratio_train > max_train_ratio:
        class_note = ""
        if y_train is not None:
            classes, counts = M._unique(y_train.cpu()[copies])
            top = int(torch.argmax(counts))
            class_note = f"; {counts[top] / len(copies):.0%} of the copies are of class {classes[top].item()}"
        findings.append(Finding(
            "train_duplicates",
            f"{_pct(len(copies), len(a))} train rows copy another train row (oversampling before the split?)"
            f"{class_note}: rows {_show(copies)}",
            ratio_train, max_train_ratio, train_rows=copies,
        ))
    return checks, findings, rows


def _near_duplicate_check(
    a: torch.Tensor, b: torch.Tensor, exact_rows: torch.Tensor, threshold: float, max_ratio: float, max_bytes: int
) -> tuple[CheckResult, list[Finding]]:
    name = f"near duplicates (cosine >= {threshold:g})"
    rows, matches, sim = (t.cpu() for t in near_duplicates(a, b, threshold=threshold, max_bytes=max_bytes))
    new = ~torch.isin(rows, exact_rows)
    rows, matches, sim = rows[new], matches[new], sim[new]
    ratio = len(rows) / len(b)
    result = _result(name, ratio, max_ratio, f"{_pct(len(rows), len(b))} test rows besides exact copies")
    if ratio <= max_ratio:
        return result, []
    return result, [Finding(
        "near_duplicate",
        f"{_pct(len(rows), len(b))} test rows have a train row with cosine similarity >= {threshold:g} "
        f"(min {float(sim.min()):.4f}): test rows {_show(rows)}, train rows {_show(matches)}",
        ratio, max_ratio, test_rows=rows, train_rows=matches,
    )]


def _feature_check(
    a: torch.Tensor, y: torch.Tensor, max_auc: float, max_bytes: int
) -> tuple[CheckResult, list[Finding]]:
    auc = feature_auc(a, y, max_bytes=max_bytes)
    best = int(torch.argmax(auc))
    result = _result("single-feature AUC (train)", float(auc[best]), max_auc, f"best: feature {best}")
    flagged = (auc > max_auc).nonzero().flatten()
    if not len(flagged):
        return result, []
    shown = ", ".join(f"{int(i)} (AUC {float(auc[i]):.3f})" for i in flagged[:_SHOWN])
    return result, [Finding(
        "feature_auc",
        f"{len(flagged)} features alone predict the label with AUC > {max_auc:g}: {shown}"
        " (a leaked label, an ID, or a proxy only available after the fact?)",
        float(auc[best]), max_auc, features=flagged.tolist(),
    )]


def _group_check(groups_train: Any, groups_test: Any) -> tuple[CheckResult, list[Finding]]:
    if isinstance(groups_train, torch.Tensor) and isinstance(groups_test, torch.Tensor):
        test = groups_test.cpu()
        rows = torch.isin(test, groups_train.cpu()).nonzero().flatten()
        shared = torch.unique(test[rows]).tolist()
    else:
        test_list = _as_list("groups_test", groups_test)
        try:
            train_set = set(_as_list("groups_train", groups_train))
            flags = [g in train_set for g in test_list]
        except TypeError as exc:
            raise TypeError(f"`groups_train` and `groups_test` must hold hashable ids: {exc}") from exc
        rows = torch.tensor(flags, dtype=torch.bool).nonzero().flatten()
        shared = sorted({test_list[i] for i in rows.tolist()}, key=repr)
    n_test = len(groups_test)
    ratio = len(rows) / n_test
    result = _result("group overlap", ratio, 0.0, f"{len(shared)} groups shared")
    if not shared:
        return result, []
    return result, [Finding(
        "group_overlap",
        f"{len(shared)} groups are in both splits, covering {_pct(len(rows), n_test)} test rows: "
        f"groups {_show(shared)}",
        ratio, 0.0, test_rows=rows, groups=shared,
    )]


def _as_list(name: str, groups: Any) -> list[Any]:
    if isinstance(groups, torch.Tensor):
        check_tensor(name, groups, ndim=1)
        return groups.cpu().tolist()
    if isinstance(groups, np.ndarray):
        return groups.tolist()
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TypeError(f"`{name}` must be a 1-D tensor or a sequence of ids, got {describe(groups)}")
    return list(groups)


def _temporal_check(time_train: Any, time_test: Any) -> tuple[CheckResult, list[Finding]]:
    t_train, _ = _times(time_train, 0)
    t_test, _ = _times(time_test, 0)
    newest = t_train.max()
    rows = (t_test < newest).nonzero().flatten()
    ratio = len(rows) / len(t_test)
    detail = f"{_pct(len(rows), len(t_test))} test rows older than the newest train row"
    result = _result("temporal overlap", ratio, 0.0, detail)
    if not len(rows):
        return result, []
    return result, [Finding(
        "temporal_overlap",
        f"{_pct(len(rows), len(t_test))} test rows are older than the newest training row: test rows {_show(rows)}; "
        "a random split lets the model see the future (use temporal_split)",
        ratio, 0.0, test_rows=rows,
    )]


def _fit_checks(fitted: Mapping[str, FitGuard], test_ids: Any) -> tuple[list[CheckResult], list[Finding]]:
    test = _ids("test_ids", test_ids)
    checks, findings = [], []
    for name, obj in fitted.items():
        if not isinstance(obj, FitGuard):
            raise TypeError(f"`fitted` values must be FitGuard objects, got {describe(obj)} for {name!r}")
        if obj.fit_ids_ is None:
            checks.append(_result(f"premature fit: {name}", float("inf"), 0.0, "fit without `ids`: rows unknown"))
            findings.append(Finding(
                "premature_fit", f"{name!r} was fit without `ids`: no proof that it saw no test rows",
                float("inf"), 0.0,
            ))
            continue
        seen = obj.fit_ids_[torch.isin(obj.fit_ids_, test)]
        ratio = len(seen) / max(len(test), 1)
        checks.append(_result(f"premature fit: {name}", ratio, 0.0, f"{_pct(len(seen), len(test))} test rows seen"))
        if len(seen):
            findings.append(Finding(
                "premature_fit",
                f"{name!r} was fit on {_pct(len(seen), len(test))} test rows: {_show(seen)}; fit it on train only",
                ratio, 0.0, test_rows=seen,
            ))
    return checks, findings


def check_leakage(
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    y_train: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    *,
    groups_train: torch.Tensor | Sequence[Any] | None = None,
    groups_test: torch.Tensor | Sequence[Any] | None = None,
    time_train: torch.Tensor | np.ndarray | None = None,
    time_test: torch.Tensor | np.ndarray | None = None,
    fitted: Mapping[str, FitGuard] | None = None,
    test_ids: torch.Tensor | Sequence[int] | None = None,
    max_duplicate_ratio: float = 0.0,
    near_duplicate_threshold: float | None = 0.99,
    max_near_duplicate_ratio: float = 0.0,
    max_train_duplicate_ratio: float = 0.01,
    max_feature_auc: float | None = 0.95,
    max_bytes: int = _MAX_BYTES,
) -> LeakageReport:
    """Run every leakage check the arguments allow (see the module table).

    Args:
        x_train: ``(N, ...)`` training features, any real dtype, any device.
        x_test: ``(M, ...)`` test features, same row shape, dtype and device.
        y_train: ``(N,)`` labels: enables the single-feature AUC check and says which
            class the train duplicates belong to.
        y_test: ``(M,)`` labels: the duplicate finding counts copies whose label differs.
        groups_train, groups_test: group ids (tensors or sequences of hashables).
        time_train, time_test: timestamps (numbers or numpy datetime64).
        fitted: name -> :class:`FitGuard` (scaler, featurizer) to check against ``test_ids``.
        test_ids: the ids of the test rows, in the id space the ``fitted`` objects used.
        max_duplicate_ratio: alarm when more than this fraction of test rows are exact
            copies of train rows (default 0: any copy; deepchecks uses 0.05).
        near_duplicate_threshold: cosine similarity (after centring on the train mean)
            that makes a near-duplicate; ``None`` skips the check (advised with very few
            features, see :func:`near_duplicates`).
        max_near_duplicate_ratio: alarm above this fraction of test rows (default 0).
        max_train_duplicate_ratio: alarm when more than this fraction of train rows copy
            another train row (default 0.01).
        max_feature_auc: alarm when a single feature reaches this ROC-AUC on train;
            ``None`` skips the check.
        max_bytes: memory bound of one block in the hashing, k-NN and AUC steps.

    Returns:
        :class:`LeakageReport`; ``report.findings`` is empty when nothing crossed a threshold.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(300, 8, generator=g)
        >>> check_leakage(x[:200], x[200:]).ok
        True
        >>> report = check_leakage(x[:200], torch.cat([x[200:], x[:5]]))
        >>> [f.kind for f in report.findings], report.findings[0].train_rows.tolist()
        (['duplicate'], [0, 1, 2, 3, 4])
    """
    a, b = _rows2d("x_train", x_train), _rows2d("x_test", x_test)
    if b.shape[1:] != a.shape[1:] or b.dtype != a.dtype or b.device != a.device:
        raise ValueError(f"`x_test` must have rows like `x_train` ({describe(x_train)}), got {describe(x_test)}")
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"`x_train` and `x_test` must not be empty, got {len(a)} and {len(b)} rows")
    y_tr = _labels_for("y_train", y_train, a)
    y_te = _labels_for("y_test", y_test, b)
    ratios = {
        "max_duplicate_ratio": max_duplicate_ratio,
        "max_near_duplicate_ratio": max_near_duplicate_ratio,
        "max_train_duplicate_ratio": max_train_duplicate_ratio,
    }
    for name, value in ratios.items():
        check_float(name, value, min=0.0, max=1.0)
    max_bytes = check_int("max_bytes", max_bytes, min=1)  # type: ignore[assignment]

    checks, findings, exact_rows = _duplicate_checks(
        a, b, y_tr, y_te, max_duplicate_ratio, max_train_duplicate_ratio, max_bytes
    )
    parts: list[tuple[CheckResult, list[Finding]]] = []
    if near_duplicate_threshold is None:
        parts.append((_skipped("near duplicates", "near_duplicate_threshold=None"), []))
    else:
        threshold = float(check_float("near_duplicate_threshold", near_duplicate_threshold, min=-1.0, max=1.0))
        parts.append(_near_duplicate_check(a, b, exact_rows, threshold, max_near_duplicate_ratio, max_bytes))
    if max_feature_auc is None or y_tr is None:
        why = "no `y_train`" if y_tr is None else "max_feature_auc=None"
        parts.append((_skipped("single-feature AUC (train)", why), []))
    elif len(M._unique(y_tr)[0]) < 2:
        parts.append((_skipped("single-feature AUC (train)", "`y_train` has one class"), []))
    else:
        auc_limit = float(check_float("max_feature_auc", max_feature_auc, min=0.5, max=1.0))
        parts.append(_feature_check(a, y_tr, auc_limit, max_bytes))
    if (groups_train is None) != (groups_test is None):
        raise ValueError("`groups_train` and `groups_test` must be given together")
    if groups_train is None:
        parts.append((_skipped("group overlap", "no groups given"), []))
    else:
        _lengths("groups_train", groups_train, len(a))
        _lengths("groups_test", groups_test, len(b))
        parts.append(_group_check(groups_train, groups_test))
    if (time_train is None) != (time_test is None):
        raise ValueError("`time_train` and `time_test` must be given together")
    if time_train is None:
        parts.append((_skipped("temporal overlap", "no timestamps given"), []))
    else:
        _lengths("time_train", time_train, len(a))
        _lengths("time_test", time_test, len(b))
        parts.append(_temporal_check(time_train, time_test))
    for result, found in parts:
        checks.append(result)
        findings += found
    if fitted:
        if test_ids is None:
            raise ValueError("`test_ids` is required to check `fitted` statistics")
        more_checks, more_findings = _fit_checks(fitted, test_ids)
        checks += more_checks
        findings += more_findings
    return LeakageReport(checks, findings)


def _labels_for(name: str, y: Any, x: torch.Tensor) -> torch.Tensor | None:
    if y is None:
        return None
    y = M._as_labels(name, y)
    if len(y) != len(x) or y.device != x.device:
        raise ValueError(f"`{name}` must have {len(x)} labels on {x.device}, got {describe(y)}")
    return y


def _lengths(name: str, value: Any, n: int) -> None:
    if len(value) != n:
        raise ValueError(f"`{name}` must have {n} entries (one per row), got {len(value)}")
