"""Stacked hourglass network (Newell et al. 2016) as used by the SA paper, with a typed config."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tracker.markup import NUM_POINTS

STEM_STRIDE = 4  # conv7x7/2 + max-pool/2: heatmaps are input_size / 4


@dataclass(frozen=True)
class HourglassConfig:
    num_stacks: int = 4
    features: int = 256
    depth: int = 4
    input_size: int = 256
    num_points: int = NUM_POINTS

    def __post_init__(self) -> None:
        if self.input_size % (STEM_STRIDE * 2**self.depth):
            raise ValueError(
                f"input_size {self.input_size} must be a multiple of {STEM_STRIDE * 2**self.depth} for depth {self.depth}"
            )

    @property
    def heatmap_size(self) -> int:
        return self.input_size // STEM_STRIDE


class Residual(nn.Module):
    """Pre-activation bottleneck residual block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    def __init__(self, depth: int, features: int) -> None:
        super().__init__()
        self.up = Residual(features, features)
        self.down = nn.Sequential(nn.MaxPool2d(2), Residual(features, features))
        self.inner = Hourglass(depth - 1, features) if depth > 1 else Residual(features, features)
        self.out = Residual(features, features)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x) + self.upsample(self.out(self.inner(self.down(x))))


class StackedHourglass(nn.Module):
    """Returns one heatmap tensor (B, N, H/4, W/4) per stack; the last is the prediction."""

    def __init__(self, config: HourglassConfig) -> None:
        super().__init__()
        self.config = config
        f = config.features
        self.stem = nn.Sequential(
            nn.Conv2d(3, f // 4, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(f // 4), nn.ReLU(inplace=True),
            Residual(f // 4, f // 2), nn.MaxPool2d(2), Residual(f // 2, f // 2), Residual(f // 2, f),
        )
        self.hourglasses = nn.ModuleList(Hourglass(config.depth, f) for _ in range(config.num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(f, f), nn.Conv2d(f, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True))
            for _ in range(config.num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(f, config.num_points, 1) for _ in range(config.num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(config.num_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(config.num_points, f, 1) for _ in range(config.num_stacks - 1))

    def check_num_stacks(self, num_stacks: int) -> int:
        if not 1 <= num_stacks <= self.config.num_stacks:
            raise ValueError(f"num_stacks must be 1..{self.config.num_stacks}, got {num_stacks}")
        return num_stacks

    def forward(self, images: torch.Tensor, num_stacks: int | None = None) -> list[torch.Tensor]:
        """``num_stacks`` stops early, after that many stacks (each is trained to predict the heatmaps)."""
        stacks = self.config.num_stacks if num_stacks is None else self.check_num_stacks(num_stacks)
        x = self.stem(images)
        outputs = []
        for i in range(stacks):
            feat = self.features[i](self.hourglasses[i](x))
            heat = self.heads[i](feat)
            outputs.append(heat)
            if i < stacks - 1:
                x = x + self.merge_features[i](feat) + self.merge_heatmaps[i](heat)
        return outputs


class FirstStacks(nn.Module):
    """The first ``num_stacks`` stacks of a network, as a module (for tracing): less compute per face."""

    def __init__(self, network: StackedHourglass, num_stacks: int) -> None:
        super().__init__()
        self.network = network
        self.num_stacks = network.check_num_stacks(num_stacks)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.network(images, self.num_stacks)
