"""Global Heatmap Correction Unit (SA paper, Table 1): heatmaps in, all landmarks out."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tracker.markup import NUM_POINTS


@dataclass(frozen=True)
class GHCUConfig:
    heatmap_size: int = 64
    channels: tuple[int, ...] = (64, 64, 32, 32, 16, 16)
    hidden: int = 256
    num_points: int = NUM_POINTS


class GHCU(nn.Module):
    """Six stride-2 convs then FC-256 and FC-2N.

    Outputs points in heatmap-normalised coordinates: 0..1 across the heatmap (pixel centres at
    (i + 0.5) / size), as an offset from the heatmap-decoded input points so that the unit learns a
    correction and starts near the identity.
    """

    def __init__(self, config: GHCUConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        cin = config.num_points
        for cout in config.channels:
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.convs = nn.Sequential(*layers)
        spatial = config.heatmap_size
        for _ in config.channels:
            spatial = (spatial + 1) // 2
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * spatial * spatial + 2 * config.num_points, config.hidden), nn.ReLU(inplace=True),
            nn.Linear(config.hidden, 2 * config.num_points),
        )
        nn.init.zeros_(self.fc[-1].weight)
        nn.init.zeros_(self.fc[-1].bias)

    def forward(self, heatmaps: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """``heatmaps`` (B, N, H, W); ``decoded`` (B, N, 2) normalised points from the heatmaps."""
        feats = self.convs(heatmaps).flatten(1)
        delta = self.fc(torch.cat([feats, decoded.flatten(1)], dim=1))
        return decoded + delta.view(-1, self.config.num_points, 2)
