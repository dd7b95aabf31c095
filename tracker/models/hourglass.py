"""Stacked hourglass network (Newell et al. 2016) as used by the SA paper, with a typed config."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tracker.errors import InputError
from tracker.markup import NUM_POINTS

STEM_STRIDE = 4  # conv7x7/2 + max-pool/2: the hourglasses run at input_size / 4
HEATMAP_STRIDES = (4, 2)  # 4: heatmaps at the hourglass resolution; 2: an upsampling head doubles it
SKIP_LAYER = 3  # index in ``StackedHourglass.stem`` of the last stride-2 layer (the upsampling head's skip)


@dataclass(frozen=True)
class HourglassConfig:
    num_stacks: int = 4
    features: int = 256
    depth: int = 4
    input_size: int = 256
    num_points: int = NUM_POINTS
    # Input pixels per heatmap pixel. 2 adds an upsampling head to every stack (``UpsampleHead``):
    # heatmaps twice as fine for a small cost, the hourglasses themselves unchanged.
    heatmap_stride: int = STEM_STRIDE
    head_features: int = 32  # channels of the upsampling head (heatmap_stride 2)

    def __post_init__(self) -> None:
        if self.heatmap_stride not in HEATMAP_STRIDES:
            raise ValueError(f"heatmap_stride must be one of {HEATMAP_STRIDES}, got {self.heatmap_stride}")
        if self.input_size % (STEM_STRIDE * 2**self.depth):
            raise ValueError(
                f"input_size {self.input_size} must be a multiple of {STEM_STRIDE * 2**self.depth} for depth {self.depth}"
            )

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.heatmap_stride


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


class UpsampleHead(nn.Module):
    """Heatmaps at twice the hourglass resolution: the stack's features, upsampled, plus the stem's
    stride-2 features, through a 3x3 convolution (as the decoders of SimpleBaseline/U-Net do)."""

    def __init__(self, features: int, skip_features: int, head_features: int, num_points: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(features, head_features, 1, bias=False), nn.BatchNorm2d(head_features))
        self.skip = nn.Sequential(nn.Conv2d(skip_features, head_features, 1, bias=False), nn.BatchNorm2d(head_features))
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.refine = nn.Sequential(
            nn.ReLU(inplace=True), nn.Conv2d(head_features, head_features, 3, padding=1, bias=False),
            nn.BatchNorm2d(head_features), nn.ReLU(inplace=True), nn.Conv2d(head_features, num_points, 1),
        )

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.refine(self.upsample(self.reduce(features)) + self.skip(skip))


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
        self.upsampled = config.heatmap_stride < STEM_STRIDE
        if self.upsampled:
            self.heads = nn.ModuleList(
                UpsampleHead(f, f // 2, config.head_features, config.num_points) for _ in range(config.num_stacks)
            )
        else:
            self.heads = nn.ModuleList(nn.Conv2d(f, config.num_points, 1) for _ in range(config.num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(config.num_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(config.num_points, f, 1) for _ in range(config.num_stacks - 1))

    def check_num_stacks(self, num_stacks: int) -> int:
        if not 1 <= num_stacks <= self.config.num_stacks:
            raise InputError(f"num_stacks must be 1..{self.config.num_stacks}, got {num_stacks}")
        return num_stacks

    def forward(self, images: torch.Tensor, num_stacks: int | None = None) -> list[torch.Tensor]:
        """``num_stacks`` stops early, after that many stacks (each is trained to predict the heatmaps)."""
        stacks = self.config.num_stacks if num_stacks is None else self.check_num_stacks(num_stacks)
        x = images
        skip = images
        for index, layer in enumerate(self.stem):
            x = layer(x)
            if index == SKIP_LAYER:
                skip = x
        outputs = []
        for i in range(stacks):
            feat = self.features[i](self.hourglasses[i](x))
            heat = self.heads[i](feat, skip) if self.upsampled else self.heads[i](feat)
            outputs.append(heat)
            if i < stacks - 1:
                coarse = F.avg_pool2d(heat, 2) if self.upsampled else heat
                x = x + self.merge_features[i](feat) + self.merge_heatmaps[i](coarse)
        return outputs


class FirstStacks(nn.Module):
    """The first ``num_stacks`` stacks of a network, as a module (for tracing): less compute per face."""

    def __init__(self, network: StackedHourglass, num_stacks: int) -> None:
        super().__init__()
        self.network = network
        self.num_stacks = network.check_num_stacks(num_stacks)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.network(images, self.num_stacks)
