"""Timing network calls against each other on a CPU: one PyTorch thread, rounds interleaved, so machine
noise hits every candidate alike (the speed benchmark and the training's network-cost table)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from tracker.models import StackedHourglass
from tracker.models.hourglass import HourglassConfig
from tracker.network.codec import to_network_input

NETWORK_ROUNDS = 10
NETWORK_CALLS_PER_ROUND = 10


def time_interleaved(calls: dict[Any, Callable[[], Any]], rounds: int, per_round: int) -> dict[Any, float]:
    """Median ms per call of each function, one PyTorch thread, rounds interleaved."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict = {k: [] for k in calls}
    try:
        with torch.inference_mode():
            for _ in range(rounds):
                for name, call in calls.items():
                    call()  # warm
                    start = time.perf_counter()
                    for _ in range(per_round):
                        call()
                    times[name].append(1e3 * (time.perf_counter() - start) / per_round)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(values) for name, values in times.items()}


def time_architectures(
    configs: dict[str, HourglassConfig], rounds: int = NETWORK_ROUNDS, calls: int = NETWORK_CALLS_PER_ROUND,
) -> dict[str, float]:
    """Untrained architectures timed as ``tracker.eval.speed.time_network`` times trained ones, the hourglass alone on PyTorch (random weights):
    ms per face, interleaved."""
    networks = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        network = StackedHourglass(config).eval().to(memory_format=torch.channels_last)
        size = config.input_size
        image = to_network_input(np.random.default_rng(0).integers(0, 255, (1, size, size, 3), dtype=np.uint8))
        networks[name] = partial(network, image)
    return time_interleaved(networks, rounds, calls)
