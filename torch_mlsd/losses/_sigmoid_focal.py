"""Fused sigmoid focal loss: value and closed-form gradient in one sweep over cache-sized blocks.

Per element, with logit x, target t in [0, 1], s = sigmoid(x), s' = 1 - s = sigmoid(-x):

    m    = 1 - p_t = (1 - t) s + t s'                       (mass on the wrong side)
    ce   = (1 - t) softplus(x) + pw t softplus(-x)          (BCE with logits, pos_weight pw)
    a    = alpha t + (1 - alpha)(1 - t)                     (torchvision's alpha_t; 1 if off)
    loss = a m^gamma ce
    dloss/dx = a [gamma m^(gamma-1) m' ce + m^gamma ce'],   m' = (1 - 2t) s s',
                                                             ce' = (1 - t) s - pw t s'

s and s' are each computed directly (never as 1 - the other) and ce from softplus, so the
value keeps full relative precision for confident predictions and stays finite at logits
of +-1e4. m^(gamma-1) is evaluated at max(m, tiny): m = 0 only for a hard target predicted
with saturated confidence, where m' = 0 as well, so gamma < 1 gives a zero gradient there
instead of inf * 0.

Autograd would keep about ten full-size intermediates alive for the backward pass and pay
for fresh full-size allocations; here the forward pass walks the ``(N, K)`` view in blocks of
fewer than 32768 elements, whose scratch buffers stay in cache and are reused, writes the
gradient once into a buffer of the input's size, and the backward pass only scales it. On
the CPU a block is below ATen's intra-op grain size, so every op runs inline on the calling
thread: no thread-pool round trip per op, which on a busy machine costs more than the op.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from torch_mlsd.losses._common import compute_dtype

__all__ = ["sigmoid_focal", "SigmoidFocalFunction"]

_CPU_BLOCK = (1 << 15) - 1  # elements; ATen runs elementwise ops on < 32768 elements serially
_DEVICE_BLOCK = 1 << 22  # on accelerators blocks only bound the scratch memory (~10 x 16 MB)


class _Scratch:
    """Block-sized float buffers, allocated once per call and reused for every block."""

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device) -> None:
        self.size, self.dtype, self.device = size, dtype, device
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: torch.Size) -> torch.Tensor:
        if name not in self._buffers:
            self._buffers[name] = torch.empty(self.size, dtype=self.dtype, device=self.device)
        return self._buffers[name][: math.prod(shape)].view(shape)


def _blocks(rows: int, cols: int, block: int) -> Iterator[tuple[slice, slice]]:
    """(row, column) slices of an ``(rows, cols)`` array into contiguous blocks of <= ``block`` elements."""
    if cols <= block:
        step = block // max(cols, 1)
        for start in range(0, rows, step):
            yield slice(start, start + step), slice(None)
    else:
        for row in range(rows):
            for start in range(0, cols, block):
                yield slice(row, row + 1), slice(start, start + block)


def sigmoid_focal(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float,
    alpha: float | None,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    reduction: str,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sigmoid focal loss and, if ``need_grad``, d(output)/d(input) for a unit upstream gradient.

    ``input``/``target`` have one shape; ``pos_weight`` is ``(1, K)`` and ``weight`` is
    ``(N, 1)`` or ``(N, K)`` for the ``(N, K)`` view (both in the compute dtype) or None.
    ``'mean'`` divides by the sum of ``weight`` over all elements (the element count without
    it). The gradient has ``input``'s shape and dtype; for ``'none'`` it is elementwise.
    """
    dtype = compute_dtype(input.dtype)
    rows = input.shape[0] if input.ndim else 1
    cols = math.prod(input.shape[1:])
    x2 = input.detach().reshape(rows, cols)
    t2 = target.reshape(rows, cols)
    if torch.compiler.is_compiling():
        block = max(rows * cols, 1)  # one block: the compiler fuses the whole sweep itself
    else:
        block = _CPU_BLOCK if input.device.type == "cpu" else _DEVICE_BLOCK
    scratch = _Scratch(min(block, max(x2.numel(), 1)), dtype, input.device)
    grad = torch.empty(input.shape, dtype=input.dtype, device=input.device) if need_grad else None
    out = torch.empty(input.shape, dtype=dtype, device=input.device) if reduction == "none" else None
    scale = _mean_scale(weight, input.numel(), cols, dtype, input.device) if reduction == "mean" else None
    partial_sums = []
    for r, c in _blocks(rows, cols, block):
        x = _as(x2[r, c], dtype, scratch, "x")
        t = _as(t2[r, c], dtype, scratch, "t")
        pw = pos_weight.expand(1, cols)[:, c] if pos_weight is not None else None
        w = (weight[r] if weight.shape[1] == 1 else weight[r, c]) if weight is not None else None
        loss, g = _block(x, t, gamma, alpha, pw, scratch, need_grad)
        if w is not None:
            loss.mul_(w)
        if out is not None:
            out.view(rows, cols)[r, c].copy_(loss)
        else:
            partial_sums.append(loss.sum())
        if g is not None and grad is not None:
            if w is not None:
                g.mul_(w)
            torch.mul(g, scale if scale is not None else 1.0, out=grad.view(rows, cols)[r, c])
    if out is not None:
        return out, grad
    total = torch.stack(partial_sums).sum() if partial_sums else torch.zeros((), dtype=dtype, device=input.device)
    return (total * scale if scale is not None else total), grad


def _mean_scale(
    weight: torch.Tensor | None, numel: int, cols: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """1 / (number of elements, or total weight over all elements), as a 0-dim tensor (no sync)."""
    if weight is None:
        return torch.tensor(1.0 / numel if numel else math.nan, dtype=dtype, device=device)
    total = weight.sum() * (cols if weight.shape[1] == 1 else 1)
    return total.reciprocal()


def _as(block: torch.Tensor, dtype: torch.dtype, scratch: _Scratch, name: str) -> torch.Tensor:
    """The block in ``dtype``: itself when it already is, else a copy into a scratch buffer."""
    if block.dtype == dtype:
        return block
    return scratch.get(name, block.shape).copy_(block)


def _block(
    x: torch.Tensor,
    t: torch.Tensor,
    gamma: float,
    alpha: float | None,
    pos_weight: torch.Tensor | None,
    scratch: _Scratch,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Elementwise loss and gradient of one block (see the module docstring for the formulas)."""
    shape = x.shape
    s = torch.sigmoid(x, out=scratch.get("s", shape))
    s_c = torch.neg(x, out=scratch.get("s_c", shape))
    # softplus(+-x) = relu(+-x) + softplus(-|x|): one softplus for both signs, no cancellation.
    log_term = F.softplus(torch.minimum(x, s_c, out=scratch.get("log_term", shape)))
    ce_pos = torch.clamp(s_c, min=0.0, out=scratch.get("ce_pos", shape)).add_(log_term)  # softplus(-x) = -log s
    ce = torch.clamp(x, min=0.0, out=scratch.get("ce", shape)).add_(log_term)  # softplus(x) = -log(1 - s)
    s_c.sigmoid_()  # s' = sigmoid(-x)
    if pos_weight is not None:
        ce_pos.mul_(pos_weight)
    ce.lerp_(ce_pos, t)
    m = torch.lerp(s, s_c, t, out=scratch.get("m", shape))
    m_pow_minus_1 = _power_minus_one(m, gamma, scratch)
    if gamma == 0:
        loss = ce
    elif gamma == 1:
        loss = torch.mul(ce, m, out=ce_pos)
    else:
        assert m_pow_minus_1 is not None  # gamma not in (0, 1)
        loss = torch.mul(m, m_pow_minus_1, out=ce_pos).mul_(ce)
    a_t = None
    if alpha is not None:
        a_t = torch.mul(t, 2.0 * alpha - 1.0, out=scratch.get("a_t", shape)).add_(1.0 - alpha)
        loss.mul_(a_t)
    if not need_grad:
        return loss, None
    if gamma:
        dm_ce = torch.mul(s, s_c, out=scratch.get("dm_ce", shape))
        dm_ce.addcmul_(t, dm_ce, value=-2.0).mul_(ce)  # m' ce = (1 - 2t) s s' ce
    if pos_weight is None:
        s_c.neg_()
    else:
        s_c.mul_(-pos_weight)
    grad = s.lerp_(s_c, t)  # ce' = (1 - t) s - pw t s'
    if gamma:
        grad.mul_(m).add_(dm_ce, alpha=gamma)  # m ce' + gamma m' ce
        if m_pow_minus_1 is not None:
            grad.mul_(m_pow_minus_1)  # m^(gamma-1) (m ce' + gamma m' ce)
    if a_t is not None:
        grad.mul_(a_t)
    return loss, grad


def _power_minus_one(m: torch.Tensor, gamma: float, scratch: _Scratch) -> torch.Tensor | None:
    """m^(gamma - 1), finite at m = 0 (see module docstring); None when it is 1 or unused."""
    if gamma in (0, 1):
        return None
    if gamma == 2:
        return m
    base = torch.clamp(m, min=torch.finfo(m.dtype).tiny, out=scratch.get("m_pow_minus_1", m.shape))
    return base.pow_(gamma - 1.0)


class SigmoidFocalFunction(torch.autograd.Function):
    """Autograd wrapper: the forward pass computes the gradient, the backward pass scales it.

    In eager mode the first backward pass scales the stored gradient in place and hands it
    over (no full-size copy, no read of the upstream gradient); a second backward pass
    through a retained graph recomputes it from the saved inputs. Under ``torch.compile``
    the gradient is saved and scaled out of place, which the compiler fuses.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input: torch.Tensor,
        target: torch.Tensor,
        gamma: float,
        alpha: float | None,
        pos_weight: torch.Tensor | None,
        weight: torch.Tensor | None,
        reduction: str,
    ) -> torch.Tensor:
        value, grad = sigmoid_focal(
            input, target, gamma=gamma, alpha=alpha, pos_weight=pos_weight, weight=weight,
            reduction=reduction, need_grad=True,
        )
        ctx.compiled = torch.compiler.is_compiling()
        if ctx.compiled:
            ctx.save_for_backward(grad)
        else:
            ctx.save_for_backward(input, target, pos_weight, weight)  # read only by a second backward
            ctx.options = {"gamma": gamma, "alpha": alpha, "reduction": reduction}
            ctx.unit_grad = grad  # an intermediate, not an input or output: no reference cycle
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.compiled:
            (grad,) = ctx.saved_tensors
            return grad * grad_output, None, None, None, None, None, None
        grad, ctx.unit_grad = ctx.unit_grad, None
        if grad is None:  # a second backward through a retained graph
            input, target, pos_weight, weight = ctx.saved_tensors
            _, grad = sigmoid_focal(input, target, pos_weight=pos_weight, weight=weight, need_grad=True, **ctx.options)
        return grad.mul_(grad_output), None, None, None, None, None, None
