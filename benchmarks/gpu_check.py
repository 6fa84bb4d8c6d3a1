"""One-command GPU check: CUDA tests, GPU benchmark tables, sync counts and bandwidth fractions.

    python benchmarks/gpu_check.py [--out gpu_check.md] [--quick] [--stages a,b,...] [--dry-run] [--device cpu]

(``benchmarks/gpu_check.sh`` runs the same from any directory.)

On a machine with CUDA it runs these stages, each in its own process with its own time
budget (a stage that overruns is stopped and reported; the others still run; the budgets
add up to under 8 minutes):

* ``tests``: the CUDA half of the test suite (``pytest -k cuda``), pass/fail counts;
* ``augment``, ``augment_seq``, ``losses``, ``imbalance``, ``sampling``: the benchmark
  tables with ``--device cuda`` (``sampling`` runs only the weighted draws vs
  ``torch.multinomial``);
* ``sync``: every loss's forward and its backward, every batch transform's ``transform`` with
  pre-drawn parameters and ``mask_tokens``, run once under
  ``torch.cuda.set_sync_debug_mode("error")`` (after one warm-up call outside it):
  ``OK`` or the first synchronisation's stack line;
* ``bandwidth``: peak memory bandwidth from a 1 GiB device-to-device copy, and the
  fraction of it each augmentation batch op reaches (byte model in :data:`MODELS`).

The markdown report, with the machine at the top, goes to stdout and to ``--out``.
Without CUDA (or with ``--dry-run``) it only checks itself: arguments, the stages it would
run, the benchmark scripts and the imports, then exits 0. ``--device cpu`` rehearses the
whole run on the CPU (the CUDA tests are then skipped, the sync mode does nothing).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PEERS = ("torchvision", "torchaudio", "timm", "transformers", "kornia", "imblearn")
LIBRARY = ("torch_mlsd.augment", "torch_mlsd.losses", "torch_mlsd.imbalance", "torch_mlsd.sampling")
TOTAL_LIMIT_S = 480.0


@dataclass(frozen=True)
class Stage:
    """One stage: a command run from the repository root under a time budget (seconds)."""

    name: str
    title: str
    budget_s: float
    argv: tuple[str, ...]


@dataclass(frozen=True)
class StageResult:
    """What a stage left: ``status`` is ``ok``, ``failed (exit N)`` or ``stopped at budget``."""

    stage: Stage
    status: str
    seconds: float
    stdout: str
    stderr: str


def stages(quick: bool, device: str = "cuda") -> list[Stage]:
    """The stages in run order; ``quick`` passes ``--quick`` to the benchmarks, ``device`` its ``--device``."""
    py = sys.executable
    q = ("--quick",) if quick else ()
    own = (py, str(Path(__file__).resolve()), "--stage")

    def bench(name: str, *extra: str) -> tuple[str, ...]:
        return (py, str(BENCH / name), "--device", device, *q, *extra)

    return [
        Stage("tests", "CUDA half of the test suite", 150,
              (py, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider")),
        Stage("augment", "Image augmentation vs torchvision v2 / kornia / timm", 70, bench("bench_augment.py")),
        Stage("augment_seq", "SpecAugment vs torchaudio, MLM vs transformers", 40, bench("bench_augment_seq.py")),
        Stage("losses", "Losses vs torchvision focal and F.cross_entropy", 25, bench("bench_losses.py")),
        Stage("imbalance", "SMOTE / Tomek links vs imbalanced-learn", 60, bench("bench_imbalance.py")),
        Stage("sampling", "Weighted draws vs torch.multinomial", 30, bench("bench_sampling.py", "--functional")),
        Stage("sync", "Device synchronisations in the hot paths", 40, (*own, "sync", "--device", device, *q)),
        Stage("bandwidth", "Memory bandwidth fraction per batch op", 40, (*own, "bandwidth", "--device", device, *q)),
    ]


def command_line(stage: Stage) -> str:
    """The stage's command as typed from the repository root (``python``, relative paths)."""
    def short(arg: str) -> str:
        if arg == sys.executable:
            return "python"
        return os.path.relpath(arg, ROOT) if os.path.isabs(arg) else arg
    return " ".join(short(a) for a in stage.argv)


def run_stage(stage: Stage, env: dict[str, str]) -> StageResult:
    """Run ``stage`` in its own process group; past its budget the whole group is killed."""
    start = time.perf_counter()
    proc = subprocess.Popen(stage.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=stage.budget_s)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended meanwhile
            pass
        out, err = proc.communicate()
        status = f"stopped at budget ({stage.budget_s:.0f} s)"
    return StageResult(stage, status, time.perf_counter() - start, out, err)


def pytest_counts(text: str) -> dict[str, int]:
    """Counts from pytest's summary line, e.g. ``{"passed": 620, "failed": 2, "deselected": 2111}``."""
    counted = r"\b\d+ (passed|failed|skipped|deselected|errors?|xfailed|xpassed)\b"
    summary = [line for line in text.splitlines() if re.search(counted, line) and re.search(r" in [\d.]+s\b", line)]
    if not summary:
        return {}
    counts: dict[str, int] = {}
    for number, word in re.findall(r"(\d+) ([a-z]+)", summary[-1]):
        key = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[key] = int(number)
    return counts


def copy_bandwidth(nbytes: int, seconds: float) -> float:
    """Bytes per second of a device-to-device copy of ``nbytes`` (it reads and writes them)."""
    return 2 * nbytes / seconds


def bandwidth_fraction(bytes_moved: float, seconds: float, peak: float) -> float:
    """Fraction of ``peak`` bytes/s reached by moving ``bytes_moved`` bytes in ``seconds``."""
    if seconds <= 0 or peak <= 0:
        raise ValueError(f"`seconds` and `peak` must be > 0, got {seconds} and {peak}")
    return bytes_moved / seconds / peak


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; every cell is written with ``str``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def stage_section(result: StageResult) -> str:
    """The report's section for one stage: title, status and time, then what it printed."""
    stage = result.stage
    head = [f"## {stage.title} (`{stage.name}`)", "",
            f"`{command_line(stage)}`: "
            f"**{result.status}** in {result.seconds:.0f} s (budget {stage.budget_s:.0f} s)", ""]
    if stage.name == "tests":
        counts = pytest_counts(result.stdout)
        shown = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no summary line (stopped early?)"
        failures = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        body = [f"counts: {shown}"] + ([""] + [f"- {line}" for line in failures[:50]] if failures else [])
    else:
        body = [result.stdout.strip() or "(no output)"]
    if result.status != "ok":
        body += ["", "last lines of stderr:", "", "```", _tail(result.stderr, 30), "```"]
    return "\n".join(head + body)


def machine_lines() -> list[str]:
    """GPU name, driver, torch and CUDA versions, host; the report's first lines."""
    lines = [f"- torch {torch.__version__} (CUDA {torch.version.cuda}), Python {platform.python_version()}, "
             f"{platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        try:
            driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=20).stdout.strip() or "unknown"
        except (OSError, subprocess.TimeoutExpired):
            driver = "unknown (no nvidia-smi)"
        lines.insert(0, f"- GPU: {torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB, "
                        f"driver {driver}, {torch.cuda.device_count()} device(s)")
    else:
        lines.insert(0, "- GPU: none (torch.cuda.is_available() is False)")
    return lines


def report(title: str, sections: Sequence[str]) -> str:
    """The whole markdown report: title, machine lines, then the sections."""
    return "\n\n".join([f"# {title}", "\n".join(machine_lines()), *sections]) + "\n"


# ---------------------------------------------------------------- self-check (dry run)


def self_check(selected: Sequence[Stage]) -> str:
    """Stages it would run, benchmark scripts compiled, imports verified (peers: found or not)."""
    rows = [(s.name, s.title, f"{s.budget_s:.0f} s", f"`{command_line(s)}`") for s in selected]
    total = sum(s.budget_s for s in selected)
    problems = []
    for s in selected:
        for arg in s.argv[1:]:
            if arg.endswith(".py"):
                try:
                    compile(Path(arg).read_text(), arg, "exec")
                except (OSError, SyntaxError) as exc:
                    problems.append(f"{Path(arg).name} does not compile: {exc}")
    for module in LIBRARY:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(f"cannot import {module}: {exc}")
    peers = ", ".join(f"{p} {'found' if importlib.util.find_spec(p) else 'missing (its rows are skipped)'}"
                      for p in PEERS)
    lines = ["## Self-check", "", markdown_table(["stage", "what", "budget", "command"], rows), "",
             f"total budget {total:.0f} s (limit {TOTAL_LIMIT_S:.0f} s)", "", f"peers: {peers}", "",
             "problems: " + ("; ".join(problems) if problems else "none")]
    return "\n".join(lines)


# ---------------------------------------------------------------- stage: sync


@contextmanager
def sync_debug(device: torch.device, mode: str) -> Iterator[None]:
    """``torch.cuda.set_sync_debug_mode(mode)`` for the block (nothing on a CPU device)."""
    if device.type != "cuda":
        yield
        return
    torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def first_library_frame(exc: BaseException) -> str:
    """``file:line in function: code`` of the innermost torch_mlsd frame (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(ROOT / "torch_mlsd")] or frames[-1:]
    if not ours:
        return "(no traceback)"
    f = ours[-1]
    return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} in {f.name}: {f.line}"


def prepared(t: Any, like: torch.Tensor, *before: torch.Tensor, **context: Any) -> Callable[[torch.Tensor], object]:
    """``z -> t.transform(z, *before, params, **context)`` with ``params`` drawn now, for a batch like ``like``."""
    params = t.sample_params(like, **context)
    return lambda z: t.transform(z, *before, params, **context)


def sync_cases(device: torch.device, quick: bool) -> dict[str, Callable[[], object]]:
    """Each hot-path call, its inputs, modules and parameters prepared (and moved) beforehand."""
    from torch_mlsd import augment
    from torch_mlsd.losses import BalancedSoftmaxLoss, BinaryFocalLoss, CrossEntropyLoss, FocalLoss, LogitAdjustedLoss

    g = torch.Generator().manual_seed(0)
    n, c = (64, 10) if quick else (4096, 100)
    logits = torch.randn(n, c, generator=g).to(device).requires_grad_()
    labels = torch.randint(0, c, (n,), generator=g).to(device)
    multi = (torch.rand(n, c, generator=g) < 0.05).float().to(device)
    vec = (torch.rand(c, generator=g) + 0.5)
    counts = torch.randint(1, 1000, (c,), generator=g)
    losses: dict[str, tuple[torch.nn.Module, torch.Tensor]] = {
        "CrossEntropyLoss(weight)": (CrossEntropyLoss(weight=vec), labels),
        "FocalLoss(alpha, weight)": (FocalLoss(gamma=2.0, alpha=vec / 2, weight=vec), labels),
        "BinaryFocalLoss(alpha, pos_weight)": (BinaryFocalLoss(gamma=2.0, alpha=0.25, pos_weight=vec), multi),
        "LogitAdjustedLoss": (LogitAdjustedLoss(class_counts=counts), labels),
        "BalancedSoftmaxLoss": (BalancedSoftmaxLoss(class_counts=counts), labels),
    }
    cases: dict[str, Callable[[], object]] = {}
    for name, (module, target) in losses.items():
        module.to(device)
        cases[f"{name} forward"] = partial(module, logits, target)
        cases[f"{name} backward"] = partial(module(logits, target).backward, retain_graph=True)

    images = torch.rand((8, 3, 32, 32) if quick else (128, 3, 224, 224), generator=g).to(device)
    image_labels = torch.randint(0, c, (images.shape[0],), generator=g).to(device)
    spec = torch.randn((4, 1, 64, 100) if quick else (64, 1, 128, 1000), generator=g).to(device)
    frames = spec.shape[-1]
    lengths = torch.randint(frames // 2, frames + 1, (spec.shape[0],), generator=g).to(device)
    labelled = {"MixUp": augment.MixUp(num_classes=c, seed=0), "CutMix": augment.CutMix(num_classes=c, seed=0),
                "MixUpOrCutMix": augment.MixUpOrCutMix(num_classes=c, seed=0)}
    for name, t in labelled.items():
        cases[f"{name}.transform"] = partial(prepared(t, images, image_labels), images)
    erasers = {"RandomErasing": augment.RandomErasing(p=1.0, seed=0), "Cutout": augment.Cutout(length=8, seed=0)}
    for name, t in erasers.items():
        cases[f"{name}.transform"] = partial(prepared(t, images), images)
    maskers = {"TimeMasking": augment.TimeMasking(20, seed=0), "FrequencyMasking": augment.FrequencyMasking(10, seed=0),
               "SpecAugment": augment.SpecAugment(time_mask_param=20, freq_mask_param=10, seed=0)}
    for name, t in maskers.items():
        cases[f"{name}.transform"] = partial(prepared(t, spec), spec)
    cases["SpecAugment.transform with lengths"] = partial(prepared(maskers["SpecAugment"], spec, lengths=lengths), spec)
    ids = torch.randint(5, 30522, (16, 64) if quick else (256, 512), generator=g).to(device)
    token_g = torch.Generator(device=device).manual_seed(0)
    cases["mask_tokens"] = partial(augment.mask_tokens, ids, vocab_size=30522, mask_token_id=4,
                                   special_token_ids=[0, 1, 2, 3], generator=token_g)
    return cases


def check_syncs(device: torch.device, quick: bool) -> list[tuple[str, str]]:
    """``(case, "OK" | "sync at <frame> (<message>)" | "error: ...")`` for every hot-path call."""
    results = []
    for name, fn in sync_cases(device, quick).items():
        try:
            fn()  # warm-up outside the mode: lazy initialisation is not a per-batch cost
            if device.type == "cuda":
                torch.cuda.synchronize()
            with sync_debug(device, "error"):
                fn()
            verdict = "OK"
        except Exception as exc:  # a sync raises RuntimeError; anything else is reported, not fatal
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            prefix = "sync at" if "synchroniz" in message.lower() else f"{type(exc).__name__} at"
            verdict = f"{prefix} `{first_library_frame(exc)}` ({message[:120]})"
        results.append((name, verdict))
    return results


# ---------------------------------------------------------------- stage: bandwidth

# Byte model per op (S: bytes of the input batch; W: bytes of the elements the op changes,
# counted once by comparing its output with its input; outputs: bytes of everything it returns).
MODELS = {
    "out of place": "reads S, writes its outputs",
    "mixup": "reads S twice (own and partner), writes its outputs (in place: writes S)",
    "cutmix in place": "reads and writes W (the pasted boxes)",
    "fill in place": "writes W (the erased boxes / masked bands)",
    "mask_tokens": "reads the ids, writes its outputs (ids and labels)",
}


def _median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bandwidth(device: torch.device, nbytes: int, repeats: int) -> tuple[float, float]:
    """``(bytes/s, seconds)`` of copying ``nbytes`` bytes device-to-device (median of ``repeats``)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    seconds = _median_seconds(lambda: dst.copy_(src), repeats, device)
    return copy_bandwidth(nbytes, seconds), seconds


def _nbytes(out: object) -> int:
    parts = out if isinstance(out, tuple) else (out,)
    return sum(p.numel() * p.element_size() for p in parts if isinstance(p, torch.Tensor))


def _first(out: object) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out  # type: ignore[return-value]


def bandwidth_rows(device: torch.device, quick: bool) -> tuple[float, list[tuple[object, ...]]]:
    """Peak copy bandwidth and, per batch op, ``(op, shape, model, MB moved, ms, GB/s, fraction)``."""
    from torch_mlsd import augment

    g = torch.Generator().manual_seed(0)
    repeats = 5 if quick else 20
    peak, _ = peak_bandwidth(device, 1 << 20 if quick else 1 << 30, repeats)
    image_shapes = [(8, 3, 32, 32)] if quick else [(128, 3, 224, 224), (512, 3, 32, 32)]
    spec_shape = (4, 1, 64, 100) if quick else (64, 1, 128, 1000)
    rows: list[tuple[object, ...]] = []

    def measure(name: str, x: torch.Tensor, call: Callable[[torch.Tensor], object], model: str) -> None:
        s = x.numel() * x.element_size()
        out = call(x.clone())
        changed = int((_first(out) != x).sum()) * x.element_size()
        moved = {"out of place": s + _nbytes(out), "mixup": 2 * s + _nbytes(out), "cutmix in place": 2 * changed,
                 "fill in place": changed, "mask_tokens": s + _nbytes(out)}[model]
        if name.startswith("MixUp") and "in place" in name:
            moved = 3 * s
        work = x.clone()
        seconds = _median_seconds(lambda: call(work if "in place" in name else x), repeats, device)
        rows.append((name, "x".join(map(str, x.shape)), model, f"{moved / 1e6:.3g}", f"{seconds * 1e3:.3g}",
                     f"{moved / seconds / 1e9:.3g}", f"{bandwidth_fraction(moved, seconds, peak):.3g}"))

    for shape in image_shapes:
        x = torch.rand(shape, generator=g).to(device)
        y = torch.randint(0, 1000, (shape[0],), generator=g).to(device)
        for inplace in (False, True):
            tag = " in place" if inplace else ""
            measure(f"MixUp.transform{tag}", x,
                    prepared(augment.MixUp(num_classes=1000, inplace=inplace, seed=0), x, y), "mixup")
            measure(f"CutMix.transform{tag}", x,
                    prepared(augment.CutMix(num_classes=1000, inplace=inplace, seed=0), x, y),
                    "cutmix in place" if inplace else "out of place")
            erasers = {"RandomErasing": augment.RandomErasing(inplace=inplace, seed=0),
                       "RandomErasing(p=1)": augment.RandomErasing(p=1.0, inplace=inplace, seed=0),
                       "Cutout": augment.Cutout(inplace=inplace, seed=0)}
            for name, eraser in erasers.items():
                measure(f"{name}.transform{tag}", x, prepared(eraser, x),
                        "fill in place" if inplace else "out of place")
    spec = torch.randn(spec_shape, generator=g).to(device)
    for inplace in (False, True):
        masking = augment.SpecAugment(seed=0, inplace=inplace, time_mask_param=min(100, spec_shape[-1] // 2))
        measure(f"SpecAugment.transform{' in place' if inplace else ''}", spec, prepared(masking, spec),
                "fill in place" if inplace else "out of place")
    ids = torch.randint(5, 30522, (16, 64) if quick else (256, 512), generator=g).to(device)
    token_g = torch.Generator(device=device).manual_seed(0)
    measure("mask_tokens", ids, partial(augment.mask_tokens, vocab_size=30522, mask_token_id=4,
                                        special_token_ids=[0, 1, 2, 3], generator=token_g), "mask_tokens")
    return peak, rows


def stage_output(name: str, device: torch.device, quick: bool) -> str:
    """The markdown an internal stage prints (``sync`` or ``bandwidth``)."""
    if name == "sync":
        results = check_syncs(device, quick)
        bad = sum(verdict != "OK" for _, verdict in results)
        return (markdown_table(["hot path", "under set_sync_debug_mode('error')"], results)
                + f"\n\n{len(results) - bad} of {len(results)} calls without a synchronisation "
                  "(one warm-up call each first, outside the mode; parameters drawn beforehand)"
                + ("" if device.type == "cuda" else "\n\n(cpu: the mode needs CUDA; this only rehearses the calls)"))
    peak, rows = bandwidth_rows(device, quick)
    models = "\n".join(f"- {k}: {v}" for k, v in MODELS.items())
    return (f"peak: {peak / 1e9:.3g} GB/s (device-to-device copy of {'1 MiB' if quick else '1 GiB'}, "
            f"2 x bytes / median time)\n\nbyte models:\n{models}\n\n"
            + markdown_table(["op (transform, parameters drawn beforehand)", "shape", "model", "MB moved", "median ms",
                              "GB/s", "fraction of peak"], rows))


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [s.name for s in stages(False)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.md", help="report file (default gpu_check.md)")
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere (a smoke run)")
    parser.add_argument("--stages", default=",".join(names), help=f"comma-separated subset of: {','.join(names)}")
    parser.add_argument("--dry-run", action="store_true", help="check arguments, stages and imports; run nothing")
    parser.add_argument("--stage", choices=["sync", "bandwidth"], help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="device for the stages (default cuda; cpu rehearses the whole run on the CPU)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.stages.split(",")) - set(names))
    if unknown:
        parser.error(f"--stages must be a subset of {names}, got {unknown}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage:  # an internal stage, run in its own process by the driver
        print(stage_output(args.stage, torch.device(args.device), args.quick), flush=True)
        return 0
    wanted = args.stages.split(",")
    selected = [s for s in stages(args.quick, args.device) if s.name in wanted]
    if args.dry_run or (args.device == "cuda" and not torch.cuda.is_available()):
        note = ("dry run: nothing was run" if args.dry_run and torch.cuda.is_available()
                else "CUDA is not available on this machine: no GPU stage was run; self-check only")
        text = report("GPU check: self-check", [f"**{note}**", self_check(selected)])
    else:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")  # a stopped stage keeps what it printed
        sections = []
        for stage in selected:
            print(f"[gpu_check] {stage.name} (budget {stage.budget_s:.0f} s) ...", file=sys.stderr, flush=True)
            sections.append(stage_section(run_stage(stage, env)))
        text = report("GPU check", sections)
    print(text, end="")
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's torch_mlsd, as the stages get it via PYTHONPATH
    sys.exit(main())
