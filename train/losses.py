"""Heatmap losses: plain MSE (the paper's) and Adaptive Wing (Wang et al., ICCV 2019).

Both take predicted and target heatmaps (B, N, H, W) and return a scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

HEATMAP_LOSSES = ("mse", "awing")


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


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over heatmap pixels, averaged over faces and points."""
    return F.mse_loss(pred, target, reduction="sum") / (target.shape[0] * target.shape[1])


def adaptive_wing(pred: torch.Tensor, target: torch.Tensor, cfg: AdaptiveWingConfig = AdaptiveWingConfig()) -> torch.Tensor:
    """Adaptive Wing loss with the weighted loss map, summed over pixels, averaged over faces and points.

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
    return (loss * weight).sum() / (target.shape[0] * target.shape[1])


def heatmap_loss(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if name == "mse":
        return heatmap_mse(pred, target)
    if name == "awing":
        return adaptive_wing(pred, target)
    raise ValueError(f"unknown heatmap loss {name!r}; choose from {', '.join(HEATMAP_LOSSES)}")


__all__ = ["AdaptiveWingConfig", "HEATMAP_LOSSES", "adaptive_wing", "heatmap_loss", "heatmap_mse"]
