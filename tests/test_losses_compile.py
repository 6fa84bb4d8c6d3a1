"""Every loss compiles whole (``torch.compile(fullgraph=True)``, aot_eager and inductor on the
CPU) and matches eager mode in value and gradient; per-call checks survive compilation.

Run alone with ``pytest -m compile``. Small shapes; dynamo is reset around every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from torch_mlsd.losses import (
    BalancedSoftmaxLoss,
    BinaryFocalLoss,
    CrossEntropyLoss,
    FocalLoss,
    LogitAdjustedLoss,
    binary_focal_loss,
    focal_loss,
)

pytestmark = pytest.mark.compile

N, C = 8, 5
BACKENDS = ["aot_eager", "inductor"]
# float32 on both sides; inductor may fuse and reorder the few reductions
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _vector(*values: float) -> torch.Tensor:
    return torch.tensor(values)


MODULES: dict[str, tuple[Callable[[], torch.nn.Module], bool]] = {
    # name: (make the module, binary targets?)
    "CrossEntropyLoss": (
        lambda: CrossEntropyLoss(weight=_vector(1.0, 2.0, 0.5, 1.5, 1.0), ignore_index=-1, label_smoothing=0.1),
        False,
    ),
    "FocalLoss": (
        lambda: FocalLoss(gamma=2.0, alpha=_vector(0.25, 0.75, 0.5, 0.5, 1.0), weight=_vector(1.0, 2.0, 0.5, 1.5, 1.0), ignore_index=-1),
        False,
    ),
    "BinaryFocalLoss": (lambda: BinaryFocalLoss(gamma=2.0, alpha=0.25, pos_weight=_vector(1.0, 3.0, 1.0, 2.0, 1.0)), True),
    "LogitAdjustedLoss": (lambda: LogitAdjustedLoss(class_counts=[60, 25, 10, 4, 1], tau=1.0, ignore_index=-1), False),
    "BalancedSoftmaxLoss": (lambda: BalancedSoftmaxLoss(class_counts=[60, 25, 10, 4, 1], ignore_index=-1), False),
}


def _batch(binary: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, generator=g) * 2
    if binary:
        target = (torch.rand(N, C, generator=g) < 0.3).float()
    else:
        target = torch.randint(0, C, (N,), generator=g)
        target[::4] = -1  # ignored
    sample_weight = torch.rand(N, generator=g) + 0.5
    return x, target, sample_weight


def _value_and_grad(loss_fn: Callable[..., torch.Tensor], x: torch.Tensor, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_()
    value = loss_fn(x, *args)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(MODULES))
def test_module_compiles_whole_and_matches_eager(name, backend):
    make, binary = MODULES[name]
    loss_fn = make()
    x, target, sample_weight = _batch(binary)

    def step(x: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor) -> torch.Tensor:
        return loss_fn(x, target, sample_weight=sample_weight)

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    for seed in (0, 1):  # the second batch reuses the graph
        x, target, sample_weight = _batch(binary, seed)
        value, grad = _value_and_grad(compiled, x, target, sample_weight)
        eager_value, eager_grad = _value_and_grad(step, x, target, sample_weight)
        torch.testing.assert_close(value, eager_value, **TOLERANCE)
        torch.testing.assert_close(grad, eager_grad, **TOLERANCE)
        assert bool(grad.abs().sum() > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_functional_checks_run_inside_the_compiled_graph(backend):
    """Tensors passed per call are checked by device-side asserts, which compile: the
    compiled graph raises ``RuntimeError`` with the same message."""

    def step(x, target, alpha, weight, binary_target, pos_weight):
        softmax = focal_loss(x, target, alpha=alpha, weight=weight, ignore_index=-1)
        return softmax + binary_focal_loss(x, binary_target, pos_weight=pos_weight)

    x, target, _ = _batch(False)
    _, binary_target, _ = _batch(True)
    alpha, weight, pos_weight = _vector(0.25, 0.75, 0.5, 0.5, 1.0), torch.ones(C), torch.full((C,), 2.0)
    good = (target, alpha, weight, binary_target, pos_weight)
    compiled = torch.compile(step, fullgraph=True, backend=backend)
    value, grad = _value_and_grad(compiled, x, *good)
    eager_value, eager_grad = _value_and_grad(step, x, *good)
    torch.testing.assert_close(value, eager_value, **TOLERANCE)
    torch.testing.assert_close(grad, eager_grad, **TOLERANCE)

    bad_target = target.clone()
    bad_target[1] = C
    bad_binary = binary_target.clone()
    bad_binary[0, 0] = -1.0
    for args, match in [
        ((bad_target, alpha, weight, binary_target, pos_weight), r"`target` must hold class ids in \[0, 5\) or ignore_index=-1"),
        ((target, -alpha, weight, binary_target, pos_weight), r"`alpha` must be >= 0"),
        ((target, alpha, torch.zeros(C), binary_target, pos_weight), r"`weight` must have at least one positive entry"),
        ((target, alpha, weight, bad_binary, pos_weight), r"`target` must hold values in \[0, 1\]"),
        ((target, alpha, weight, binary_target, -pos_weight), r"`pos_weight` must be >= 0"),
    ]:
        with pytest.raises(RuntimeError, match=match):
            compiled(x, *args)
