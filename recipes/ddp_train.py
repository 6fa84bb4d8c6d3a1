"""Distributed training with the library's samplers: disjoint shares per rank, exact mid-epoch resume.

A small MLP learns a long-tailed 5-class problem (``torch_mlsd.data.make_imbalanced_classification``,
imbalance ratio 100, nothing downloaded) under ``DistributedDataParallel``. The sampler
gives every rank its own share of each epoch:

* ``--sampler stratified`` (default): ``StratifiedBatchSampler``, every batch in the class
  proportions of the data, every example once per epoch, batch ``j`` to rank ``j % R``;
* ``--sampler weighted``: ``WeightedSampler`` with class-balanced weights ``1 / n_c``,
  without replacement, drawing ``--epoch-fraction`` of the examples per epoch (all of a
  rare class, a fresh subset of the common ones each epoch), one global draw split
  between the ranks.

At the end of every epoch each rank's indices are gathered and checked to be disjoint
(an overlap stops the run). Checkpoints (model, optimiser, sampler state with its
``"position"`` set to what the loop consumed) are written every ``--checkpoint-every``
steps and at ``--stop-after-steps``; ``--resume`` continues from the checkpoint and sees
exactly the indices the uninterrupted run would have seen::

    torchrun --nproc_per_node=2 recipes/ddp_train.py                 # gloo on CPU, nccl on GPUs
    python recipes/ddp_train.py                                      # one process
    torchrun --nproc_per_node=2 recipes/ddp_train.py --stop-after-steps 150 --checkpoint /tmp/ck.pt
    torchrun --nproc_per_node=2 recipes/ddp_train.py --resume --checkpoint /tmp/ck.pt

Prints a table per epoch (train loss, validation balanced accuracy, macro F1, rarest-class
recall) and saves the loss curve. Needs the ``recipes`` extra (matplotlib; tqdm optional).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from _common import FIGURES, Progress, cpu_threads, markdown_table, pyplot, save_figure
from torch_mlsd._device import resolve_device
from torch_mlsd.data import make_imbalanced_classification
from torch_mlsd.evaluation import balanced_accuracy_score, f1_score, recall_score, stratified_split
from torch_mlsd.sampling import StratifiedBatchSampler, WeightedSampler

DEFAULT_OUT = FIGURES / "ddp_train.png"
DEFAULT_CHECKPOINT = Path("ddp_train_checkpoint.pt")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40_000, help="examples, before the split (default 40K)")
    parser.add_argument("--classes", type=int, default=5, help="classes (default 5)")
    parser.add_argument("--imbalance", type=float, default=100.0, help="largest / smallest class (default 100)")
    parser.add_argument("--features", type=int, default=16, help="features (default 16)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs (default 8)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size per rank (default 128)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    parser.add_argument("--sampler", choices=("stratified", "weighted"), default="stratified",
                        help="default stratified")
    parser.add_argument("--epoch-fraction", type=float, default=0.25,
                        help="weighted sampler: share of the examples drawn per epoch (default 0.25)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help=f"default {DEFAULT_CHECKPOINT}")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: none)")
    parser.add_argument("--stop-after-steps", type=int, default=0, help="checkpoint after this step and stop")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, split, init and sampler (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process, 0: torch's (default 1)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG path (default {DEFAULT_OUT})")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- processes


@dataclass
class Group:
    """This process's place: world size, rank, device, and whether this run made the group."""

    world: int
    rank: int
    device: torch.device
    owned: bool

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def join_group(device_arg: str) -> Group:
    """Join the process group ``torchrun`` describes (gloo on CPU, nccl on GPU), or use one already there."""
    device = resolve_device(device_arg)
    owned = False
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owned = True
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return Group(world, rank, device, owned)


def gather(group: Group, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order."""
    if group.world == 1:
        return [value]
    out: list[Any] = [None] * group.world
    dist.all_gather_object(out, value)
    return out


# ---------------------------------------------------------------- data, model, sampler


def make_data(args: argparse.Namespace) -> tuple[TensorDataset, Tensor, Tensor, Tensor]:
    """Training set ``(x, y, index)``, its labels, and the validation ``x`` and ``y``."""
    ratio = args.imbalance ** (-1 / (args.classes - 1))
    proportions = [ratio**c for c in range(args.classes)]  # exponential profile, largest / smallest = imbalance
    x, y = make_imbalanced_classification(args.samples, proportions, num_features=args.features, class_sep=2.0,
                                          noise=1.0, generator=torch.Generator().manual_seed(args.seed))
    train, val = stratified_split(y, test_size=0.25, generator=torch.Generator().manual_seed(args.seed))
    return TensorDataset(x[train], y[train], torch.arange(len(train))), y[train], x[val], y[val]


def make_sampler(args: argparse.Namespace, labels: Tensor, group: Group) -> StratifiedBatchSampler | WeightedSampler:
    """The epoch's share of this rank; ``shard="drop"`` keeps the shares disjoint and equal."""
    common = {"seed": args.seed, "num_replicas": group.world, "rank": group.rank, "shard": "drop"}
    if args.sampler == "stratified":
        return StratifiedBatchSampler(labels, args.batch_size, **common)
    weights = 1.0 / torch.bincount(labels).double()[labels]
    num_samples = round(args.epoch_fraction * len(labels))
    return WeightedSampler(weights, num_samples, replacement=False, **common)


def make_loader(dataset: TensorDataset, sampler: Any, args: argparse.Namespace) -> DataLoader:
    if isinstance(sampler, StratifiedBatchSampler):
        return DataLoader(dataset, batch_sampler=sampler)
    return DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)


def make_model(args: argparse.Namespace) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # the same initial weights on every rank, for --seed
        torch.manual_seed(args.seed)
        return nn.Sequential(nn.Linear(args.features, args.hidden), nn.ReLU(), nn.Linear(args.hidden, args.hidden),
                             nn.ReLU(), nn.Linear(args.hidden, args.classes))


# ---------------------------------------------------------------- training


@dataclass
class Result:
    """What this rank measured; ``rows`` are the printed table (one per epoch)."""

    rows: list[tuple[int, float, float, float, float, int, bool]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)  # mean over the ranks, every step since step 0
    indices: list[tuple[int, Tensor]] = field(default_factory=list)  # (epoch, indices this rank consumed) of this run
    final_state: dict[str, Tensor] = field(default_factory=dict)
    steps: int = 0
    steps_per_epoch: int = 0
    stopped: bool = False
    seconds: float = 0.0


def evaluate(model: nn.Module, x: Tensor, y: Tensor, device: torch.device) -> tuple[float, float, float]:
    """Balanced accuracy, macro F1 (an unpredicted class counts 0) and the rarest class's recall."""
    with torch.no_grad():
        predicted = model(x.to(device)).argmax(1).cpu()
    rarest = int(torch.bincount(y).argmin())
    return (float(balanced_accuracy_score(y, predicted)),
            float(f1_score(y, predicted, average="macro", zero_division=0.0)),
            float(recall_score(y, predicted, labels=[rarest], average="macro", zero_division=0.0)))


def check_disjoint(group: Group, epoch: int, seen: Tensor, earlier: int) -> tuple[int, bool]:
    """Gather every rank's indices of the epoch and raise if two ranks share one.

    ``earlier`` counts this rank's items of the epoch consumed before a resume (their
    indices are not known here); returns the epoch's items over all ranks and ``True``.
    """
    shares = gather(group, (seen, earlier))
    union = torch.cat([indices for indices, _ in shares])
    if len(torch.unique(union)) != len(union):
        raise RuntimeError(f"epoch {epoch}: the ranks' shares overlap")
    return len(union) + sum(n for _, n in shares), True


def save_checkpoint(path: Path, group: Group, state: dict[str, Any]) -> None:
    """Rank 0 writes ``state`` atomically; every rank waits for it."""
    if group.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
    group.barrier()


def train(args: argparse.Namespace, group: Group) -> Result:
    dataset, labels, x_val, y_val = make_data(args)
    sampler = make_sampler(args, labels, group)
    loader = make_loader(dataset, sampler, args)
    model = make_model(args).to(group.device)
    ddp = DistributedDataParallel(model) if group.world > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    result, step, start_epoch, earlier = Result(), 0, 0, 0
    if args.resume:
        state = torch.load(args.checkpoint, map_location=group.device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])  # epoch and position: the next iter() starts after them
        step, start_epoch, earlier = state["step"], state["sampler"]["epoch"], state["items"][group.rank]
        result.rows, result.step_losses = state["rows"], state["step_losses"]
    result.steps_per_epoch = per_epoch = len(loader)  # the same on every rank (shard="drop")
    desc = f"train ({group.world} rank{'s' if group.world > 1 else ''})"
    with Progress(args.epochs * per_epoch, desc=desc, unit="step", enabled=group.rank == 0) as bar:
        bar.update(step)
        for epoch in range(start_epoch, args.epochs):
            sampler.set_epoch(epoch)  # keeps a loaded position when it is the checkpoint's epoch
            consumed = sampler.state_dict()["position"] if epoch == start_epoch else 0  # items or batches
            earlier = earlier if epoch == start_epoch else 0  # items, for the table
            seen, losses = [], []
            for xb, yb, index in loader:
                loss = nn.functional.cross_entropy(ddp(xb.to(group.device)), yb.to(group.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                consumed += 1 if isinstance(sampler, StratifiedBatchSampler) else len(index)
                seen.append(index)
                losses.append(loss.detach())
                bar.update(1, loss=f"{float(losses[-1]):.3f}")
                if step == args.stop_after_steps or (args.checkpoint_every and step % args.checkpoint_every == 0):
                    # the position the loop reached, not what a DataLoader may have prefetched
                    sampler_state = sampler.state_dict() | {"position": consumed}
                    mean_losses = result.step_losses + mean_over_ranks(group, losses)
                    items = gather(group, earlier + sum(len(i) for i in seen))
                    save_checkpoint(args.checkpoint, group, {
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "sampler": sampler_state,
                        "step": step, "items": items, "rows": result.rows, "step_losses": mean_losses,
                        "args": vars(args),
                    })
                if step == args.stop_after_steps:
                    result.stopped = True
                    break
            indices = torch.cat(seen) if seen else torch.empty(0, dtype=torch.int64)
            result.indices.append((epoch, indices))
            if result.stopped:
                break
            result.step_losses += mean_over_ranks(group, losses)
            seen_total, disjoint = check_disjoint(group, epoch, indices, earlier)
            epoch_losses = result.step_losses[epoch * per_epoch : (epoch + 1) * per_epoch]
            epoch_loss = sum(epoch_losses) / len(epoch_losses)
            result.rows.append((epoch, epoch_loss, *evaluate(model, x_val, y_val, group.device), seen_total, disjoint))
    result.steps = step
    result.final_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return result


def mean_over_ranks(group: Group, losses: list[Tensor]) -> list[float]:
    """Each step's loss averaged over the ranks (every rank runs the same number of steps)."""
    if not losses:
        return []
    stacked = torch.stack(losses)
    if group.world > 1:
        dist.all_reduce(stacked)
        stacked /= group.world
    return stacked.tolist()


# ---------------------------------------------------------------- output


def run(argv: Sequence[str] | None = None) -> Result:
    """Train (distributed when launched so), print the table and save the plot on rank 0."""
    args = parse_args(argv)
    group = join_group(args.device)
    try:
        start = time.perf_counter()
        with cpu_threads(args.threads):
            result = train(args, group)
        result.seconds = time.perf_counter() - start
        if group.rank == 0:
            report(result, args, group)
        return result
    finally:
        if group.owned:
            dist.destroy_process_group()


def report(result: Result, args: argparse.Namespace, group: Group) -> None:
    if result.stopped:
        print(f"stopped after step {result.steps}; checkpoint saved to {args.checkpoint} "
              f"(resume with --resume --checkpoint {args.checkpoint})")
        return
    header = ("epoch", "train loss", "val balanced accuracy", "val macro F1", "val recall, rarest class",
              "indices seen (all ranks)", "ranks disjoint")
    print(markdown_table(header, result.rows))
    print(f"{args.sampler} sampler, {group.world} process{'es' if group.world > 1 else ''} on {group.device}, "
          f"{result.steps} steps of {args.batch_size} per rank in {result.seconds:.1f} s; plot saved to {args.out}")
    plot(result, args)


def plot(result: Result, args: argparse.Namespace) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    losses = torch.tensor(result.step_losses)
    steps = torch.arange(1, len(losses) + 1)
    ax.plot(steps.numpy(), losses.numpy(), alpha=0.3, label="train loss per step (mean over ranks)")
    window = max(1, len(losses) // 50)
    if len(losses) >= window:
        smooth = losses.unfold(0, window, 1).mean(1)
        ax.plot(steps[window - 1 :].numpy(), smooth.numpy(), label=f"moving mean over {window} steps")
    ax.set(xlabel="step", ylabel="cross-entropy", yscale="log", title=f"DDP training, {args.sampler} sampler")
    right = ax.twinx()
    right.plot([(r[0] + 1) * result.steps_per_epoch for r in result.rows], [r[3] for r in result.rows], "ko-",
               label="val macro F1")
    right.set(ylabel="val macro F1", ylim=(0, 1))
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    ax.grid(True, alpha=0.3)
    save_figure(fig, args.out)


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
