"""Image batch augmentation vs torchvision v2, timm and kornia, in one process.

    python benchmarks/bench_augment.py [--device cpu|cuda] [--quick] [--repeats N] [--threads N]

(default repeats: 15 rounds for the 224x224 batch, 41 for the 32x32 one.)

Cases, on 128x3x224x224 and 512x3x32x32 float32 (``--quick``: 16x3x64x64 and 64x3x32x32),
the same tensors for every side, medians over repeats with the sides taking turns:

* MixUp: torchvision v2 ``MixUp`` (one lambda per batch) and kornia ``RandomMixUpV2``
  (a lambda per sample) vs ``torch_mlsd.augment.mixup`` (a lambda per sample, out of
  place); timm ``Mixup(mode='batch')``, which works in place, vs ``mixup(inplace=True)``.
* CutMix: torchvision v2 ``CutMix`` (one box per batch) and kornia ``RandomCutMixV2``
  (a box per sample) vs ``cutmix`` (a box per sample); timm ``Mixup(mode='elem')`` (a box
  per sample, a Python loop, in place) vs ``cutmix(inplace=True)``.
* Random erasing (torchvision's defaults): torchvision v2 ``RandomErasing`` on each
  image in a loop (a box per image, p=0.5 each) vs ``random_erasing`` (a box per sample,
  p=0.5 each), out of place and in place (the loop then writes into the batch, no
  stacking); and with p=1 on the whole batch (one box for all; with p=0.5 half of its
  calls would do nothing) vs ``random_erasing(p=1.0)``.

``copy_/ours`` is the time of ``out.copy_(x)`` into an existing tensor of the case's batch,
measured in the same run, divided by our time: 1.0 would mean running at this machine's
copy bandwidth. ``clone/ours`` does the same with ``x.clone()``, which also pays for a
fresh allocation, as every out-of-place transform does.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from torch_mlsd.augment import cutmix, mixup, random_erasing

Row = tuple[str, str, float, float, float, float]


def timeit(fns: list[Callable[[], Any]], repeats: int, device: torch.device) -> list[float]:
    """Median seconds of each ``fn()`` over ``repeats`` rounds after one warm-up call each.

    The functions take turns within every round, so a burst of load from other processes
    on a shared machine hits peer, ours and the copy alike.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    sync()
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def missing_peers() -> list[str]:
    """The peer libraries that are not installed (their rows are skipped, with a note)."""
    return [name for name in ("torchvision", "kornia", "timm") if importlib.util.find_spec(name) is None]


def peers(num_classes: int) -> dict[str, Callable[..., Any]]:
    """The installed peers' transforms, built once (their construction is not timed)."""
    built: dict[str, Callable[..., Any]] = {}
    missing = missing_peers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "torchvision" not in missing:
            from torchvision.transforms import v2

            built.update({
                "torchvision v2 MixUp": v2.MixUp(num_classes=num_classes),
                "torchvision v2 CutMix": v2.CutMix(num_classes=num_classes),
                "torchvision v2 RandomErasing": v2.RandomErasing(p=0.5),
                "torchvision v2 RandomErasing(p=1)": v2.RandomErasing(p=1.0),
                "torchvision v2 RandomErasing(inplace)": v2.RandomErasing(p=0.5, inplace=True),
            })
        if "kornia" not in missing:
            import kornia.augmentation as K

            built.update({
                "kornia RandomMixUpV2": K.RandomMixUpV2(data_keys=["input", "class"]),
                "kornia RandomCutMixV2": K.RandomCutMixV2(data_keys=["input", "class"], use_correct_lambda=True),
            })
        if "timm" not in missing:
            import timm.data

            built.update({
                "timm Mixup(batch)": timm.data.Mixup(mixup_alpha=1.0, cutmix_alpha=0.0, mode="batch",
                                                     label_smoothing=0.0, num_classes=num_classes),
                "timm Mixup(elem, cutmix)": timm.data.Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem",
                                                            label_smoothing=0.0, num_classes=num_classes),
            })
    return built


def cases(shape: tuple[int, ...], device: torch.device, repeats: int) -> list[Row]:
    num_classes = 1000
    x = torch.rand(shape, device=device)
    y = torch.randint(0, num_classes, (shape[0],), device=device)
    buf = torch.empty_like(x)  # in-place targets for timm and ours (their values drift; the work does not)
    work = torch.empty_like(x)
    p = peers(num_classes)
    g = torch.Generator().manual_seed(0)
    pairs: list[tuple[str, str, Callable[[], Any], Callable[[], Any]]] = [
        ("mixup, lambda per sample", "torchvision v2 MixUp", lambda: p["torchvision v2 MixUp"](x, y),
         lambda: mixup(x, y, num_classes=num_classes, generator=g)),
        ("mixup, lambda per sample", "kornia RandomMixUpV2", lambda: p["kornia RandomMixUpV2"](x, y),
         lambda: mixup(x, y, num_classes=num_classes, generator=g)),
        ("mixup in place", "timm Mixup(batch)", lambda: p["timm Mixup(batch)"](buf, y),
         lambda: mixup(work, y, num_classes=num_classes, inplace=True, generator=g)),
        ("cutmix, box per sample", "torchvision v2 CutMix", lambda: p["torchvision v2 CutMix"](x, y),
         lambda: cutmix(x, y, num_classes=num_classes, generator=g)),
        ("cutmix, box per sample", "kornia RandomCutMixV2", lambda: p["kornia RandomCutMixV2"](x, y),
         lambda: cutmix(x, y, num_classes=num_classes, generator=g)),
        ("cutmix in place, box per sample", "timm Mixup(elem, cutmix)", lambda: p["timm Mixup(elem, cutmix)"](buf, y),
         lambda: cutmix(work, y, num_classes=num_classes, inplace=True, generator=g)),
        ("random erasing, box per sample", "torchvision v2 RandomErasing, per-image loop",
         lambda: torch.stack([p["torchvision v2 RandomErasing"](image) for image in x]),
         lambda: random_erasing(x, generator=g)),
        ("random erasing in place, box per sample", "torchvision v2 RandomErasing(inplace), per-image loop",
         lambda: [p["torchvision v2 RandomErasing(inplace)"](image) for image in buf],
         lambda: random_erasing(work, inplace=True, generator=g)),
        ("random erasing p=1, box per sample", "torchvision v2 RandomErasing(p=1), whole batch (one box)",
         lambda: p["torchvision v2 RandomErasing(p=1)"](x), lambda: random_erasing(x, p=1.0, generator=g)),
    ]
    name = "x".join(map(str, shape))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kornia's deprecation notices
        for case, peer_name, peer_fn, ours_fn in pairs:
            if peer_name.split()[0] in missing_peers():
                continue  # not installed: named under the table
            work.copy_(x)
            buf.copy_(x)
            peer, ours, copy, clone = timeit([peer_fn, ours_fn, lambda: buf.copy_(x), x.clone], repeats, device)
            rows.append((f"{case} {name}", peer_name, peer, ours, copy / ours, clone / ours))
    return rows


def default_repeats(shape: tuple[int, ...], quick: bool) -> int:
    """Millisecond cases need more rounds than 100 ms ones for a stable median on a busy machine."""
    return 5 if quick else 15 if torch.Size(shape).numel() > 2**22 else 41


def machine_line(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return (f"machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, device {device} ({name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = [(16, 3, 64, 64), (64, 3, 32, 32)] if args.quick else [(128, 3, 224, 224), (512, 3, 32, 32)]
    print("| case | peer | peer median | ours median | speed-up | copy_/ours | clone/ours |")
    print("|---|---|---|---|---|---|---|")
    for shape in shapes:
        for case, peer_name, peer, ours, copy_ratio, clone_ratio in cases(shape, device, args.repeats or default_repeats(shape, args.quick)):
            print(f"| {case} | {peer_name} | {peer * 1e3:.2f} ms | {ours * 1e3:.2f} ms | {peer / ours:.1f}x "
                  f"| {copy_ratio:.2f} | {clone_ratio:.2f} |", flush=True)
    print()
    for name in missing_peers():
        print(f"- {name} is not installed: its rows are skipped")
    print(machine_line(device))


if __name__ == "__main__":
    main()
