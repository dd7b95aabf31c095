import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import write_w300_folder
from tests.test_datasets import _vw_sequence
from tracker.cli import app, _add_plugins
from tracker.network.weights_registry import default_weights_path

_add_plugins()
runner = CliRunner()
SUMMARY_KEYS = {"protocol", "n_missed", "nme_io", "auc_0.08", "fr_0.08", "auc_0.10", "fr_0.10"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_eval_300w_cli_json_and_absent_subsets(tmp_path, tiny_weights):
    write_w300_folder(tmp_path / "w300", 3, subset="lfpw/testset")
    out = tmp_path / "r.json"
    result = invoke("eval", "300w", "--root", tmp_path / "w300", "--weights", tiny_weights, "--device", "cpu", "--json", out, "--ced", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert "helen/testset" in result.output
    data = json.loads(out.read_text())
    assert SUMMARY_KEYS | {"subset", "n_faces", "nme_ip"} <= set(data)
    assert data["n_faces"] == 3 and data["absent"] == ["helen/testset"] and (tmp_path / "c.png").is_file()


def test_eval_300w_norm_and_training_subset(tmp_path, tiny_weights):
    write_w300_folder(tmp_path / "w300", 2, subset="lfpw/testset")
    write_w300_folder(tmp_path / "w300", 3, subset="afw")
    plain, norm, train = (tmp_path / f"{n}.json" for n in ("plain", "norm", "train"))
    common = ("eval", "300w", "--root", tmp_path / "w300", "--weights", tiny_weights, "--device", "cpu")
    assert invoke(*common, "--json", plain).exit_code == 0
    assert invoke(*common, "--norm", "--json", norm).exit_code == 0
    result = invoke(*common, "--subset", "train", "--json", train)
    assert result.exit_code == 0, result.output
    a, b, t = (json.loads(f.read_text()) for f in (plain, norm, train))
    assert (a["norm"], b["norm"]) == (False, True) and a["nme_ip"] != b["nme_ip"]  # the second pass changes the answer
    assert t["subset"] == "train" and t["n_faces"] == 3 and "lfpw/trainset" in t["absent"]
    write_w300_folder(tmp_path / "w300", 4, subset="lfpw/trainset")
    assert invoke(*common, "--subset", "lfpw_train", "--json", train).exit_code == 0
    assert json.loads(train.read_text())["n_faces"] == 4  # LFPW's training half alone, not AFW


def test_network_cost_times_each_preset(tmp_path):
    result = invoke("network-cost", "--preset", "tiny", "--rounds", "1")
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "ms_per_face" in result.output
    assert invoke("network-cost", "--preset", "huge").exit_code != 0


def test_eval_300w_missing_root_is_one_line(tmp_path, tiny_weights):
    result = invoke("eval", "300w", "--root", tmp_path / "nope", "--weights", tiny_weights)
    assert result.exit_code == 1 and result.output.strip().startswith("error: 300-W root not found")


@pytest.mark.parametrize("init", ["detector", "ground-truth"])
def test_eval_300vw_on_a_vid_avi_layout(tmp_path, tiny_weights, init):
    _vw_sequence(tmp_path / "vw", "401", frames=4)
    _vw_sequence(tmp_path / "vw", "custom_seq", frames=4, layout="frames")
    out = tmp_path / "r.json"
    result = invoke("eval", "300vw", "--root", tmp_path / "vw", "--videos", "found", "--init", init,
                    "--weights", tiny_weights, "--device", "cpu", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert SUMMARY_KEYS | {"category", "n_frames", "per_category", "per_video"} <= set(data)
    assert set(data["per_video"]) == {"401", "custom_seq"} and data["n_frames"] == 4  # 2 annotated frames each
    assert f"initialisation: {init}" in result.output
    if init == "ground-truth":
        assert data["per_video"]["401"]["n_missed"] < 2  # the seeded first frame always has a prediction
    else:
        assert data["n_missed"] == 4  # random weights: the detector's boxes are rejected, every frame a failure
        assert data["fr_0.08"] == 100.0


def test_eval_300vw_official_category_reports_absent_videos(tmp_path, tiny_weights):
    _vw_sequence(tmp_path / "vw", "401", frames=2)
    result = invoke("eval", "300vw", "--root", tmp_path / "vw", "--category", "1", "--weights", tiny_weights, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "30 requested video(s) absent" in result.output


def test_eval_on_real_300vw_frames_with_default_weights(shared_data, tmp_path):
    if not default_weights_path().is_file():
        pytest.skip("no default weights in assets/ yet")
    out = tmp_path / "r.json"
    result = invoke("eval", "300vw", "--root", shared_data / "300VW_frames", "--videos", "found", "--device", "cpu", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n_frames"] == 4 and set(data["per_video"]) == {"001", "401"}
    assert np.isfinite(data["nme_io"])


def test_make_sequences_writes_300vw_layout_whose_truth_follows_the_camera(tmp_path, tiny_weights):
    write_w300_folder(tmp_path / "stills", 2, subset="lfpw/testset")
    out = tmp_path / "seq"
    result = invoke("eval", "make-sequences", "--images", tmp_path / "stills", "--out", out, "--count", "2", "--frames", "6")
    assert result.exit_code == 0, result.output
    from tracker.datasets import vw300
    from tracker.io.video import count_frames

    found, _ = vw300.find_sequences(out)
    assert sorted(s.name for s in found) == ["1_face_000", "1_face_001", "2_face_000", "2_face_001", "3_face_000", "3_face_001"]
    seq = found[0]
    assert count_frames(seq.video_path) == (6, (480, 360)) and sorted(seq.annotations()) == list(range(6))
    # ground truth sits on the rendered dots: the brightest pixel near each annotated point is close to it
    frame = next(seq.frames()).image[..., 0].astype(float)
    pts = seq.annotations()[0]
    offsets = []
    for x, y in pts[::7]:
        xi, yi = int(round(x)), int(round(y))
        win = frame[yi - 3 : yi + 4, xi - 3 : xi + 4]
        dy, dx = np.unravel_index(win.argmax(), win.shape)
        offsets.append(np.hypot(dx - 3 + xi - x, dy - 3 + yi - y))
    assert np.median(offsets) < 1.5
    run = invoke("eval", "300vw", "--root", out, "--videos", "found", "--weights", tiny_weights, "--device", "cpu")
    assert run.exit_code == 0 and "category found" in run.output and "category level 3" in run.output


def test_jitter_ignores_rigid_motion_and_sees_shaking():
    from tracker.eval.steadiness import jitter, tracks_from_frames
    from tests.test_metrics import face

    rng = np.random.default_rng(0)
    base = face(5.0) + rng.normal(0, 2, (68, 2))
    moving = []
    for t in range(30):
        a = 0.02 * t
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * (1 + 0.01 * t)
        moving.append(base @ rot.T + [3.0 * t, 1.5 * t])
    moving = np.stack(moving)
    still_value, n = jitter(moving)
    assert n == 28 and still_value < 1e-9
    shaky_value, _ = jitter(moving + rng.normal(0, 0.5, moving.shape))
    assert shaky_value > 0.01
    runs = tracks_from_frames([{0: base}, {0: base, 1: base}, {1: base}, {}, {1: base}])
    assert sorted(len(r) for r in runs) == [1, 2, 2]


def test_video_protocol_counts_frames_where_a_track_sits_on_no_face():
    from types import SimpleNamespace

    from tracker.eval.video import evaluate_sequence
    from tracker.results import Face

    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 160, (68, 2))
    frames = [SimpleNamespace(index=i, image=np.zeros((8, 8, 3), np.uint8)) for i in range(4)]
    sequence = SimpleNamespace(name="s", frames=lambda: iter(frames), annotations=lambda: {i: truth for i in range(4)})

    class Tracker:
        tracks: list = []

        def __init__(self):
            self.t = -1

        def step(self, image):  # the face on every frame; from frame 2 on, also a "face" far from it
            self.t += 1
            faces = [Face(truth + 1.0, np.ones(68), 0, source="tracked")]
            if self.t >= 2:
                faces.append(Face(truth + 500.0, np.ones(68), 1, source="tracked"))
            return faces

    result = evaluate_sequence(sequence, Tracker)
    assert result.stray_frames == 2 and np.all(np.isfinite(result.errors["nme_io"]))
