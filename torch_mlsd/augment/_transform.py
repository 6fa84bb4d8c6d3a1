"""The one base of the batch transforms: a policy, a per-process random stream, drawn params.

Every batch transform splits a call in two, as torchvision's ``v2`` transforms do:
``sample_params`` draws the random part on the CPU (a few numbers per sample, outside any
``torch.compile`` graph), and ``transform`` writes the batch with those parameters, reading
no tensor value back to the host, so it traces into one graph. Parameters remember the
shape of the batch they were drawn for, and ``transform`` rejects any other batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._random import resolve_generator
from .._validate import check_bool
from ._seeding import ProcessGenerator

__all__ = ["BatchTransformBase", "check_params"]


def check_params(params: Any, kind: type[Any], batch: Tensor, name: str) -> None:
    """``params`` must be a ``kind`` drawn for a batch of ``batch``'s shape (``name``: the batch argument).

    ``params.shape`` is the shape ``sample_params`` saw (``None`` for parameters built by
    hand, whose fields the caller checks). Only shapes are compared: no value is read.
    """
    if not isinstance(params, kind):
        raise TypeError(f"`params` must be {kind.__name__}, got {type(params).__name__}")
    drawn = params.shape
    if drawn is not None and tuple(drawn) != tuple(batch.shape):
        raise ValueError(
            f"`params` must be drawn for `{name}` of shape {tuple(batch.shape)}, "
            f"got params drawn for shape {tuple(drawn)}"
        )


class BatchTransformBase(nn.Module):
    """A batch transform: its ``policy`` (checked settings), ``inplace`` and a ``seed``-ed stream.

    The policy is a named tuple with ``draw(batch, generator, **context)`` (the random
    part, on CPU generators); subclasses add ``transform`` (deterministic, compilable) and
    ``forward`` (``transform`` of fresh ``sample_params``).
    """

    # ``transform(batch, ..., params)``: torchvision v2's name for the deterministic step (not
    # ``apply``, which would shadow ``nn.Module.apply(fn)``); each transform has its own signature.
    transform: Callable[..., Any]

    def __init__(self, policy: NamedTuple, *, inplace: bool, seed: int | None) -> None:
        super().__init__()
        self.policy = policy
        self.inplace = check_bool("inplace", inplace)
        self.rng = ProcessGenerator(seed)

    def set_epoch(self, epoch: int) -> None:
        """Restart the random stream from ``(seed, epoch, worker, rank)`` (see ``seed``)."""
        self.rng.set_epoch(epoch)

    @torch.compiler.disable
    def sample_params(self, batch: Tensor, *, generator: torch.Generator | None = None, **context: Any) -> Any:
        """Draw the parameters for a batch like ``batch`` (only its shape is read; for
        masking, ``lengths=`` too).

        ``generator`` (a CPU ``torch.Generator``) overrides the module's own stream. Drawing
        stays outside ``torch.compile`` graphs; :meth:`transform` compiles whole.
        """
        stream = self.rng.get() if generator is None else resolve_generator(generator, "cpu")
        return self.policy.draw(batch, stream, **context)  # type: ignore[attr-defined]  # every policy defines draw; the base holds no policy type

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.policy._asdict().items())
        return f"{fields}, inplace={self.inplace}, seed={self.rng.seed}"
