"""The test helpers themselves work: real gloo processes, errors propagate."""

import pytest
import torch
import torch.distributed as dist

from tests._distributed import run_distributed


def _sum_ranks(rank: int, world_size: int) -> int:
    t = torch.tensor([rank + 1])
    dist.all_reduce(t)
    return int(t.item())


def _fail(rank: int, world_size: int) -> None:
    if rank == 1:
        raise ValueError("boom on rank 1")


def test_run_distributed_all_reduce():
    assert run_distributed(_sum_ranks, world_size=2) == [3, 3]


def test_run_distributed_propagates_errors():
    with pytest.raises(RuntimeError, match="boom on rank 1"):
        run_distributed(_fail, world_size=2)


def test_device_fixture(device):
    assert torch.zeros(1, device=device).device.type == device.type


def test_ci_runs_the_readme_commands_verbatim():
    """`.ci/run` installs and tests exactly as the README tells a new user to."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    ci = (root / ".ci" / "run").read_text().split("# --- the README's test set-up, verbatim ---\n")[1]
    readme = (root / "README.md").read_text()
    block = readme.split("this is what CI runs")[1].split("```bash\n")[1].split("```")[0]
    readme_lines = [line for line in block.splitlines() if "venv" not in line]
    assert [line for line in ci.splitlines() if line.strip()] == readme_lines


def test_no_module_is_over_500_lines():
    """A file per idea: a module past 500 lines holds more than one (issue #12's layout rule)."""
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "torch_mlsd"
    lines = {str(p.relative_to(package)): len(p.read_text().splitlines()) for p in package.rglob("*.py")}
    assert {name: n for name, n in lines.items() if n > 500} == {}
