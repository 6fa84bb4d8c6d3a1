"""Benchmark torch_mlsd.losses against torchvision / torch on the same data, in one process.

Cases (forward + backward, ``reduction='mean'``, no ``torch.compile``):

- sigmoid focal loss on ``N x 80`` logits with ~1% positives (the RetinaNet / multi-label
  case): ``binary_focal_loss`` vs ``torchvision.ops.sigmoid_focal_loss`` and vs plain
  ``F.binary_cross_entropy_with_logits`` (the cost floor of any sigmoid loss);
- softmax focal loss (gamma=2, per-class alpha) and class-weighted cross-entropy on
  ``N x 80`` with class ids, vs ``F.cross_entropy``.

Run ``python benchmarks/bench_losses.py [--device cpu|cuda] [--quick] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from torch_mlsd.losses import binary_focal_loss, cross_entropy, focal_loss


def _medians(
    fns: dict[str, Callable[[], torch.Tensor]], x: torch.Tensor, repeats: int, device: torch.device
) -> dict[str, float]:
    """Median seconds of ``fn().backward()`` for each fn, run round-robin (one warm-up round first)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(repeats + 1):
        for name, fn in fns.items():
            x.grad = None
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times[name].append(time.perf_counter() - start)
    x.grad = None
    return {name: statistics.median(t) for name, t in times.items()}


def _row(case: str, peer: str, peer_s: float, ours_s: float) -> str:
    return f"| {case} | {peer} | {peer_s * 1e3:.0f} ms | {ours_s * 1e3:.0f} ms | {peer_s / ours_s:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    n, c = (20_000, 80) if args.quick else (1_000_000, 80)
    generator = torch.Generator(device="cpu").manual_seed(0)
    logits = (torch.randn(n, c, generator=generator) * 2).to(device).requires_grad_()
    multi_label = (torch.rand(n, c, generator=generator) < 0.01).float().to(device)
    labels = torch.randint(0, c, (n,), generator=generator).to(device)
    alpha = (torch.rand(c, generator=generator) + 0.5).to(device)
    weight = (torch.rand(c, generator=generator) + 0.5).to(device)

    size = f"{n:.0e}x{c}".replace("e+0", "e")
    sigmoid_case = f"sigmoid focal fwd+bwd {size}"
    sigmoid_fns = {"ours": lambda: binary_focal_loss(logits, multi_label, gamma=2.0, alpha=0.25)}
    try:
        from torchvision.ops import sigmoid_focal_loss
    except ImportError:
        sigmoid_focal_loss = None
    else:
        sigmoid_fns["torchvision.ops.sigmoid_focal_loss"] = lambda: sigmoid_focal_loss(
            logits, multi_label, alpha=0.25, gamma=2.0, reduction="mean"
        )
    sigmoid_fns["F.binary_cross_entropy_with_logits (floor)"] = lambda: F.binary_cross_entropy_with_logits(
        logits, multi_label
    )
    softmax_fns = {
        "F.cross_entropy": lambda: F.cross_entropy(logits, labels, weight=weight),
        "focal": lambda: focal_loss(logits, labels, gamma=2.0, alpha=alpha, weight=weight),
        "cross_entropy": lambda: cross_entropy(logits, labels, weight=weight),
    }
    sig = _medians(sigmoid_fns, logits, args.repeats, device)
    soft = _medians(softmax_fns, logits, args.repeats, device)

    rows = []
    if sigmoid_focal_loss is None:
        rows.append(f"| {sigmoid_case} | torchvision (not installed) | - | {sig['ours'] * 1e3:.0f} ms | - |")
    for peer in sig:
        if peer != "ours":
            rows.append(_row(sigmoid_case, peer, sig[peer], sig["ours"]))
    ce = soft["F.cross_entropy"]
    rows.append(_row(f"softmax focal (gamma=2, alpha, weight) fwd+bwd {size}", "F.cross_entropy (floor)", ce, soft["focal"]))
    rows.append(_row(f"weighted cross_entropy fwd+bwd {size}", "F.cross_entropy", ce, soft["cross_entropy"]))

    print("| case | peer | peer median | ours median | speed-up |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}, device {device} ({name}), median of {args.repeats}"
    )


if __name__ == "__main__":
    main()
