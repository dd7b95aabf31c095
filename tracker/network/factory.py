"""The one way to get a landmark predictor for a weights file: ONNX Runtime on a CPU, PyTorch elsewhere."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tracker.network.crop_predictor import CropPredictor
from tracker.network.devices import resolve_device_name
from tracker.network.options import GraphOptions
from tracker.timing import NULL_TIMER, StageTimer

MAX_FACE_THREADS = 4


@dataclass(frozen=True)
class PredictorConfig:
    """Where and how the per-crop computation runs."""

    weights: Path | None = None  # None: the default weights (``tracker.network.weights_registry``)
    device: str = "auto"  # auto | cpu | cuda[:i]
    options: GraphOptions = GraphOptions()
    onnx_runtime: bool = True  # on a CPU, ONNX Runtime (no PyTorch import once the graph is cached); off: PyTorch
    # Threads of one network call on the CPU (None: the runtime's default, all cores). One is faster end
    # to end on small CPUs: a batch-1 network scales poorly across cores and idle workers spin, starving
    # the decode, encode and detection threads; a frame's faces run side by side on the face threads.
    network_threads: int | None = 1
    # Threads that share a frame's faces on the CPU (None: one per core, at most MAX_FACE_THREADS;
    # always 1 on a GPU, which takes the faces as one batch).
    face_threads: int | None = None


def face_threads_for(config: PredictorConfig, device_type: str) -> int:
    if device_type != "cpu":
        return 1
    if config.face_threads is not None:
        return config.face_threads
    return max(1, min(os.cpu_count() or 1, MAX_FACE_THREADS))


def runs_on_onnx(config: PredictorConfig, device: str) -> bool:
    """Whether ``config`` on ``device`` (resolved) runs on ONNX Runtime rather than PyTorch."""
    return device == "cpu" and config.onnx_runtime


def build_predictor(config: PredictorConfig = PredictorConfig(), timer: StageTimer = NULL_TIMER) -> CropPredictor:
    """The landmark predictor ``config`` describes."""
    from tracker.network.weights_registry import load_model, weights_path

    device = resolve_device_name(config.device)
    face_threads = face_threads_for(config, device)
    if runs_on_onnx(config, device):
        from tracker.network.onnx_runtime import OnnxPredictor

        return OnnxPredictor.for_weights(
            weights_path(config.weights), config.options, face_threads=face_threads, threads=config.network_threads or 0,
            timer=timer,
        )
    import torch

    from tracker.network.predictor import LandmarkPredictor

    if device == "cpu" and config.network_threads:
        torch.set_num_threads(config.network_threads)
    return LandmarkPredictor(load_model(config.weights, device=device), device, config.options, timer=timer, face_threads=face_threads)
