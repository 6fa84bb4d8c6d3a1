"""Before/after of the batch augmentations: a previous checkout's torch_mlsd vs this one, in one process.

    git worktree add /tmp/before <rev>   # or: git archive <rev> | tar -x -C /tmp/before
    python benchmarks/ab_augment.py --before /tmp/before [--repeats N] [--threads N]

The previous ``torch_mlsd`` is copied to a temporary folder as ``torch_mlsd_before`` and
imported beside this one; both time the same calls on the same tensors, taking turns
within every round, so load from other processes hits both alike (medians over rounds).
``after/before`` below 1 means this checkout is faster.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch


def _load_before(checkout: str) -> ModuleType:
    folder = tempfile.mkdtemp(prefix="ab_augment_")
    shutil.copytree(os.path.join(checkout, "torch_mlsd"), os.path.join(folder, "torch_mlsd_before"))
    sys.path.insert(0, folder)
    return importlib.import_module("torch_mlsd_before.augment")


def _median_pair(before: Callable[[], Any], after: Callable[[], Any], repeats: int) -> tuple[float, float]:
    times: tuple[list[float], list[float]] = ([], [])
    before(), after()
    for _ in range(repeats):
        for fn, out in ((before, times[0]), (after, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _cases(old: ModuleType, new: ModuleType) -> list[tuple[str, Callable[[ModuleType], Callable[[], Any]]]]:
    g = torch.Generator().manual_seed(0)
    big = torch.rand(128, 3, 224, 224, generator=g)
    small = torch.rand(512, 3, 32, 32, generator=g)
    labels_big, labels_small = torch.randint(0, 1000, (128,), generator=g), torch.randint(0, 10, (512,), generator=g)
    work_big, work_small = big.clone(), small.clone()
    spec = torch.randn(64, 1, 128, 1000, generator=g)
    work_spec = spec.clone()
    vocab, special = 30522, [0, 100, 101, 102]
    ids = torch.randint(104, vocab, (256, 512), generator=g)
    seqs = [[101, *torch.randint(104, vocab, (int(n) - 2,), generator=g).tolist(), 102]
            for n in torch.randint(64, 513, (256,), generator=g)]

    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(1)

    cases: list[tuple[str, Callable[[ModuleType], Callable[[], Any]]]] = []
    for size, x, y, work, k in (("128x3x224x224", big, labels_big, work_big, 1000),
                                ("512x3x32x32", small, labels_small, work_small, 10)):
        cases += [
            (f"mixup {size}", lambda m, x=x, y=y, k=k: lambda: m.mixup(x, y, num_classes=k, generator=gen())),
            (f"mixup in place {size}",
             lambda m, w=work, y=y, k=k: lambda: m.mixup(w, y, num_classes=k, inplace=True, generator=gen())),
            (f"cutmix {size}", lambda m, x=x, y=y, k=k: lambda: m.cutmix(x, y, num_classes=k, generator=gen())),
            (f"cutmix in place {size}",
             lambda m, w=work, y=y, k=k: lambda: m.cutmix(w, y, num_classes=k, inplace=True, generator=gen())),
            (f"random erasing {size}", lambda m, x=x: lambda: m.random_erasing(x, generator=gen())),
            (f"random erasing in place {size}",
             lambda m, w=work: lambda: m.random_erasing(w, inplace=True, generator=gen())),
        ]
    cases += [
        ("SpecAugment 64x1x128x1000", lambda m: lambda: m.spec_augment(spec, generator=gen())),
        ("SpecAugment in place 64x1x128x1000",
         lambda m: lambda: m.spec_augment(work_spec, inplace=True, generator=gen())),
        ("mask_tokens 256x512", lambda m: lambda: m.mask_tokens(ids, vocab_size=vocab, mask_token_id=103,
                                                                special_token_ids=special, generator=gen())),
    ]

    def collate(m: ModuleType) -> Callable[[], Any]:
        c = m.MaskedLMCollator(vocab_size=vocab, mask_token_id=103, pad_token_id=0, special_token_ids=special[1:],
                               seed=0)
        return lambda: c(seqs)

    cases.append(("MLM collate 256 lists, up to 512", collate))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a checkout of the previous revision")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # a benchmark script owns its process
    import torch_mlsd.augment as new

    old = _load_before(args.before)
    print("| case | before median | after median | after/before |")
    print("|---|---|---|---|")
    for name, make in _cases(old, new):
        t_old, t_new = _median_pair(make(old), make(new), args.repeats)
        print(f"| {name} | {t_old * 1e3:.2f} ms | {t_new * 1e3:.2f} ms | {t_new / t_old:.2f} |", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}, load average {load:.1f}")


if __name__ == "__main__":
    main()
