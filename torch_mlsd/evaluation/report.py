"""The report of :func:`~torch_mlsd.evaluation.check_leakage`: a table of checks
(:class:`CheckResult`) and what crossed a threshold (:class:`Finding`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Finding", "CheckResult", "LeakageReport"]


@dataclass(frozen=True)
class Finding:
    """One suspicious observation.

    Attributes:
        kind: ``"duplicate"``, ``"near_duplicate"``, ``"train_duplicates"``,
            ``"feature_auc"``, ``"feature_pair"``, ``"interpolated"``, ``"group_overlap"``,
            ``"temporal_overlap"`` or ``"premature_fit"``.
        message: what was found, in words.
        measure: the value that crossed the threshold.
        threshold: the alarm threshold.
        test_rows: ``int64`` CPU indices of the test rows involved, or ``None``.
        train_rows: ``int64`` CPU indices of the training rows involved (for duplicates,
            the train row matching each test row; for interpolated rows, the two
            ends of each segment, shape ``(F, 2)``), or ``None``.
        features: indices of the features involved (for pairs: ``[i0, j0, i1, j1, ...]``), or ``None``.
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


def percent(part: int, whole: int) -> str:
    """``"3 of 40 (7.50%)"``."""
    return f"{part} of {whole} ({part / max(whole, 1):.2%})"


def check_row(check: str, measure: float, threshold: float, detail: str) -> CheckResult:
    """A table row whose status is ``"LEAK"`` when ``measure > threshold``."""
    return CheckResult(check, measure, threshold, "LEAK" if measure > threshold else "ok", detail)


def skipped_row(check: str, why: str) -> CheckResult:
    """A table row for a check that did not run, and why."""
    return CheckResult(check, float("nan"), float("nan"), "skipped", why)
