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
feature pairs            held-out binned score of every pair of features      threshold of a
                         (:func:`pair_scan`), far above both features alone   shuffled null
interpolated rows        fraction of test rows on a segment between two       0
                         same-class train rows (SMOTE before the split)
premature fit            fitted statistics (:class:`FitGuard`) that saw test  0
                         rows
=======================  ===================================================  =============

The pieces are public too: :func:`~torch_mlsd.evaluation.exact_duplicates` (row hashing,
any number of rows), :func:`~torch_mlsd.evaluation.near_duplicates` (chunked cosine k-NN on
the tensors' device), :func:`~torch_mlsd.evaluation.feature_auc`, and
:class:`~torch_mlsd.features.FitGuard`, the base of the fit-on-train-only statistics.
Leaks that no single feature shows have their own modules: :func:`pair_scan` (run here),
:func:`~torch_mlsd.evaluation.interpolated_rows` (run here),
:func:`~torch_mlsd.evaluation.feature_ablation`, :func:`~torch_mlsd.evaluation.addition_curve`
and :func:`~torch_mlsd.evaluation.refit_difference` (premature featurisation without ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._validate import (
    as_id_set,
    check_bool,
    check_float,
    check_int,
    check_tensor,
    describe,
    show_items,
)
from ..features.fit_guard import FitGuard
from ._inputs import as_labels, as_rows, as_times, unique_counts
from .duplicates import MAX_BYTES, exact_duplicates, near_duplicates
from .feature_power import feature_auc
from .interpolation import interpolated_rows
from .pairs import pair_scan
from .report import CheckResult, Finding, LeakageReport, check_row, percent, skipped_row

__all__ = ["Finding", "CheckResult", "LeakageReport", "check_leakage"]

PAIR_SCAN_BUDGET = 2**27  # pairs x training rows scanned by default (64 features on 66,000 rows)


# ---------------------------------------------------------------- the checks


def _duplicate_checks(
    a: torch.Tensor,
    b: torch.Tensor,
    y_train: Any,
    y_test: Any,
    max_ratio: float,
    max_train_ratio: float,
    max_bytes: int,
) -> tuple[list[CheckResult], list[Finding], torch.Tensor, torch.Tensor]:
    """The two duplicate checks; also the exact-copy test rows and the train rows that copy another."""
    checks, findings = [], []
    rows, matches = (t.cpu() for t in exact_duplicates(a, b, max_bytes=max_bytes))
    ratio = len(rows) / len(b)
    label_note = ""
    if y_train is not None and y_test is not None and len(rows):
        differ = int((y_train.cpu()[matches] != y_test.cpu()[rows]).sum())
        label_note = f"; {differ} of them with a different label"
    detail = f"{percent(len(rows), len(b))} test rows"
    checks.append(check_row("exact duplicates across splits", ratio, max_ratio, detail))
    if ratio > max_ratio:
        findings.append(Finding(
            "duplicate",
            f"{percent(len(rows), len(b))} test rows are exact copies of train rows{label_note}: "
            f"test rows {show_items(rows)}, train rows {show_items(matches)}",
            ratio, max_ratio, test_rows=rows, train_rows=matches,
        ))
    copies = exact_duplicates(a, max_bytes=max_bytes)[0].cpu()
    ratio_train = len(copies) / len(a)
    detail = f"{percent(len(copies), len(a))} train rows"
    checks.append(check_row("duplicates inside train", ratio_train, max_train_ratio, detail))
    if ratio_train > max_train_ratio:
        class_note = ""
        if y_train is not None:
            classes, counts = unique_counts(y_train.cpu()[copies])
            top = int(torch.argmax(counts))
            class_note = f"; {counts[top] / len(copies):.0%} of the copies are of class {classes[top].item()}"
        findings.append(Finding(
            "train_duplicates",
            f"{percent(len(copies), len(a))} train rows copy another train row (oversampling before the split?)"
            f"{class_note}: rows {show_items(copies)}",
            ratio_train, max_train_ratio, train_rows=copies,
        ))
    return checks, findings, rows, copies


def _near_duplicate_check(
    a: torch.Tensor, b: torch.Tensor, exact_rows: torch.Tensor, threshold: float, max_ratio: float, max_bytes: int
) -> tuple[CheckResult, list[Finding]]:
    name = f"near duplicates (cosine >= {threshold:g})"
    rows, matches, sim = (t.cpu() for t in near_duplicates(a, b, threshold=threshold, max_bytes=max_bytes))
    new = ~torch.isin(rows, exact_rows)
    rows, matches, sim = rows[new], matches[new], sim[new]
    ratio = len(rows) / len(b)
    result = check_row(name, ratio, max_ratio, f"{percent(len(rows), len(b))} test rows besides exact copies")
    if ratio <= max_ratio:
        return result, []
    return result, [Finding(
        "near_duplicate",
        f"{percent(len(rows), len(b))} test rows have a train row with cosine similarity >= {threshold:g} "
        f"(min {float(sim.min()):.4f}): test rows {show_items(rows)}, train rows {show_items(matches)}",
        ratio, max_ratio, test_rows=rows, train_rows=matches,
    )]


def _feature_check(
    a: torch.Tensor, y: torch.Tensor, max_auc: float, max_bytes: int
) -> tuple[CheckResult, list[Finding]]:
    auc = feature_auc(a, y, max_bytes=max_bytes)
    best = int(torch.argmax(auc))
    result = check_row("single-feature AUC (train)", float(auc[best]), max_auc, f"best: feature {best}")
    flagged = (auc > max_auc).nonzero().flatten()
    if not len(flagged):
        return result, []
    shown = ", ".join(f"{int(i)} (AUC {float(auc[i]):.3f})" for i in flagged[:10])
    return result, [Finding(
        "feature_auc",
        f"{len(flagged)} features alone predict the label with AUC > {max_auc:g}: {shown}"
        " (a leaked label, an ID, or a proxy only available after the fact?)",
        float(auc[best]), max_auc, features=flagged.tolist(),
    )]


def _pair_check(
    a: torch.Tensor, y: torch.Tensor, alpha: float, max_bytes: int, generator: torch.Generator | None
) -> tuple[CheckResult, list[Finding]]:
    scan = pair_scan(a, y, alpha=alpha, max_bytes=max_bytes, generator=generator)
    best = int(torch.argmax(scan.scores))
    flagged = scan.flagged_pairs
    detail = f"{len(scan.pairs)} pairs; best: features {scan.pairs[best].tolist()}"
    status = "LEAK" if len(flagged) else "ok"
    measure = float(scan.scores.max())
    result = CheckResult("feature pairs (held-out binned score)", measure, scan.threshold, status, detail)
    if not len(flagged):
        return result, []
    shown = ", ".join(
        f"{i} + {j} (score {float(scan.scores[r]):.3f}; alone {float(scan.single[i]):.3f}, {float(scan.single[j]):.3f})"
        for r, (i, j) in zip(scan._flagged_order()[:10].tolist(), flagged[:10].tolist(), strict=False)
    )
    return result, [Finding(
        "feature_pair",
        f"{len(flagged)} pairs of features predict the label far better together than alone: {shown}"
        " (feature A + feature B can leak what neither does: check how each was made)",
        measure, scan.threshold, features=flagged.flatten().tolist(),
    )]


def _interpolation_check(
    a: torch.Tensor, b: torch.Tensor, y: torch.Tensor | None, tolerance: float, max_bytes: int
) -> tuple[CheckResult, list[Finding]]:
    found = interpolated_rows(a, b, y, tolerance=tolerance, max_bytes=max_bytes)
    n_rows = len(found.rows)
    detail = f"{percent(n_rows, len(b))} test rows"
    result = check_row("interpolated test rows", found.fraction, 0.0, detail)
    if not n_rows:
        return result, []
    ends = torch.stack([found.left, found.right], dim=1)
    return result, [Finding(
        "interpolated",
        f"{percent(n_rows, len(b))} test rows lie on a segment between two training rows"
        f"{' of one class' if y is not None else ''} (oversampling such as SMOTE before the split?): "
        f"test rows {show_items(found.rows)}, between train rows {show_items(ends)}",
        found.fraction, 0.0, test_rows=found.rows, train_rows=ends,
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
    result = check_row("group overlap", ratio, 0.0, f"{len(shared)} groups shared")
    if not shared:
        return result, []
    return result, [Finding(
        "group_overlap",
        f"{len(shared)} groups are in both splits, covering {percent(len(rows), n_test)} test rows: "
        f"groups {show_items(shared)}",
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
    t_train, _ = as_times(time_train, 0)
    t_test, _ = as_times(time_test, 0)
    newest = t_train.max()
    rows = (t_test < newest).nonzero().flatten()
    ratio = len(rows) / len(t_test)
    detail = f"{percent(len(rows), len(t_test))} test rows older than the newest train row"
    result = check_row("temporal overlap", ratio, 0.0, detail)
    if not len(rows):
        return result, []
    return result, [Finding(
        "temporal_overlap",
        f"{percent(len(rows), len(t_test))} test rows are older than the newest training row: "
        f"test rows {show_items(rows)}; "
        "a random split lets the model see the future (use temporal_split)",
        ratio, 0.0, test_rows=rows,
    )]


def _fit_checks(fitted: Mapping[str, FitGuard], test_ids: Any) -> tuple[list[CheckResult], list[Finding]]:
    test = as_id_set("test_ids", test_ids)
    checks, findings = [], []
    for name, obj in fitted.items():
        if not isinstance(obj, FitGuard):
            raise TypeError(f"`fitted` values must be FitGuard objects, got {describe(obj)} for {name!r}")
        if obj.fit_ids_ is None:
            checks.append(check_row(f"premature fit: {name}", float("inf"), 0.0, "fit without `ids`: rows unknown"))
            findings.append(Finding(
                "premature_fit", f"{name!r} was fit without `ids`: no proof that it saw no test rows",
                float("inf"), 0.0,
            ))
            continue
        seen = obj.fit_ids_[torch.isin(obj.fit_ids_, test)]
        ratio = len(seen) / max(len(test), 1)
        seen_text = f"{percent(len(seen), len(test))} test rows seen"
        checks.append(check_row(f"premature fit: {name}", ratio, 0.0, seen_text))
        if len(seen):
            findings.append(Finding(
                "premature_fit",
                f"{name!r} was fit on {percent(len(seen), len(test))} test rows: {show_items(seen)}; "
                "fit it on train only",
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
    scan_pairs: bool | None = None,
    pair_alpha: float = 0.01,
    interpolation_tolerance: float | None = 1e-5,
    max_bytes: int = MAX_BYTES,
    generator: torch.Generator | None = None,
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
        fitted: name -> :class:`FitGuard` (scaler, featurizer, or any transformer wrapped
            in :class:`~torch_mlsd.features.GuardedTransformer`) to check against ``test_ids``.
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
        scan_pairs: score every pair of features on the distinct training rows
            (:func:`pair_scan`; copies would be memorised across its halves) and report
            pairs far better than their features alone.
            ``None`` (default): when ``y_train`` is given and it is cheap, i.e. pairs x
            training rows <= 2^27 (64 features on 66,000 rows); ``True``: always (the
            scan itself keeps the 2^15 best-paired features); ``False``: never.
        pair_alpha: family-wise false-alarm rate of the pair scan's threshold.
        interpolation_tolerance: relative distance to a segment between two training
            rows that counts a test row as interpolated (:func:`interpolated_rows`);
            ``None`` skips. Run only on floating features with at least 3 columns
            (fewer, or integer lattices, put rows on segments by chance).
        max_bytes: memory bound of one block in the hashing, k-NN, AUC and pair steps.
        generator: draws the halves and label shuffles of the pair scan (``None``: fresh).

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
    knn = near_duplicate_threshold is not None  # the k-NN and the AUC cannot order NaN/inf
    a = as_rows("x_train", x_train, finite=knn or (max_feature_auc is not None and y_train is not None))
    b = as_rows("x_test", x_test, finite=knn)
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
    max_bytes = check_int("max_bytes", max_bytes, min=1)

    checks, findings, exact_rows, copies = _duplicate_checks(
        a, b, y_tr, y_te, max_duplicate_ratio, max_train_duplicate_ratio, max_bytes
    )
    parts: list[tuple[CheckResult, list[Finding]]] = []
    if near_duplicate_threshold is None:
        parts.append((skipped_row("near duplicates", "near_duplicate_threshold=None"), []))
    else:
        threshold = float(check_float("near_duplicate_threshold", near_duplicate_threshold, min=-1.0, max=1.0))
        parts.append(_near_duplicate_check(a, b, exact_rows, threshold, max_near_duplicate_ratio, max_bytes))
    if max_feature_auc is None or y_tr is None:
        why = "no `y_train`" if y_tr is None else "max_feature_auc=None"
        parts.append((skipped_row("single-feature AUC (train)", why), []))
    elif len(unique_counts(y_tr)[0]) < 2:
        parts.append((skipped_row("single-feature AUC (train)", "`y_train` has one class"), []))
    else:
        auc_limit = float(check_float("max_feature_auc", max_feature_auc, min=0.5, max=1.0))
        parts.append(_feature_check(a, y_tr, auc_limit, max_bytes))
    distinct = torch.ones(len(a), dtype=torch.bool, device=a.device)
    distinct[copies.to(a.device)] = False  # copies would be memorised across the scan's halves
    y_distinct = None if y_tr is None else y_tr[distinct]
    parts.append(_pairs_part(a[distinct], y_distinct, scan_pairs, pair_alpha, max_bytes, generator))
    if interpolation_tolerance is None:
        parts.append((skipped_row("interpolated test rows", "interpolation_tolerance=None"), []))
    elif not a.dtype.is_floating_point or a.shape[1] < 3:
        parts.append((skipped_row("interpolated test rows", "needs floating features, at least 3"), []))
    elif not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())):
        parts.append((skipped_row("interpolated test rows", "NaN/inf in the features: segments are undefined"), []))
    else:
        tolerance = float(check_float("interpolation_tolerance", interpolation_tolerance, min=0.0, min_open=True))
        parts.append(_interpolation_check(a, b, y_tr, tolerance, max_bytes))
    if (groups_train is None) != (groups_test is None):
        raise ValueError("`groups_train` and `groups_test` must be given together")
    if groups_train is None:
        parts.append((skipped_row("group overlap", "no groups given"), []))
    else:
        _lengths("groups_train", groups_train, len(a))
        _lengths("groups_test", groups_test, len(b))
        parts.append(_group_check(groups_train, groups_test))
    if (time_train is None) != (time_test is None):
        raise ValueError("`time_train` and `time_test` must be given together")
    if time_train is None:
        parts.append((skipped_row("temporal overlap", "no timestamps given"), []))
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


def _pairs_part(
    a: torch.Tensor,
    y: torch.Tensor | None,
    scan_pairs: bool | None,
    alpha: float,
    max_bytes: int,
    generator: torch.Generator | None,
) -> tuple[CheckResult, list[Finding]]:
    name = "feature pairs (held-out binned score)"
    if scan_pairs is not None:
        check_bool("scan_pairs", scan_pairs)
    alpha = float(check_float("pair_alpha", alpha, min=0.0, max=1.0, min_open=True, max_open=True))
    n, d = a.shape
    if scan_pairs is False:
        return skipped_row(name, "scan_pairs=False"), []
    if y is None:
        return skipped_row(name, "no `y_train`"), []
    if d < 2 or n < 8 or len(unique_counts(y)[0]) < 2:
        return skipped_row(name, "needs 2 features, 8 rows and 2 classes"), []
    if scan_pairs is None and d * (d - 1) // 2 * n > PAIR_SCAN_BUDGET:
        return skipped_row(name, f"{d * (d - 1) // 2} pairs x {n} rows > 2^27: pass scan_pairs=True"), []
    return _pair_check(a, y, alpha, max_bytes, generator)


def _labels_for(name: str, y: Any, x: torch.Tensor) -> torch.Tensor | None:
    if y is None:
        return None
    y = as_labels(name, y)
    if len(y) != len(x) or y.device != x.device:
        raise ValueError(f"`{name}` must have {len(x)} labels on {x.device}, got {describe(y)}")
    return y


def _lengths(name: str, value: Any, n: int) -> None:
    if len(value) != n:
        raise ValueError(f"`{name}` must have {n} entries (one per row), got {len(value)}")

