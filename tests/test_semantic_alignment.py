import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracker.network.codec import render_gaussians
from tracker.train.config import SearchConfig
from tracker.train.semantic_alignment import gaussian_template, pearson_chi2, search_latent_points, search_template, sliding_chi2

PEAKS = torch.tensor([[[20.0, 22.0], [40.0, 12.0], [9.0, 50.0]]])
OBSERVED = PEAKS + torch.tensor([[[1.5, -1.0], [-1.25, 0.75], [0.5, 1.5]]])


def test_prior_only_keeps_the_observation():
    heat = render_gaussians(PEAKS, 64, 1.0)
    found = search_latent_points(heat, OBSERVED, SearchConfig(s2=1e6), 1.0)
    assert torch.equal(found, OBSERVED)


def test_likelihood_only_finds_the_gaussian_peak():
    heat = render_gaussians(PEAKS, 64, 1.0)
    found = search_latent_points(heat, OBSERVED, SearchConfig(s1=1e6), 1.0)
    assert torch.allclose(found, PEAKS, atol=1e-6)


def test_paper_balance_moves_most_of_the_way_and_window_limits_the_step():
    heat = render_gaussians(PEAKS, 64, 1.0)  # sigma 1 at 64x64 = the paper's template, 4 px at 256
    found = search_latent_points(heat, OBSERVED, SearchConfig(), 1.0)  # s2^2/s1^2 = 0.1
    assert torch.all((found - PEAKS).norm(dim=-1) < (OBSERVED - PEAKS).norm(dim=-1))
    far = PEAKS + 5.0  # 20 px at the 256 scale: outside the 17x17 window
    step = search_latent_points(heat, far, SearchConfig(), 1.0) - far
    assert torch.all(step.abs() <= 8 / 4 + 1e-6)  # at most 8 search pixels = 2 heatmap pixels


def test_chi2_of_a_perfect_gaussian_patch_is_zero():
    template = gaussian_template(19, 3.0)
    assert pearson_chi2(template * 7.0, template).item() < 1e-6  # scale-free: normalised first
    # sampled at the search scale from a heatmap: scale == heatmap size puts samples on pixel centres
    heat = render_gaussians(torch.tensor([[[30.0, 30.0]]]), 64, 3.0)
    cfg = SearchConfig(scale=64, window=3, template_sigmas=6.0)
    assert search_template(64, 3.0, cfg) == (19, 3.0)
    found = search_latent_points(heat, torch.tensor([[[30.0, 30.0]]]), cfg, 3.0)
    assert torch.equal(found, torch.tensor([[[30.0, 30.0]]]))
    patch = heat[0, 0, 21:40, 21:40].reshape(-1)
    assert pearson_chi2(patch, template).item() < 1e-6


@pytest.mark.parametrize("size", [32, 64])
def test_template_is_the_training_target_at_every_heatmap_size(size):
    """The template is the target Gaussian (sigma 1 heatmap pixel) seen at the search scale, so a clean
    target-shaped peak matches it exactly whether the map is 32x32 (sigma 8 px at 256) or 64x64 (4 px)."""
    cfg = SearchConfig()
    side, sigma = search_template(size, 1.0, cfg)
    assert sigma == 1.0 * cfg.scale / size and side == {32: 39, 64: 19}[size]  # 64x64: the paper's 19x19 at sigma 4
    factor = cfg.scale / size
    peak = torch.tensor([[[size * 0.4, size * 0.55]]])
    steps = (torch.arange(side, dtype=torch.float32) - side // 2) / factor
    xs, ys = peak[0, 0, 0] + steps[None, :], peak[0, 0, 1] + steps[:, None]
    patch = torch.exp(-((xs - peak[0, 0, 0]) ** 2 + (ys - peak[0, 0, 1]) ** 2) / 2.0)  # the target, sampled
    assert pearson_chi2(patch.reshape(-1), gaussian_template(side, sigma)).item() < 1e-4


@pytest.mark.parametrize("size", [32, 64])
def test_repeated_search_walks_to_the_peak_at_every_heatmap_size(size):
    """SA's alternation (o <- y^ every epoch) on a clean target peak: each search moves the label
    closer, up to where the paper's prior balances the chi-square (the wider 32x32 peak stops further
    out, in heatmap pixels, than the 64x64 one); with the prior off the search lands on the peak."""
    peak = torch.tensor([[[size * 0.4, size * 0.55]]])
    heat = render_gaussians(peak, size, 1.0)
    label = peak + torch.tensor([[[0.75, -0.375]]]) * size / 32  # the same offset in crop units
    distances = [(label - peak).norm().item()]
    for _ in range(10):
        label = search_latent_points(heat, label, SearchConfig(), 1.0)
        distances.append((label - peak).norm().item())
    assert all(b <= a for a, b in zip(distances, distances[1:])) and distances[-1] < 0.6 * distances[0]
    assert distances[-1] < 0.5
    exact = search_latent_points(heat, peak + 0.75, SearchConfig(s1=1e6), 1.0)
    assert torch.allclose(exact, peak, atol=1e-5)


def test_sliding_chi2_equals_patchwise_chi2():
    region = torch.rand(3, 1, 27, 27, generator=torch.Generator().manual_seed(0))
    template = gaussian_template(9, 2.0)
    fast = sliding_chi2(region, template.view(9, 9)).flatten(1)
    slow = pearson_chi2(F.unfold(region, 9).transpose(1, 2), template)
    assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-5)
    assert math.isclose(sliding_chi2(torch.zeros(1, 1, 9, 9), template.view(9, 9)).item(), 1.0)
    assert np.isfinite(fast.numpy()).all()
