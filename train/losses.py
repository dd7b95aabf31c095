"""Heatmap losses: plain MSE (the paper's) and Adaptive Wing (Wang et al., ICCV 2019).

Both take predicted and target heatmaps (B, N, H, W) and return a scalar. Beside them, a coordinate
loss on each heatmap's local centre of mass (integral regression at the peak).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

HEATMAP_LOSSES = ("mse", "awing")
MASS_FLOOR = 1e-6  # keeps the centre of mass finite where a window holds no positive heatmap


@dataclass(frozen=True)
class AdaptiveWingConfig:
    """The paper's constants; foreground pixels (target >= ``foreground`` after a 3x3 dilation)
    weigh ``foreground_weight`` times the background."""

    alpha: float = 2.1
    omega: float = 14.0
    epsilon: float = 1.0
    theta: float = 0.5
    foreground: float = 0.2
    foreground_weight: float = 10.0


def _per_point_mean(loss: torch.Tensor, labelled: torch.Tensor | None) -> torch.Tensor:
    """(B, N, H, W) pixel losses summed over pixels and averaged over the labelled (B, N) points (all
    where ``labelled`` is None); an unlabelled point adds nothing."""
    per_point = loss.sum(dim=(2, 3))
    if labelled is None:
        return per_point.mean()
    weight = labelled.to(per_point.dtype)
    return (per_point * weight).sum() / weight.sum().clamp_min(1.0)


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error summed over heatmap pixels, averaged over faces and (labelled) points."""
    return _per_point_mean((pred - target) ** 2, labelled)


def adaptive_wing(
    pred: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor | None = None, cfg: AdaptiveWingConfig = AdaptiveWingConfig(),
) -> torch.Tensor:
    """Adaptive Wing loss with the weighted loss map, summed over pixels, averaged over faces and (labelled) points.

    Near the target's foreground the loss behaves like log(1 + |e|^p) (steep for small errors, so
    peaks get sharp); on the background (target ~ 0) like MSE, so the many zero pixels do not dominate.
    """
    diff = (pred - target).abs()
    power = cfg.alpha - target
    ratio = cfg.theta / cfg.epsilon
    small = cfg.omega * torch.log1p((diff / cfg.epsilon).pow(power))
    a = cfg.omega * (1 / (1 + ratio ** power)) * power * ratio ** (power - 1) / cfg.epsilon
    c = cfg.theta * a - cfg.omega * torch.log1p(ratio ** power)
    loss = torch.where(diff < cfg.theta, small, a * diff - c)
    foreground = F.max_pool2d(target, 3, stride=1, padding=1) >= cfg.foreground
    weight = 1.0 + (cfg.foreground_weight - 1.0) * foreground.to(loss.dtype)
    return _per_point_mean(loss * weight, labelled)


def local_soft_argmax(heatmaps: torch.Tensor, centres: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, N, 2) centres of mass (x, y, heatmap pixels) of each (B, N, H, W) heatmap's non-negative part
    in the square of ``radius`` pixels around the integer ``centres`` (B, N, 2), clamped to the map."""
    b, n, h, w = heatmaps.shape
    offsets = torch.arange(-radius, radius + 1, device=heatmaps.device)
    nx = (centres[..., 0, None, None] + offsets.view(1, 1, 1, -1)).clamp(0, w - 1)
    ny = (centres[..., 1, None, None] + offsets.view(1, 1, -1, 1)).clamp(0, h - 1)
    nx, ny = torch.broadcast_tensors(nx, ny)
    index = (ny * w + nx).reshape(b, n, -1)
    mass = torch.gather(heatmaps.reshape(b, n, h * w), 2, index).clamp_min(0.0)
    total = mass.sum(-1).clamp_min(MASS_FLOOR)
    x = (mass * nx.reshape(b, n, -1).to(mass.dtype)).sum(-1) / total
    y = (mass * ny.reshape(b, n, -1).to(mass.dtype)).sum(-1) / total
    return torch.stack([x, y], dim=-1)


def coordinate_loss(
    pred: torch.Tensor, target: torch.Tensor, points: torch.Tensor, radius: int, labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1 (heatmap pixels, averaged over faces, (labelled) points and axes) between the local soft-argmax
    of the predicted and of the target heatmaps, both over the window at the target's peak (``points``,
    heatmap pixels, finite): the heatmap's centre of mass is pulled to the label's sub-pixel position."""
    centres = points.round().long()
    error = (local_soft_argmax(pred, centres, radius) - local_soft_argmax(target, centres, radius)).abs().mean(-1)
    if labelled is None:
        return error.mean()
    weight = labelled.to(error.dtype)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def heatmap_loss(name: str, pred: torch.Tensor, target: torch.Tensor, labelled: torch.Tensor | None = None) -> torch.Tensor:
    """The named heatmap loss; ``labelled`` (B, N) bool: points without a label carry no loss."""
    if name == "mse":
        return heatmap_mse(pred, target, labelled)
    if name == "awing":
        return adaptive_wing(pred, target, labelled)
    raise ValueError(f"unknown heatmap loss {name!r}; choose from {', '.join(HEATMAP_LOSSES)}")


__all__ = [
    "AdaptiveWingConfig", "HEATMAP_LOSSES", "adaptive_wing", "coordinate_loss", "heatmap_loss", "heatmap_mse", "labelled_points",
    "local_soft_argmax",
]


def labelled_points(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 2) labels with NaN where a point has no label -> (the labels with those set to 0, the
    (B, N) mask of labelled points): the zeros keep every computation finite, the mask removes them."""
    labelled = torch.isfinite(points).all(dim=-1)
    return torch.where(labelled[..., None], points, torch.zeros_like(points)), labelled
