import pytest
import torch

from tracker.network.codec import render_gaussians
from tracker.train.losses import AdaptiveWingConfig, adaptive_wing, heatmap_loss, heatmap_mse


def _target() -> torch.Tensor:
    return render_gaussians(torch.tensor([[[10.0, 12.0], [20.0, 5.0]]]), 32, 1.0)


def test_losses_are_zero_at_the_target_and_grow_with_the_error():
    target = _target()
    for name in ("mse", "awing"):
        assert heatmap_loss(name, target, target).item() == 0.0
        small, large = heatmap_loss(name, target + 0.05, target), heatmap_loss(name, target + 0.3, target)
        assert 0 < small.item() < large.item()
    with pytest.raises(ValueError, match="unknown heatmap loss"):
        heatmap_loss("l1", target, target)


def test_adaptive_wing_is_continuous_at_theta_and_weights_the_foreground():
    cfg = AdaptiveWingConfig(foreground_weight=1.0)
    for y in (0.0, 0.5, 1.0):
        t = torch.full((1, 1, 1, 1), y)
        below, above = (adaptive_wing(t + cfg.theta + d, t, cfg=cfg).item() for d in (-1e-5, 1e-5))
        assert below == pytest.approx(above, rel=1e-3)
    target = _target()
    error = torch.zeros_like(target)
    error[0, 0, 12, 10] = 0.1  # on the peak
    on_peak = adaptive_wing(target + error, target)
    error = torch.zeros_like(target)
    error[0, 0, 30, 30] = 0.1  # far from any point
    off_peak = adaptive_wing(target + error, target)
    assert on_peak > 5 * off_peak  # foreground weight 10, and a steeper loss where the target is high


def test_adaptive_wing_gradient_is_larger_than_mse_for_small_foreground_errors():
    target = _target()
    pred = (target + 0.01).requires_grad_()
    adaptive_wing(pred, target).backward()
    g_awing = pred.grad[0, 0, 12, 10].abs()
    pred.grad = None
    heatmap_mse(pred, target).backward()
    assert g_awing > 10 * pred.grad[0, 0, 12, 10].abs()
