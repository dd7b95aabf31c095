"""Training throughput: samples per second of one optimisation step of a preset's hourglass, by arithmetic
(fp32 / bf16 autocast, contiguous / channels-last, eager / ``torch.compile``)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from tracker.models import StackedHourglass
from tracker.network.codec import input_to_heatmap, render_gaussians
from tracker.train.config import TrainConfig
from tracker.train.losses import coordinate_loss, heatmap_loss

WARMUP_STEPS = 2


@dataclass(frozen=True)
class Arithmetic:
    name: str
    bf16: bool
    channels_last: bool
    compiled: bool = False


ARITHMETICS = (
    Arithmetic("fp32", False, False), Arithmetic("channels_last", False, True),
    Arithmetic("bf16", True, False), Arithmetic("bf16+channels_last", True, True),
)
# opt-in: compiling takes about a minute per variant on a CPU (Inductor builds C++ kernels)
COMPILED = (
    Arithmetic("compile+channels_last", False, True, compiled=True),
    Arithmetic("compile+bf16+channels_last", True, True, compiled=True),
)


def _stepper(cfg: TrainConfig, arithmetic: Arithmetic, batch: int, seed: int = 0):
    """A closure running one training step (forward, the preset's losses, backward, RMSprop) on a fixed batch."""
    torch.manual_seed(seed)
    layout = torch.channels_last if arithmetic.channels_last else torch.contiguous_format
    model = StackedHourglass(cfg.model).to(memory_format=layout).train()
    optimiser = torch.optim.RMSprop(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if arithmetic.compiled else model
    size, stride = cfg.model.input_size, cfg.model.heatmap_stride
    images = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    points = torch.rand(batch, cfg.model.num_points, 2) * (size - 8) + 4
    heatmap_points = input_to_heatmap(points, stride)
    target = render_gaussians(heatmap_points, cfg.model.heatmap_size, cfg.heatmap_sigma)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arithmetic.bf16):
            outputs = forward(images)
        loss = sum(heatmap_loss(cfg.loss, o.float(), target) for o in outputs)
        if cfg.coord_loss_weight > 0:
            loss = loss + cfg.coord_loss_weight * sum(coordinate_loss(o.float(), target, heatmap_points, cfg.coord_radius) for o in outputs)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def training_throughput(
    configs: dict[str, TrainConfig], batch: int = 16, steps: int = 6, rounds: int = 2,
    arithmetics: tuple[Arithmetic, ...] = ARITHMETICS,
) -> dict[str, dict[str, float]]:
    """Samples/s per preset and arithmetic on the CPU, the variants interleaved over ``rounds`` so that a
    machine's drift (other work, clocks) falls on all of them alike; the best round of each counts
    (compilation happens in the warm-up steps, so it is not timed)."""
    steppers = {(name, a.name): _stepper(cfg, a, batch) for name, cfg in configs.items() for a in arithmetics}
    for step in steppers.values():
        for _ in range(WARMUP_STEPS):
            step()
    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for key, step in steppers.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rate = batch * steps / (time.perf_counter() - start)
            best[key] = max(best.get(key, 0.0), rate)
    return {name: {a.name: best[(name, a.name)] for a in arithmetics} for name in configs}
