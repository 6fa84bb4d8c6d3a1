"""SpecAugment time and frequency masking, drawn independently for every example of a batch.

Each mask is an interval ``[start, start + width)`` along the frequency or the time axis.
Widths and starts are drawn exactly as torchaudio's ``mask_along_axis_iid`` draws them
(``TimeMasking`` / ``FrequencyMasking`` with ``iid_masks=True``)::

    max_width = min(mask_param, floor(size * max_proportion))
    v = U[0, 1) * max_width                   # a real number
    width = floor(v)                          # uniform on {0, ..., max_width - 1}
    start = floor(U[0, 1) * (size - v))

where ``size`` is the number of frequency bins, or for time masks the number of real
frames of each example (``lengths``) so that a padded batch is masked only where it has
data. Where ``mask_param`` exceeds the axis, torchaudio (with ``p=1.0``) lets the width
exceed it too and clips the mask; here the width is bounded by the axis or the length.
(A property of these draws, kept from torchaudio: since ``v`` is real, a mask never
covers the last frame or bin.) All examples (and channels with ``per_channel=True``) get
their own masks, drawn in one vectorised call; the masked batch is written in one pass.

``p`` everywhere here is the probability that an example is masked; torchaudio's ``p``
(SpecAugment's upper bound on a time mask's share of the frames) is ``max_proportion``.
Inside a ``collate_fn`` pass ``inplace=True``: the collated batch is new anyway, and a
fresh output costs more than the masking itself.

Reference: Park et al., "SpecAugment: A Simple Data Augmentation Method for Automatic
Speech Recognition", Interspeech 2019, https://arxiv.org/abs/1904.08779
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .._random import resolve_generator
from .._validate import assert_values, check_bool, check_choice, check_float, check_int, check_probability, check_tensor
from ._batch import block_rows
from ._transform import BatchTransformBase, check_params

__all__ = [
    "AxisMasks",
    "MaskParams",
    "time_mask",
    "frequency_mask",
    "spec_augment",
    "TimeMasking",
    "FrequencyMasking",
    "SpecAugment",
]

MaskValue = float | Literal["mean"]


class AxisMasks(NamedTuple):
    """Mask intervals along one axis: ``[start, start + width)``.

    Both are int64 tensors of shape ``(B, C', K)``: batch, channels (``C' = C`` with
    ``per_channel=True``, else 1) and masks per example. A width of 0 masks nothing.
    """

    start: Tensor
    width: Tensor


@dataclass(frozen=True)
class MaskParams:
    """The random part of one masking call, as drawn by ``sample_params`` (on the batch's device).

    Attributes:
        time: the time masks.
        freq: the frequency masks.
        shape: ``(B, C, F, T)`` of the batch they were drawn for (``(B, 1, F, T)`` for a
            ``(B, F, T)`` batch); ``transform`` rejects any other batch (``None`` for
            parameters built by hand).
    """

    time: AxisMasks
    freq: AxisMasks
    shape: tuple[int, ...] | None = None


class _Axis(NamedTuple):
    mask_param: int
    num_masks: int
    max_proportion: float


_NO_AXIS = _Axis(0, 0, 1.0)


def _axis(names: tuple[str, str], mask_param: int, num_masks: int, max_proportion: float = 1.0) -> _Axis:
    """Check one axis' settings; ``names`` are the caller's names for the first two."""
    return _Axis(
        check_int(names[0], mask_param, min=0),
        check_int(names[1], num_masks, min=0),
        check_probability("max_proportion", max_proportion),
    )


def _check_mask_value(mask_value: MaskValue) -> MaskValue:
    if isinstance(mask_value, str):
        return check_choice("mask_value", mask_value, ("mean",))  # type: ignore[return-value]  # check_choice returns the str 'mean', a member of the MaskValue union
    return check_float("mask_value", mask_value)


def _check_specgrams(specgrams: Tensor) -> Tensor:
    check_tensor("specgrams", specgrams, ndim=(3, 4), dtypes="float")
    return specgrams if specgrams.ndim == 4 else specgrams.unsqueeze(1)


def _check_lengths(lengths: Tensor | None, x: Tensor) -> Tensor | None:
    """``lengths`` on ``x``'s device as int64, checked to be ``(B,)`` integers in ``[0, T]``
    (the range by a device-side assertion: no host read)."""
    if lengths is None:
        return None
    check_tensor("lengths", lengths, ndim=1, dtypes="integer")
    batch, frames = x.shape[0], x.shape[-1]
    if lengths.shape[0] != batch:
        raise ValueError(f"`lengths` must have one entry per example ({batch}), got shape {tuple(lengths.shape)}")
    lengths = lengths.to(device=x.device, dtype=torch.int64)
    assert_values(((lengths >= 0) & (lengths <= frames)).all(),
                  f"`lengths` must be in [0, {frames}] (the time axis), got values out of range")
    return lengths


def _sample_axis(
    axis: _Axis, shape: tuple[int, int], size: Tensor | int, generator: torch.Generator, device: torch.device
) -> AxisMasks:
    """Draw ``num_masks`` intervals per ``shape`` entry on an axis of ``size`` (int or ``(B,)``)."""
    u = torch.rand((*shape, axis.num_masks, 2), dtype=torch.float64, generator=generator).to(device)
    size = torch.as_tensor(size, dtype=torch.float64, device=device).reshape(-1, 1, 1)
    max_width = torch.clamp(torch.floor(size * axis.max_proportion), max=axis.mask_param)
    v = u[..., 0] * max_width
    start = torch.floor(u[..., 1] * (size - v))
    return AxisMasks(start.long(), torch.floor(v).long())


def _interval_mask(masks: AxisMasks, size: int) -> Tensor:
    """Boolean ``(B, C', size)``: True inside any of the ``K`` intervals."""
    position = torch.arange(size, device=masks.start.device)
    start = masks.start.unsqueeze(-1)
    inside = (position >= start) & (position < start + masks.width.unsqueeze(-1))
    return inside.any(dim=2)


def _mean_value(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean of each ``(example, channel)`` over its real frames, ``(B, C, 1, 1)``, in ``x``'s dtype."""
    per_frame = x.sum(dim=2, dtype=torch.float32 if x.dtype != torch.float64 else None)  # (B, C, T)
    if lengths is None:
        return (per_frame.mean(dim=-1) / x.shape[2]).to(x.dtype)[..., None, None]
    valid = torch.arange(x.shape[-1], device=x.device) < lengths[:, None, None]
    count = (lengths * x.shape[2]).clamp(min=1)[:, None]
    return (per_frame.masked_fill(~valid, 0).sum(dim=-1) / count).to(x.dtype)[..., None, None]


class _Policy(NamedTuple):
    time: _Axis
    freq: _Axis
    p: float
    per_channel: bool
    mask_value: MaskValue

    def draw(self, specgrams: Tensor, generator: torch.Generator, *, lengths: Tensor | None = None) -> MaskParams:
        x = _check_specgrams(specgrams)
        return _sample(x, self, _check_lengths(lengths, x), generator)


def _policy(time: _Axis, freq: _Axis, p: float, per_channel: bool, mask_value: MaskValue) -> _Policy:
    return _Policy(time, freq, check_probability("p", p), check_bool("per_channel", per_channel),
                   _check_mask_value(mask_value))


def _sample(x: Tensor, policy: _Policy, lengths: Tensor | None, generator: torch.Generator) -> MaskParams:
    batch, channels, freq, frames = x.shape
    shape = (batch, channels if policy.per_channel else 1)
    time = _sample_axis(policy.time, shape, frames if lengths is None else lengths, generator, x.device)
    freq_masks = _sample_axis(policy.freq, shape, freq, generator, x.device)
    if policy.p < 1.0:
        keep = (torch.rand(batch, 1, 1, dtype=torch.float64, generator=generator) < policy.p).to(x.device)
        time, freq_masks = (AxisMasks(m.start, m.width * keep) for m in (time, freq_masks))
    return MaskParams(time, freq_masks, tuple(x.shape))


def _check_params(params: MaskParams, x: Tensor) -> None:
    check_params(params, MaskParams, x, "specgrams")
    batch, channels = x.shape[:2]
    for name, masks in (("time", params.time), ("freq", params.freq)):
        for field, t in zip(("start", "width"), masks, strict=False):
            if t.ndim != 3 or t.shape[0] != batch or t.shape[1] not in (1, channels):
                raise ValueError(f"`params.{name}.{field}` must have shape ({batch}, 1 or {channels}, K), "
                                 f"got {tuple(t.shape)}")


def _apply(x: Tensor, params: MaskParams, mask_value: MaskValue, lengths: Tensor | None, inplace: bool) -> Tensor:
    """Fill the union of the masks of ``params`` in ``x`` ``(B, C, F, T)`` in one pass.

    On the CPU the batch is written in blocks of about 1M elements, so the full-size mask
    of a block stays in cache and the only large allocation is the output.
    """
    _, _, freq, frames = x.shape
    time, freq_masks = (AxisMasks(*(t.to(x.device) for t in m)) for m in (params.time, params.freq))
    # eager: uint8 rather than bool, torch's broadcasting `|` and `&` are many times faster on it;
    # compiled: bool, which inductor fuses (its CPU code cannot bit-cast uint8 to bool)
    flags = torch.bool if torch.compiler.is_compiling() else torch.uint8
    time_mask = _interval_mask(time, frames).unsqueeze(2).view(flags)  # (B, C', 1, T)
    freq_mask = _interval_mask(freq_masks, freq).unsqueeze(3).view(flags)  # (B, C', F, 1)
    if lengths is not None:  # frequency masks cover the real frames only
        real = (torch.arange(frames, device=x.device) < lengths[:, None, None, None]).view(flags)
        freq_mask = freq_mask & real  # (B, C', F, T)
    value = _mean_value(x, lengths) if mask_value == "mean" else x.new_full((), mask_value)
    out = x if inplace else torch.empty_like(x)
    rows = block_rows(x)
    for i in range(0, len(x), rows):
        block = slice(i, i + rows)
        mask = (time_mask[block] | freq_mask[block]).view(torch.bool)
        torch.where(mask, value[block] if value.ndim else value, x[block], out=out[block])
    return out


def _checked_apply(
    specgrams: Tensor, params: MaskParams, mask_value: MaskValue, lengths: Tensor | None, inplace: bool
) -> Tensor:
    """Check the batch against ``params`` and mask it (no tensor value is read back)."""
    x = _check_specgrams(specgrams)
    _check_params(params, x)
    return _apply(x, params, mask_value, _check_lengths(lengths, x), inplace).view_as(specgrams)


def _run(
    specgrams: Tensor, policy: _Policy, lengths: Tensor | None, generator: torch.Generator | None, inplace: bool
) -> Tensor:
    params = policy.draw(specgrams, resolve_generator(generator, "cpu"), lengths=lengths)
    return _checked_apply(specgrams, params, policy.mask_value, lengths, inplace)


def spec_augment(
    specgrams: Tensor,
    *,
    time_mask_param: int = 100,
    freq_mask_param: int = 27,
    num_time_masks: int = 1,
    num_freq_masks: int = 1,
    max_proportion: float = 1.0,
    mask_value: MaskValue = 0.0,
    p: float = 1.0,
    per_channel: bool = False,
    lengths: Tensor | None = None,
    generator: torch.Generator | None = None,
    inplace: bool = False,
) -> Tensor:
    """Time and frequency masks, drawn independently per example, applied in one pass.

    The defaults are SpecAugment's LibriSpeech policy LB (F=27, one frequency mask,
    T=100, one time mask, p=1.0; time warping is not done here). Policy LD is
    ``num_freq_masks=2, num_time_masks=2, max_proportion=0.2``.

    Args:
        specgrams: ``(B, F, T)`` or ``(B, C, F, T)`` floating tensor, any device.
        time_mask_param: largest time-mask width plus one (SpecAugment's T); widths are
            uniform on ``{0, ..., time_mask_param - 1}`` as in torchaudio.
        freq_mask_param: same for frequency masks (SpecAugment's F).
        num_time_masks: time masks per example (they may overlap).
        num_freq_masks: frequency masks per example.
        max_proportion: a time mask covers at most ``floor(max_proportion * length)``
            frames (SpecAugment's p, torchaudio's ``p``; here it bounds time masks only).
        mask_value: the value written, a number (default 0.0) or ``"mean"``: the mean of
            each example and channel over its real frames, taken before masking
            (torchaudio's ``SpecAugment(zero_masking=False)`` uses one mean over the batch).
        p: probability that an example is masked at all (its masks are dropped otherwise).
        per_channel: independent masks for each channel of a ``(B, C, F, T)`` batch
            (torchaudio's ``iid_masks`` on 4-D input); default one set per example.
        lengths: ``(B,)`` integer number of real frames of each example in a padded
            batch: time masks are drawn inside ``[0, length)`` and no mask touches the
            padding. ``None`` means all ``T`` frames are real.
        generator: a CPU ``torch.Generator`` for the draws (default: fresh OS entropy;
            see :func:`torch_mlsd._random.resolve_generator`).
        inplace: write into ``specgrams`` instead of a copy.

    Returns:
        Tensor of the shape, dtype and device of ``specgrams``.

    Example:
        >>> x = torch.ones(2, 80, 300)
        >>> g = torch.Generator().manual_seed(0)
        >>> y = spec_augment(x, lengths=torch.tensor([300, 120]), generator=g)
        >>> y.shape, bool((y[1, :, 120:] == 1).all())
        (torch.Size([2, 80, 300]), True)
    """
    policy = _policy(
        _axis(("time_mask_param", "num_time_masks"), time_mask_param, num_time_masks, max_proportion),
        _axis(("freq_mask_param", "num_freq_masks"), freq_mask_param, num_freq_masks),
        p,
        per_channel,
        mask_value,
    )
    return _run(specgrams, policy, lengths, generator, check_bool("inplace", inplace))


def time_mask(
    specgrams: Tensor,
    *,
    mask_param: int,
    num_masks: int = 1,
    max_proportion: float = 1.0,
    mask_value: MaskValue = 0.0,
    p: float = 1.0,
    per_channel: bool = False,
    lengths: Tensor | None = None,
    generator: torch.Generator | None = None,
    inplace: bool = False,
) -> Tensor:
    """Mask ``num_masks`` intervals of time frames in every example independently.

    Same draws as torchaudio's ``TimeMasking(mask_param, iid_masks=True, p=max_proportion)``;
    the arguments are those of :func:`spec_augment` (``lengths`` keeps masks inside each
    example's real frames).

    Example:
        >>> x = torch.ones(4, 1, 64, 100)
        >>> y = time_mask(x, mask_param=30, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0).all(dim=2).sum(dim=-1) < 30).all())  # widths < mask_param
        True
    """
    time = _axis(("mask_param", "num_masks"), mask_param, num_masks, max_proportion)
    policy = _policy(time, _NO_AXIS, p, per_channel, mask_value)
    return _run(specgrams, policy, lengths, generator, check_bool("inplace", inplace))


def frequency_mask(
    specgrams: Tensor,
    *,
    mask_param: int,
    num_masks: int = 1,
    mask_value: MaskValue = 0.0,
    p: float = 1.0,
    per_channel: bool = False,
    lengths: Tensor | None = None,
    generator: torch.Generator | None = None,
    inplace: bool = False,
) -> Tensor:
    """Mask ``num_masks`` bands of frequency bins in every example independently.

    Same draws as torchaudio's ``FrequencyMasking(mask_param, iid_masks=True)``; the
    arguments are those of :func:`spec_augment` (with ``lengths`` the bands stop at each
    example's last real frame).

    Example:
        >>> x = torch.ones(4, 64, 100)
        >>> y = frequency_mask(x, mask_param=10, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0).all(dim=-1).sum(dim=-1) < 10).all())
        True
    """
    policy = _policy(_NO_AXIS, _axis(("mask_param", "num_masks"), mask_param, num_masks), p, per_channel, mask_value)
    return _run(specgrams, policy, lengths, generator, check_bool("inplace", inplace))


# The three modules differ only in their settings: they share these methods.
def _transform_method(
    self: BatchTransformBase, specgrams: Tensor, params: MaskParams, *, lengths: Tensor | None = None
) -> Tensor:
    """Apply masks drawn by :meth:`sample_params` (deterministic, any device).

    Reads no tensor value back to the host (the ``lengths`` range check is a device-side
    assertion), so ``torch.compile(fullgraph=True)`` traces it whole. ``params`` must
    have been drawn for a batch of this shape.
    """
    return _checked_apply(specgrams, params, self.policy.mask_value, lengths, self.inplace)  # type: ignore[attr-defined]  # the masking policies all define mask_value; the base does not


def _forward_method(self: BatchTransformBase, specgrams: Tensor, *, lengths: Tensor | None = None) -> Tensor:
    """Mask a batch ``(B, F, T)`` or ``(B, C, F, T)``; ``lengths`` ``(B,)`` real frames per example.

    ``lengths`` is keyword-only so that a ``(specgrams, labels)`` batch can never pass
    its labels as lengths by position.
    """
    return self.transform(specgrams, self.sample_params(specgrams, lengths=lengths), lengths=lengths)


class SpecAugment(BatchTransformBase):
    """Time and frequency masking with SpecAugment's LibriSpeech policy LB as defaults.

    Module form of :func:`spec_augment` (see it for every argument); each call draws new
    masks, independently for every example. Use it on a batch on the GPU or inside a
    DataLoader ``collate_fn`` (see :class:`torch_mlsd.augment.BatchTransformCollate`).

    Args:
        seed: int for a reproducible stream per DataLoader worker and rank (``0`` is a
            seed like any other); ``None`` (default) draws fresh entropy. With workers that
            are not persistent call ``set_epoch(epoch)`` before each epoch.

    Shape:
        ``(B, F, T)`` or ``(B, C, F, T)`` in and out; ``lengths``: ``(B,)``.

    Example:
        >>> aug = SpecAugment(seed=0)  # F=27, T=100, one mask each
        >>> y = aug(torch.randn(8, 1, 80, 400), lengths=torch.full((8,), 350))
        >>> y.shape
        torch.Size([8, 1, 80, 400])
    """

    def __init__(
        self,
        *,
        time_mask_param: int = 100,
        freq_mask_param: int = 27,
        num_time_masks: int = 1,
        num_freq_masks: int = 1,
        max_proportion: float = 1.0,
        mask_value: MaskValue = 0.0,
        p: float = 1.0,
        per_channel: bool = False,
        seed: int | None = None,
        inplace: bool = False,
    ) -> None:
        policy = _policy(
            _axis(("time_mask_param", "num_time_masks"), time_mask_param, num_time_masks, max_proportion),
            _axis(("freq_mask_param", "num_freq_masks"), freq_mask_param, num_freq_masks),
            p,
            per_channel,
            mask_value,
        )
        super().__init__(policy, inplace=inplace, seed=seed)

    transform = _transform_method
    forward = _forward_method


class TimeMasking(BatchTransformBase):
    """Independent time masks for every example (module form of :func:`time_mask`).

    Draws as torchaudio's ``TimeMasking(time_mask_param, iid_masks=True, p=max_proportion)``;
    here ``p`` is the probability to mask an example. ``seed`` as in :class:`SpecAugment`.

    Example:
        >>> mask = TimeMasking(40, seed=0)
        >>> mask(torch.randn(4, 2, 64, 200)).shape
        torch.Size([4, 2, 64, 200])
    """

    def __init__(
        self,
        time_mask_param: int,
        *,
        num_masks: int = 1,
        max_proportion: float = 1.0,
        mask_value: MaskValue = 0.0,
        p: float = 1.0,
        per_channel: bool = False,
        seed: int | None = None,
        inplace: bool = False,
    ) -> None:
        time = _axis(("time_mask_param", "num_masks"), time_mask_param, num_masks, max_proportion)
        policy = _policy(time, _NO_AXIS, p, per_channel, mask_value)
        super().__init__(policy, inplace=inplace, seed=seed)

    transform = _transform_method
    forward = _forward_method


class FrequencyMasking(BatchTransformBase):
    """Independent frequency masks for every example (module form of :func:`frequency_mask`).

    Draws as torchaudio's ``FrequencyMasking(freq_mask_param, iid_masks=True)``; ``p`` is
    the probability to mask an example. ``seed`` as in :class:`SpecAugment`.

    Example:
        >>> mask = FrequencyMasking(27, num_masks=2, seed=0)
        >>> mask(torch.randn(4, 80, 200)).shape
        torch.Size([4, 80, 200])
    """

    def __init__(
        self,
        freq_mask_param: int,
        *,
        num_masks: int = 1,
        mask_value: MaskValue = 0.0,
        p: float = 1.0,
        per_channel: bool = False,
        seed: int | None = None,
        inplace: bool = False,
    ) -> None:
        freq = _axis(("freq_mask_param", "num_masks"), freq_mask_param, num_masks)
        super().__init__(_policy(_NO_AXIS, freq, p, per_channel, mask_value), inplace=inplace, seed=seed)

    transform = _transform_method
    forward = _forward_method
