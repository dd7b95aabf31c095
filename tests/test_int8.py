"""Int8 inference from stored activation ranges, precision choice, and faces split over threads."""
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import make_model, write_w300_folder
from tracker.cli import _add_plugins, app
from tracker.network.graph_cache import CACHE_ENV, graph_cache_dir
from tracker.network.inference import graph_key
from tracker.models import HourglassConfig, StackedHourglass, load_weights, save_weights
from tracker.models.hourglass import FirstStacks
from tracker.network.predictor import LandmarkPredictor, to_network_input
from tracker.network.quantization import QuantizationError, calibrate, int8_available, quantize, use_int8

_add_plugins()
needs_int8 = pytest.mark.skipif(not int8_available(), reason="this PyTorch build has no fbgemm engine (x86 only)")


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def _inputs(count: int, size: int, seed: int = 0) -> torch.Tensor:
    crops = np.random.default_rng(seed).integers(0, 255, (count, size, size, 3), dtype=np.uint8)
    return to_network_input(crops)


def _two_stack_network() -> StackedHourglass:
    torch.manual_seed(0)
    return StackedHourglass(HourglassConfig(num_stacks=2, features=16, depth=1, input_size=32)).eval()


@needs_int8
def test_quantized_network_tracks_the_float_one_and_is_int8():
    net = FirstStacks(_two_stack_network(), 2)
    ranges = calibrate(net, [_inputs(8, 32, seed) for seed in range(3)])
    assert ranges and all(low <= 0 <= high and high > low for low, high in ranges.values())
    quantized = quantize(net, ranges, _inputs(1, 32))
    x = _inputs(4, 32, seed=9)
    with torch.no_grad():
        want, got = net(x)[-1], quantized(x)[-1]
    assert any(m._get_name().startswith("QuantizedConv") for m in quantized.modules())
    correlation = torch.corrcoef(torch.stack([want.flatten(), got.flatten()]))[0, 1]
    assert correlation > 0.98, f"int8 heatmaps correlate {correlation:.3f} with the float ones"
    assert not torch.equal(got, want)  # it really is a different (quantized) computation


@needs_int8
def test_ranges_of_the_full_network_also_serve_its_first_stack():
    network = _two_stack_network()
    ranges = calibrate(FirstStacks(network, 2), [_inputs(8, 32)])
    one = quantize(FirstStacks(network, 1), ranges, _inputs(1, 32))
    with torch.no_grad():
        assert len(one(_inputs(2, 32))) == 1


@needs_int8
def test_ranges_for_another_network_are_refused():
    ranges = calibrate(FirstStacks(_two_stack_network(), 2), [_inputs(4, 32)])
    other = StackedHourglass(HourglassConfig(num_stacks=2, features=16, depth=2, input_size=32)).eval()
    with pytest.raises(QuantizationError, match="do not match"):
        quantize(FirstStacks(other, 2), ranges, _inputs(1, 32))


def test_ranges_survive_the_weights_file(tmp_path: Path):
    model = make_model()
    model.int8_ranges = {"images": [-2.0, 2.0], "network_stem_0": [0.0, 3.5]}
    save_weights(tmp_path / "w.pt", model)
    assert load_weights(tmp_path / "w.pt").int8_ranges == model.int8_ranges
    save_weights(tmp_path / "plain.pt", make_model())
    assert load_weights(tmp_path / "plain.pt").int8_ranges is None


def test_precision_choice():
    plain, calibrated = make_model(), make_model()
    calibrated.int8_ranges = {"images": [-2.0, 2.0]}
    assert not use_int8("auto")  # float: ONNX Runtime's float beats PyTorch's int8 on a CPU
    assert not use_int8("float")
    assert use_int8("int8")  # asked for explicitly: the predictor then says why it cannot
    with pytest.raises(ValueError, match="precision"):
        use_int8("fp16")
    with pytest.raises(QuantizationError, match="no int8 ranges"):
        LandmarkPredictor(plain, "cpu", int8=True)


@needs_int8
def test_predictor_runs_int8_frozen():
    model = make_model()
    network = FirstStacks(model.hourglass, model.config.num_stacks)
    model.int8_ranges = calibrate(network, [_inputs(8, 32)])
    crops = np.random.default_rng(3).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    int8 = LandmarkPredictor(model, "cpu", freeze=True, int8=True).predict_batch(crops)
    ref = LandmarkPredictor(model, "cpu", freeze=True).predict_batch(crops)
    assert int8.points.shape == ref.points.shape and torch.isfinite(int8.points).all()
    assert (int8.points - ref.points).abs().mean() < 2.0  # input pixels, on a 32-pixel crop


def test_faces_split_over_threads_give_the_batched_answer():
    model = make_model()
    crops = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    one = LandmarkPredictor(model, "cpu", freeze=True)
    split = LandmarkPredictor(model, "cpu", freeze=True, face_threads=3)
    try:
        a, b = one.predict_batch(crops), split.predict_batch(crops)
        assert split._pool is not None  # the split really happened
        torch.testing.assert_close(b.points, a.points, atol=1e-4, rtol=0)
        torch.testing.assert_close(b.confidence, a.confidence, atol=1e-5, rtol=0)
        assert b.heatmaps.shape == a.heatmaps.shape
        assert split.predict_batch(crops[:1]).points.shape == (1, 68, 2)
    finally:
        split.close()
    assert split._pool is None
    with pytest.raises(ValueError, match="face_threads"):
        LandmarkPredictor(model, "cpu", face_threads=0)


def test_run_refuses_int8_without_ranges_in_one_line(tiny_weights: Path, blank_video: Path, tmp_path: Path):
    result = invoke("run", blank_video, "--csv", tmp_path / "out.csv", "--weights", tiny_weights, "--precision", "int8", "--device", "cpu")
    assert result.exit_code == 1
    assert "no int8 ranges" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()
    bad = invoke("run", blank_video, "--csv", tmp_path / "out.csv", "--weights", tiny_weights, "--precision", "half")
    assert bad.exit_code == 1 and "precision must be one of" in bad.output


@needs_int8
def test_quantize_command_adds_ranges_and_reports_both_precisions(tiny_weights: Path, tmp_path: Path):
    root = tmp_path / "300W"
    write_w300_folder(root, 6, subset="lfpw/trainset")
    write_w300_folder(root, 3, seed=1, subset="lfpw/testset")
    out = tmp_path / "int8.pt"
    result = invoke("quantize", "--root", root, "--weights", tiny_weights, "--out", out, "--faces", 4)
    assert result.exit_code == 0, result.output
    assert "float:" in result.output and "int8:" in result.output
    model = load_weights(out)
    assert model.int8_ranges and model.meta["int8_calibration"]["faces"] == 4
    before = load_weights(tiny_weights)
    for name, tensor in before.hourglass.state_dict().items():
        assert torch.equal(tensor, model.hourglass.state_dict()[name])  # float weights untouched
    only_train = tmp_path / "train-only"
    write_w300_folder(only_train, 8, subset="lfpw/trainset")
    checked = invoke("quantize", "--root", only_train, "--weights", tiny_weights, "--out", tmp_path / "t.pt", "--faces", 4)
    assert checked.exit_code == 0 and "4 other 300-W training faces NME inter-pupil, int8" in checked.output, checked.output
    missing = invoke("quantize", "--root", tmp_path / "nowhere", "--weights", tiny_weights, "--out", out)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_built_graphs_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    crops = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    first = LandmarkPredictor(make_model(), "cpu", freeze=True).predict_batch(crops)
    saved = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [n.split("-")[0] for n in saved] == ["ghcu", "hourglass"]
    again = LandmarkPredictor(make_model(), "cpu", freeze=True).predict_batch(crops)  # loaded, not rebuilt
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == saved
    torch.testing.assert_close(again.heatmaps, first.heatmaps, atol=0, rtol=0)
    LandmarkPredictor(make_model(seed=1), "cpu", freeze=True)  # other weights: other graphs
    assert len(list((tmp_path / "cache").iterdir())) == 4
    for path in (tmp_path / "cache").iterdir():
        path.write_bytes(b"truncated")
    rebuilt = LandmarkPredictor(make_model(), "cpu", freeze=True).predict_batch(crops)
    torch.testing.assert_close(rebuilt.heatmaps, first.heatmaps, atol=0, rtol=0)
    monkeypatch.setenv(CACHE_ENV, "off")
    assert graph_cache_dir() is None
    LandmarkPredictor(make_model(seed=2), "cpu", freeze=True)
    assert len(list((tmp_path / "cache").iterdir())) == 4
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocked / "cache"))  # cannot be created: run uncached
    assert LandmarkPredictor(make_model(seed=3), "cpu", freeze=True).predict_batch(crops).points.shape == (2, 68, 2)


def test_graph_key_follows_weights_and_settings():
    a, b = make_model(), make_model(seed=1)
    assert graph_key("hourglass", [a.hourglass], None) == graph_key("hourglass", [make_model().hourglass], None)
    assert graph_key("hourglass", [a.hourglass], None) != graph_key("hourglass", [b.hourglass], None)
    assert graph_key("hourglass", [a.hourglass], None) != graph_key("hourglass", [a.hourglass], 1)
    assert graph_key("hourglass", [a.hourglass], None) != graph_key("hourglass-int8", [a.hourglass], None)


@needs_int8
def test_quantize_refuses_ranges_that_break_the_network(tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Ranges far too narrow for the activations (as when a network's residual stream outgrows 8 bits):
    int8 is much worse than float, so nothing is written and the command says why."""
    import tracker.train.quantize as quantize_module

    root = tmp_path / "300W"
    write_w300_folder(root, 6, subset="lfpw/trainset")
    write_w300_folder(root, 3, seed=1, subset="lfpw/testset")
    real = quantize_module.calibrate
    monkeypatch.setattr(quantize_module, "calibrate", lambda net, batches: {k: [0.0, 1e-4] for k in real(net, batches)})
    out = tmp_path / "int8.pt"
    result = invoke("quantize", "--root", root, "--weights", tiny_weights, "--out", out, "--faces", 4)
    assert result.exit_code == 1 and "do not fit 8 bits" in result.output and not out.exists()
