import numpy as np
import pytest
import torch

from tests.conftest import make_model
from tracker.models import GHCU, GHCUConfig, HourglassConfig, StackedHourglass, WeightsError, load_weights, save_weights


def test_hourglass_outputs_one_heatmap_per_stack():
    cfg = HourglassConfig(num_stacks=2, features=16, depth=2, input_size=64)
    out = StackedHourglass(cfg)(torch.zeros(2, 3, 64, 64))
    assert len(out) == 2 and out[-1].shape == (2, 68, 16, 16)


def test_hourglass_config_rejects_sizes_depth_cannot_halve():
    with pytest.raises(ValueError, match="multiple"):
        HourglassConfig(depth=4, input_size=160)


def test_ghcu_paper_layout_and_identity_start():
    cfg = GHCUConfig(heatmap_size=64)
    ghcu = GHCU(cfg).eval()
    convs = [m for m in ghcu.convs if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 32, 32, 16, 16] and all(c.stride == (2, 2) for c in convs)
    decoded = torch.rand(2, 68, 2)
    assert torch.equal(ghcu(torch.rand(2, 68, 64, 64), decoded), decoded)  # zero-initialised correction


def test_weights_file_carries_its_config(tmp_path):
    model = make_model()
    torch.nn.init.normal_(model.ghcu.fc[-1].weight, std=0.01)
    save_weights(tmp_path / "w.pt", model)
    loaded = load_weights(tmp_path / "w.pt")
    assert loaded.hourglass.config == model.hourglass.config and loaded.ghcu.config == model.ghcu.config
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model.hourglass(x)[-1], loaded.hourglass(x)[-1]
    assert torch.allclose(a, b, atol=5e-2 * a.abs().max())  # fp16 storage


def test_weights_without_ghcu(tmp_path):
    save_weights(tmp_path / "hg.pt", make_model(ghcu=False), half=False)
    assert load_weights(tmp_path / "hg.pt").ghcu is None


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_bad_weights_files_raise_weights_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"something": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_weights(path)
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "missing.pt")


def test_stride_two_head_doubles_the_heatmaps_of_every_stack_and_first_stacks_agree():
    cfg = HourglassConfig(num_stacks=2, features=16, depth=1, input_size=32, heatmap_stride=2, head_features=8)
    assert cfg.heatmap_size == 16
    net = StackedHourglass(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = net(x)
        first = net(x, 1)
    assert [o.shape for o in out] == [(2, 68, 16, 16)] * 2
    assert torch.equal(first[0], out[0])
    with pytest.raises(ValueError, match="heatmap_stride"):
        HourglassConfig(heatmap_stride=3)


def test_old_weights_files_load_as_stride_four(tmp_path):
    """Weights saved before heatmap_stride existed carry no such key; they are stride-4 networks."""
    model = make_model()
    save_weights(tmp_path / "w.pt", model)
    payload = torch.load(tmp_path / "w.pt", weights_only=True)
    for key in ("heatmap_stride", "head_features"):
        payload["hourglass_config"].pop(key)
    torch.save(payload, tmp_path / "old.pt")
    assert load_weights(tmp_path / "old.pt").config.heatmap_stride == 4


def test_ghcu_learns_to_repair_points_the_heatmaps_put_in_the_wrong_place():
    """Heatmaps whose decoded mouth points sit 1.5 heatmap pixels low: trained on the true points, the GHCU
    learns the shift from the maps and cuts the error of those points, leaving the others right."""
    from tests.conftest import symmetric_shape
    from tracker.models import GHCU, GHCUConfig
    from tracker.network.codec import render_gaussians
    from tracker.network.codec import heatmap_to_unit, unit_to_heatmap

    rng = np.random.default_rng(0)
    size, mouth = 16, slice(48, 68)
    torch.manual_seed(0)
    ghcu = GHCU(GHCUConfig(heatmap_size=size, channels=(8, 8), hidden=64))
    optimiser = torch.optim.Adam(ghcu.parameters(), lr=2e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        truth = np.stack([symmetric_shape(rng, size / 2, size * 0.3) + (0, size / 2 - size * 0.1) for _ in range(n)])
        seen = truth.copy()
        seen[:, mouth, 1] += 1.5  # where the heatmaps (and so the decoder) put the mouth
        seen_t, truth_t = torch.tensor(seen, dtype=torch.float32), torch.tensor(truth, dtype=torch.float32)
        return render_gaussians(seen_t, size, 1.0), heatmap_to_unit(seen_t, size), truth_t

    def mouth_error(maps, unit, truth) -> float:
        with torch.no_grad():
            pred = unit_to_heatmap(ghcu(maps, unit), size)
        return float((pred - truth)[:, mouth].norm(dim=-1).mean())

    test = batch(32)
    before = mouth_error(*test)
    assert before == pytest.approx(1.5, abs=0.05)  # identity start: the decoded points as they are
    for _ in range(120):
        maps, unit, truth = batch(16)
        loss = torch.nn.functional.l1_loss(unit_to_heatmap(ghcu(maps, unit), size), truth)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert mouth_error(*test) < 0.5 * before
