"""Which arithmetic a training device runs fast: bf16 autocast only where the hardware has it."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bf16 natively


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 autocast speeds ``device`` up. Without native bf16 a CPU emulates it, an order of
    magnitude slower than fp32 (measured in docs/accuracy.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(flag in _cpu_flags() for flag in BF16_CPU_FLAGS)
    return False
