"""The lecture's two leakage examples, generated with their leaks, and the checks that catch them.

1. **Lung cancer from CT scans, hospital A.** Doctors send the patients they suspect to the
   higher-quality scanner. Here the scanner is not a column: the record holds the scan
   *room* and the scanner *brand*, and the high-quality machine is brand A in room 1 and
   brand B in room 2. Neither column alone says anything about cancer; together they are
   the referral, i.e. the doctor's suspicion. The single-feature AUC check is blind to it;
   the pair scan (run by ``check_leakage``) and the subset ablation catch it.
2. **How popular will an article become.** Author popularity is fine (known at
   inference); the number of *translations* is not: the site translates only articles
   already gaining attention. Added last in the order the features were engineered, it
   makes the feature-addition curve jump. The same data then show the two training-data
   leaks: a title vocabulary fit on all titles (premature featurisation, caught by
   ``refit_difference`` and the fit guard) and SMOTE run before the split (test rows on
   segments between training rows, caught by ``interpolated_rows``).

Prints the tables and saves a figure (the addition curve, the ablation's subsets)::

    python recipes/leakage_audit.py --seed 0

Needs the ``recipes`` extra (matplotlib; tqdm for the progress bar, optional).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from _common import FIGURES, Progress, markdown_table, pyplot, save_figure
from torch_mlsd._device import resolve_device
from torch_mlsd.evaluation import (
    AblationTable,
    AdditionCurve,
    LeakageReport,
    addition_curve,
    check_leakage,
    feature_ablation,
    interpolated_rows,
    refit_difference,
    stratified_split,
)
from torch_mlsd.features import TextFeaturizer
from torch_mlsd.imbalance import smote

PATIENT_FEATURES = ["age", "pack_years", "nodule_mm", "scan_room", "scanner_brand", "weight_kg"]
ARTICLE_FEATURES = ["author_followers", "word_count", "hour_published", "title_length", "translations"]
TOPICS = ["election", "climate", "football", "startup", "vaccine", "housing", "music", "space", "recipe", "court"]
WORDS = ["new", "report", "says", "why", "how", "city", "market", "study", "after", "first", "week", "plan"]


@dataclass
class Result:
    scanner_report: LeakageReport
    scanner_clean: LeakageReport
    scanner_table: AblationTable
    curve: AdditionCurve
    vocabulary_difference: tuple[float, float]  # (fit on train titles, fit on all titles)
    smote_found: tuple[int, int, int]  # (interpolated test rows found, synthetic test rows, originals flagged)


def patients(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Hospital A's records: three real, modest risk factors; room x brand is the referral."""
    cancer = (torch.rand(n, generator=g) < 0.3).long()
    age = 55 + 10 * torch.randn(n, generator=g) + 4 * cancer
    pack_years = (15 + 10 * torch.randn(n, generator=g) + 6 * cancer).clamp_min(0)
    nodule_mm = (6 + 3 * torch.randn(n, generator=g) + 2 * cancer).clamp_min(1)
    suspected = torch.where(cancer.bool(), torch.rand(n, generator=g) < 0.95, torch.rand(n, generator=g) < 0.05)
    room = (torch.rand(n, generator=g) < 0.5).long()
    high_quality_brand = 1 - room  # brand 0 (A) is the good scanner in room 1, brand 1 (B) in room 0
    brand = torch.where(suspected, high_quality_brand, 1 - high_quality_brand)
    weight = 75 + 12 * torch.randn(n, generator=g)
    x = torch.stack([age, pack_years, nodule_mm, room.double(), brand.double(), weight], dim=1)
    return x.float(), cancer


def articles(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Articles with their features in engineering order; translations come after the views."""
    followers = torch.randn(n, generator=g)
    words = torch.randn(n, generator=g)
    appeal = 0.8 * followers + 0.3 * words + torch.randn(n, generator=g)
    popular = (appeal > 0.8).long()
    translations = torch.poisson(0.2 + 2.5 * popular.double(), generator=g)  # translated once it is popular
    hour = torch.randint(0, 24, (n,), generator=g).double() + torch.rand(n, generator=g)
    topic = torch.randint(0, len(TOPICS), (n,), generator=g)
    filler = torch.randint(0, len(WORDS), (n, 3), generator=g)
    titles = [f"{TOPICS[t]} {' '.join(WORDS[w] for w in ws)}" for t, ws in zip(topic.tolist(), filler.tolist())]
    title_length = torch.tensor([len(t) for t in titles], dtype=torch.float64)
    x = torch.stack([followers.double(), 800 + 300 * words.double(), hour, title_length, translations], dim=1)
    return x.float(), popular, titles


def run(argv: Sequence[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="patients and articles (each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--out", type=Path, default=FIGURES / "leakage_audit.png")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(args.seed)
    progress = Progress(6, desc="leakage audit", unit="check")

    # 1. the scanner
    x, y = patients(args.rows, g)
    x, y = x.to(device), y.to(device)
    train, test = stratified_split(y, test_size=0.25, generator=torch.Generator().manual_seed(args.seed))
    # Six features of very different scales: cosine near-duplicates say little here (see near_duplicates).
    report = check_leakage(x[train], x[test], y[train], y[test], near_duplicate_threshold=None, generator=g)
    progress.update(1, step="check_leakage")
    table = feature_ablation(x, y, names=PATIENT_FEATURES, generator=g)
    progress.update(1, step="ablation")
    keep = torch.tensor([0, 1, 2, 5], device=device)  # without the referral's two columns
    clean = check_leakage(x[train][:, keep], x[test][:, keep], y[train], y[test], near_duplicate_threshold=None,
                          generator=g)
    progress.update(1, step="after the fix")

    # 2. the articles
    xa, ya, titles = articles(args.rows, g)
    xa, ya = xa.to(device), ya.to(device)
    curve = addition_curve(xa, ya, names=ARTICLE_FEATURES, generator=g)
    progress.update(1, step="addition curve")
    a_train, a_test = (t.tolist() for t in stratified_split(ya.cpu(), test_size=0.25, generator=torch.Generator().manual_seed(args.seed)))
    train_titles, test_titles = [titles[i] for i in a_train], [titles[i] for i in a_test]
    on_train = TextFeaturizer(n_features=1024, output="dense").fit(train_titles, ids=a_train)
    on_all = TextFeaturizer(n_features=1024, output="dense").fit(titles, ids=list(range(len(titles))))
    difference = (refit_difference(on_train, train_titles, test_titles, train_ids=a_train),
                  refit_difference(on_all, train_titles, test_titles, train_ids=a_train))
    progress.update(1, step="vocabulary")
    legit = xa[:, :4]  # SMOTE on the popular class of the whole table, then a random split
    xs, ys = smote(legit, ya, generator=torch.Generator(legit.device).manual_seed(args.seed))
    order = torch.randperm(len(xs), generator=g).to(device)
    cut = int(0.75 * len(xs))
    synthetic = (order[cut:] >= len(legit)).cpu()
    found = interpolated_rows(xs[order[:cut]], xs[order[cut:]], ys[order[:cut]])
    flagged = torch.zeros(len(synthetic), dtype=torch.bool)
    flagged[found.rows] = True
    smote_found = (int((flagged & synthetic).sum()), int(synthetic.sum()), int((flagged & ~synthetic).sum()))
    progress.update(1, step="SMOTE")
    progress.close()

    result = Result(report, clean, table, curve, difference, smote_found)
    _plot(result, args.out)
    return result


def _plot(result: Result, out: Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    curve = result.curve
    steps = torch.arange(1, len(curve.order) + 1)
    left.errorbar(steps, curve.mean, yerr=curve.std, marker="o", capsize=3)
    for t in curve.flagged.nonzero().flatten().tolist():
        left.annotate(f"jump: {curve.names[int(curve.order[t])]}", (t + 1, float(curve.mean[t])),
                      xytext=(-90, -30), textcoords="offset points", arrowprops={"arrowstyle": "->"})
    left.set_xticks(steps.tolist(), [curve.names[int(i)] for i in curve.order], rotation=20)
    left.set_ylabel("held-out ROC-AUC (5 folds)")
    left.set_title("articles: features added in engineering order")
    rows = [r for r in result.scanner_table.rows if r.kind in ("single", "pair")]
    labels = [result.scanner_table.label(r) for r in rows]
    right.barh(labels, [r.best for r in rows], color=["tab:red" if r.best >= 0.9 else "tab:blue" for r in rows])
    right.axvline(0.5, color="grey", linewidth=0.8)
    right.set_xlim(0.4, 1.0)
    right.set_xlabel("held-out ROC-AUC (best of logistic, binned)")
    right.set_title("CT scans: single features and flagged pairs")
    save_figure(fig, out)


def main(argv: Sequence[str] | None = None) -> int:
    result = run(argv)
    print("\n## 1. CT scans at hospital A: check_leakage\n")
    print(result.scanner_report)
    print("\n### subset ablation\n")
    print(result.scanner_table)
    print("\n### without scan_room and scanner_brand\n")
    print(result.scanner_clean)
    print("\n## 2. Article popularity: feature-addition curve\n")
    print(result.curve)
    print("\n### training-data leaks\n")
    (clean_diff, leaky_diff), (found, synthetic, originals) = result.vocabulary_difference, result.smote_found
    print(markdown_table(
        ["leak", "check", "measure", "verdict"],
        [
            ["title vocabulary fit on train titles", "refit_difference", clean_diff, "ok" if clean_diff < 1e-6 else "LEAK"],
            ["title vocabulary fit on all titles", "refit_difference", leaky_diff, "ok" if leaky_diff < 1e-6 else "LEAK"],
            ["SMOTE before the split", "interpolated_rows",
             f"{found} of {synthetic} synthetic test rows, {originals} originals", "LEAK" if found else "ok"],
        ],
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
