"""Nine ways to train on a long-tailed data set, compared on balanced held-out data.

Nothing is downloaded: scikit-learn's bundled digits (1797 images of 8x8 pixels, 10
classes) are split with ``torch_mlsd.evaluation.stratified_split`` into a balanced test set
(30%) and a training pool, and the pool is cut to a long tail with
``torch_mlsd.data.long_tail_indices`` (imbalance ratio 100, exponential profile: digit 0
keeps about 121 images, digit 9 a single one). A small MLP (64 -> 128 -> 10, Adam) is
trained for the same number of steps with each strategy:

* ``ce``: plain cross-entropy on shuffled batches;
* ``class_weighted``: cross-entropy weighted by ``torch_mlsd.imbalance.class_weights``;
* ``focal``: ``torch_mlsd.losses.FocalLoss`` (gamma 2);
* ``logit_adjusted``: ``torch_mlsd.losses.LogitAdjustedLoss`` (tau 1, training prior);
* ``weighted_sampler``: ``torch_mlsd.sampling.WeightedSampler`` with
  ``torch_mlsd.imbalance.sample_weights`` (every class drawn equally often);
* ``stratified_batches``: ``torch_mlsd.sampling.StratifiedBatchSampler``;
* ``oversample``: ``torch_mlsd.imbalance.random_oversample`` up to the majority count;
* ``smote``: ``torch_mlsd.imbalance.smote`` on the 64 pixel features (a class with
  fewer than 6 images uses as many neighbours as it has, a single image is duplicated);
* ``mixup``: ``torch_mlsd.augment.mixup`` on the images seen as ``[B, 1, 8, 8]``.

Every seed draws its own split, long tail, initial weights and batch order. The table
gives balanced accuracy, macro-F1 and minority recall (mean recall of the 3 rarest
digits) as mean +- standard deviation over the seeds, beside the baselines of
``torch_mlsd.evaluation`` fitted on the training labels, and checks the claim that at least
one strategy beats plain cross-entropy on macro-F1 by more than the seed-to-seed spread::

    python recipes/imbalanced.py                         # 9 strategies x 3 seeds x 600 steps, ~25 s on 2 CPU cores
    python recipes/imbalanced.py --strategies ce smote --seeds 2 --steps 100 --out /tmp/imbalanced.png

Needs the ``recipes`` extra (scikit-learn for the digits, matplotlib; tqdm optional).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from _common import FIGURES, Progress, cpu_threads, markdown_table, pyplot, save_figure
from torch_mlsd import evaluation as metrics
from torch_mlsd._device import resolve_device
from torch_mlsd.augment import mixup
from torch_mlsd.evaluation import compare_baselines
from torch_mlsd.data import long_tail_indices
from torch_mlsd.imbalance import class_weights, random_oversample, sample_weights, smote
from torch_mlsd.losses import CrossEntropyLoss, FocalLoss, LogitAdjustedLoss
from torch_mlsd.sampling import OrderSampler, StratifiedBatchSampler, WeightedSampler
from torch_mlsd.evaluation import stratified_split

STRATEGIES = (
    "ce", "class_weighted", "focal", "logit_adjusted", "weighted_sampler",
    "stratified_batches", "oversample", "smote", "mixup",
)
METRICS = ("balanced accuracy", "macro-F1", "minority recall")
NUM_CLASSES, RARE = 10, 3
DEFAULT_OUT = FIGURES / "imbalanced.png"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES),
                        help="strategies to train (default: all nine; 'ce' is always added)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default 3)")
    parser.add_argument("--steps", type=int, default=600, help="optimiser steps per run (default 600)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per step (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--imbalance-ratio", type=float, default=100.0, help="largest / smallest class (100)")
    parser.add_argument("--test-size", type=float, default=0.3, help="balanced held-out fraction (0.3)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; run i uses seed + i (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads, 0 for torch's default (default 1)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG path (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    args.strategies = ["ce"] + [s for s in dict.fromkeys(args.strategies) if s != "ce"]
    return args


# ---------------------------------------------------------------- data


@dataclass
class Split:
    """Long-tailed training rows and balanced test rows, pixels scaled to [0, 1]."""

    x_train: Tensor  # (N, 64) float32
    y_train: Tensor  # (N,) int64
    x_test: Tensor
    y_test: Tensor


def load_digits_tensors() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled digits as ``(1797, 64)`` float32 in [0, 1] and ``(1797,)`` int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("the digits need scikit-learn: pip install 'torch_mlsd[recipes]'") from exc
    digits = load_digits()
    return torch.as_tensor(digits.data, dtype=torch.float32) / 16.0, torch.as_tensor(digits.target, dtype=torch.int64)


def long_tailed_split(x: Tensor, y: Tensor, *, imbalance_ratio: float, test_size: float, seed: int) -> Split:
    """A balanced stratified test split, then a long tail cut from the rest."""
    train, test = stratified_split(y, test_size=test_size, generator=torch.Generator().manual_seed(seed))
    keep = train[long_tail_indices(y[train], imbalance_ratio=imbalance_ratio, profile="exponential",
                                   generator=torch.Generator().manual_seed(seed))]
    return Split(x[keep], y[keep], x[test], y[test])


def _generator(seed: int, like: Tensor) -> torch.Generator:
    """A seeded generator on ``like``'s device (resampling draws on the data's device)."""
    return torch.Generator(like.device).manual_seed(seed)


def smote_long_tail(x: Tensor, y: Tensor, *, k_neighbors: int = 5, seed: int) -> tuple[Tensor, Tensor]:
    """Grow every class to the majority's count with SMOTE, even the tiniest.

    A class with ``n_c <= k_neighbors`` rows interpolates between its ``n_c - 1``
    neighbours; a class with one row has no neighbour and is duplicated
    (``random_oversample``). Returns the original rows first, then the new ones.
    """
    counts = torch.bincount(y, minlength=NUM_CLASSES)
    target = int(counts.max())
    groups: dict[int, dict[int, int]] = {}  # neighbours used -> {class: final count}
    for c, n in enumerate(counts.tolist()):
        if 0 < n < target:
            groups.setdefault(min(k_neighbors, n - 1), {})[c] = target
    xs, ys = [x], [y]
    for k, strategy in sorted(groups.items()):
        if k == 0:
            xr, yr = random_oversample(x, y, sampling_strategy=strategy, generator=_generator(seed, x))
        else:
            xr, yr = smote(x, y, k_neighbors=k, sampling_strategy=strategy, generator=_generator(seed + k, x))
        xs.append(xr[len(y):])
        ys.append(yr[len(y):])
    return torch.cat(xs), torch.cat(ys)


# ---------------------------------------------------------------- training


def chunks(sampler: Iterable[int], size: int) -> Iterator[list[int]]:
    """Endless batches of ``size`` indices cut from successive epochs of ``sampler``."""
    batch: list[int] = []
    while True:
        for index in sampler:  # each pass is the next epoch (the samplers advance it themselves)
            batch.append(index)
            if len(batch) == size:
                yield batch
                batch = []


def epochs(batch_sampler: Iterable[list[int]]) -> Iterator[list[int]]:
    """Endless batches from successive epochs of a batch sampler."""
    while True:
        yield from batch_sampler


def batches(strategy: str, y: Tensor, *, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless index batches over the training rows: the strategy's sampler or plain reshuffling."""
    if strategy == "weighted_sampler":
        return chunks(WeightedSampler(sample_weights(y.cpu()), seed=seed), batch_size)
    if strategy == "stratified_batches":
        return epochs(StratifiedBatchSampler(y.cpu(), batch_size, seed=seed))
    return chunks(OrderSampler(len(y), order="reshuffle", seed=seed), batch_size)


def loss_function(strategy: str, y: Tensor) -> nn.Module:
    """The strategy's training loss; the training labels give class weights and priors."""
    if strategy == "class_weighted":
        return CrossEntropyLoss(weight=class_weights(y, num_classes=NUM_CLASSES, scheme="balanced"))
    if strategy == "focal":
        return FocalLoss(gamma=2.0)
    if strategy == "logit_adjusted":
        return LogitAdjustedLoss(class_counts=torch.bincount(y, minlength=NUM_CLASSES), tau=1.0)
    return CrossEntropyLoss()


def make_model(seed: int, device: torch.device) -> nn.Module:
    """The MLP 64 -> 128 -> 10 with PyTorch's default initialisation drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):  # the initial weights follow the seed, the caller's RNG is untouched
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, NUM_CLASSES))
    return model.to(device)


def train(strategy: str, split: Split, *, steps: int, batch_size: int, lr: float, seed: int,
          device: torch.device) -> nn.Module:
    """Train one MLP with one strategy for ``steps`` Adam steps."""
    x, y = split.x_train, split.y_train
    if strategy == "oversample":
        x, y = random_oversample(x, y, generator=_generator(seed, x))
    elif strategy == "smote":
        x, y = smote_long_tail(x, y, seed=seed)
    model = make_model(seed, device)
    loss_fn = loss_function(strategy, y).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)  # mixup's draws
    for step, batch in zip(range(steps), batches(strategy, y, batch_size=batch_size, seed=seed)):
        index = torch.tensor(batch, device=device)
        xb, target = x[index], y[index]
        if strategy == "mixup":
            images, target = mixup(xb.view(-1, 1, 8, 8), target, num_classes=NUM_CLASSES, generator=generator)
            xb = images.flatten(1)
        loss = loss_fn(model(xb), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return model


# ---------------------------------------------------------------- evaluation


def scores(y_true: Tensor, y_pred: Tensor) -> tuple[float, float, float]:
    """Balanced accuracy, macro-F1 and the mean recall of the ``RARE`` highest class ids (the tail)."""
    rare = list(range(NUM_CLASSES - RARE, NUM_CLASSES))
    return (
        float(metrics.balanced_accuracy_score(y_true, y_pred)),
        float(metrics.f1_score(y_true, y_pred, labels=list(range(NUM_CLASSES)), average="macro", zero_division=0.0)),
        float(metrics.recall_score(y_true, y_pred, labels=rare, average="macro", zero_division=0.0)),
    )


def baseline_scores(split: Split, seed: int) -> dict[str, tuple[float, float, float]]:
    """The input-free baselines, fitted on the training labels, scored on the test split."""
    fns = {name: (lambda i: lambda t, p: scores(t, p)[i])(i) for i, name in enumerate(METRICS)}
    report = compare_baselines(
        split.y_test, y_train=split.y_train, metrics=fns, generator=torch.Generator().manual_seed(seed)
    )
    return {f"baseline: {name}": tuple(report[name][m] for m in METRICS) for name in report.rows}


def margin_vs_spread(reference: Tensor, candidate: Tensor) -> tuple[float, float]:
    """``(margin, spread)``: mean gain of ``candidate`` over ``reference`` and the larger seed-to-seed std.

    Both are ``(S,)`` scores over ``S`` seeds; the spread is the larger of the two sample
    standard deviations (0 for a single seed). The claim "beats" holds when margin > spread.

    Example:
        >>> margin_vs_spread(torch.tensor([0.5, 0.6]), torch.tensor([0.8, 0.8]))
        (0.25, 0.0707...)
    """
    std = (lambda s: float(s.double().std()) if len(s) > 1 else 0.0)
    return float(candidate.double().mean() - reference.double().mean()), max(std(reference), std(candidate))


@dataclass
class Result:
    """Per-row scores: name -> ``(seeds, 3)`` float64 tensor of ``METRICS``, strategies first."""

    rows: dict[str, Tensor]
    strategies: list[str]
    class_counts: list[int]  # training counts of the first seed's long tail

    def claims(self) -> list[tuple[str, float, float]]:
        """``(strategy, margin, spread)`` on macro-F1 against ``ce``, largest margin first."""
        reference = self.rows["ce"][:, 1]
        found = [(s, *margin_vs_spread(reference, self.rows[s][:, 1])) for s in self.strategies if s != "ce"]
        return sorted(found, key=lambda row: -row[1])

    def table(self) -> str:
        body = [[name] + [f"{m:.4f} ± {s:.4f}" for m, s in zip(v.mean(0).tolist(), std(v).tolist())]
                for name, v in self.rows.items()]
        return markdown_table(["strategy", *METRICS], body)


def std(values: Tensor) -> Tensor:
    """Sample standard deviation over the seeds (dim 0), 0 for a single seed."""
    return values.std(0) if len(values) > 1 else torch.zeros_like(values[0])


def plot(result: Result, out: Path) -> None:
    plt = pyplot()
    names = list(result.rows)
    values = torch.stack([result.rows[n] for n in names])  # (rows, seeds, metrics)
    means, errors = values.mean(1), torch.stack([std(v) for v in values])
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=120)
    width = 0.8 / len(METRICS)
    for j, metric in enumerate(METRICS):
        xs = [i + (j - (len(METRICS) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, means[:, j].tolist(), width, yerr=errors[:, j].tolist(), capsize=2, label=metric)
    ce_f1 = float(means[names.index("ce"), 1])
    ax.axhline(ce_f1, color="gray", linestyle=":", linewidth=1, label=f"plain CE macro-F1 ({ce_f1:.2f})")
    ax.set_xticks(range(len(names)), [n.replace("baseline: ", "baseline:\n") for n in names], rotation=45,
                  ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"mean ± std over {values.shape[1]} seeds")
    ax.set_title(f"Long-tailed digits (counts {result.class_counts}), balanced test set")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, out)


def run(argv: Sequence[str] | None = None) -> Result:
    """Train every strategy on every seed, print the table and the claim, save the plot."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    start = time.perf_counter()
    x, y = load_digits_tensors()
    rows: dict[str, list[tuple[float, ...]]] = {s: [] for s in args.strategies}
    counts: list[int] = []
    with cpu_threads(args.threads), Progress(len(args.strategies) * args.seeds, desc="imbalanced", unit="run") as bar:
        for i in range(args.seeds):
            seed = args.seed + i
            split = long_tailed_split(x.to(device), y.to(device), imbalance_ratio=args.imbalance_ratio,
                                      test_size=args.test_size, seed=seed)
            counts = counts or torch.bincount(split.y_train, minlength=NUM_CLASSES).tolist()
            for name, value in baseline_scores(split, seed).items():
                rows.setdefault(name, []).append(value)
            for strategy in args.strategies:
                model = train(strategy, split, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              seed=seed, device=device)
                with torch.no_grad():
                    predicted = model(split.x_test).argmax(1)
                rows[strategy].append(scores(split.y_test, predicted))
                bar.update(1, seed=seed, strategy=strategy)
    result = Result({k: torch.tensor(v, dtype=torch.float64) for k, v in rows.items()}, args.strategies, counts)
    plot(result, args.out)
    print(result.table())
    print(claim_text(result))
    print(f"{len(args.strategies)} strategies x {args.seeds} seeds x {args.steps} steps on {device} in "
          f"{time.perf_counter() - start:.1f} s; training counts (seed {args.seed}) {counts}; plot saved to {args.out}")
    return result


def claim_text(result: Result) -> str:
    """The claim's verdict: which strategies beat plain CE on macro-F1 by more than the spread."""
    claims = result.claims()
    if not claims:
        return "claim not checked: no strategy besides plain CE"
    lines = [f"macro-F1 vs plain CE: {s} {margin:+.4f} (spread {spread:.4f})" for s, margin, spread in claims]
    winners = [s for s, margin, spread in claims if margin > spread]
    verdict = (f"claim holds: {', '.join(winners)} beat(s) plain CE on macro-F1 by more than the seed-to-seed spread"
               if winners else "claim fails: no strategy beats plain CE on macro-F1 by more than the seed-to-seed spread")
    return "\n".join([*lines, verdict])


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
