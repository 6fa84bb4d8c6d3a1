"""Smoke tests of ``benchmarks/gpu_check.py`` on the CPU: its dry run, its pure helpers, and
the sync-check and bandwidth cases built and run on the CPU (where nothing can synchronise)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["gpu_check"]


def test_dry_run_lists_every_stage_and_writes_the_report(gpu_check: ModuleType, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.md"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert printed.startswith("# GPU check: self-check\n\n- GPU: ")
    assert f"torch {torch.__version__}" in printed
    for stage in gpu_check.stages(False):
        assert f"| {stage.name} | {stage.title} |" in printed
    assert "`python -m pytest -q -k cuda -p no:cacheprovider`" in printed
    assert "`python benchmarks/bench_sampling.py --device cuda --functional`" in printed
    assert "problems: none" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_without_a_gpu_it_says_so_and_exits_zero(gpu_check: ModuleType, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert gpu_check.main(["--stages", "sync,bandwidth", "--out", str(tmp_path / "r.md")]) == 0
    printed = capsys.readouterr().out
    assert "**CUDA is not available on this machine: no GPU stage was run; self-check only**" in printed
    assert "| sync |" in printed and "| tests |" not in printed
    assert "total budget 80 s (limit 480 s)" in printed


def test_unknown_stage_is_rejected(gpu_check: ModuleType) -> None:
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--stages", "tests,nope"])


def test_stage_budgets_fit_the_eight_minute_limit(gpu_check: ModuleType) -> None:
    budgets = [s.budget_s for s in gpu_check.stages(False)]
    assert sum(budgets) < gpu_check.TOTAL_LIMIT_S == 480
    assert min(budgets) > 0


def test_pytest_counts_reads_the_summary_line(gpu_check: ModuleType) -> None:
    text = "...F..s\nFAILED tests/test_x.py::test_a[cuda] - AssertionError\n" \
           "1 failed, 620 passed, 5 skipped, 2111 deselected, 1 error, 3 warnings in 61.20s (0:01:01)\n"
    assert gpu_check.pytest_counts(text) == {"failed": 1, "passed": 620, "skipped": 5, "deselected": 2111,
                                            "errors": 1, "warnings": 3}
    skipped_only = "sss\n626 skipped, 2111 deselected in 13.02s\n"
    assert gpu_check.pytest_counts(skipped_only) == {"skipped": 626, "deselected": 2111}
    assert gpu_check.pytest_counts("FAILED tests/t.py::f[cuda] - 3 failed rows\nkilled before the end\n") == {}


def test_bandwidth_arithmetic(gpu_check: ModuleType) -> None:
    # a 1 GiB copy reads and writes it: 2 GiB in 2 ms is 1.07e12 bytes/s
    peak = gpu_check.copy_bandwidth(1 << 30, 2e-3)
    assert peak == pytest.approx(2 * 2**30 / 2e-3)
    # an out-of-place op on 100 MB (reads 100, writes 100) in 0.5 ms reaches 4e11 B/s
    assert gpu_check.bandwidth_fraction(200e6, 0.5e-3, 4e11 / 0.8) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="`seconds` and `peak` must be > 0"):
        gpu_check.bandwidth_fraction(1.0, 0.0, 1.0)


def test_report_formatting(gpu_check: ModuleType) -> None:
    assert gpu_check.markdown_table(["a", "b"], [(1, "x"), (2.5, None)]) == (
        "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | None |")
    tests = gpu_check.stages(False)[0]
    result = gpu_check.StageResult(tests, "failed (exit 1)", 61.2,
                                   "FAILED tests/t.py::f[cuda] - boom\n1 failed, 9 passed in 1.0s\n", "trace\nlast")
    section = gpu_check.stage_section(result)
    assert section.startswith("## CUDA half of the test suite (`tests`)\n\n`python -m pytest -q -k cuda -p "
                              "no:cacheprovider`: **failed (exit 1)** in 61 s (budget 150 s)")
    assert "counts: 1 failed, 9 passed" in section
    assert "- FAILED tests/t.py::f[cuda] - boom" in section
    assert section.endswith("last lines of stderr:\n\n```\ntrace\nlast\n```")
    text = gpu_check.report("T", ["## s\n\nbody"])
    assert text.startswith("# T\n\n- GPU: ") and text.endswith("## s\n\nbody\n")


def test_run_stage_stops_an_overrunning_stage_and_keeps_output(gpu_check: ModuleType) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    fast = gpu_check.Stage("fast", "t", 20, (sys.executable, "-c", "print('| a |')"))
    slow = gpu_check.Stage("slow", "t", 0.5, (sys.executable, "-c", "import time; time.sleep(30)"))
    failing = gpu_check.Stage("bad", "t", 20, (sys.executable, "-c", "import sys; sys.exit(3)"))
    assert gpu_check.run_stage(fast, env).status == "ok"
    assert gpu_check.run_stage(fast, env).stdout == "| a |\n"
    stopped = gpu_check.run_stage(slow, env)
    assert stopped.status == "stopped at budget (0 s)" and stopped.seconds < 10
    assert gpu_check.run_stage(failing, env).status == "failed (exit 3)"


def test_sync_cases_run_on_the_cpu(gpu_check: ModuleType) -> None:
    """Every hot-path case is built and runs (on the CPU nothing synchronises, so all are OK)."""
    results = dict(gpu_check.check_syncs(torch.device("cpu"), quick=True))
    assert len(results) == 20 and set(results.values()) == {"OK"}
    assert "SpecAugment.transform with lengths" in results and "FocalLoss(alpha, weight) backward" in results


def test_first_library_frame_names_the_innermost_torch_mlsd_line(gpu_check: ModuleType) -> None:
    from torch_mlsd.augment import mixup

    with pytest.raises(ValueError) as info:
        mixup(torch.rand(2, 3, 4, 4), torch.tensor([0, 1]), num_classes=-1)
    line = gpu_check.first_library_frame(info.value)
    assert line.startswith("torch_mlsd/") and " in " in line


def test_bandwidth_stage_output_on_the_cpu(gpu_check: ModuleType) -> None:
    """The bandwidth stage's table is assembled from real timings (small sizes, CPU)."""
    text = gpu_check.stage_output("bandwidth", torch.device("cpu"), quick=True)
    assert text.startswith("peak: ") and "device-to-device copy of 1 MiB" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "x" in line.split("|")[2]]
    assert len(rows) == 13
    fractions = [float(line.rstrip(" |").rsplit("| ", 1)[1]) for line in rows]
    assert all(f > 0 for f in fractions)


def test_check_syncs_reports_the_first_sync_and_other_errors(gpu_check: ModuleType,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    def syncs_on_second_call() -> None:  # the warm-up call passes, the checked one "syncs"
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("called a synchronizing CUDA operation")

    def broken() -> None:
        raise ValueError("`x` must be positive, got -1")

    cases = {"fine": lambda: None, "syncs": syncs_on_second_call, "broken": broken}
    monkeypatch.setattr(gpu_check, "sync_cases", lambda device, quick: cases)
    got = dict(gpu_check.check_syncs(torch.device("cpu"), quick=True))
    assert got["fine"] == "OK"
    assert got["syncs"].startswith("sync at `") and got["syncs"].endswith("(called a synchronizing CUDA operation)")
    assert "in syncs_on_second_call: raise RuntimeError" in got["syncs"]
    assert got["broken"].startswith("ValueError at `") and "`x` must be positive" in got["broken"]
