"""``--device auto|cpu|cuda``."""
from __future__ import annotations

import torch


class DeviceError(ValueError):
    pass


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda asked for, but this PyTorch build sees no CUDA GPU")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise DeviceError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)
