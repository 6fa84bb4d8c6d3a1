"""The lecture's sampling exercise at full scale: 10M tweets, 10K users, 24 months, ~1% misinformation.

A seeded synthetic stream stands in for Twitter (nothing is downloaded). It is generated
lazily, a tensor chunk at a time (never 10M Python objects): tweets in time order over
24 months of growing volume, each from a user drawn from a long-tailed activity
distribution (the user of activity rank ``r`` tweets in proportion to ``(r + 10)^-1.2``),
misinformation with a per-user rate (3% of users are "spreaders" at 15%, the others at
0.6%, modulated by a yearly cycle), and a keyword heuristic that flags 70% of the
misinformation and 2% of the rest: the only signal available *before* labelling.

(a) Uniform sample of 10K from a stream of unknown length: one pass, bounded memory,
    ``torch_mlsd.sampling.TensorReservoir`` over the chunks; its uniformity is checked by
    chi-square tests of the sample's months, users' activity buckets and positions in
    the stream against the stream's own distribution.
(b) 100K tweets to label, stratified by user activity bucket (users' quantiles of tweets:
    bottom 50%, 50-80%, 80-95%, 95-99%, top 1%) x month x heuristic flag. 30% of the
    budget goes to the flagged tweets (the rare class is oversampled through its proxy);
    within each part every stratum gets ``min(N_h, 50)`` and the rest is split in
    proportion to what is left of each stratum. Each stratum is drawn uniformly by its
    own reservoir in a second pass. Every labelled tweet carries the design weight
    ``N_h / n_h``, so the weighted misinformation rate is unbiased; it is compared with
    the truth and with the unweighted (biased) sample mean.
(c) An audit of the 100K labels, made by 20 annotators (5,000 each): the sample size for a
    proportion with margin ``E`` at 95% is ``n0 = 1.96^2 p (1 - p) / E^2`` with the
    finite-population correction ``n0 / (1 + (n0 - 1) / N)``, rounded up, at ``p = 0.5``.
    The audit is stratified per annotator (each one's error rate within +-5%) and run
    against simulated annotators, one of whom is careless.
(d) The same 100K without knowing the stream's strata in advance, in one pass:
    ``torch_mlsd.sampling.RebalancedStream`` balances the stream on the heuristic flag
    (50% misinformation candidates) at a rate of about 100K per 10M, estimating the flag's
    share online, and a uniform ``TensorReservoir`` cuts its output to exactly 100K. Each
    labelled tweet carries its importance weight (the flag's input over output share), so
    the weighted misinformation rate estimates the stream's true rate.

Prints time and peak memory, the tables, and saves a 2x2 figure::

    python recipes/misinformation_sampling.py            # 10M tweets, 5-20 s on 2 busy CPU cores
    python recipes/misinformation_sampling.py --tweets 200000 --users 1000 --labels 5000 --reservoir 2000 \
        --min-per-stratum 5

Needs the ``recipes`` extra (matplotlib; tqdm for the progress bar, optional).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from _common import FIGURES, Progress, markdown_table, peak_rss_mib, pyplot, save_figure
from torch_mlsd._device import resolve_device
from torch_mlsd._random import make_generator, mix_seed
from torch_mlsd.sampling import ClassStats, RebalancedStream, TensorReservoir, weighted_indices

ID, USER, MONTH, LABEL, FLAG = range(5)  # the columns of a chunk
BUCKET_EDGES = (0.5, 0.8, 0.95, 0.99)  # users' activity quantiles between the buckets
BUCKET_NAMES = ("bottom 50%", "50-80%", "80-95%", "95-99%", "top 1%")
SPREADERS, SPREADER_RATE, OTHER_RATE = 0.03, 0.15, 0.006
FLAG_IF_MISINFORMATION, FLAG_IF_NOT = 0.7, 0.02
Z95 = 1.96
DEFAULT_OUT = FIGURES / "misinformation_sampling.png"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tweets", type=int, default=10_000_000, help="tweets in the stream (default 10M)")
    parser.add_argument("--users", type=int, default=10_000, help="users (default 10K)")
    parser.add_argument("--months", type=int, default=24, help="months covered (default 24)")
    parser.add_argument("--reservoir", type=int, default=10_000, help="uniform sample size, (a) (default 10K)")
    parser.add_argument("--labels", type=int, default=100_000, help="tweets to label, (b) (default 100K)")
    parser.add_argument("--flagged-share", type=float, default=0.3, help="budget share of flagged tweets (0.3)")
    parser.add_argument("--min-per-stratum", type=int, default=50, help="floor of every stratum (default 50)")
    parser.add_argument("--annotators", type=int, default=20, help="annotators of the labels, (c) (default 20)")
    parser.add_argument("--audit-margin", type=float, default=0.05, help="margin per annotator (default 0.05)")
    parser.add_argument("--overall-margin", type=float, default=0.01, help="margin over all labels (default 0.01)")
    parser.add_argument("--headroom", type=float, default=0.1,
                        help="(d) rebalance about (1 + headroom) x labels, cut to labels uniformly (0.1)")
    parser.add_argument("--chunk-size", type=int, default=1 << 20, help="tweets per generated chunk (2^20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stream and of every draw (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG path (default {DEFAULT_OUT})")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- the stream


class TweetStream:
    """A seeded stream of tweets in time order, generated in ``(C, 5)`` int64 chunks.

    Columns: tweet id (its position in the stream), user, month, misinformation (0/1),
    heuristic flag (0/1). Iterating twice gives the same stream.
    """

    def __init__(self, num_tweets: int, num_users: int, *, months: int, chunk_size: int, seed: int,
                 device: torch.device) -> None:
        self.num_tweets, self.num_users, self.months = num_tweets, num_users, months
        self.chunk_size, self.seed, self.device = chunk_size, seed, device
        g = make_generator(mix_seed(seed, 0))
        activity_rank = torch.randperm(num_users, generator=g).double()
        self.user_weights = ((activity_rank + 10.0) ** -1.2).to(device)
        spreader = torch.rand(num_users, generator=g) < SPREADERS
        self.user_rate = torch.where(spreader, SPREADER_RATE, OTHER_RATE).double().to(device)
        month = torch.arange(months, dtype=torch.float64)
        volume = 1.0 + month / months  # the monthly volume doubles over the period
        self.month_ends = (volume.cumsum(0) / volume.sum() * num_tweets).round().long().to(device)
        self.month_factor = (1.0 + 0.5 * torch.sin(2 * math.pi * month / 12)).to(device)

    def num_chunks(self) -> int:
        return -(-self.num_tweets // self.chunk_size)

    def __iter__(self) -> Iterator[Tensor]:
        for index in range(self.num_chunks()):
            start = index * self.chunk_size
            yield self._chunk(index, start, min(self.chunk_size, self.num_tweets - start))

    def _chunk(self, index: int, start: int, size: int) -> Tensor:
        g = make_generator(mix_seed(self.seed, 1, index), self.device)
        tweet = torch.arange(start, start + size, device=self.device)
        month = torch.searchsorted(self.month_ends, tweet, right=True)
        user = weighted_indices(self.user_weights, size, generator=g)
        rate = self.user_rate[user] * self.month_factor[month]
        label = torch.rand(size, dtype=torch.float64, generator=g, device=self.device) < rate
        u = torch.rand(size, dtype=torch.float64, generator=g, device=self.device)
        flag = torch.where(label, u < FLAG_IF_MISINFORMATION, u < FLAG_IF_NOT)
        return torch.stack([tweet, user, month, label.long(), flag.long()], dim=1)


# ---------------------------------------------------------------- (a) one pass: counts and the reservoir


@dataclass
class Scan:
    """What one pass over the stream gives: the uniform sample and exact counts."""

    reservoir: Tensor  # (k, 5) rows, uniform over the stream
    counts: Tensor  # (users, months, flag, label) int64 tweet counts
    seconds: float


def scan(stream: TweetStream, k: int, seed: int, progress: Progress) -> Scan:
    """One pass: feed every chunk to a ``TensorReservoir`` and count tweets by user x month x flag x label."""
    start = time.perf_counter()
    reservoir = TensorReservoir(k, seed=mix_seed(seed, 2))
    shape = (stream.num_users, stream.months, 2, 2)
    counts = torch.zeros(math.prod(shape), dtype=torch.int64, device=stream.device)
    for chunk in stream:
        reservoir.update(chunk)
        key = ((chunk[:, USER] * stream.months + chunk[:, MONTH]) * 2 + chunk[:, FLAG]) * 2 + chunk[:, LABEL]
        counts += torch.bincount(key, minlength=len(counts))
        progress.update(1)
    return Scan(reservoir.sample(), counts.view(shape), time.perf_counter() - start)


def activity_buckets(tweets_per_user: Tensor) -> Tensor:
    """Bucket of every user by the quantile of its number of tweets (``BUCKET_EDGES``)."""
    num_users = len(tweets_per_user)
    rank = torch.empty_like(tweets_per_user)
    rank[torch.argsort(tweets_per_user, stable=True)] = torch.arange(num_users, device=rank.device)
    edges = torch.tensor(BUCKET_EDGES, dtype=torch.float64, device=rank.device) * num_users
    return torch.searchsorted(edges, rank.double(), right=True)


def chi_square(observed: Tensor, expected_share: Tensor) -> tuple[float, int, float]:
    """Pearson's goodness-of-fit statistic, its degrees of freedom and p-value."""
    expected = expected_share.double() / expected_share.sum() * observed.sum()
    statistic = float(((observed.double() - expected) ** 2 / expected).sum())
    df = len(observed) - 1
    p_value = float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64), torch.tensor(statistic / 2)))
    return statistic, df, p_value


Check = tuple[str, float, int, float]  # what was compared, chi-square statistic, degrees of freedom, p-value


def uniformity_checks(sample: Tensor, counts: Tensor, bucket: Tensor, num_tweets: int) -> list[Check]:
    """Chi-square tests of the reservoir against the stream: months, activity buckets, positions."""
    months = counts.shape[1]
    bucket_tweets = torch.zeros(len(BUCKET_NAMES), dtype=torch.int64, device=counts.device)
    bucket_tweets.index_add_(0, bucket, counts.sum((1, 2, 3)))
    deciles = torch.full((10,), num_tweets / 10, dtype=torch.float64)
    sample_decile = (sample[:, ID] * 10 // num_tweets).cpu()
    checks = [
        ("month", torch.bincount(sample[:, MONTH], minlength=months), counts.sum((0, 2, 3))),
        ("user activity bucket", torch.bincount(bucket[sample[:, USER]], minlength=len(BUCKET_NAMES)), bucket_tweets),
        ("position in the stream (deciles)", torch.bincount(sample_decile, minlength=10), deciles),
        ("misinformation (yes / no)", torch.bincount(sample[:, LABEL], minlength=2), counts.sum((0, 1, 2))),
    ]
    return [(name, *chi_square(obs.cpu(), exp.cpu())) for name, obs, exp in checks]


# ---------------------------------------------------------------- (b) the stratified design


def allocate(sizes: Tensor, budget: int, minimum: int) -> Tensor:
    """``min(N_h, minimum)`` per stratum, the rest in proportion to what is left of each.

    Integer counts (largest remainder) that sum to ``budget`` and never exceed ``N_h``.
    """
    sizes = sizes.long()
    base = sizes.clamp(max=minimum)
    room = sizes - base
    rest = budget - int(base.sum())
    if rest < 0 or rest > int(room.sum()):
        raise ValueError(f"`budget` must be in [{int(base.sum())}, {int(sizes.sum())}] for these strata, got {budget}")
    exact = room.double() * (rest / max(int(room.sum()), 1))
    extra = exact.floor().long()
    short = rest - int(extra.sum())
    extra[torch.argsort(exact - extra, descending=True)[:short]] += 1
    return base + extra


def stratum_of(rows: Tensor, bucket: Tensor, months: int) -> Tensor:
    """Stratum ``(bucket * months + month) * 2 + flag`` of each row."""
    return (bucket[rows[:, USER]] * months + rows[:, MONTH]) * 2 + rows[:, FLAG]


def design(counts: Tensor, bucket: Tensor, budget: int, flagged_share: float, minimum: int) -> tuple[Tensor, Tensor]:
    """Stratum sizes ``N_h`` and sample sizes ``n_h``, flat over (bucket, month, flag)."""
    by_user = counts.sum(3)  # (users, months, flag)
    sizes = torch.zeros((len(BUCKET_NAMES), *by_user.shape[1:]), dtype=torch.int64, device=counts.device)
    sizes.index_add_(0, bucket, by_user)
    flagged_budget = min(round(flagged_share * budget), int(sizes[..., 1].sum()))
    alloc = torch.stack([allocate(sizes[..., 0].flatten(), budget - flagged_budget, minimum),
                         allocate(sizes[..., 1].flatten(), flagged_budget, minimum)], dim=1)
    return sizes.flatten(), alloc.view(sizes.shape).flatten()


def stratified_sample(stream: TweetStream, bucket: Tensor, alloc: Tensor, seed: int, progress: Progress) -> Tensor:
    """Second pass: a uniform reservoir of ``n_h`` rows in every stratum ``h``; ``(sum n_h, 5)`` rows."""
    reservoirs = {h: TensorReservoir(n, seed=mix_seed(seed, 3, h)) for h, n in enumerate(alloc.tolist()) if n > 0}
    for chunk in stream:
        h = stratum_of(chunk, bucket, stream.months)
        order = torch.argsort(h, stable=True)
        sizes = torch.bincount(h, minlength=len(alloc)).tolist()
        for stratum, rows in enumerate(chunk.index_select(0, order).split(sizes)):
            if len(rows) and stratum in reservoirs:
                reservoirs[stratum].update(rows)
        progress.update(1)
    return torch.cat([r.sample() for r in reservoirs.values()])


@dataclass
class Estimate:
    rate: float
    standard_error: float


def weighted_estimate(sample: Tensor, h: Tensor, sizes: Tensor, alloc: Tensor) -> tuple[Estimate, Tensor]:
    """Misinformation rate with the design weights ``N_h / n_h`` and its standard error.

    Returns the estimate and the weight of every sampled row.
    """
    weights = (sizes.double() / alloc.clamp(min=1).double())[h]
    y = sample[:, LABEL].double()
    rate = float((weights * y).sum() / weights.sum())
    # Var = sum_h W_h^2 (1 - n_h / N_h) s_h^2 / n_h with W_h = N_h / N, s_h^2 the stratum's sample variance
    n_h, big_n = alloc.double(), sizes.double()
    p_h = torch.zeros_like(n_h).index_add_(0, h, y) / n_h.clamp(min=1)
    s2 = p_h * (1 - p_h) * n_h / (n_h - 1).clamp(min=1)
    w_h = big_n / big_n.sum()
    variance = torch.where(n_h > 0, w_h**2 * (1 - n_h / big_n.clamp(min=1)) * s2 / n_h.clamp(min=1), 0.0).sum()
    return Estimate(rate, float(variance.sqrt())), weights


# ---------------------------------------------------------------- (c) the audit


def audit_sample_size(margin: float, population: int | None = None, *, p: float = 0.5, z: float = Z95) -> int:
    """Labels to review to estimate a proportion ``p`` within ``+-margin`` (95% for ``z = 1.96``).

    ``n0 = z^2 p (1 - p) / margin^2``; with a finite ``population`` ``N`` the correction
    ``n0 / (1 + (n0 - 1) / N)``; rounded up (a sample size must reach the margin).
    """
    if not 0 < margin < 1:
        raise ValueError(f"`margin` must be in (0, 1), got {margin!r}")
    n0 = z * z * p * (1 - p) / margin**2
    n = n0 if population is None else n0 / (1 + (n0 - 1) / population)
    return math.ceil(n - 1e-9)  # 1e-9: 9603.999999999998 is 9604


def margin_of_error(n: Tensor | int, population: Tensor | int, *, p: float = 0.5, z: float = Z95) -> Tensor:
    """Half-width of the 95% interval of a proportion from ``n`` of ``population`` labels."""
    n, big_n = torch.as_tensor(n, dtype=torch.float64), torch.as_tensor(population, dtype=torch.float64)
    return z * torch.sqrt(p * (1 - p) / n * (big_n - n) / (big_n - 1).clamp(min=1))


def stratified_margin(n: Tensor, population: Tensor, *, p: float = 0.5) -> float:
    """Margin of the overall proportion estimated from strata of sizes ``population`` sampled ``n`` each."""
    w = population.double() / population.sum()
    return float(torch.sqrt((w**2 * (margin_of_error(n, population, p=p) / Z95) ** 2).sum()) * Z95)


@dataclass
class Audit:
    designs: list[tuple[str, str, int, float, float]]  # name, reviews per annotator, total, margins
    labels: Tensor  # (A,) labels made by each annotator
    reviewed: Tensor  # (A,) labels reviewed per annotator (the stratified +-audit_margin design)
    true_error: Tensor  # (A,) share of each annotator's labels that are wrong
    estimated_error: Tensor  # (A,) the audit's estimates
    half_width: Tensor  # (A,) their 95% interval half-widths


def audit(n: int, annotators: int, audit_margin: float, overall_margin: float, seed: int) -> Audit:
    """Size the audit of ``n`` labels made by ``annotators`` and run it on simulated annotators."""
    g = make_generator(mix_seed(seed, 4))
    annotator = torch.randperm(n, generator=g) % annotators  # equal shares, at random
    share = torch.bincount(annotator, minlength=annotators)
    overall = audit_sample_size(overall_margin, n)
    per_annotator = torch.tensor([audit_sample_size(audit_margin, int(s)) for s in share])
    both = torch.maximum(per_annotator, (share * overall + n - 1) // n)  # at least the proportional share
    designs = [(f"+-{overall_margin:.0%} overall, simple random", f"~{overall / annotators:.0f}", overall,
                float(margin_of_error(overall / annotators, share).max()), float(margin_of_error(overall, n)))]
    for name, sizes in ((f"+-{audit_margin:.0%} per annotator, stratified", per_annotator),
                        ("both margins, stratified", both)):
        designs.append((name, f"{int(sizes.min())}" if bool((sizes == sizes[0]).all()) else
                        f"{int(sizes.min())}-{int(sizes.max())}", int(sizes.sum()),
                        float(margin_of_error(sizes, share).max()), stratified_margin(sizes, share)))
    # Simulated annotators: error probabilities 2-6%, one careless at 15%.
    error_probability = 0.02 + 0.04 * torch.rand(annotators, generator=g, dtype=torch.float64)
    error_probability[int(torch.randint(annotators, (1,), generator=g))] = 0.15
    wrong = (torch.rand(n, generator=g, dtype=torch.float64) < error_probability[annotator]).double()
    # Review per_annotator[a] labels of annotator a, uniformly: random keys, sorted within annotator.
    order = torch.argsort(torch.rand(n, generator=g), stable=True)
    order = order[torch.argsort(annotator[order], stable=True)]
    position = torch.arange(n) - torch.repeat_interleave(torch.cumsum(share, 0) - share, share)
    reviewed = order[position < per_annotator[annotator[order]]]
    estimated = torch.bincount(annotator[reviewed], weights=wrong[reviewed], minlength=annotators) / per_annotator
    # The audit estimates the share of wrong labels among each annotator's N_a labels (hence the correction).
    truth = torch.bincount(annotator, weights=wrong, minlength=annotators) / share
    half = Z95 * torch.sqrt(estimated * (1 - estimated) / per_annotator * (share - per_annotator) / (share - 1))
    return Audit(designs, share, per_annotator, truth, estimated, half)


# ---------------------------------------------------------------- (d) rebalancing the stream on the fly


@dataclass
class Rebalanced:
    sample: Tensor  # (n, 5) tweets to label
    weights: Tensor  # (n,) importance weights: tweets of the stream each labelled tweet stands for
    stats: dict[Any, ClassStats]  # what the rebalancer did with unflagged (0) and flagged (1) tweets
    estimate: Estimate  # importance-weighted misinformation rate
    unweighted: Estimate


def rebalanced_sample(stream: TweetStream, labels: int, headroom: float, seed: int, progress: Progress) -> Rebalanced:
    """One pass: rebalance on the flag at ``(1 + headroom) * labels`` per stream, then cut to ``labels``.

    The rate is set from the expected volume; the flag's share is estimated online from about
    the last month of tweets (it drifts with the seasons). Weights: ``1 / m`` (the tweets an
    output stands for) times outputs / ``labels`` for the uniform cut, so they sum to about the stream.
    """
    rate = (1 + headroom) * labels / stream.num_tweets
    flagged = RebalancedStream(_ByFlag(stream), seed=mix_seed(seed, 5), rate=rate, chunked=True, return_weights=True,
                               memory=max(2.0, stream.num_tweets / stream.months))
    reservoir = TensorReservoir(labels, seed=mix_seed(seed, 6))
    for rows, _, weights in flagged:
        reservoir.update(torch.cat([rows.double(), weights[:, None]], dim=1))  # ids < 2^53: exact in float64
        progress.update(1)
    kept = reservoir.sample()
    outputs = sum(s.emitted for s in flagged.stats.values())
    sample, weights, y = kept[:, :5].long(), kept[:, 5] * (outputs / len(kept)), kept[:, LABEL]
    rate_hat = float((weights * y).sum() / weights.sum())
    # Ratio estimator's linearised standard error: sqrt(sum w^2 (y - rate)^2) / sum w.
    se = float(((weights * (y - rate_hat)) ** 2).sum().sqrt() / weights.sum())
    return Rebalanced(sample, weights, flagged.stats, Estimate(rate_hat, se),
                      Estimate(float(y.mean()), float(y.std() / math.sqrt(len(y)))))


class _ByFlag:
    """The stream as ``(rows, flag)`` chunks: the rebalancer sees only the heuristic flag."""

    def __init__(self, stream: TweetStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return ((chunk, chunk[:, FLAG]) for chunk in self.stream)


# ---------------------------------------------------------------- the run


@dataclass
class Result:
    """Everything the tables and the plot show (and the smoke test checks)."""

    counts: Tensor  # (users, months, flag, label) tweet counts of the stream
    bucket: Tensor  # (users,) activity bucket
    reservoir: Tensor  # (k, 5)
    checks: list[Check]
    sample: Tensor  # (n, 5) tweets to label
    weights: Tensor  # (n,) design weights N_h / n_h
    sizes: Tensor  # (H,) stratum sizes
    alloc: Tensor  # (H,) sample sizes
    truth: float
    weighted: Estimate
    unweighted: Estimate
    uniform: Estimate  # from the reservoir
    audit: Audit
    rebalanced: Rebalanced
    seconds: dict[str, float]
    peak_rss_mib: tuple[float, float]  # before the first pass, at the end


def run(argv: Sequence[str] | None = None) -> Result:
    """Run (a), (b) and (c), print the tables, save the plot; returns the measurements."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    rss_before = peak_rss_mib()
    stream = TweetStream(args.tweets, args.users, months=args.months, chunk_size=args.chunk_size, seed=args.seed,
                         device=device)
    seconds = {}
    with Progress(stream.num_chunks(), desc="(a) reservoir + counts", unit="chunk") as bar:
        first = scan(stream, args.reservoir, args.seed, bar)
    seconds["(a) one pass: reservoir + counts"] = first.seconds
    bucket = activity_buckets(first.counts.sum((1, 2, 3)))
    checks = uniformity_checks(first.reservoir, first.counts, bucket, args.tweets)

    start = time.perf_counter()
    sizes, alloc = design(first.counts, bucket, args.labels, args.flagged_share, args.min_per_stratum)
    with Progress(stream.num_chunks(), desc="(b) stratified sample", unit="chunk") as bar:
        sample = stratified_sample(stream, bucket, alloc, args.seed, bar)
    h = stratum_of(sample, bucket, args.months)
    weighted, weights = weighted_estimate(sample, h, sizes, alloc)
    seconds["(b) second pass: stratified sample"] = time.perf_counter() - start

    start = time.perf_counter()
    checked = audit(len(sample), args.annotators, args.audit_margin, args.overall_margin, args.seed)
    seconds["(c) audit"] = time.perf_counter() - start

    start = time.perf_counter()
    with Progress(stream.num_chunks(), desc="(d) rebalanced stream", unit="chunk") as bar:
        rebalanced = rebalanced_sample(stream, args.labels, args.headroom, args.seed, bar)
    seconds["(d) third pass: rebalanced stream"] = time.perf_counter() - start

    y, k = sample[:, LABEL].double(), len(first.reservoir)
    p_uniform = float(first.reservoir[:, LABEL].double().mean())
    result = Result(
        first.counts, bucket, first.reservoir, checks, sample, weights, sizes, alloc,
        truth=float(first.counts[..., 1].sum()) / args.tweets,
        weighted=weighted,
        unweighted=Estimate(float(y.mean()), float(y.std() / math.sqrt(len(y)))),
        uniform=Estimate(p_uniform, math.sqrt(p_uniform * (1 - p_uniform) / k)),
        audit=checked, rebalanced=rebalanced, seconds=seconds, peak_rss_mib=(rss_before, peak_rss_mib()),
    )
    report(result, args)
    plot(result, args.out)
    print(f"plot saved to {args.out}")
    return result


def report(r: Result, args: argparse.Namespace) -> None:
    tweets_per_user = r.counts.sum((1, 2, 3)).cpu()
    users_by_activity = tweets_per_user.sort(descending=True).values
    top = users_by_activity[: max(1, len(users_by_activity) // 100)].sum() / args.tweets
    print(f"\nStream: {args.tweets:,} tweets from {args.users:,} users over {args.months} months, "
          f"{r.truth:.4%} misinformation, {float(r.counts[:, :, 1].sum()) / args.tweets:.2%} flagged by the "
          f"heuristic; tweets per user: min {int(users_by_activity[-1])}, median {int(users_by_activity.median())}, "
          f"max {int(users_by_activity[0]):,}; the top 1% of users wrote {float(top):.1%}.")

    print(f"\n(a) Uniform reservoir of {len(r.reservoir):,} in one pass: chi-square against the stream")
    print(markdown_table(("distribution", "chi-square", "df", "p-value"), r.checks))

    share = torch.zeros(len(BUCKET_NAMES), dtype=torch.int64).index_add_(0, r.bucket.cpu(), tweets_per_user)
    users = torch.bincount(r.bucket.cpu(), minlength=len(BUCKET_NAMES))
    in_reservoir = torch.bincount(r.bucket[r.reservoir[:, USER]].cpu(), minlength=len(BUCKET_NAMES))
    sample_bucket = r.bucket[r.sample[:, USER]].cpu()
    labelled = torch.bincount(sample_bucket, minlength=len(BUCKET_NAMES))
    misinformation = torch.bincount(sample_bucket, weights=r.sample[:, LABEL].double().cpu(),
                                    minlength=len(BUCKET_NAMES))
    weights = r.weights.cpu()
    print(f"\n(b) {len(r.sample):,} tweets to label, stratified by activity bucket x month x heuristic flag "
          f"({int((r.sizes > 0).sum())} non-empty strata), {args.flagged_share:.0%} of the budget on flagged tweets")
    rows = []
    for b, name in enumerate(BUCKET_NAMES):
        w = weights[sample_bucket == b]
        rows.append((name, int(users[b]), f"{float(share[b]) / args.tweets:.2%}",
                     f"{float(in_reservoir[b]) / len(r.reservoir):.2%}", int(labelled[b]), int(misinformation[b]),
                     f"{float(w.min()):.1f} - {float(w.max()):.1f}"))
    print(markdown_table(("user bucket", "users", "share of tweets", "share in reservoir", "to label",
                          "misinformation among them", "design weights N_h/n_h"), rows))
    months = torch.bincount(r.sample[:, MONTH].cpu(), minlength=args.months)
    expected_srs = len(r.sample) * r.truth
    print(f"Every month has {int(months.min()):,} to {int(months.max()):,} tweets to label; the sample holds "
          f"{int(r.sample[:, LABEL].sum()):,} misinformation tweets (a simple random sample of the same size: "
          f"about {expected_srs:,.0f}).")
    rows = [(name, f"{e.rate:.4%}", f"{e.standard_error:.4%}", f"{r.truth:.4%}",
             f"{(e.rate - r.truth) / e.standard_error:+.2f}")
            for name, e in (("stratified sample, design weights", r.weighted),
                            ("stratified sample, unweighted (biased)", r.unweighted),
                            ("uniform reservoir (a)", r.uniform))]
    srs = math.sqrt(r.truth * (1 - r.truth) / len(r.sample))
    rows.append((f"(a simple random sample of {len(r.sample):,})", "-", f"{srs:.4%}", f"{r.truth:.4%}", "-"))
    print(markdown_table(("misinformation rate", "estimate", "standard error", "truth", "error / SE"), rows))

    a = r.audit
    print(f"\n(c) Auditing {len(r.sample):,} labels from {args.annotators} annotators "
          f"({span(a.labels)} each): "
          "n0 = 1.96^2 p(1-p)/E^2, n = n0 / (1 + (n0 - 1)/N), p = 0.5, rounded up")
    print(markdown_table(("design", "reviews per annotator", "total reviewed", "worst margin per annotator",
                          "margin overall"),
                         [(name, per, total, f"+-{m1:.2%}", f"+-{m2:.2%}") for name, per, total, m1, m2 in a.designs]))
    covered = int(((a.estimated_error - a.true_error).abs() <= a.half_width).sum())
    worst = int(a.true_error.argmax())
    above = torch.nonzero(a.estimated_error - a.half_width > 0.10).flatten().tolist()
    print(f"Ran the stratified audit ({span(a.reviewed)} reviews per annotator) on "
          f"simulated annotators: {covered}/{args.annotators} 95% intervals cover the annotator's true share of "
          f"wrong labels; the worst annotator, {worst}, has {float(a.true_error[worst]):.1%} wrong, estimated "
          f"{float(a.estimated_error[worst]):.1%} +- {float(a.half_width[worst]):.1%}; annotators whose whole "
          f"interval lies above 10%: {above}.")

    report_rebalanced(r, args)

    print("\n" + markdown_table(("step", "seconds"), [(k, f"{v:.2f}") for k, v in r.seconds.items()]))
    before, peak = r.peak_rss_mib
    print(f"Peak resident memory {peak:.0f} MiB ({before:.0f} MiB before the stream began: Python and torch); "
          f"the stream was held as {args.chunk_size:,}-tweet chunks "
          f"({args.chunk_size * 5 * 8 / 2**20:.0f} MiB each), the reservoir holds {len(r.reservoir):,} rows.")


def report_rebalanced(r: Result, args: argparse.Namespace) -> None:
    d = r.rebalanced
    flagged = float(d.sample[:, FLAG].double().mean())
    print(f"\n(d) RebalancedStream on the heuristic flag, one pass at {1 + args.headroom:.2f} x {args.labels:,} "
          f"per {args.tweets:,} tweets, then a uniform reservoir of {len(d.sample):,}: {flagged:.1%} flagged "
          f"(misinformation candidates), {int(d.sample[:, LABEL].sum()):,} misinformation tweets to label")
    print(markdown_table(("heuristic flag", "tweets seen", "kept", "dropped", "in the labelled set",
                          "importance weight"),
                         [(name, f"{s.seen:,}", f"{s.kept:,}", f"{s.dropped:,}",
                           f"{int((d.sample[:, FLAG] == flag).sum()):,}",
                           f"{float(d.weights[d.sample[:, FLAG] == flag].mean()):.3f}")
                          for flag, name in ((0, "not flagged"), (1, "flagged")) for s in (d.stats[flag],)]))
    print(markdown_table(("misinformation rate", "estimate", "standard error", "truth", "error / SE"),
                         [(name, f"{e.rate:.4%}", f"{e.standard_error:.4%}", f"{r.truth:.4%}",
                           f"{(e.rate - r.truth) / e.standard_error:+.2f}")
                          for name, e in (("rebalanced stream, importance weights", d.estimate),
                                          ("rebalanced stream, unweighted (biased)", d.unweighted))]))


def span(values: Tensor) -> str:
    """``"a"`` when all values are ``a``, else ``"a to b"``."""
    low, high = int(values.min()), int(values.max())
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def plot(r: Result, out: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=110)
    months = r.counts.shape[1]
    month_totals = r.counts.sum((0, 2)).double().cpu()  # (months, label)
    reservoir_month = r.reservoir[:, MONTH].cpu()
    sample_month, weights, y = r.sample[:, MONTH].cpu(), r.weights.cpu(), r.sample[:, LABEL].double().cpu()

    def by_month(values: Tensor, month: Tensor) -> Tensor:
        return torch.zeros(months, dtype=torch.float64).index_add_(0, month, values)

    ax = axes[0, 0]
    ax.plot((month_totals[:, 1] / month_totals.sum(1)).numpy(), "k-", label="truth (whole stream)")
    ax.plot((by_month(weights * y, sample_month) / by_month(weights, sample_month)).numpy(), "s", ms=4,
            label=f"stratified sample (b), {len(r.sample):,}, weighted")
    d_month, d_y = r.rebalanced.sample[:, MONTH].cpu(), r.rebalanced.sample[:, LABEL].double().cpu()
    d_weights = r.rebalanced.weights.cpu()
    ax.plot((by_month(d_weights * d_y, d_month) / by_month(d_weights, d_month)).numpy(), "^", ms=4, mfc="none",
            label=f"rebalanced stream (d), {len(r.rebalanced.sample):,}, importance-weighted")
    ax.plot((by_month(r.reservoir[:, LABEL].double().cpu(), reservoir_month)
             / by_month(torch.ones(len(reservoir_month), dtype=torch.float64), reservoir_month)).numpy(), "o", ms=4,
            mfc="none", label=f"uniform reservoir (a), {len(r.reservoir):,}")
    ax.set(xlabel="month", ylabel="misinformation rate", title="Misinformation rate by month: estimates vs truth")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    tweets_per_user = r.counts.sum((1, 2, 3)).cpu().sort(descending=True).values
    ax.loglog(torch.arange(1, len(tweets_per_user) + 1).numpy(), tweets_per_user.numpy(), "k-")
    ax.set(xlabel="user rank", ylabel="tweets", title="Tweets per user (long tail)")

    ax = axes[1, 0]
    nb = len(BUCKET_NAMES)
    x = torch.arange(nb, dtype=torch.float64)
    tweets_per_user = r.counts.sum((1, 2, 3)).double().cpu()
    stream_share = torch.zeros(nb, dtype=torch.float64).index_add_(0, r.bucket.cpu(), tweets_per_user)
    bars = (("stream", stream_share),
            ("reservoir (a)", torch.bincount(r.bucket[r.reservoir[:, USER]].cpu(), minlength=nb).double()),
            ("to label (b), unweighted", torch.bincount(r.bucket[r.sample[:, USER]].cpu(), minlength=nb).double()),
            ("misinformation to label (b)", torch.bincount(r.bucket[r.sample[:, USER]].cpu(), minlength=nb,
                                                           weights=r.sample[:, LABEL].double().cpu())))
    for i, (label, values) in enumerate(bars):
        ax.bar((x + (i - 1.5) * 0.2).numpy(), (values / values.sum()).numpy(), width=0.2, label=label)
    ax.set_xticks(x.tolist(), BUCKET_NAMES)
    ax.set(xlabel="users' activity bucket", ylabel="share", title="Activity buckets: stream vs samples")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    a = r.audit
    index = torch.arange(len(a.true_error))
    ax.errorbar(index.numpy(), a.estimated_error.numpy(), yerr=a.half_width.numpy(), fmt="o", ms=4,
                label="audit estimate, 95% interval")
    ax.plot(index.numpy(), a.true_error.numpy(), "kx", label="true share of wrong labels")
    ax.set_xticks(index.tolist())
    ax.set(xlabel="annotator", ylabel="label error rate", title=f"Audit: {int(a.reviewed[0])} reviews per annotator")
    ax.legend(fontsize=8)
    save_figure(fig, out)


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
