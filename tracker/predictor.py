"""Crops in, landmarks out: the hourglass, heatmap decoding and the optional GHCU, batched."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tracker.geometry import FaceCrop, from_crop, warp_image
from tracker.heatmaps import decode, heatmap_to_input
from tracker.markup import flip_permutation
from tracker.models import LandmarkModel
from tracker.models.hourglass import STEM_STRIDE

PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


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


@dataclass
class CropPrediction:
    """Landmarks in crop-input pixels (B, N, 2), confidences (B, N) and the raw heatmaps."""

    points: torch.Tensor
    confidence: torch.Tensor
    heatmaps: torch.Tensor


class LandmarkPredictor:
    """``flip_test`` also runs the mirrored crop and averages the un-mirrored heatmaps (2x the cost)."""

    def __init__(
        self, model: LandmarkModel, device: torch.device | str = "cpu", use_ghcu: bool = True, flip_test: bool = False
    ) -> None:
        self.device = torch.device(device)
        self.flip_test = flip_test
        self.flip_index = torch.as_tensor(flip_permutation(model.config.num_points), device=self.device)
        self.hourglass = model.hourglass.to(self.device).eval().to(memory_format=torch.channels_last)
        self.ghcu = model.ghcu.to(self.device).eval() if (use_ghcu and model.ghcu is not None) else None
        self.input_size = model.config.input_size
        self.heatmap_size = model.config.heatmap_size

    @torch.inference_mode()
    def predict_batch(self, crops: np.ndarray | torch.Tensor) -> CropPrediction:
        """Predict on (B, S, S, 3) uint8 crops already warped to the input size."""
        x = to_network_input(crops, self.device)
        heatmaps = self.hourglass(x)[-1].float()
        if self.flip_test:  # heatmap pixel j mirrors to H-1-j exactly, since the stride divides the input
            mirrored = self.hourglass(torch.flip(x, dims=[3]))[-1].float()
            heatmaps = (heatmaps + torch.flip(mirrored, dims=[3])[:, self.flip_index]) / 2
        points, confidence = decode(heatmaps)
        if self.ghcu is not None:
            unit = self.ghcu(heatmaps, heatmap_to_unit(points, self.heatmap_size))
            points = unit_to_heatmap(unit, self.heatmap_size)
        return CropPrediction(heatmap_to_input(points, STEM_STRIDE), confidence, heatmaps)

    def predict(self, image: np.ndarray, crops: Sequence[FaceCrop]) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks in image pixels (F, N, 2) and confidences (F, N) for each crop of ``image``."""
        if not crops:
            n = self.hourglass.config.num_points
            return np.zeros((0, n, 2)), np.zeros((0, n))
        batch = np.stack([warp_image(image, c, self.input_size) for c in crops])
        out = self.predict_batch(batch)
        pts = out.points.cpu().numpy().astype(np.float64)
        image_pts = np.stack([from_crop(p, c, self.input_size) for p, c in zip(pts, crops)])
        return image_pts, out.confidence.cpu().numpy()
