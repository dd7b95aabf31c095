import numpy as np
import torch

from tracker.network.codec import decode, heatmap_to_input, input_to_heatmap, render_gaussians


def test_decode_recovers_subpixel_peaks_exactly():
    rng = np.random.default_rng(0)
    pts = torch.tensor(rng.uniform(2, 29, (3, 68, 2)), dtype=torch.float64)
    heat = render_gaussians(pts, 32, sigma=1.5)
    found, conf = decode(heat)
    assert torch.allclose(found, pts, atol=1e-6)
    assert torch.all(conf > 0.8) and torch.all(conf <= 1)


def test_decode_beats_argmax_on_noisy_blurred_peaks():
    rng = np.random.default_rng(1)
    pts = torch.tensor(rng.uniform(3, 28, (4, 68, 2)), dtype=torch.float32)
    heat = render_gaussians(pts, 32, sigma=1.0) + 0.01 * torch.rand(4, 68, 32, 32, generator=torch.Generator().manual_seed(0))
    found, _ = decode(heat)
    integer = torch.stack([(heat.flatten(2).argmax(-1) % 32), (heat.flatten(2).argmax(-1) // 32)], -1).float()
    assert (found - pts).norm(dim=-1).mean() < 0.5 * (integer - pts).norm(dim=-1).mean()


def test_confidence_is_low_for_flat_heatmaps():
    _, conf = decode(torch.full((1, 2, 8, 8), 0.05))
    assert torch.allclose(conf, torch.full_like(conf, 0.05))


def test_heatmap_input_coordinate_conversions_are_inverse():
    x = torch.tensor([[0.0, 5.5], [127.0, 64.25]])
    assert torch.allclose(heatmap_to_input(input_to_heatmap(x, 4), 4), x)
    assert heatmap_to_input(torch.tensor(0.0), 4) == 1.5  # centre of input pixels 0..3


def test_modulated_decode_keeps_clean_peaks_and_the_confidence_and_helps_on_ragged_peaks():
    from tracker.network.codec import modulate

    rng = np.random.default_rng(2)
    pts = torch.tensor(rng.uniform(5, 26, (8, 68, 2)), dtype=torch.float64)
    clean = render_gaussians(pts, 32, sigma=1.0)
    found, conf = decode(clean, modulation_sigma=1.0)
    assert torch.allclose(found, pts, atol=1e-3)  # a Gaussian smoothed by a Gaussian is still centred there
    assert torch.allclose(conf, decode(clean)[1])
    assert torch.allclose(modulate(clean, 1.0).amax(dim=(2, 3)), clean.amax(dim=(2, 3)))  # peak height kept
    # a network's peak is not a clean Gaussian: speckle around it moves the plain Newton step
    ragged = render_gaussians(pts, 32, sigma=1.0) + 0.1 * torch.rand(8, 68, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    plain = (decode(ragged)[0] - pts).norm(dim=-1).mean()
    smoothed = (decode(ragged, modulation_sigma=1.0)[0] - pts).norm(dim=-1).mean()
    assert smoothed < 0.8 * plain, (smoothed, plain)
