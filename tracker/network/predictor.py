"""Crops in, landmarks out on PyTorch: the per-crop computation (``LandmarkGraph``) run as a module.

For GPUs and for training's checks; the CPU runtime runs the same computation on ONNX Runtime
(``tracker.network.onnx_runtime``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tracker.models import LandmarkModel
from tracker.network.codec import face_threshold
from tracker.network.computation import LandmarkGraph
from tracker.network.crop_predictor import CropPrediction, CropPredictor, FacePredictions
from tracker.network.options import GraphOptions
from tracker.timing import NULL_TIMER, StageTimer

__all__ = ["CropPrediction", "FacePredictions", "LandmarkPredictor"]


class LandmarkPredictor(CropPredictor):
    """Batched crops -> landmarks on PyTorch (``CropPredictor`` does the cropping and threading).

    ``options`` as for the ONNX graph: the GHCU, the flip test (the mirrored crop too, its heatmaps
    averaged in: 2x the cost), only the first stacks, DARK decoding. The model's ``point_offsets``
    (its mean signed error on its training faces) are subtracted from every point. The predictor runs
    its own copy of the model's networks: the caller's model is not moved or switched to eval mode.
    """

    def __init__(
        self, model: LandmarkModel, device: torch.device | str = "cpu", options: GraphOptions = GraphOptions(),
        timer: StageTimer = NULL_TIMER, face_threads: int = 1, equalise_dark: bool = True,
    ) -> None:
        super().__init__(face_threads, equalise_dark, timer)
        self.device = torch.device(device)
        self.device_type = self.device.type
        self.num_points = model.config.num_points
        self.input_size = model.config.input_size
        self.has_ghcu = options.ghcu and model.ghcu is not None
        self.face_threshold = face_threshold(model)
        self.graph = LandmarkGraph(model, options).to(self.device, memory_format=torch.channels_last).eval()

    def _concat(self, parts: list[Any]) -> Any:
        return torch.cat(parts)

    def _numpy(self, values: Any) -> np.ndarray:
        return values.float().cpu().numpy() if values.is_floating_point() else values.cpu().numpy()

    @torch.inference_mode()  # thread-local, so here rather than on predict_batch
    def _predict_chunk(self, crops: np.ndarray | torch.Tensor) -> CropPrediction:
        with self.timer.stage("network"):
            points, confidence, face_score, heatmaps = self.graph(torch.as_tensor(crops).to(self.device, non_blocking=True))
        return CropPrediction(points, confidence, heatmaps, face_score)
