"""Semantic Alignment step 1: search the latent 'real' ground truth near each observation.

For every landmark, over a ``window`` x ``window`` grid around the current observation ``o``
(pixels at the ``scale`` x ``scale`` resolution, whatever the heatmap size), minimise

    E(y) = |o - y|^2 / (2 s1^2) + chi2(y) / (2 s2^2)

where chi2(y) is the Pearson chi-square distance between a normalised Gaussian template and the
normalised, non-negative heatmap patch centred on ``y``. The template is the training target's
Gaussian, so the search measures every heatmap size against the peak shape it was trained to make.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tracker.train.config import SearchConfig

CHI2_EPS = 1e-8


def gaussian_template(size: int, sigma: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A (size*size,) Gaussian that sums to one."""
    r = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(r[None, :] ** 2 + r[:, None] ** 2) / (2 * sigma * sigma))
    return (g / g.sum()).flatten()


def pearson_chi2(patches: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """chi2 = sum (P - E)^2 / E over the last dim; patches are clamped at 0 and normalised to sum 1."""
    p = patches.clamp_min(0.0)
    p = p / p.sum(dim=-1, keepdim=True).clamp_min(CHI2_EPS)
    return ((p - template) ** 2 / template.clamp_min(CHI2_EPS)).sum(dim=-1)


def sliding_chi2(region: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Pearson chi2 of every template-sized patch of ``region`` (M, 1, R, R) -> (M, R-T+1, R-T+1).

    Expands sum (p/S - E)^2 / E = (sum p^2 / E) / S^2 - 1 (as sum p/S = sum E = 1), so two
    correlations replace an explicit patch tensor; identical to :func:`pearson_chi2` per patch.
    """
    p = region.clamp_min(0.0)
    t = template.shape[-1]
    inv_e = (1.0 / template.clamp_min(CHI2_EPS)).view(1, 1, t, t)
    q = F.conv2d(p * p, inv_e)[:, 0]
    total = F.conv2d(p, torch.ones_like(inv_e))[:, 0]
    chi2 = q / total.clamp_min(CHI2_EPS) ** 2 - 1.0
    return torch.where(total > CHI2_EPS, chi2.clamp_min(0.0), torch.ones_like(chi2))


def search_template(heatmap_size: int, target_sigma: float, cfg: SearchConfig) -> tuple[int, float]:
    """The template of a ``heatmap_size`` map whose targets have ``target_sigma`` heatmap pixels: its odd
    side and its sigma, both in search-scale pixels."""
    sigma = target_sigma * cfg.scale / heatmap_size
    return 2 * max(1, int(cfg.template_sigmas * sigma / 2)) + 1, sigma  # 19 at the paper's sigma 4


def search_latent_points(
    heatmaps: torch.Tensor, observed: torch.Tensor, cfg: SearchConfig, target_sigma: float,
) -> torch.Tensor:
    """Return y^ (B, N, 2) in heatmap pixels for heatmaps (B, N, H, W) and observations (B, N, 2);
    ``target_sigma``: the training targets' Gaussian width in heatmap pixels (the template's)."""
    b, n, h, w = heatmaps.shape
    factor = cfg.scale / h  # search-scale pixels per heatmap pixel
    side, sigma = search_template(h, target_sigma, cfg)
    half_win, half_tpl = cfg.window // 2, side // 2
    reach = half_win + half_tpl
    region = 2 * reach + 1
    device = heatmaps.device
    steps = torch.arange(-reach, reach + 1, dtype=torch.float32, device=device) / factor
    # sample the (region x region) neighbourhood of each observation, bilinear, zeros outside
    gy, gx = torch.meshgrid(steps, steps, indexing="ij")
    xs = observed[..., 0, None, None] + gx  # (B, N, R, R) heatmap px
    ys = observed[..., 1, None, None] + gy
    grid = torch.stack([(xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1], dim=-1)  # align_corners=False
    sampled = F.grid_sample(
        heatmaps.reshape(b * n, 1, h, w).float(), grid.reshape(b * n, region, region, 2),
        mode="bilinear", padding_mode="zeros", align_corners=False,
    )
    template = gaussian_template(side, sigma, device).view(side, side)
    chi2 = sliding_chi2(sampled, template).flatten(1)  # (B*N, W*W)
    offs = torch.arange(-half_win, half_win + 1, dtype=torch.float32, device=device)
    oy, ox = torch.meshgrid(offs, offs, indexing="ij")
    prior = (ox**2 + oy**2).flatten() / (2 * cfg.s1**2)  # distances in search-scale pixels
    energy = prior[None, :] + chi2 / (2 * cfg.s2**2)
    best = energy.argmin(dim=-1)
    shift = torch.stack([ox.flatten()[best], oy.flatten()[best]], dim=-1) / factor
    return observed + shift.view(b, n, 2)
