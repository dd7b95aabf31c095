"""``--device auto|cpu|cuda``, resolved without importing PyTorch unless a GPU may be there."""
from __future__ import annotations

import glob
from typing import TYPE_CHECKING

from tracker.errors import InputError

if TYPE_CHECKING:
    import torch

# Device nodes a GPU driver creates (NVIDIA; AMD's ROCm): without one, "auto" means the CPU and
# PyTorch need not be imported to find that out.
GPU_DEVICE_NODES = ("/dev/nvidia[0-9]*", "/dev/kfd")


class DeviceError(InputError):
    pass


def gpu_driver_present() -> bool:
    return any(glob.glob(pattern) for pattern in GPU_DEVICE_NODES)


def _torch_sees_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device_name(name: str) -> str:
    """``cpu`` or ``cuda[:i]`` for ``name``; ``auto`` is the GPU when PyTorch sees one."""
    if name == "auto":
        return "cuda" if gpu_driver_present() and _torch_sees_gpu() else "cpu"
    if name == "cpu":
        return name
    if name.startswith("cuda"):
        if not _torch_sees_gpu():
            raise DeviceError("--device cuda asked for, but this PyTorch build sees no CUDA GPU")
        return name
    raise DeviceError(f"unknown device {name!r}; use auto, cpu or cuda")


def resolve_device(name: str) -> torch.device:
    import torch

    return torch.device(resolve_device_name(name))
