"""Vectorised draws shared by the image augmentations, all from an explicit CPU generator.

Every function draws for a whole batch at once (no Python loop over samples) and returns
small CPU tensors; the transforms move them to the images' device when they apply them.
Boxes are int64 ``(top, left, bottom, right)`` rows with exclusive ends; an empty box
(``top == bottom`` or ``left == right``) touches nothing.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "Pairing",
    "sample_beta",
    "sample_coins",
    "sample_partner",
    "cutmix_boxes",
    "erasing_boxes",
    "cutout_boxes",
]

Pairing = Literal["roll", "flip", "random"]


def _log_gamma_variates(shape: float, n: int, generator: torch.Generator) -> Tensor:
    """``log`` of ``n`` Gamma(shape, 1) variates, float64 (Marsaglia and Tsang, 2000).

    Each round draws a few more candidates than still needed (more than 95% of them are
    accepted) and keeps the accepted ones in order, so one round nearly always suffices.
    For ``shape < 1`` a Gamma(shape + 1) variate is scaled by ``U ** (1 / shape)`` (their
    boost), added in log space so that tiny shapes do not underflow to 0.
    """
    boost = shape < 1.0
    d = (shape + 1.0 if boost else shape) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    parts, need = [], n
    while need > 0:
        m = need + need // 16 + 16
        z = torch.randn(m, dtype=torch.float64, generator=generator)
        log_u = torch.rand(m, dtype=torch.float64, generator=generator).log_()
        v = (1.0 + c * z).pow_(3)
        log_v = v.clamp(min=1e-300).log_()
        ok = (v > 0) & (log_u < 0.5 * z * z + d - d * v + d * log_v)
        accepted = log_v[ok][:need]
        parts.append(accepted)
        need -= len(accepted)
    out = torch.cat(parts).add_(math.log(d))
    if boost:  # U in (0, 1]: log U is finite
        out += torch.rand(n, dtype=torch.float64, generator=generator).neg_().log1p_() / shape
    return out


def sample_beta(alpha: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` draws of Beta(alpha, alpha) as float64 in ``[0, 1]``.

    ``X / (X + Y)`` with ``X, Y ~ Gamma(alpha)``, computed as ``sigmoid(log X - log Y)``;
    ``torch.distributions.Beta`` cannot take a generator, this can. Beta(1, 1), the
    default of MixUp and CutMix, is the uniform distribution and is drawn as such.
    """
    if alpha == 1.0:
        return torch.rand(n, dtype=torch.float64, generator=generator)
    log_xy = _log_gamma_variates(alpha, 2 * n, generator)
    return torch.sigmoid(log_xy[:n] - log_xy[n:])


def sample_coins(p: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` independent booleans, each True with probability ``p`` (exactly never at 0, always at 1)."""
    return torch.rand(n, dtype=torch.float64, generator=generator) < p


def sample_partner(batch_size: int, pairing: Pairing, generator: torch.Generator) -> Tensor | None:
    """Index of the image each sample is mixed with; ``None`` means ``roll``: sample ``i``
    takes sample ``i - 1`` and sample 0 takes the last one (torchvision's pairing)."""
    if pairing == "roll":
        return None
    if pairing == "flip":
        return torch.arange(batch_size - 1, -1, -1)
    return torch.randperm(batch_size, generator=generator)


def _randint_below(high: Tensor, generator: torch.Generator) -> Tensor:
    """One uniform integer in ``[0, high)`` per entry of the int64 tensor ``high >= 1``."""
    u = torch.rand(high.shape, dtype=torch.float64, generator=generator)
    return torch.minimum((u * high).long(), high - 1)


def cutmix_boxes(lam: Tensor, height: int, width: int, generator: torch.Generator) -> Tensor:
    """CutMix boxes ``(n, 4)`` for the mixing weights ``lam`` ``(n,)`` (timm's geometry).

    The box has sides ``floor(H * sqrt(1 - lam))`` by ``floor(W * sqrt(1 - lam))``, its
    centre uniform over the pixels, and is clipped to the image, so its area can be
    smaller than ``(1 - lam) * H * W``: the caller corrects lambda to the area pasted.
    """
    cut = torch.sqrt(1.0 - lam)
    cut_h = torch.floor(height * cut).long()
    cut_w = torch.floor(width * cut).long()
    centre = torch.rand((len(lam), 2), dtype=torch.float64, generator=generator)
    cy = torch.floor(centre[:, 0] * height).long().clamp(max=height - 1)
    cx = torch.floor(centre[:, 1] * width).long().clamp(max=width - 1)
    top, left = cy - cut_h // 2, cx - cut_w // 2
    box = torch.stack([top, left, top + cut_h, left + cut_w], dim=1)
    return _clip(box, height, width)


def erasing_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
    attempts: int = 10,
) -> Tensor:
    """RandomErasing boxes ``(n, 4)`` drawn as torchvision draws them, for all samples at once.

    Per sample, up to ``attempts`` candidates: area ``U(scale) * H * W``, aspect ratio
    ``h / w = exp(U(log ratio))``, ``h = round(sqrt(area * ratio))``,
    ``w = round(sqrt(area / ratio))``; the first with ``h < H`` and ``w < W`` is placed
    with its top-left corner uniform over the positions where it fits. A sample whose
    candidates all fail gets an empty box (torchvision then leaves the image unchanged).
    """
    u = torch.rand((n, attempts, 2), dtype=torch.float64, generator=generator)
    area = height * width * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
    h = torch.round(torch.sqrt(area * aspect)).long()
    w = torch.round(torch.sqrt(area / aspect)).long()
    fits = (h < height) & (w < width)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # first True, 0 when none
    found = fits.any(dim=1)
    h = h.gather(1, first).squeeze(1) * found
    w = w.gather(1, first).squeeze(1) * found
    top = _randint_below(height - h + 1, generator)
    left = _randint_below(width - w + 1, generator)
    return torch.stack([top, left, top + h, left + w], dim=1)


def cutout_boxes(n: int, holes: int, height: int, width: int, length: int, generator: torch.Generator) -> Tensor:
    """Cutout squares ``(n, holes, 4)``: side ``length``, centre uniform over the pixels, clipped."""
    centre = torch.rand((n, holes, 2), dtype=torch.float64, generator=generator)
    top = torch.floor(centre[..., 0] * height).long().clamp(max=height - 1) - length // 2
    left = torch.floor(centre[..., 1] * width).long().clamp(max=width - 1) - length // 2
    return _clip(torch.stack([top, left, top + length, left + length], dim=-1), height, width)


def _clip(box: Tensor, height: int, width: int) -> Tensor:
    limits = torch.tensor([height, width, height, width])
    return torch.minimum(box.clamp(min=0), limits)
