"""Where torch work runs: CUDA when present, CPU otherwise, the same code either way."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA when `torch.cuda.is_available()`, else CPU; `cuda` without a GPU fails."""
    if isinstance(device, torch.device):
        return device
    if device not in DEVICE_CHOICES:
        raise ValueError(
            f"The 'device' parameter must be one of {DEVICE_CHOICES}. Got {device!r} instead."
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for, but torch sees no CUDA device here")
    return torch.device(device)
