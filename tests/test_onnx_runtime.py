"""The CPU runtime on ONNX Runtime: same answers as PyTorch, graphs cached by content, no PyTorch
import once cached, and the exported file usable on its own."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest

from tests.golden import portrait
from tests.conftest import make_model, write_video
from tracker.models import save_weights
from tracker.network import graph_cache
from tracker.network.graph_cache import graph_key, landmark_graph
from tracker.network.onnx_runtime import OnnxPredictor
from tracker.network.options import GraphOptions
from tracker.network.predictor import LandmarkPredictor
from tracker.network.weights_registry import default_weights_path, load_model

# ONNX Runtime and PyTorch sum in different orders: float32 rounding apart.
HEATMAP_TOLERANCE = 1e-4  # heatmaps, confidences and face scores (values in 0..1)
POINT_TOLERANCE_PX = 0.01  # landmarks on a real face, in crop pixels
RELATIVE_TOLERANCE = 1e-3  # of the heatmaps' range, for untrained weights
MIN_PEAK = 0.3  # the crops' mean heatmap peak: clear peaks, not the flat maps of a non-face


def _portrait_crops(size: int) -> np.ndarray:
    """Grace Hopper's face (matplotlib's sample portrait) framed three ways, as network crops."""
    image = portrait()
    face = image[60:420, 90:430]
    crops = [cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)]
    crops.append(cv2.resize(face[20:, 10:], (size, size), interpolation=cv2.INTER_AREA))
    crops.append(cv2.resize(face[:-30, :-20], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops)


@pytest.mark.parametrize("options", [GraphOptions(), GraphOptions(flip_test=True), GraphOptions(ghcu=False, num_stacks=1)])
def test_onnx_matches_pytorch_on_a_real_face(options: GraphOptions):
    model = load_model()
    onnx = OnnxPredictor.for_weights(default_weights_path(), options, with_heatmaps=True)
    torch_predictor = LandmarkPredictor(model, options=options)
    crops = _portrait_crops(onnx.input_size)
    ours, reference = onnx.predict_batch(crops), torch_predictor.predict_batch(crops)
    for name in ("heatmaps", "confidence", "face_score"):
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name).numpy(), atol=HEATMAP_TOLERANCE, err_msg=name)
    np.testing.assert_allclose(ours.points, reference.points.numpy(), atol=POINT_TOLERANCE_PX)
    assert reference.confidence.mean() > MIN_PEAK  # a face, so the comparison is on real peaks
    assert onnx.has_ghcu == options.ghcu


def test_onnx_matches_pytorch_heatmaps_for_other_weights(tiny_weights: Path):
    """A second architecture (tiny, random weights): every heatmap value within a thousandth of the maps'
    range (untrained batch norms leave large activations, so float32 rounding is larger in absolute terms)."""
    model = make_model()
    onnx = OnnxPredictor.for_weights(tiny_weights, GraphOptions(), with_heatmaps=True)
    reference = LandmarkPredictor(model)
    crops = np.random.default_rng(0).integers(0, 255, (5, onnx.input_size, onnx.input_size, 3), dtype=np.uint8)
    for batch in (1, 5):
        expected = reference.predict_batch(crops[:batch]).heatmaps.numpy()
        np.testing.assert_allclose(onnx.predict_batch(crops[:batch]).heatmaps, expected, atol=RELATIVE_TOLERANCE * np.ptp(expected))
    assert onnx.face_threshold == reference.face_threshold and onnx.num_points == reference.num_points


def test_the_graph_cache_follows_weights_options_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SA_TRACKER_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    save_weights(weights, make_model(seed=0))
    exports = []
    real_export = __import__("tracker.network.onnx_export", fromlist=["export_landmark_graph"]).export_landmark_graph

    def counting_export(*args, **kwargs):
        exports.append(args[1])
        return real_export(*args, **kwargs)

    monkeypatch.setattr("tracker.network.onnx_export.export_landmark_graph", counting_export)
    first = landmark_graph(weights, GraphOptions())
    assert landmark_graph(weights, GraphOptions()) == first and len(exports) == 1  # cached
    assert landmark_graph(weights, GraphOptions(ghcu=False)) != first and len(exports) == 2  # other options
    save_weights(weights, make_model(seed=1))  # retrained weights, same file name
    changed = landmark_graph(weights, GraphOptions())
    assert changed != first and len(exports) == 3
    # a change to the code baked into the graph: a copy of the package with one source file edited
    package = tmp_path / "package"
    for path in graph_cache.source_files():
        name = path.relative_to(graph_cache.PACKAGE_DIR)
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, package / name)
    before = graph_key(weights, GraphOptions())
    monkeypatch.setattr("tracker.network.graph_cache.PACKAGE_DIR", package)
    assert graph_key(weights, GraphOptions()) == before
    with open(package / "network/codec.py", "a") as handle:
        handle.write("\n# a changed decoder\n")
    assert graph_key(weights, GraphOptions()) != before
    landmark_graph(weights, GraphOptions())
    assert len(exports) == 4


def test_an_uncached_run_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_weights: Path):
    monkeypatch.setenv("SA_TRACKER_CACHE", "off")
    predictor = OnnxPredictor.for_weights(tiny_weights, GraphOptions())
    assert predictor.predict_batch(np.zeros((1, 32, 32, 3), np.uint8)).points.shape == (1, 68, 2)


@pytest.mark.parametrize("cache", ["off", "unwritable"])
def test_a_graph_that_cannot_be_cached_leaves_no_file_behind(tmp_path: Path, tiny_weights: Path, cache: str):
    """Caching off, or a cache folder that cannot be made: the run works and its scratch graph is gone
    when the process ends (a read-only home must not fill the temporary folder run after run)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "SA_TRACKER_CACHE": "off" if cache == "off" else str(blocker / "cache")}
    script = (
        "import numpy as np\nfrom pathlib import Path\n"
        "from tracker.network.onnx_runtime import OnnxPredictor\nfrom tracker.network.options import GraphOptions\n"
        f"predictor = OnnxPredictor.for_weights(Path({str(tiny_weights)!r}), GraphOptions())\n"
        "print(predictor.predict_batch(np.zeros((1, 32, 32, 3), np.uint8)).points.shape)\n"
        "print(len(list(Path(__import__('tempfile').gettempdir()).glob('sa-tracker-*/*.onnx'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["(1,", "68,", "2)", "1"]  # the graph was in the scratch folder while it ran
    assert list(scratch.glob("sa-tracker-*")) == []


def test_the_cpu_run_path_imports_no_torch(tmp_path: Path):
    """Once the graph is cached, ``tracker run`` on a CPU never imports PyTorch."""
    rng = np.random.default_rng(0)
    clip = write_video(tmp_path / "clip.mp4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)])
    script = (
        "import sys\nfrom tracker.cli import main\n"
        f"sys.argv = ['tracker', 'run', {str(clip)!r}, '--out', {str(tmp_path / 'o.mp4')!r}, '--device', 'cpu', '--quiet']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    landmark_graph(default_weights_path(), GraphOptions())  # cached, as after a first run
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_exported_graph_runs_in_a_bare_session(tmp_path: Path):
    """``tracker export``: a file ONNX Runtime runs with nothing of this package, as docs/export.md says."""
    out = tmp_path / "landmarks.onnx"
    subprocess.run([sys.executable, "-m", "tracker", "export", "--out", str(out)], check=True, capture_output=True)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    size, points = int(meta["input_size"]), int(meta["num_points"])
    assert meta["format"] == "sa-tracker-landmarks-onnx/1" and session.get_inputs()[0].name == "crops"
    crops = _portrait_crops(size)
    named = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"crops": crops})))
    assert named["points"].shape == (3, points, 2) and named["confidence"].shape == (3, points)
    assert named["heatmaps"].shape == (3, points, int(meta["heatmap_size"]), int(meta["heatmap_size"]))
    assert (named["face_score"] > float(meta["face_threshold"])).all()  # Grace Hopper is a face
    reference = OnnxPredictor.for_weights(default_weights_path(), GraphOptions()).predict_batch(crops)
    np.testing.assert_allclose(named["points"], reference.points, atol=1e-5)
    # the points lie on the face: the eyes above the mouth, inside the crop
    assert ((named["points"] > 0) & (named["points"] < size)).all()
    assert (named["points"][:, 36:48, 1].mean(axis=1) < named["points"][:, 48:68, 1].mean(axis=1)).all()
