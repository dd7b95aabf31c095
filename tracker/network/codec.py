"""The network's codec: crops in, heatmaps out, and the rules that read them.

Input normalisation, Gaussian heatmap targets, sub-pixel decoding with per-landmark confidence, the
heatmap <-> input-pixel and heatmap <-> unit (GHCU) mappings and the face threshold. Training,
the per-crop computation (``tracker.network.computation``) and evaluation all use these, so they
agree by construction.

Heatmap coordinates are 0-based with integers at heatmap-pixel centres. Heatmap pixel ``j`` covers
input pixels ``[stride*j - 0.5, stride*(j+1) - 0.5]``, so its centre is input pixel
``stride*j + (stride-1)/2``.
"""
from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from tracker.models import LandmarkModel

# Network input normalisation: RGB / 255, then (x - PIXEL_MEAN) / PIXEL_STD.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
MIN_MEAN_PEAK = 0.35  # for weights without a face check: a crop whose mean heatmap peak is lower is not a face

LOG_FLOOR = 1e-10  # keeps log() finite where a heatmap is (near) zero
MAX_SUBPIXEL_SHIFT = 1.0  # a Taylor step further than one pixel means the quadratic model broke down
# Width of the Gaussian that ``modulate`` smooths with: the training targets' (1 heatmap pixel in every
# preset); its effect is measured in docs/accuracy.md.
MODULATION_SIGMA = 1.0


def normalise(crops: torch.Tensor) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB crops -> the network's float input (B, 3, S, S)."""
    return (crops.permute(0, 3, 1, 2).float() / 255.0 - PIXEL_MEAN) / PIXEL_STD


def to_network_input(crops: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """``normalise`` on ``device``, channels-last (the memory format the convolutions run fastest in)."""
    x = normalise(torch.as_tensor(crops).to(device, non_blocking=True))
    return x.contiguous(memory_format=torch.channels_last)


def face_threshold(model: LandmarkModel) -> float:
    """The face score below which a crop is not a face: the face check's own, else the mean-peak rule."""
    return model.face_check.config.threshold if model.face_check is not None else MIN_MEAN_PEAK


def heatmap_to_unit(points: torch.Tensor, size: int) -> torch.Tensor:
    """Heatmap pixels -> GHCU's normalised coordinates (0..1 across the map)."""
    return (points + 0.5) / size


def unit_to_heatmap(points: torch.Tensor, size: int) -> torch.Tensor:
    return points * size - 0.5


def render_gaussians(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Heatmaps (B, N, size, size) with a unit-peak Gaussian at each (B, N, 2) heatmap-pixel point."""
    grid = torch.arange(size, dtype=points.dtype, device=points.device)
    dx = grid.view(1, 1, 1, size) - points[..., 0, None, None]
    dy = grid.view(1, 1, size, 1) - points[..., 1, None, None]
    return torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))


def heatmap_to_input(points: torch.Tensor, stride: int) -> torch.Tensor:
    return points * stride + (stride - 1) / 2.0


def input_to_heatmap(points: torch.Tensor, stride: int) -> torch.Tensor:
    return (points - (stride - 1) / 2.0) / stride


def modulate(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Distribution-aware modulation (DARK, Zhang et al., CVPR 2020): smooth each heatmap with a
    Gaussian of ``sigma`` heatmap pixels (edges replicated) and rescale it to its original peak, so that
    a network's ragged peak becomes the Gaussian the Newton step of ``decode`` assumes."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    b, n, h, w = heatmaps.shape
    flat = heatmaps.reshape(b * n, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    smooth = flat.reshape(b, n, h, w)
    low = smooth.amin(dim=(2, 3), keepdim=True)
    span = (smooth.amax(dim=(2, 3), keepdim=True) - low).clamp_min(LOG_FLOOR)
    return (smooth - low) / span * heatmaps.amax(dim=(2, 3), keepdim=True).clamp_min(0.0)


def decode(heatmaps: torch.Tensor, modulation_sigma: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel maxima of (B, N, H, W) heatmaps.

    The integer argmax is refined by one Newton step on the log-heatmap (a Gaussian is exactly
    quadratic in log space, so a clean Gaussian peak is recovered exactly); with ``modulation_sigma``
    the step runs on the ``modulate``-d heatmaps. Returns points (B, N, 2) as (x, y) heatmap pixels
    and confidences (B, N) = the original peak value clamped to [0, 1].
    """
    confidence = heatmaps.amax(dim=(2, 3)).clamp(0.0, 1.0)
    if modulation_sigma:
        heatmaps = modulate(heatmaps, modulation_sigma)
    b, n, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, n, h * w)
    idx = flat.argmax(dim=-1)
    iy = torch.div(idx, w, rounding_mode="floor")
    ix = idx - iy * w
    # 3x3 neighbourhood of the log-heatmap around the argmax (clamped at the borders)
    offsets = torch.arange(-1, 2, device=heatmaps.device)
    ny = (iy[..., None, None] + offsets.view(1, 1, 3, 1)).clamp(0, h - 1)
    nx = (ix[..., None, None] + offsets.view(1, 1, 1, 3)).clamp(0, w - 1)
    values = torch.gather(flat, 2, (ny * w + nx).reshape(b, n, 9)).reshape(b, n, 3, 3)
    patch = torch.log(values.clamp_min(LOG_FLOOR))
    gx = (patch[..., 1, 2] - patch[..., 1, 0]) / 2
    gy = (patch[..., 2, 1] - patch[..., 0, 1]) / 2
    hxx = patch[..., 1, 2] - 2 * patch[..., 1, 1] + patch[..., 1, 0]
    hyy = patch[..., 2, 1] - 2 * patch[..., 1, 1] + patch[..., 0, 1]
    hxy = (patch[..., 2, 2] - patch[..., 2, 0] - patch[..., 0, 2] + patch[..., 0, 0]) / 4
    det = hxx * hyy - hxy * hxy
    concave = (hxx < 0) & (det > 0)
    safe_det = torch.where(concave, det, torch.ones_like(det))
    step_x = -(hyy * gx - hxy * gy) / safe_det
    step_y = -(-hxy * gx + hxx * gy) / safe_det
    valid = concave & (step_x.abs() <= MAX_SUBPIXEL_SHIFT) & (step_y.abs() <= MAX_SUBPIXEL_SHIFT)
    inside = (ix > 0) & (ix < w - 1) & (iy > 0) & (iy < h - 1)
    use = valid & inside
    x = ix.to(heatmaps.dtype) + torch.where(use, step_x, torch.zeros_like(step_x))
    y = iy.to(heatmaps.dtype) + torch.where(use, step_y, torch.zeros_like(step_y))
    return torch.stack([x, y], dim=-1), confidence
