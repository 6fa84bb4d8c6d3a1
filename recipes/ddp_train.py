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

Elastic resume: the checkpoint of one world size continues on any other (a preempted
job back on more or fewer GPUs). The sampler state is rank 0's; every new rank loads
it, skips what the old ranks consumed and shares the rest of the epoch::

    torchrun --nproc_per_node=2 recipes/ddp_train.py --stop-after-steps 100 --checkpoint /tmp/ck.pt
    torchrun --nproc_per_node=3 recipes/ddp_train.py --resume --stop-after-steps 200 --checkpoint /tmp/ck.pt
    python recipes/ddp_train.py --resume --checkpoint /tmp/ck.pt
    python recipes/ddp_train.py --elastic 2,3,1      # the same three runs, then a table

``--elastic`` launches the worlds one after the other (gloo, CPU), each stopping after
``--elastic-steps`` more steps except the last, and prints per world its steps and the
examples it consumed, and per epoch whether all worlds together saw the single-process
epoch exactly once.

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
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint (any world size)")
    parser.add_argument("--elastic", default="", help="world sizes to run one after the other, e.g. 2,3,1")
    parser.add_argument("--elastic-steps", type=int, default=100, help="--elastic: steps per world but the last")
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
    x, y = make_imbalanced_classification(args.samples, proportions, n_features=args.features, class_sep=2.0,
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
    epoch_ends: list[int] = field(default_factory=list)  # the step that ended each row's epoch
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

    ``earlier`` counts the epoch's items all ranks consumed before a resume (their
    indices are not known here); returns the epoch's items over all ranks and ``True``.
    """
    union = torch.cat(gather(group, seen))
    if len(torch.unique(union)) != len(union):
        raise RuntimeError(f"epoch {epoch}: the ranks' shares overlap")
    return len(union) + earlier, True


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
    result, step, start_epoch, earlier, first_step = Result(), 0, 0, 0, 0
    if args.resume:
        state = torch.load(args.checkpoint, map_location=group.device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # Rank 0's epoch and position; on another world size the rest of the epoch is
        # shared afresh over this world's ranks (EpochSampler's elastic resume).
        sampler.load_state_dict(state["sampler"])
        step, start_epoch, earlier = state["step"], state["sampler"]["epoch"], state["items"]
        result.rows, result.step_losses, result.epoch_ends = state["rows"], state["step_losses"], state["epoch_ends"]
        first_step = result.epoch_ends[-1] if result.epoch_ends else 0
    result.steps_per_epoch = per_epoch = len(loader)  # the same on every rank (shard="drop")
    desc = f"train ({group.world} rank{'s' if group.world > 1 else ''})"
    with Progress(args.epochs * per_epoch, desc=desc, unit="step", enabled=group.rank == 0) as bar:
        bar.update(step)
        for epoch in range(start_epoch, args.epochs):
            sampler.set_epoch(epoch)  # keeps a loaded position when it is the checkpoint's epoch
            consumed = sampler.state_dict()["position"] if epoch == start_epoch else 0  # items or batches
            earlier = earlier if epoch == start_epoch else 0  # items of all ranks, for the table
            first_step = first_step if epoch == start_epoch else step
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
                    items = earlier + sum(gather(group, sum(len(i) for i in seen)))
                    save_checkpoint(args.checkpoint, group, {
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "sampler": sampler_state,
                        "step": step, "items": items, "rows": result.rows, "step_losses": mean_losses,
                        "epoch_ends": result.epoch_ends, "args": vars(args),
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
            epoch_losses = result.step_losses[first_step:step]
            epoch_loss = sum(epoch_losses) / len(epoch_losses)
            result.rows.append((epoch, epoch_loss, *evaluate(model, x_val, y_val, group.device), seen_total, disjoint))
            result.epoch_ends.append(step)
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
    if args.elastic:
        return run_elastic(args, list(sys.argv[1:] if argv is None else argv))
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


# ---------------------------------------------------------------- elastic: 2 -> 3 -> 1 ranks


def _elastic_rank(rank: int, world: int, port: int, argv: list[str], out: str) -> None:
    """One rank of one world (spawned): train, then leave what it consumed in ``out``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    result = run(argv)
    torch.save({"indices": result.indices, "steps": result.steps, "result": result}, Path(out) / f"rank{rank}.pt")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_elastic(args: argparse.Namespace, argv: list[str]) -> Result:
    """Run the worlds of ``--elastic`` one after the other through one checkpoint; print the tables."""
    import tempfile

    import torch.multiprocessing as mp

    worlds = [int(w) for w in args.elastic.split(",")]
    child = [a for i, a in enumerate(argv) if not (a.startswith("--elastic") or argv[i - 1].startswith("--elastic")
                                                    and i > 0 and "=" not in argv[i - 1])]
    child += ["--checkpoint", str(args.checkpoint), "--device", "cpu"]
    rows, runs, step = [], [], 0
    for i, world in enumerate(worlds):
        last = i == len(worlds) - 1
        step_args = [] if last else ["--stop-after-steps", str(step + args.elastic_steps)]
        with tempfile.TemporaryDirectory() as out:
            world_args = child + step_args + ["--resume"] * (i > 0)
            mp.start_processes(_elastic_rank, args=(world, _free_port(), world_args, out), nprocs=world,
                               start_method="spawn")
            ranks = [torch.load(Path(out) / f"rank{r}.pt", weights_only=False) for r in range(world)]
        if not last and not ranks[0]["result"].stopped:
            raise ValueError(f"`--elastic-steps` must leave work for the next world: world {i + 1} finished training")
        runs.append(ranks)
        epochs = sorted({e for r in ranks for e, _ in r["indices"]})
        examples = sum(len(idx) for r in ranks for _, idx in r["indices"])
        rows.append((i + 1, world, ranks[0]["steps"] - step, ranks[0]["steps"], f"{epochs[0]}-{epochs[-1]}", examples))
        step = ranks[0]["steps"]
    print(markdown_table(("world", "ranks", "steps run", "last step", "epochs", "examples consumed"), rows))
    print(markdown_table(("epoch", "examples in the epoch", "seen", "seen twice", "not seen (dropped by shard='drop')"),
                         elastic_epochs(args, runs)))
    return runs[-1][0]["result"]


def elastic_epochs(args: argparse.Namespace, runs: list[list[dict[str, Any]]]) -> list[tuple[int, int, int, int, int]]:
    """Per epoch: what all worlds together consumed against the single-process epoch."""
    _, labels, _, _ = make_data(args)
    single = make_sampler(args, labels, Group(1, 0, torch.device("cpu"), False))
    out = []
    for epoch in range(args.epochs):
        single.set_epoch(epoch)
        expected = torch.tensor([i for item in single for i in (item if isinstance(item, list) else [item])])
        seen = torch.cat([idx for ranks in runs for r in ranks for e, idx in r["indices"] if e == epoch])
        counts = torch.bincount(seen, minlength=len(labels))
        wanted = torch.bincount(expected, minlength=len(labels))
        twice = int((counts > wanted).sum())
        out.append((epoch, len(expected), len(seen), twice, int((counts < wanted).sum())))
    return out


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
    right.plot(result.epoch_ends, [r[3] for r in result.rows], "ko-",
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
