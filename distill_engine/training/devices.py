"""Which torch device a config's `device` names, refused with a ConfigError when this machine's
torch cannot use it (a CUDA device on a CPU-only build, a missing GPU index, MPS off a Mac)."""
from __future__ import annotations

import torch

from ..config.validation import ConfigError, Problem, format_value


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    problem = device_unavailable(device)
    if problem:
        raise ConfigError([Problem("device", problem, format_value(name))])
    return device


def device_unavailable(device: torch.device) -> str:
    """Why this torch cannot train on `device` ("" when it can)."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return ('CUDA is not available to this PyTorch (a CPU-only build, or no NVIDIA driver); '
                    'use "auto" or "cpu"')
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"there is no CUDA device {device.index} (this machine has {torch.cuda.device_count()})"
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return 'Apple MPS is not available on this machine; use "auto" or "cpu"'
    return ""
