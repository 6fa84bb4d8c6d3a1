"""Samplers and reservoirs vs torch.utils.data, numpy and plain Python, in one process.

    python benchmarks/bench_sampling.py [--device cpu|cuda] [--quick] [--repeats N] [--threads T] [--weighted-only]

Cases (same data for both sides; peer and ours run alternately ``--repeats`` times and
the medians are compared, so a busy machine's load swings favour neither side):
* The alias-table build alone at n = 1e7: the previous build (lights matched to heavies
  with two ``searchsorted`` calls, kept below as ``alias_table_sweep``) vs the current one.
* Weighted sampling, with and without replacement, n = 1e6 and 1e7: a full epoch of
  ``WeightedRandomSampler`` vs ``WeightedSampler`` iterated as Python ints (samplers
  built beforehand, as a training loop does; one row also counts building ours, the
  alias table), and numpy ``Generator.choice`` at 1e6 (its array turned into Python
  ints; it takes 30-70 s at 1e7). n = 2^25, where ``torch.multinomial`` refuses more
  than 2^24 categories: the peer prints ``fails``; these rows run once.
* Three runs of a whole epoch with replacement at n = 1e7 as a user writes it, sampler
  built inside the timing: ``list(WeightedRandomSampler(w, n))`` vs
  ``list(WeightedSampler(w, n, replacement=True, seed=0))``, and two floors: copying a
  precomputed list of n Python ints (``list(iter(...))``), and making n fresh Python ints
  from a precomputed int64 tensor into a list, chunk by chunk as the samplers do.
* The functional draw ``weighted_indices`` vs ``torch.multinomial`` on ``--device``
  (``--functional`` runs only these).
* ``BatchSampler(RandomSampler)`` vs ``StratifiedBatchSampler`` and ``ClassBalancedBatchSampler``
  (one epoch of batches).
* Reservoirs over a Python iterator of 1e7 ints, k = 100: plain-Python Algorithm R,
  merely consuming the iterator (a ``for`` loop, and ``deque(maxlen=0)`` in C) vs our
  Algorithm L; a plain-Python A-Res (heap of ``u ** (1 / w)`` keys) vs our A-ExpJ.
* ``DynamicWeightedSampler`` (``--dynamic`` runs only these): updating 1e4 of 1e7 weights
  vs building a new ``WeightedSampler``; a 1e7-draw epoch vs ``WeightedRandomSampler``;
  per-step updates; an epoch without replacement (see ``dynamic_cases``).
* ``TensorReservoir`` over 1e8 int64 rows in chunks of 1e6 (k = 1000) vs the obvious
  vectorised way (a random key per row and a top-k per chunk), in rows per second.

On a CPU shared with other jobs, multi-threaded torch ops stall whenever one of their
threads is descheduled; ``--threads 1`` gives steadier numbers there.
"""

from __future__ import annotations

import argparse
import collections
import heapq
import itertools
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, RandomSampler, WeightedRandomSampler

from torch_mlsd.sampling import _alias
from torch_mlsd.sampling import (
    ClassBalancedBatchSampler,
    DynamicWeightedSampler,
    StratifiedBatchSampler,
    TensorReservoir,
    WeightedSampler,
    reservoir_sample,
    weighted_indices,
    weighted_reservoir_sample,
)

Row = tuple[str, str, "float | str", float]


def compare(
    peer: Callable[[], Any], ours: Callable[[], Any], repeats: int, device: torch.device | None = None
) -> tuple[float | str, float]:
    """Median seconds of ``peer()`` and ``ours()``, run alternately ``repeats`` times each.

    Alternating keeps a busy machine's load changes from favouring either side. A peer
    that raises ``RuntimeError`` is reported as ``"fails (...)"`` and not retried.
    No warm-up: nothing here compiles.
    """
    sync = torch.cuda.synchronize if device is not None and device.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {"peer": [], "ours": []}
    failure = None
    for _ in range(repeats):
        for side, fn in (("peer", peer), ("ours", ours)):
            if side == "peer" and failure is not None:
                continue
            start = time.perf_counter()
            try:
                fn()
            except RuntimeError as exc:
                failure = f"fails ({str(exc).splitlines()[0][:60]})"
                continue
            sync()
            times[side].append(time.perf_counter() - start)
    return failure or statistics.median(times["peer"]), statistics.median(times["ours"])


def consume(iterable: Iterable[Any]) -> None:
    """Iterate as a training loop does: one Python object at a time."""
    for _ in iterable:
        pass


def weighted_cases(sizes: list[int], big: int, big_samples: int, repeats: int) -> list[Row]:
    rows: list[Row] = []
    g = torch.Generator().manual_seed(0)
    for replacement in (True, False):
        mode = "with" if replacement else "without"
        for n in sizes:
            w = torch.rand(n, dtype=torch.float64, generator=g) + 1e-6
            peer = WeightedRandomSampler(w, n, replacement, generator=torch.Generator().manual_seed(0))
            ours = WeightedSampler(w, n, replacement=replacement, seed=0)
            case = f"weighted {mode} replacement, n={n:.0e}, epoch"
            rows.append((case, "WeightedRandomSampler", *compare(lambda: consume(peer), lambda: consume(ours), repeats)))
            if n == sizes[0]:  # numpy takes 30-70 s at 1e7
                rng = np.random.default_rng(0)
                p = (w / w.sum()).numpy()
                numpy_epoch = lambda: consume(rng.choice(n, n, replace=replacement, p=p).tolist())  # noqa: E731
                rows.append((case, "numpy Generator.choice", *compare(numpy_epoch, lambda: consume(ours), repeats)))
        if replacement:  # the alias table is built once per sampler: count it once here
            n = sizes[-1]
            rows.append((f"weighted {mode} replacement, n={n:.0e}, build + epoch", "WeightedRandomSampler",
                         *compare(lambda: consume(WeightedRandomSampler(w, n, replacement)),
                                  lambda: consume(WeightedSampler(w, n, replacement=replacement)), repeats)))
        w = torch.rand(big, dtype=torch.float64, generator=g) + 1e-6
        peer_big = WeightedRandomSampler(w, big_samples, replacement)
        ours_big = WeightedSampler(w, big_samples, replacement=replacement)
        rows.append((f"weighted {mode} replacement, n=2^{int(math.log2(big))}, {big_samples:.1e} drawn, epoch",
                     "WeightedRandomSampler", *compare(lambda: consume(peer_big), lambda: consume(ours_big), 1)))
        del w, peer_big, ours_big
    return rows


def alias_table_sweep(p: torch.Tensor) -> torch.Tensor:
    """The alias-table build this library used before (kept as the "before" of the build row):
    the same sweep, matching lights to heavies with two ``searchsorted`` calls."""
    n = p.numel()
    p = p * (n / p.sum())
    heavy = p >= 1
    h_idx, l_idx = heavy.nonzero().squeeze(1), (~heavy).nonzero().squeeze(1)
    prob = torch.ones_like(p)
    alias = torch.arange(n, device=p.device)
    if l_idx.numel():
        light = p.index_select(0, l_idx)
        excess = torch.cumsum(p.index_select(0, h_idx) - 1, 0)
        deficit = 1 - light
        done = torch.cumsum(deficit, 0)
        before = done - deficit
        payer = torch.searchsorted(excess, before).clamp_(max=h_idx.numel() - 1)
        prob.index_copy_(0, l_idx, light)
        alias.index_copy_(0, l_idx, h_idx.index_select(0, payer))
        paid = torch.searchsorted(before, excess, right=True)
        left = 1 + excess - done.index_select(0, (paid - 1).clamp_(min=0))
        prob.index_copy_(0, h_idx, left.clamp_(0, 1))
        alias.index_copy_(0, h_idx[:-1], h_idx[1:])
        prob[h_idx[-1]] = 1.0
    return torch.stack([prob.view(torch.int64), alias], dim=1)


def alias_build_cases(n: int, repeats: int) -> list[Row]:
    """The alias-table build alone, before (searchsorted sweep) and now, on the same weights."""
    w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 1e-6
    rows: list[Row] = [(f"alias-table build, n={n:.0e}", "previous build (searchsorted sweep)",
                        *compare(lambda: alias_table_sweep(w / w.max()), lambda: _alias.alias_table(w), repeats))]
    return rows


def epoch_runs(n: int, runs: int) -> list[tuple[float, ...]]:
    """``runs`` times, one after another: a whole epoch as a user writes it (sampler built inside
    the timing), ``list(WeightedRandomSampler(w, n))`` vs ``list(WeightedSampler(w, n, ...))``,
    and two floors: iterating a precomputed list of ``n`` Python ints (``list(iter(...))``), and
    making ``n`` fresh Python ints from a precomputed int64 tensor into a list, in the sampler's
    chunks (what any sampler of indices must at least do). Returns seconds (peer, ours, list
    copy, fresh ints)."""
    w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + 1e-6
    drawn = torch.randint(n, (n,), generator=torch.Generator().manual_seed(3))
    ints = drawn.tolist()
    out = []
    for _ in range(runs):
        times = []
        for fn in (lambda: list(WeightedRandomSampler(w, n)),
                   lambda: list(WeightedSampler(w, n, replacement=True, seed=0)),
                   lambda: list(iter(ints)),
                   lambda: list(itertools.chain.from_iterable(c.numpy().tolist() for c in drawn.split(1 << 16)))):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out.append(tuple(times))
    return out


def print_epoch_runs(runs: list[tuple[float, ...]], n: int) -> None:
    print(f"| run (n={n:.0e}, with replacement, build included) | list(WeightedRandomSampler) | "
          "list(WeightedSampler) | list(iter(list of ints)) | fresh ints from a tensor | "
          "speed-up vs peer | ours / list(iter) | ours / fresh ints |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (peer, ours, copy, fresh) in enumerate(runs, 1):
        print(f"| {i} | {fmt(peer)} | {fmt(ours)} | {fmt(copy)} | {fmt(fresh)} | {peer / ours:.2f}x | "
              f"{ours / copy:.2f} | {ours / fresh:.2f} |")


def functional_cases(sizes: list[int], device: torch.device, repeats: int) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        w = torch.rand(n, dtype=torch.float64, device=device) + 1e-6
        g = torch.Generator(device=device).manual_seed(0)
        for replacement in (True, False):
            mode = "with" if replacement else "without"
            rows.append((f"weighted_indices {mode} replacement, n={n:.0e}, {device.type}", "torch.multinomial",
                         *compare(lambda: torch.multinomial(w, n, replacement, generator=g),
                                  lambda: weighted_indices(w, n, replacement=replacement, generator=g), repeats, device)))
    return rows


def stratified_cases(n: int, repeats: int) -> list[Row]:
    """BatchSampler(RandomSampler) vs StratifiedBatchSampler and ClassBalancedBatchSampler, one epoch."""
    g = torch.Generator().manual_seed(0)
    shares = torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.01, 0.005, 0.003, 0.002])
    labels = torch.multinomial(shares, n, True, generator=g)
    rows: list[Row] = []
    for batch_size in (256, 32):
        peer = BatchSampler(RandomSampler(range(n), generator=g), batch_size, drop_last=False)
        ours = StratifiedBatchSampler(labels, batch_size, seed=0)
        rows.append((f"stratified batches of {batch_size}, n={n:.0e}, 10 classes, epoch", "BatchSampler(RandomSampler)",
                     *compare(lambda: consume(peer), lambda: consume(ours), repeats)))
    peer = BatchSampler(RandomSampler(range(n), generator=g), 256, drop_last=True)
    ours = ClassBalancedBatchSampler(labels, classes_per_batch=8, samples_per_class=32, seed=0)
    rows.append((f"class-balanced 8 x 32 batches, n={n:.0e}, epoch", "BatchSampler(RandomSampler)",
                 *compare(lambda: consume(peer), lambda: consume(ours), repeats)))
    return rows


def algorithm_r(iterable: Iterable[Any], k: int, rng: random.Random) -> list[Any]:
    """The textbook reservoir: one random number per item after the first k."""
    it = iter(iterable)
    reservoir = [x for _, x in zip(range(k), it)]
    for i, x in enumerate(it, start=k):
        j = rng.randrange(i + 1)
        if j < k:
            reservoir[j] = x
    return reservoir


def a_res(pairs: Iterable[tuple[Any, float]], k: int, rng: random.Random) -> list[Any]:
    """Weighted reservoir with one key u ** (1 / w) per item and a min-heap (A-Res)."""
    heap: list[tuple[float, int, Any]] = []
    for i, (x, w) in enumerate(pairs):
        key = rng.random() ** (1 / w)
        if len(heap) < k:
            heapq.heappush(heap, (key, i, x))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, i, x))
    return [x for _, _, x in heap]


def reservoir_cases(n: int, n_weighted: int, k: int, repeats: int) -> tuple[list[Row], dict[str, float]]:
    rng = random.Random(0)  # the peer's own generator, not the global one
    g0 = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    ours = lambda: reservoir_sample(iter(range(n)), k, generator=g0())  # noqa: E731
    case = f"reservoir k={k} of iter(range({n:.0e}))"
    rows: list[Row] = [
        (case, "Algorithm R, plain Python", *compare(lambda: algorithm_r(iter(range(n)), k, rng), ours, repeats)),
        (case, "consume only: for loop", *compare(lambda: consume(iter(range(n))), ours, repeats)),
        (case, "consume only: deque(maxlen=0)",
         *compare(lambda: collections.deque(iter(range(n)), maxlen=0), ours, repeats)),
    ]
    weights = [1.0 + (i % 10) for i in range(n_weighted)]
    rows.append((f"weighted reservoir k={k} of {n_weighted:.0e} pairs", "A-Res heap, plain Python",
                 *compare(lambda: a_res(zip(range(n_weighted), weights), k, rng),
                          lambda: weighted_reservoir_sample(zip(range(n_weighted), weights), k, generator=g0()),
                          repeats)))
    ratios = {name: row[3] / row[2] for name, row in (("ours/for", rows[1]), ("ours/deque", rows[2]))}
    return rows, ratios  # type: ignore[return-value]


def naive_tensor_reservoir(chunks: Iterable[torch.Tensor], k: int, g: torch.Generator) -> torch.Tensor:
    """A random key for every row, the top k kept after each chunk."""
    items = keys = None
    for chunk in chunks:
        new_keys = torch.rand(len(chunk), generator=g, device=chunk.device, dtype=torch.float64)
        if items is not None:
            chunk, new_keys = torch.cat([items, chunk]), torch.cat([keys, new_keys])
        best = new_keys.topk(min(k, len(new_keys))).indices
        items, keys = chunk[best], new_keys[best]
    return items


def tensor_reservoir_cases(total: int, chunk: int, k: int, device: torch.device, repeats: int) -> tuple[list[Row], dict[str, float]]:
    block = torch.arange(chunk, device=device)
    chunks = [block] * (total // chunk)  # the same rows again: the data's cost is not the point

    def ours() -> torch.Tensor:
        r = TensorReservoir(k, seed=0)
        for c in chunks:
            r.update(c)
        return r.sample()

    g = torch.Generator(device=device).manual_seed(0)
    peer_s, ours_s = compare(lambda: naive_tensor_reservoir(chunks, k, g), ours, repeats, device)
    name = f"TensorReservoir k={k}, {total:.0e} rows in chunks of {chunk:.0e}, {device.type}"
    return [(name, "random key per row + topk", peer_s, ours_s)], {"peer": total / peer_s, "ours": total / ours_s}  # type: ignore[operator]


def dynamic_cases(n: int, k: int, repeats: int) -> list[Row]:
    """DynamicWeightedSampler (issue 13): updates, a full epoch, and per-step updates.

    * ``k`` weights updated in an ``n``-item sampler vs the alternative without one:
      building a new ``WeightedSampler`` from the changed weights (its alias table).
    * A full epoch of ``n`` draws with replacement, iterated as Python ints, vs
      ``WeightedRandomSampler`` (both built beforehand).
    * The training pattern: ``n / 10`` items, 200 steps of 256 indices, the batch's
      weights updated after each step; the peer is ``WeightedRandomSampler`` with its
      ``weights`` tensor changed and a new iterator per step (the usual workaround).
    * A full epoch without replacement at ``n / 10`` vs ``WeightedRandomSampler``.
    """
    rows: list[Row] = []
    g = torch.Generator().manual_seed(0)
    w = torch.rand(n, dtype=torch.float64, generator=g) + 1e-6
    ours = DynamicWeightedSampler(w, n, seed=0)
    idx = torch.randperm(n, generator=g)[:k]
    values = torch.rand(k, dtype=torch.float64, generator=g) + 1e-6
    rows.append((f"dynamic: update {k:.0e} weights of n={n:.0e}", "new WeightedSampler",
                 *compare(lambda: WeightedSampler(w, n), lambda: ours.update_weights(idx, values), max(repeats, 5))))
    peer = WeightedRandomSampler(w, n, generator=torch.Generator().manual_seed(0))
    rows.append((f"dynamic: epoch with replacement, n={n:.0e}", "WeightedRandomSampler",
                 *compare(lambda: consume(peer), lambda: consume(ours), repeats)))
    del peer, ours
    small, steps, batch = n // 10, 200, 256
    w_small = w[:small].clone()

    def peer_steps() -> None:
        sampler = WeightedRandomSampler(w_small.clone(), batch, generator=torch.Generator().manual_seed(0))
        for _ in range(steps):
            picked = torch.tensor(list(sampler))
            sampler.weights[picked] *= 0.5

    def our_steps() -> None:
        current = w_small.clone()
        sampler = DynamicWeightedSampler(current, steps * batch, seed=0)
        it = iter(sampler)
        for _ in range(steps):
            picked = torch.tensor(list(itertools.islice(it, batch))).unique()
            current[picked] *= 0.5
            sampler.update_weights(picked, current[picked])

    rows.append((f"dynamic: {steps} steps of {batch}, update per step, n={small:.0e}", "WeightedRandomSampler (new iterator per step)",
                 *compare(peer_steps, our_steps, repeats)))
    peer_wo = WeightedRandomSampler(w_small, small, replacement=False, generator=torch.Generator().manual_seed(0))
    ours_wo = DynamicWeightedSampler(w_small, small, replacement=False, seed=0)
    rows.append((f"dynamic: epoch without replacement, n={small:.0e}", "WeightedRandomSampler",
                 *compare(lambda: consume(peer_wo), lambda: consume(ours_wo), repeats)))
    return rows


def fmt(seconds: float | str) -> str:
    return seconds if isinstance(seconds, str) else f"{seconds:.4f} s"


def print_table(rows: list[Row]) -> None:
    print("| case | peer | peer median | ours median | speed-up |")
    print("|---|---|---|---|---|")
    for case, peer, peer_s, ours_s in rows:
        ratio = "n/a" if isinstance(peer_s, str) else f"{peer_s / ours_s:.2f}x"
        print(f"| {case} | {peer} | {fmt(peer_s)} | {fmt(ours_s)} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for the functional draw and the tensor reservoir")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--dynamic", action="store_true", help="only the DynamicWeightedSampler cases")
    parser.add_argument("--weighted-only", action="store_true", help="only the weighted-sampler rows and epoch runs")
    parser.add_argument("--functional", action="store_true",
                        help="only weighted_indices vs torch.multinomial on --device (the GPU rows)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = 1 if args.quick else args.repeats
    sizes = [10**4, 10**5] if args.quick else [10**6, 10**7]
    big, big_samples = 2**25, (10**4 if args.quick else 2**25)
    if args.functional:
        print_table(functional_cases(sizes, device, repeats))
        print_machine(device, repeats)
        return
    if args.dynamic:
        print_table(dynamic_cases(10**5 if args.quick else 10**7, 10**3 if args.quick else 10**4, repeats))
        print_machine(device, repeats)
        return

    rows = alias_build_cases(sizes[-1], repeats)
    rows += weighted_cases(sizes, big, big_samples, repeats)
    if not args.weighted_only:
        rows += functional_cases(sizes, device, repeats)
        rows += stratified_cases(sizes[-1] // 10 if args.quick else 10**6, repeats)
        reservoir_rows, res_ratio = reservoir_cases(10**5 if args.quick else 10**7, 10**4 if args.quick else 10**6, 100, repeats)
        rows += reservoir_rows
        tensor_rows, rate = tensor_reservoir_cases(10**6 if args.quick else 10**8, 10**5 if args.quick else 10**6, 1000, device, repeats)
        rows += tensor_rows
        rows += dynamic_cases(sizes[-1], 10**3 if args.quick else 10**4, repeats)

    print_table(rows)
    print()
    print_epoch_runs(epoch_runs(sizes[-1], 3), sizes[-1])
    print()
    if not args.weighted_only:
        print(f"reservoir over a Python iterator: ours / deque consumption = {res_ratio['ours/deque']:.2f}, "
              f"ours / for-loop consumption = {res_ratio['ours/for']:.2f}")
        print(f"TensorReservoir: {rate['ours'] / 1e6:.0f} M rows/s (per-row keys + topk: {rate['peer'] / 1e6:.0f} M rows/s)")
    print_machine(device, repeats)


def print_machine(device: torch.device, repeats: int) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs (load average {load:.1f} at the end), "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {device}, repeats {repeats}")


if __name__ == "__main__":
    main()
