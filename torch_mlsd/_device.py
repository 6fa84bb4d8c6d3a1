"""Device helpers: resolve ``--device`` style arguments and keep outputs on the input's device."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` -> cuda when available, else cpu; otherwise ``torch.device(device)``.

    Raises ``ValueError`` for a CUDA device when no GPU is present.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` must be available, got {device!r} but CUDA is not available")
    return dev
