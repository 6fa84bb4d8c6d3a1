"""Feature-subset ablation: "train a model on a subset of features: if performance is
very high on a subset, either a very good set of features or leakage".

:func:`feature_ablation` splits the rows once (stratified), then scores on the held-out
part, with every scorer given: all features, every single feature, every pair that
:func:`~torch_mlsd.evaluation.pair_scan` flags on the training part, and every set that
leaves one feature out. The :class:`AblationTable` marks subsets whose score is very
high and features whose removal costs much.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .._random import child_generator, resolve_generator
from .._validate import check_bool, check_float, describe
from ._binning import features_and_labels
from ._inputs import as_labels
from .pairs import pair_scan
from .scorers import Scorer, binned_score, logistic_score
from .splits import stratified_split

__all__ = ["AblationRow", "AblationTable", "feature_ablation"]


@dataclass(frozen=True)
class AblationRow:
    """One subset: ``kind`` is ``"all"``, ``"single"``, ``"pair"`` or ``"without"`` (all
    features but ``features[0]``); ``scores`` maps a scorer's name to its held-out score."""

    kind: str
    features: tuple[int, ...]
    scores: dict[str, float]

    @property
    def best(self) -> float:
        """The highest score over the scorers (NaN where none applies)."""
        values = [v for v in self.scores.values() if not math.isnan(v)]
        return max(values) if values else math.nan


@dataclass(frozen=True)
class AblationTable:
    """The rows of :func:`feature_ablation`, ``to_markdown()`` to read them.

    Attributes:
        rows: :class:`AblationRow` list: all features first, then singles, pairs, and
            leave-one-out sets.
        scorers: the scorer names, in column order.
        high: a single feature or pair scoring at least this is marked "very high".
        max_drop: a feature whose removal lowers the all-features score by more than
            this is marked.
        names: feature names used in the table.
    """

    rows: list[AblationRow]
    scorers: list[str]
    high: float
    max_drop: float
    names: list[str] = field(default_factory=list)

    @property
    def all_features(self) -> AblationRow:
        return self.rows[0]

    @property
    def very_high(self) -> list[AblationRow]:
        """Singles and pairs whose best score reaches ``high``: a very good subset, or a leak."""
        return [r for r in self.rows if r.kind in ("single", "pair") and r.best >= self.high]

    def drop(self, row: AblationRow) -> float:
        """How much the best all-features score falls without the row's feature (``"without"`` rows)."""
        return self.all_features.best - row.best

    @property
    def costly(self) -> list[AblationRow]:
        """Leave-one-out rows whose drop exceeds ``max_drop``."""
        return [r for r in self.rows if r.kind == "without" and self.drop(r) > self.max_drop]

    def label(self, row: AblationRow) -> str:
        """The row's subset in words: ``"x3"``, ``"x2 + x5"``, ``"all but x4"``."""
        names = [self.names[i] for i in row.features]
        return {"all": "all features", "without": f"all but {names[0]}"}.get(row.kind, " + ".join(names))

    def to_markdown(self) -> str:
        header = ["subset", "kind", *self.scorers, "note"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            note = ""
            if row.kind in ("single", "pair") and row.best >= self.high:
                note = f"VERY HIGH (>= {self.high:g}): a very good subset, or leakage"
            elif row.kind == "without" and self.drop(row) > self.max_drop:
                note = f"drops {self.drop(row):.3f} without it"
            cells = [f"{row.scores[s]:.4f}" if not math.isnan(row.scores[s]) else "n/a" for s in self.scorers]
            lines.append("| " + " | ".join([self.label(row), row.kind, *cells, note]) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def _pairs(value: torch.Tensor | Sequence[Sequence[int]], d: int) -> list[tuple[int, int]]:
    pairs = torch.as_tensor(value if not isinstance(value, torch.Tensor) else value.cpu(), dtype=torch.long)
    if pairs.numel() == 0:
        return []
    if pairs.ndim != 2 or pairs.shape[1] != 2 or bool((pairs < 0).any()) or bool((pairs >= d).any()):
        raise ValueError(f"`pairs` must be (P, 2) feature indices in [0, {d}), got {describe(value)}")
    return [(int(i), int(j)) for i, j in pairs.tolist()]


def feature_ablation(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    scorers: Mapping[str, Scorer] | None = None,
    pairs: torch.Tensor | Sequence[Sequence[int]] | None = None,
    leave_one_out: bool = True,
    test_size: float = 0.3,
    high: float = 0.9,
    max_drop: float = 0.05,
    names: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> AblationTable:
    """Held-out scores of all features, each feature, flagged pairs and leave-one-out sets.

    Args:
        x: ``(N, D)`` finite features, any device.
        y: ``(N,)`` integer labels (every class needs 2 rows for the stratified split).
        scorers: name -> ``scorer(x_train, y_train, x_test, y_test) -> float`` (higher is
            better). Default: ``{"logistic": logistic_score, "binned": binned_score}``
            (held-out ROC-AUC of a linear and of a nonlinear model; the binned one is
            n/a on subsets too large for a joint histogram).
        pairs: ``(P, 2)`` feature pairs to score. Default: the pairs that
            :func:`pair_scan` flags on the training part.
        leave_one_out: also score every set of ``D - 1`` features (``D`` fits per scorer).
        test_size: held-out fraction.
        high: a single feature or a pair scoring this much is marked "very high".
        max_drop: a feature whose removal costs more than this is marked.
        names: ``D`` feature names for the table (default ``x0, x1, ...``).
        generator: draws the split and the pair scan (CPU; ``None``: fresh).

    Returns:
        :class:`AblationTable`.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(1000, 3, generator=g)
        >>> y = (x[:, 0] + 0.1 * x[:, 1] > 0).long()
        >>> table = feature_ablation(x, y, generator=g)
        >>> [table.label(r) for r in table.very_high]
        ['x0']
    """
    a, _, _ = features_and_labels(x, y)
    d = a.shape[1]
    labels = as_labels("y", y)  # checked by features_and_labels: on the device of `x`
    if scorers is None:
        scorers = {"logistic": logistic_score, "binned": binned_score}
    if not isinstance(scorers, Mapping) or not scorers or not all(callable(s) for s in scorers.values()):
        raise TypeError(f"`scorers` must be a non-empty mapping of names to callables, got {describe(scorers)}")
    leave_one_out = check_bool("leave_one_out", leave_one_out)
    test_size = check_float("test_size", test_size, min=0.0, max=1.0, min_open=True, max_open=True)
    high = check_float("high", high)
    max_drop = check_float("max_drop", max_drop, min=0.0)
    if names is not None and len(names) != d:
        raise ValueError(f"`names` must name the {d} features, got {len(names)}")
    g = resolve_generator(generator, "cpu")

    train, test = stratified_split(labels, test_size=test_size, generator=child_generator(g))
    x_tr, x_te, y_tr, y_te = a[train], a[test], labels[train], labels[test]
    if pairs is None:
        chosen = pair_scan(x_tr, y_tr, generator=g).flagged_pairs.tolist() if d >= 2 else []
        pair_list = [(int(i), int(j)) for i, j in chosen]
    else:
        pair_list = _pairs(pairs, d)

    subsets: list[tuple[str, tuple[int, ...]]] = [("all", tuple(range(d)))]
    subsets += [("single", (i,)) for i in range(d)]
    subsets += [("pair", p) for p in pair_list]
    if leave_one_out and d > 1:
        subsets += [("without", (i,)) for i in range(d)]
    rows = []
    for kind, feats in subsets:
        cols = [j for j in range(d) if j != feats[0]] if kind == "without" else list(feats)
        index = torch.tensor(cols, device=a.device)
        scores = {
            name: float(scorer(x_tr[:, index], y_tr, x_te[:, index], y_te)) for name, scorer in scorers.items()
        }
        rows.append(AblationRow(kind, feats, scores))
    label_names = list(names) if names is not None else [f"x{i}" for i in range(d)]
    return AblationTable(rows, list(scorers), high, max_drop, label_names)
