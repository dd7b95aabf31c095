"""Crops in, landmarks out on PyTorch: the hourglass, heatmap decoding and the optional GHCU, batched."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from tracker.network.crop_predictor import (
    MIN_MEAN_PEAK, PIXEL_MEAN, PIXEL_STD, CropPrediction, CropPredictor, FacePredictions,
)
from tracker.network.heatmaps import MODULATION_SIGMA, decode, heatmap_to_input
from tracker.network.inference import cached_graph, freeze_for_inference, graph_key
from tracker.markup import flip_permutation
from tracker.models import LandmarkModel
from tracker.models.hourglass import FirstStacks
from tracker.network.quantization import int8_ranges_for, quantize
from tracker.timing import NULL_TIMER, StageTimer

__all__ = [
    "CropPrediction", "FacePredictions", "LandmarkPredictor", "MIN_MEAN_PEAK", "PIXEL_MEAN", "PIXEL_STD", "heatmap_to_unit",
    "to_network_input", "unit_to_heatmap",
]


def to_network_input(crops: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB crops -> normalised float (B, 3, S, S) on ``device``."""
    x = torch.as_tensor(crops).to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return x.sub_(PIXEL_MEAN).div_(PIXEL_STD).contiguous(memory_format=torch.channels_last)


def heatmap_to_unit(points: torch.Tensor, size: int) -> torch.Tensor:
    """Heatmap pixels -> GHCU's normalised coordinates (0..1 across the map)."""
    return (points + 0.5) / size


def unit_to_heatmap(points: torch.Tensor, size: int) -> torch.Tensor:
    return points * size - 0.5


class LandmarkPredictor(CropPredictor):
    """Batched crops -> landmarks on PyTorch (``CropPredictor`` does the cropping and threading).

    ``flip_test`` also runs the mirrored crop and averages the un-mirrored heatmaps (2x the cost).
    ``freeze`` runs frozen TorchScript graphs on the CPU (same outputs to ~1e-6, about 1.5x faster);
    they snapshot the weights, so code that keeps training the model (validation) leaves it off.
    ``num_stacks`` runs only the first stacks of the hourglass (faster, less accurate).
    ``int8`` runs the hourglass quantized to int8 (CPU, weights with int8 ranges; see
    ``tracker.network.quantization``).
    The model's ``point_offsets`` (its mean signed error on its training faces) are subtracted from
    every point, in crop coordinates.
    """

    def __init__(
        self, model: LandmarkModel, device: torch.device | str = "cpu", use_ghcu: bool = True, flip_test: bool = False,
        freeze: bool = False, timer: StageTimer = NULL_TIMER, num_stacks: int | None = None, face_threads: int = 1,
        int8: bool = False, modulation_sigma: float | None = MODULATION_SIGMA, equalise_dark: bool = True,
    ) -> None:
        super().__init__(face_threads, equalise_dark, timer)
        self.device = torch.device(device)
        self.device_type = self.device.type
        self.modulation_sigma = modulation_sigma  # DARK decoding (``tracker.network.heatmaps.modulate``); None: off
        self.flip_test = flip_test
        self.num_points = model.config.num_points
        self.flip_index = torch.as_tensor(flip_permutation(model.config.num_points), device=self.device)
        self.input_size = model.config.input_size
        self.heatmap_size = model.config.heatmap_size
        self.heatmap_stride = model.config.heatmap_stride
        network = model.hourglass.to(self.device).eval().to(memory_format=torch.channels_last)
        self.hourglass: nn.Module = network if num_stacks is None else FirstStacks(network, num_stacks)
        self.ghcu = model.ghcu.to(self.device).eval() if (use_ghcu and model.ghcu is not None) else None
        self.has_ghcu = self.ghcu is not None
        self.face_check = model.face_check.to(self.device).eval() if model.face_check is not None else None
        offsets = model.point_offsets if model.point_offsets is not None else np.zeros((self.num_points, 2))
        self.point_offsets = torch.as_tensor(offsets * self.input_size, dtype=torch.float32, device=self.device)
        # the face score below which a crop is not a face: the face check's own, else the mean-peak rule
        self.face_threshold = model.face_check.config.threshold if model.face_check is not None else MIN_MEAN_PEAK
        image = to_network_input(np.zeros((1, self.input_size, self.input_size, 3), np.uint8))
        self.int8 = int8
        ranges = int8_ranges_for(model, self.device) if int8 else None
        float_network = self.hourglass

        def build_hourglass() -> nn.Module:
            if ranges is None:
                return float_network
            return quantize(FirstStacks(network, num_stacks or model.config.num_stacks), ranges, image)

        if freeze and self.device.type == "cpu":
            key = graph_key("hourglass-int8" if int8 else "hourglass", [network], num_stacks, ranges)
            self.hourglass = cached_graph(key, lambda: freeze_for_inference(build_hourglass(), image))
            if (ghcu := self.ghcu) is not None:
                maps = torch.zeros(1, self.num_points, self.heatmap_size, self.heatmap_size)
                points = torch.zeros(1, self.num_points, 2)
                self.ghcu = cached_graph(graph_key("ghcu", [ghcu]), lambda: freeze_for_inference(ghcu, maps, points))
        else:
            self.hourglass = build_hourglass()

    def _concat(self, parts: list[Any]) -> Any:
        return torch.cat(parts)

    def _numpy(self, values: Any) -> np.ndarray:
        return values.float().cpu().numpy() if values.is_floating_point() else values.cpu().numpy()

    @torch.inference_mode()  # thread-local, so here rather than on predict_batch
    def _predict_chunk(self, crops: np.ndarray | torch.Tensor) -> CropPrediction:
        timer = self.timer
        with timer.stage("hourglass"):
            x = to_network_input(crops, self.device)
            heatmaps = self.hourglass(x)[-1].float()
            if self.flip_test:  # heatmap pixel j mirrors to H-1-j exactly, since the stride divides the input
                mirrored = self.hourglass(torch.flip(x, dims=[3]))[-1].float()
                heatmaps = (heatmaps + torch.flip(mirrored, dims=[3])[:, self.flip_index]) / 2
        with timer.stage("heatmap decode"):
            points, confidence = decode(heatmaps, self.modulation_sigma)
        with timer.stage("face check"):
            face_score = self.face_check.probability(heatmaps) if self.face_check is not None else confidence.mean(dim=1)
        if self.ghcu is not None:
            with timer.stage("ghcu"):
                unit = self.ghcu(heatmaps, heatmap_to_unit(points, self.heatmap_size))
                points = unit_to_heatmap(unit, self.heatmap_size)
        points = heatmap_to_input(points, self.heatmap_stride) - self.point_offsets
        return CropPrediction(points, confidence, heatmaps, face_score)
