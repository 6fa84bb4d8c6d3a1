"""MixUp and CutMix on a batch, with a lambda and a box per sample, drawn in one go.

Every sample ``i`` is mixed with a partner ``j`` (``pairing``) and its soft target becomes
``own_i * y_i + (1 - own_i) * y_j``, where ``own_i`` is the share of sample ``i``'s own
pixels in the output:

- MixUp: ``x_i' = lam_i * x_i + (1 - lam_i) * x_j`` and ``own_i = lam_i``.
- CutMix: a box of ``x_j`` is pasted into ``x_i`` and ``own_i = 1 - box_area_i / (H W)``:
  lambda is corrected to the area actually pasted after clipping, per sample.

``lam_i ~ Beta(alpha, alpha)``. With ``per_sample=True`` (the default) every sample gets
its own lambda, box and coin for ``p``; with ``per_sample=False`` one draw serves the
whole batch, as torchvision and timm's ``mode='batch'`` do. Either way the drawing is a
handful of vectorised CPU ops and the images are written in one pass on their device.

Memory: out of place the only batch-sized allocation is the output. With
``inplace=True`` and the default ``roll`` pairing there is none at all (the batch is
processed in blocks from the last row back, each block's partners copied to a small
scratch buffer first), which makes it the fastest mode on a CPU; it is safe inside a
``collate_fn``, where the collated batch is a fresh tensor nobody else holds.

References: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
https://arxiv.org/abs/1710.09412; Yun et al., "CutMix: Regularization Strategy to Train
Strong Classifiers with Localizable Features", ICCV 2019, https://arxiv.org/abs/1905.04899
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .._random import resolve_generator
from .._validate import check_bool, check_choice, check_float, check_int, check_probability, check_tensor
from ._batch import blend, block_rows, box_area, box_keep, check_images
from ._params import Pairing, cutmix_boxes, sample_beta, sample_coins, sample_partner
from ._targets import check_labels, mixed_targets, target_dtype
from ._transform import BatchTransformBase, check_params

__all__ = ["MixParams", "mixup", "cutmix", "MixUp", "CutMix", "MixUpOrCutMix"]

_PAIRINGS: tuple[Pairing, ...] = ("roll", "flip", "random")


@dataclass(frozen=True)
class MixParams:
    """The random part of one MixUp / CutMix call, as drawn by ``sample_params`` (CPU tensors).

    Attributes:
        lam: ``(B,)`` float64 weight of each image's own pixels in the blend (1.0: not
            blended), or ``None`` when no sample of the batch is blended (always for CutMix).
        boxes: ``(B, 4)`` int64 ``(top, left, bottom, right)``, exclusive ends, of the
            region pasted from the partner (an empty box pastes nothing), or ``None`` when
            no sample of the batch gets a box (always for MixUp).
        partner: ``(B,)`` int64 index of each sample's partner, or ``None`` for the
            ``"roll"`` pairing: sample ``i`` takes sample ``i - 1``, sample 0 the last one.
        shape: ``(B, C, H, W)`` of the batch they were drawn for; ``transform`` rejects any
            other batch (``None`` for parameters built by hand).
    """

    lam: Tensor | None
    boxes: Tensor | None
    partner: Tensor | None
    shape: tuple[int, ...] | None = None


class _Policy(NamedTuple):
    mixup_alpha: float | None  # None: never blend
    cutmix_alpha: float | None  # None: never paste
    switch_prob: float  # probability of CutMix when both are on
    p: float
    per_sample: bool
    pairing: Pairing
    num_classes: int | None
    label_smoothing: float

    def draw(self, images: Tensor, generator: torch.Generator) -> MixParams:
        return _sample(check_images(images).shape, self, generator)


def _alpha(name: str, value: float) -> float:
    return check_float(name, value, min=0.0, min_open=True)


def _policy(
    mixup_alpha: float | None, cutmix_alpha: float | None, switch_prob: float, p: float, per_sample: bool,
    pairing: str, num_classes: int | None, label_smoothing: float,
) -> _Policy:
    return _Policy(
        mixup_alpha,
        cutmix_alpha,
        check_probability("switch_prob", switch_prob),
        check_probability("p", p),
        check_bool("per_sample", per_sample),
        check_choice("pairing", pairing, _PAIRINGS),
        check_int("num_classes", num_classes, min=1, allow_none=True),
        check_probability("label_smoothing", label_smoothing),
    )


# -- drawing -------------------------------------------------------------------------------
def _sample(shape: torch.Size, policy: _Policy, generator: torch.Generator) -> MixParams:
    """Draw lambdas, boxes and partners for images of ``shape`` ``(B, C, H, W)``."""
    batch, _, height, width = shape
    n = batch if policy.per_sample else 1
    applied = sample_coins(policy.p, n, generator)
    if policy.mixup_alpha is None:
        use_cutmix = torch.ones(n, dtype=torch.bool)
    elif policy.cutmix_alpha is None:
        use_cutmix = torch.zeros(n, dtype=torch.bool)
    else:
        use_cutmix = sample_coins(policy.switch_prob, n, generator)
    lam = boxes = None  # left out when no sample of this batch blends, or pastes
    if policy.mixup_alpha is not None and not bool(use_cutmix.all()):
        blending = applied & ~use_cutmix
        lam = torch.where(blending, sample_beta(policy.mixup_alpha, n, generator), 1.0).expand(batch)
    if policy.cutmix_alpha is not None and bool(use_cutmix.any()):
        pasting = (applied & use_cutmix).unsqueeze(1)
        boxes = cutmix_boxes(sample_beta(policy.cutmix_alpha, n, generator), height, width, generator) * pasting
        boxes = boxes.expand(batch, 4)
    return MixParams(lam, boxes, sample_partner(batch, policy.pairing, generator), tuple(shape))


# -- applying ------------------------------------------------------------------------------
_Kernel = Callable[[Tensor, Tensor, Tensor, slice], None]
_Weight = Callable[[slice], Tensor]


def _pairwise(kernel: _Kernel, x: Tensor, partner: Tensor | None, inplace: bool, blocks: bool) -> Tensor:
    """Run ``kernel(dst, own, other, rows)`` over the batch, ``other`` being ``x[partner]``.

    ``roll`` (``partner is None``) needs no gathered copy of the batch: ``x[a-1:b-1]`` are
    the partners of ``x[a:b]``. Out of place the kernel reads those views directly. In
    place, blocks of rows are processed from the last to the first, each after copying
    its partner rows (not yet overwritten) into a small scratch buffer, so no batch-sized
    buffer is allocated. Other pairings gather the partners once. With ``blocks`` (and
    always for in-place ``roll``) the rows go in blocks of about 1M elements on the CPU.
    """
    out = x if inplace else torch.empty_like(x)
    n = len(x)
    step = block_rows(x) if blocks or (inplace and partner is None) else max(n, 1)
    if partner is not None:
        other = torch.empty_like(x)
        torch.index_select(x, 0, partner.to(x.device), out=other)
        for a in range(0, n, step):
            kernel(out[a:a + step], x[a:a + step], other[a:a + step], slice(a, a + step))
        return out
    first_partner = x[-1:].clone() if inplace else x[-1:]
    scratch = torch.empty_like(x[:step]) if inplace else None
    for b in range(n, 1, -step):
        a = max(1, b - step)
        other = x[a - 1:b - 1] if scratch is None else scratch[:b - a].copy_(x[a - 1:b - 1])
        kernel(out[a:b], x[a:b], other, slice(a, b))
    kernel(out[:1], x[:1], first_partner, slice(0, 1))
    return out


def _mix_pixels(x: Tensor, partner: Tensor | None, weight: _Weight, blends: bool, inplace: bool, blocks: bool
                ) -> Tensor:
    """``lerp(x[partner], x, weight(rows))`` over the batch (see :func:`._batch.blend`).

    A batch that requires grad (features in manifold mixup) is mixed out of place in one
    differentiable ``lerp``, so gradients flow to both partners.

    Integer tensors that are blended (``blends``: weights other than 0 and 1) are mixed
    in float32 block by block and rounded to the nearest integer, ties to even; pasting
    alone copies their values exactly.
    """
    if x.requires_grad and torch.is_grad_enabled():  # manifold mixup: one differentiable op
        if inplace:
            raise ValueError("`inplace` must be False for a batch that requires grad, got True")
        other = x.roll(1, 0) if partner is None else x.index_select(0, partner.to(x.device))
        return torch.lerp(other, x, weight(slice(0, len(x))))
    in_float = blends and not x.dtype.is_floating_point

    def kernel(dst: Tensor, own: Tensor, other: Tensor, rows: slice) -> None:
        if in_float:
            dst.copy_(torch.lerp(other.float(), own.float(), weight(rows)).round_())
        else:
            blend(dst, own, other, weight(rows))

    return _pairwise(kernel, x, partner, inplace, blocks or in_float)


def _weights(params: MixParams, shape: torch.Size, dtype: torch.dtype, device: torch.device) -> tuple[_Weight, Tensor]:
    """The weight of each sample's own pixels, per block of rows, and of its own label ``(B,)``.

    MixUp: ``lam`` as ``(b, 1, 1, 1)``. With boxes: a ``(b, 1, H, W)`` map, 0 in the box
    and ``lam`` (or 1) elsewhere, built block by block so it never takes batch-sized
    memory. The label weight uses ``lam`` rounded to ``dtype`` as the pixels do, times
    the share of the image left outside the box.
    """
    batch, _, height, width = shape
    own = torch.ones(batch, dtype=torch.float64)
    lam = None
    if params.lam is not None:
        own = own * params.lam.to(dtype).double()
        lam = params.lam.to(device=device, dtype=dtype, non_blocking=True)
    if params.boxes is None:
        w = torch.ones(batch, dtype=dtype, device=device) if lam is None else lam
        return (lambda rows: w[rows].view(-1, 1, 1, 1)), own
    own = own * (1.0 - box_area(params.boxes).double() / (height * width))
    boxes = params.boxes.unsqueeze(1).to(device, non_blocking=True)
    return (lambda rows: box_keep(boxes[rows], height, width, dtype, device, None if lam is None else lam[rows])), own


def _check_params(params: MixParams, images: Tensor) -> None:
    check_params(params, MixParams, images, "images")
    batch = images.shape[0]
    for name, value, shape in (("lam", params.lam, (batch,)), ("boxes", params.boxes, (batch, 4)),
                               ("partner", params.partner, (batch,))):
        if value is not None and tuple(value.shape) != shape:
            raise ValueError(f"`params.{name}` must have shape {shape} for this batch, got {tuple(value.shape)}")


def _check_masks(masks: Tensor | None, images: Tensor, policy: _Policy) -> None:
    if masks is None:
        return
    if policy.mixup_alpha is not None:
        raise ValueError("`masks` can only be carried by CutMix (pasting), got a transform that blends")
    check_tensor("masks", masks, ndim=(3, 4))
    b, _, h, w = images.shape
    if masks.shape[0] != b or tuple(masks.shape[-2:]) != (h, w):
        raise ValueError(f"`masks` must be (B, H, W) or (B, K, H, W) with B, H, W = {b}, {h}, {w}, "
                         f"got shape {tuple(masks.shape)}")


def _apply(
    images: Tensor, labels: Tensor, params: MixParams, num_classes: int, label_smoothing: float,
    masks: Tensor | None, inplace: bool,
) -> tuple[Tensor, ...]:
    """Mix checked inputs with ``params``; ``num_classes`` is the checked ``K``."""
    compute = images.dtype if images.dtype.is_floating_point else torch.float32
    weight, own = _weights(params, images.shape, compute, images.device)
    has_boxes = params.boxes is not None
    out = _mix_pixels(images, params.partner, weight, params.lam is not None, inplace, blocks=has_boxes)
    targets = mixed_targets(labels, own, params.partner, num_classes, label_smoothing, target_dtype(images, labels),
                            images.device)
    if masks is None:
        return out, targets
    mask_weight = weight if masks.ndim == 4 else (lambda rows: weight(rows).squeeze(1))
    return out, targets, _mix_pixels(masks, params.partner, mask_weight, False, inplace, blocks=has_boxes)


def _checked_apply(
    images: Tensor, labels: Tensor, params: MixParams, masks: Tensor | None, policy: _Policy, inplace: bool
) -> tuple[Tensor, ...]:
    """Check the batch against ``params`` and mix it (no tensor value is read back)."""
    check_images(images)
    _check_params(params, images)
    k = check_labels(labels, images.shape[0], policy.num_classes)
    _check_masks(masks, images, policy)
    return _apply(images, labels, params, k, policy.label_smoothing, masks, inplace)


def _run(
    images: Tensor, labels: Tensor, policy: _Policy, masks: Tensor | None, inplace: bool,
    generator: torch.Generator | None,
) -> tuple[Tensor, ...]:
    params = policy.draw(images, resolve_generator(generator, "cpu"))
    return _checked_apply(images, labels, params, masks, policy, inplace)


# -- functional forms ------------------------------------------------------------------------
def mixup(
    images: Tensor,
    labels: Tensor,
    *,
    num_classes: int | None = None,
    alpha: float = 1.0,
    p: float = 1.0,
    per_sample: bool = True,
    pairing: Pairing = "roll",
    label_smoothing: float = 0.0,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """MixUp a batch: ``x_i' = lam_i * x_i + (1 - lam_i) * x_j``, targets mixed alike.

    Args:
        images: ``(B, C, H, W)`` floating or uint8 tensor, any device, contiguous or
            channels-last. uint8 is blended in float32 and rounded back to uint8.
        labels: ``(B,)`` integer class ids or ``(B, K)`` soft labels (any numeric dtype).
        num_classes: ``K``; required for class ids, checked against soft labels.
        alpha: ``lam ~ Beta(alpha, alpha)``, ``alpha > 0`` (default 1.0 as torchvision and
            the paper's CIFAR code; timm uses 0.8).
        p: probability that a sample is mixed (per sample, or once for the batch with
            ``per_sample=False``); an unmixed sample keeps its image and label but may
            still be another sample's partner.
        per_sample: one lambda and coin per sample (default) or one for the batch.
        pairing: partner ``j`` of sample ``i``: ``"roll"`` (default, torchvision's:
            ``j = i - 1``, wrapping; any batch size, no self-pairs from ``B = 2``, fastest),
            ``"flip"`` (timm's: ``j = B - 1 - i``; the middle of an odd batch pairs with
            itself) or ``"random"`` (a random permutation; may pair a sample with itself).
        label_smoothing: ``eps`` in ``[0, 1]``; each label becomes ``y (1 - eps) + eps / K``
            before mixing (default 0.0; timm uses 0.1).
        inplace: write the result into ``images`` (returned) instead of a new tensor.
        generator: CPU ``torch.Generator`` for the draws (default: fresh OS entropy).

    Returns:
        ``(images, targets)``: mixed images of the input's shape, dtype, device and
        memory format, and ``(B, K)`` soft targets on the images' device in float32 (float64
        when the images or soft labels are float64; never a half dtype). Each target row
        has the mass of the rows mixed into it, so 1 for class ids.

    Example:
        >>> x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])
        >>> xm, t = mixup(x, y, num_classes=3, generator=torch.Generator().manual_seed(0))
        >>> xm.shape, t.shape, torch.allclose(t.sum(1), torch.ones(4))
        (torch.Size([4, 3, 8, 8]), torch.Size([4, 3]), True)
    """
    policy = _policy(_alpha("alpha", alpha), None, 0.0, p, per_sample, pairing, num_classes, label_smoothing)
    images, targets = _run(images, labels, policy, None, check_bool("inplace", inplace), generator)
    return images, targets


def cutmix(
    images: Tensor,
    labels: Tensor,
    *,
    num_classes: int | None = None,
    alpha: float = 1.0,
    p: float = 1.0,
    per_sample: bool = True,
    pairing: Pairing = "roll",
    label_smoothing: float = 0.0,
    masks: Tensor | None = None,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ...]:
    """CutMix a batch: paste a box of the partner into each image, lambda corrected per sample.

    The box has sides ``floor(H sqrt(1 - lam))`` x ``floor(W sqrt(1 - lam))`` with
    ``lam ~ Beta(alpha, alpha)``, its centre uniform over the pixels, clipped to the image;
    the target weight of a sample's own label is ``1 - pasted_area / (H W)``.

    Args:
        masks: optional ``(B, H, W)`` or ``(B, K, H, W)`` segmentation masks (any dtype),
            pasted with the same boxes and partners.
        Others: as :func:`mixup`. uint8 images stay uint8 exactly (pixels are copied).

    Returns:
        ``(images, targets)``, or ``(images, targets, masks)`` when ``masks`` is given.

    Example:
        >>> x = torch.zeros(2, 1, 4, 4); x[1] = 1
        >>> xm, t = cutmix(x, torch.tensor([0, 1]), num_classes=2, generator=torch.Generator().manual_seed(3))
        >>> bool(torch.allclose(xm.mean(dim=(1, 2, 3)), t[:, 1]))  # pasted area == target weight
        True
    """
    policy = _policy(None, _alpha("alpha", alpha), 1.0, p, per_sample, pairing, num_classes, label_smoothing)
    return _run(images, labels, policy, masks, check_bool("inplace", inplace), generator)


# -- module forms --------------------------------------------------------------------------
# The three modules differ only in their settings: they share these methods.
def _transform_method(
    self: BatchTransformBase, images: Tensor, labels: Tensor, params: MixParams, masks: Tensor | None = None
) -> tuple[Tensor, ...]:
    """Mix with parameters from :meth:`sample_params` (deterministic; CPU and CUDA agree).

    Reads no tensor value back to the host (the class-id range check is a device-side
    assertion), so ``torch.compile(fullgraph=True)`` traces it whole. ``params`` must have
    been drawn for a batch of this shape.
    """
    return _checked_apply(images, labels, params, masks, self.policy, self.inplace)  # type: ignore[arg-type]  # the class attribute's policy type is the family's, narrowed per class


def _forward_method(self: BatchTransformBase, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(images (B, C, H, W), labels (B,) or (B, K))`` -> ``(mixed images, (B, K) targets)``."""
    out, targets = self.transform(images, labels, self.sample_params(images))
    return out, targets


class MixUp(BatchTransformBase):
    """MixUp as a batch transform (module form of :func:`mixup`, whose arguments it takes).

    Call it as ``images, targets = mix(images, labels)`` on a batch on any device, or in
    a DataLoader ``collate_fn`` (see :class:`torch_mlsd.augment.BatchTransformCollate`).
    Each call draws new parameters; ``sample_params`` + ``transform`` split the two steps.

    Args:
        seed: int for a reproducible stream per DataLoader worker and rank (``0`` is a
            seed like any other); ``None`` (default) draws fresh entropy. With workers that
            are not persistent call ``set_epoch(epoch)`` before each epoch.

    Example:
        >>> mix = MixUp(num_classes=10, seed=0)
        >>> images, targets = mix(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> targets.shape
        torch.Size([8, 10])
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        alpha: float = 1.0,
        p: float = 1.0,
        per_sample: bool = True,
        pairing: Pairing = "roll",
        label_smoothing: float = 0.0,
        inplace: bool = False,
        seed: int | None = None,
    ) -> None:
        policy = _policy(_alpha("alpha", alpha), None, 0.0, p, per_sample, pairing, num_classes, label_smoothing)
        super().__init__(policy, inplace=inplace, seed=seed)

    transform = _transform_method
    forward = _forward_method


class CutMix(BatchTransformBase):
    """CutMix as a batch transform (module form of :func:`cutmix`, whose arguments it takes).

    ``images, targets = cut(images, labels)``, or with segmentation masks
    ``images, targets, masks = cut(images, labels, masks)``.

    Args:
        seed: as :class:`MixUp`.

    Example:
        >>> cut = CutMix(num_classes=10, seed=0)
        >>> images, targets, masks = cut(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)),
        ...                              torch.randint(0, 5, (8, 32, 32)))
        >>> masks.shape
        torch.Size([8, 32, 32])
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        alpha: float = 1.0,
        p: float = 1.0,
        per_sample: bool = True,
        pairing: Pairing = "roll",
        label_smoothing: float = 0.0,
        inplace: bool = False,
        seed: int | None = None,
    ) -> None:
        policy = _policy(None, _alpha("alpha", alpha), 1.0, p, per_sample, pairing, num_classes, label_smoothing)
        super().__init__(policy, inplace=inplace, seed=seed)

    transform = _transform_method

    def forward(self, images: Tensor, labels: Tensor, masks: Tensor | None = None) -> tuple[Tensor, ...]:
        """``(images, labels[, masks])`` -> ``(images, targets[, masks])``."""
        return self.transform(images, labels, self.sample_params(images), masks)


class MixUpOrCutMix(BatchTransformBase):
    """MixUp or CutMix, chosen per sample (or per batch) with probability ``switch_prob`` for CutMix.

    The defaults are timm's ``Mixup``: ``mixup_alpha=0.8``, ``cutmix_alpha=1.0``,
    ``switch_prob=0.5`` (timm also smooths labels by 0.1; here ``label_smoothing`` defaults
    to 0.0). With ``per_sample=True`` (default) every sample flips its own coin, like
    timm's ``mode='elem'`` but in one vectorised pass; other arguments as :func:`mixup`.

    Args:
        seed: as :class:`MixUp`.

    Example:
        >>> mix = MixUpOrCutMix(num_classes=10, seed=0)
        >>> images, targets = mix(torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,)))
        >>> bool(torch.allclose(targets.sum(1), torch.ones(8)))
        True
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
        p: float = 1.0,
        per_sample: bool = True,
        pairing: Pairing = "roll",
        label_smoothing: float = 0.0,
        inplace: bool = False,
        seed: int | None = None,
    ) -> None:
        policy = _policy(_alpha("mixup_alpha", mixup_alpha), _alpha("cutmix_alpha", cutmix_alpha), switch_prob, p,
                         per_sample, pairing, num_classes, label_smoothing)
        super().__init__(policy, inplace=inplace, seed=seed)

    transform = _transform_method
    forward = _forward_method
