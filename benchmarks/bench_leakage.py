"""Leakage checks and metrics against pandas / numpy / scikit-learn, same data, same process.

    python benchmarks/bench_leakage.py [--device cpu|cuda|auto] [--quick] [--repeats 3] [--threads N] [--only pairs]

Cases: exact duplicates across splits and inside train on 1e6 x 32 rows (pandas merge /
duplicated, numpy unique(axis=0)); near-duplicates of 1e4 test rows among 1e5 x 128 train
rows (scikit-learn NearestNeighbors, cosine, brute force); metrics on 1e7 predictions
(scikit-learn). Every pair is checked to give the same answer before it is timed.
Pair scan (issue 14): all 2,016 pairs of 64 features on 1e5 rows (``pair_scan``, with its
shuffled-label null) against scikit-learn's ``mutual_info_classif`` on the 64 single
features, one run each (different quantities: the check is that the planted XOR pair is
flagged and nothing else).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import sklearn.metrics as skm
import torch
from sklearn.feature_selection import mutual_info_classif
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from torch_mlsd import evaluation as M
from torch_mlsd._device import resolve_device
from torch_mlsd.evaluation import exact_duplicates, near_duplicates, pair_scan


def timed(fn: Callable[[], Any], repeats: int, device: torch.device) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeats`` runs, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def duplicate_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Rows of small integers stored as float32, 5% of them copies of other rows."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1000, size=(n, d)).astype(np.float32)
    copies = rng.integers(0, n, size=n // 20)
    x[rng.integers(0, n, size=n // 20)] = x[copies]
    return x


def pandas_cross(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Test rows found in train, with a merge."""
    merged = test.reset_index().merge(train.drop_duplicates(), on=list(train.columns), how="inner")
    return np.sort(merged["index"].to_numpy())


def numpy_cross(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(np.concatenate([train, test]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return np.flatnonzero(np.isin(inverse[len(train):], inverse[: len(train)]))


def numpy_within(x: np.ndarray) -> np.ndarray:
    _, first = np.unique(x, axis=0, return_index=True)
    copies = np.ones(len(x), dtype=bool)
    copies[first] = False
    return np.flatnonzero(copies)


def bench_pairs(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    """All pairs of 64 features vs mutual information of the 64 singles, one run each."""
    device = resolve_device(args.device)
    n, d = (10_000, 64) if args.quick else (100_000, 64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = ((x[:, 10] > 0) ^ (x[:, 40] > 0)).long()  # each alone at chance
    x_np, y_np = x.numpy(), y.numpy()
    xd, yd = x.to(device), y.to(device)
    peer_t, _ = timed(lambda: mutual_info_classif(x_np, y_np, random_state=0), 1, device)
    ours_t, scan = timed(lambda: pair_scan(xd, yd, generator=torch.Generator().manual_seed(1)), 1, device)
    if scan.flagged_pairs.tolist() != [[10, 40]]:
        raise RuntimeError(f"pair_scan flagged {scan.flagged_pairs.tolist()}, expected [[10, 40]]")
    name = f"all {d * (d - 1) // 2:,} pairs of {d} features (ours) vs {d} singles (peer), {n:,} rows"
    print(f"  {name}: {peer_t:.3f} s / {ours_t:.3f} s", flush=True)
    return [(name, "sklearn mutual_info_classif", peer_t, ours_t)]


def bench(args: argparse.Namespace) -> list[tuple[str, str, float, float]]:
    device = resolve_device(args.device)
    q = args.quick
    rows: list[tuple[str, str, float, float]] = []

    def case(name: str, peer: str, peer_fn: Callable[[], Any], ours_fn: Callable[[], Any], same: Callable[[Any, Any], bool]) -> None:
        peer_t, peer_out = timed(peer_fn, args.repeats, device)
        ours_t, ours_out = timed(ours_fn, args.repeats, device)
        if not same(peer_out, ours_out):
            raise RuntimeError(f"{name}: {peer} and torch_mlsd disagree")
        rows.append((name, peer, peer_t, ours_t))
        print(f"  {name} vs {peer}: {peer_t:.3f} s / {ours_t:.3f} s", flush=True)

    # exact duplicates, 1e6 x 32
    n, d = (50_000, 32) if q else (1_000_000, 32)
    x = duplicate_data(n, d)
    n_train = int(0.8 * n)
    xt = torch.from_numpy(x).to(device)
    df = pd.DataFrame(x)
    train_df, test_df = df.iloc[:n_train], df.iloc[n_train:].reset_index(drop=True)
    cross_name = f"exact duplicates across splits, {n_train:,} + {n - n_train:,} rows x {d}"
    ours_cross = lambda: exact_duplicates(xt[:n_train], xt[n_train:])[0].cpu().numpy()  # noqa: E731
    same_rows = lambda a, b: np.array_equal(np.sort(a), np.sort(b))  # noqa: E731
    case(cross_name, "pandas merge", lambda: pandas_cross(train_df, test_df), ours_cross, same_rows)
    case(cross_name, "numpy unique(axis=0)", lambda: numpy_cross(x[:n_train], x[n_train:]), ours_cross, same_rows)
    within_name = f"exact duplicates inside train, {n:,} rows x {d}"
    ours_within = lambda: exact_duplicates(xt)[0].cpu().numpy()  # noqa: E731
    case(within_name, "pandas duplicated", lambda: np.flatnonzero(df.duplicated().to_numpy()), ours_within, same_rows)
    case(within_name, "numpy unique(axis=0)", lambda: numpy_within(x), ours_within, same_rows)

    # near duplicates, 1e5 x 128 train, 1e4 test
    n_ref, n_query, d = (10_000, 1_000, 128) if q else (100_000, 10_000, 128)
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((n_ref, d)).astype(np.float32)
    query = rng.standard_normal((n_query, d)).astype(np.float32)
    query[:100] = ref[:100] + 1e-3 * rng.standard_normal((100, d)).astype(np.float32)
    ref_t, query_t = torch.from_numpy(ref).to(device), torch.from_numpy(query).to(device)

    def sklearn_near() -> np.ndarray:
        dist, _ = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(ref).kneighbors(query)
        return np.flatnonzero(1 - dist[:, 0] >= 0.99)

    case(
        f"near duplicates (cosine >= 0.99), {n_query:,} among {n_ref:,} x {d}",
        "sklearn NearestNeighbors",
        sklearn_near,
        lambda: near_duplicates(ref_t, query_t, threshold=0.99, center=False)[0].cpu().numpy(),
        same_rows,
    )

    # metrics, 1e7 predictions
    n = 100_000 if q else 10_000_000
    y_true = rng.integers(0, 10, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 10, n))
    y_bin = (rng.random(n) < 0.1).astype(np.int64)
    score = (y_bin + rng.standard_normal(n)).astype(np.float32)
    t_true, t_pred = torch.from_numpy(y_true).to(device), torch.from_numpy(y_pred).to(device)
    t_bin, t_score = torch.from_numpy(y_bin).to(device), torch.from_numpy(score).to(device)
    close = lambda a, b: np.allclose(np.asarray(a, dtype=float), torch.as_tensor(b).cpu().numpy())  # noqa: E731
    label = f"{n:,} predictions"
    case(f"accuracy, {label}", "sklearn.metrics", lambda: skm.accuracy_score(y_true, y_pred), lambda: M.accuracy_score(t_true, t_pred), close)
    case(
        f"f1 macro (10 classes), {label}", "sklearn.metrics",
        lambda: skm.f1_score(y_true, y_pred, average="macro"), lambda: M.f1_score(t_true, t_pred, average="macro"), close,
    )
    case(
        f"confusion matrix (10 classes), {label}", "sklearn.metrics",
        lambda: skm.confusion_matrix(y_true, y_pred), lambda: M.confusion_matrix(t_true, t_pred), close,
    )
    case(f"roc_auc (binary), {label}", "sklearn.metrics", lambda: skm.roc_auc_score(y_bin, score), lambda: M.roc_auc_score(t_bin, t_score), close)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch and for numpy/scikit-learn's BLAS (default: libraries' defaults); "
        "1 gives steadier numbers on a busy shared machine",
    )
    parser.add_argument("--only", choices=["all", "pairs"], default="all", help="pairs: only the pair scan (issue 14)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    rows = ([] if args.only == "pairs" else bench(args)) + bench_pairs(args)
    device = resolve_device(args.device)
    print()
    print("| case | peer | peer median | ours median | speed-up |")
    print("|---|---|---|---|---|")
    for name, peer, peer_t, ours_t in rows:
        print(f"| {name} | {peer} | {peer_t * 1e3:.1f} ms | {ours_t * 1e3:.1f} ms | {peer_t / ours_t:.1f}x |")
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), device {device}{gpu}, median of {args.repeats} runs"
    )


if __name__ == "__main__":
    main()
