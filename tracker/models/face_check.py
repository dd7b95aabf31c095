"""The learned face check: p(face) for a crop, read from the hourglass's heatmaps.

The mean heatmap peak is not a face detector (an ear or a neck can reach 0.5); this small head sees
the whole pattern of the 68 maps, which on a face is a consistent constellation of sharp peaks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tracker.markup import NUM_POINTS


@dataclass(frozen=True)
class FaceCheckConfig:
    num_points: int = NUM_POINTS
    channels: int = 32
    pool: int = 2  # heatmaps are max-pooled by this factor first (a 32x32 map becomes 16x16)
    threshold: float = 0.5  # p(face) below which the tracker rejects a crop (chosen on held-out crops)


class FaceCheck(nn.Module):
    """Heatmaps (B, N, H, W) -> face logits (B,)."""

    def __init__(self, config: FaceCheckConfig = FaceCheckConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.features = nn.Sequential(
            nn.Conv2d(config.num_points, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
        )
        self.classify = nn.Linear(2 * c + config.num_points, 1)

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.from_pooled(F.max_pool2d(heatmaps, self.config.pool) if self.config.pool > 1 else heatmaps)

    def from_pooled(self, maps: torch.Tensor) -> torch.Tensor:
        """Logits from heatmaps already max-pooled by ``config.pool`` (training stores them so)."""
        x = self.features(maps)
        peaks = maps.amax(dim=(2, 3))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), peaks], dim=1)
        return self.classify(pooled).squeeze(1)

    def probability(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(heatmaps))
