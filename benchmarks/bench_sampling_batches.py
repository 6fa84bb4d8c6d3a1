"""Stratified batches vs ``BatchSampler(RandomSampler(n), batch_size, False)``: one full epoch.

Both iterate every batch of an epoch as Python lists (what a DataLoader consumes), in
the same process on the same machine, alternating, several repeats; medians reported.
The labels have 10 classes from 30% down to 1%.

    python benchmarks/bench_sampling_batches.py [--quick] [--device cpu|cuda] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch.utils.data import BatchSampler, RandomSampler

from torch_mlsd.sampling.stratified import StratifiedBatchSampler

PROPORTIONS = torch.tensor([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01])


def _labels(n: int, device: str = "cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.multinomial(PROPORTIONS, n, replacement=True, generator=g).to(device)


def _epoch(sampler) -> int:
    return sum(len(batch) for batch in sampler)


def bench_stratified(n: int, batch_size: int, repeats: int, device: str = "cpu") -> tuple[float, float]:
    """Median seconds for one epoch of (theirs, ours) at ``n`` examples, batch ``batch_size``."""
    labels = _labels(n, device)  # ours copies them to the CPU once, at construction
    theirs = BatchSampler(RandomSampler(range(n), generator=torch.Generator().manual_seed(0)), batch_size, False)
    ours = StratifiedBatchSampler(labels, batch_size, seed=0)
    times: tuple[list[float], list[float]] = ([], [])
    for epoch in range(repeats):
        ours.set_epoch(epoch)
        for sampler, out in ((theirs, times[0]), (ours, times[1])):
            start = time.perf_counter()
            covered = _epoch(sampler)
            out.append(time.perf_counter() - start)
            if covered != n:
                raise RuntimeError(f"an epoch covered {covered} examples, not {n}")
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the labels live")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cases = [(100_000, 256)] if args.quick else [(1_000_000, 256), (1_000_000, 32)]
    print("| case | peer | peer median | ours median | speed-up |")
    print("|---|---|---|---|---|")
    for n, batch_size in cases:
        theirs, ours = bench_stratified(n, batch_size, args.repeats, args.device)
        print(
            f"| stratified batches, n={n:.0e}, batch {batch_size} (one epoch) | BatchSampler(RandomSampler) "
            f"| {theirs * 1e3:.1f} ms | {ours * 1e3:.1f} ms | {theirs / ours:.2f}x |"
        )
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device {args.device}, {args.repeats} repeats"
    )


if __name__ == "__main__":
    main()
