"""Resampling: torch_mlsd.imbalance vs imbalanced-learn, same data, same process.

    python benchmarks/bench_imbalance.py [--device cpu|cuda] [--quick] [--repeats 3] [--threads N]

Cases (full size): SMOTE on n=100k, d=32, 10:1; Tomek links on n=50k, d=32; random
over-sampling of 1e6 x 32 (10:1); random under-sampling of 1e6 x 32 (10:1). Data are
float32; imbalanced-learn gets numpy views of the same arrays and always runs on the CPU.
Prints a markdown table of median wall times and a line naming the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

try:
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler, TomekLinks
except ImportError:  # the peer is optional: its columns then read "-"
    HAVE_IMBLEARN = False
else:
    HAVE_IMBLEARN = True

from torch_mlsd.imbalance import random_oversample, random_undersample, remove_tomek_links, smote


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, object]:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up), and its last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def data(n: int, d: int, minority: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = (rng.random(n) < minority).astype(np.int64)
    x[y == 1] += 0.5  # a shifted minority cloud
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for torch_mlsd (cpu, cuda)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both sides (default: all)")
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    device = torch.device(args.device)
    scale = 20 if args.quick else 1
    rows = []
    notes = []

    def case(name: str, peer: str, peer_fn: Callable[[], object], ours_fn: Callable[[], object]) -> tuple:
        """Time both sides; without imbalanced-learn only ours (the peer's output is then None)."""
        peer_t, peer_out = timed(peer_fn, args.repeats, torch.device("cpu")) if HAVE_IMBLEARN else (None, None)
        ours_t, ours_out = timed(ours_fn, args.repeats, device)
        rows.append((name, peer if HAVE_IMBLEARN else f"{peer} (imbalanced-learn not installed)", peer_t, ours_t))
        return peer_out, ours_out

    def compare(peer_out: tuple | None, text: Callable[[np.ndarray], str]) -> None:
        """A note comparing with the peer's labels ``yp``, when the peer ran."""
        if peer_out is not None:
            notes.append(text(peer_out[1]))

    def same_counts(yp: np.ndarray, yo: torch.Tensor) -> bool:
        return np.bincount(yp).tolist() == torch.bincount(yo).tolist()

    n = 100_000 // scale
    x, y = data(n, 32, 1 / 11, 0)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    peer_out, (_, yo) = case(
        f"SMOTE n={n} d=32 10:1, k=5",
        "imblearn SMOTE",
        lambda: SMOTE(k_neighbors=5, random_state=0).fit_resample(x, y),
        lambda: smote(xt, yt, k_neighbors=5, generator=torch.Generator(xt.device).manual_seed(0)),
    )
    compare(peer_out, lambda yp: f"SMOTE per-class counts equal: {same_counts(yp, yo)}")

    n = 50_000 // scale
    x, y = data(n, 32, 1 / 11, 1)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    tomek = TomekLinks() if HAVE_IMBLEARN else None
    peer_out, (_, yo, kept) = case(
        f"Tomek links n={n} d=32",
        "imblearn TomekLinks",
        lambda: tomek.fit_resample(x, y),
        lambda: remove_tomek_links(xt, yt, return_indices=True),
    )
    compare(peer_out, lambda yp: f"Tomek links: same kept rows as imblearn: "
            f"{np.array_equal(tomek.sample_indices_, kept.cpu().numpy())} ({n - len(yp)} dropped)")

    n = 1_000_000 // scale
    x, y = data(n, 32, 1 / 11, 2)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    peer_out, (_, yo) = case(
        f"random over-sampling {n} x 32",
        "imblearn RandomOverSampler",
        lambda: RandomOverSampler(random_state=0).fit_resample(x, y),
        lambda: random_oversample(xt, yt, generator=torch.Generator(xt.device).manual_seed(0)),
    )
    compare(peer_out, lambda yp: f"over-sampling counts equal: {same_counts(yp, yo)}")
    peer_out, (_, yo) = case(
        f"random under-sampling {n} x 32",
        "imblearn RandomUnderSampler",
        lambda: RandomUnderSampler(random_state=0).fit_resample(x, y),
        lambda: random_undersample(xt, yt, generator=torch.Generator(xt.device).manual_seed(0)),
    )
    compare(peer_out, lambda yp: f"under-sampling counts equal: {same_counts(yp, yo)}")

    print("| case | peer | peer median | ours median | speed-up |")
    print("|---|---|---|---|---|")
    for name, peer, peer_t, ours_t in rows:
        if peer_t is None:
            print(f"| {name} | {peer} | - | {ours_t * 1e3:.1f} ms | - |")
        else:
            print(f"| {name} | {peer} | {peer_t * 1e3:.1f} ms | {ours_t * 1e3:.1f} ms | {peer_t / ours_t:.2f}x |")
    print()
    for note in notes:
        print(f"- {note}")
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs (load average {load}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), device {device}{gpu}; median of {args.repeats} runs"
    )


if __name__ == "__main__":
    main()
