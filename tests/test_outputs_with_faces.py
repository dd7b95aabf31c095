"""Every output with a real face in it: the shipped weights on a portrait that ships with matplotlib.

``tracker run`` must write the golden points (``tests/golden.py``) in every format, the CSV's point
columns, the JSON ``faces[]`` and the ``.pts`` files must hold what the API returns for the same
frames, and the threaded and plain pipelines must write the same points.
"""
import csv
import json

import cv2
import numpy as np
import pytest

import tracker
from tests.conftest import write_video
from tests import golden
from tests.golden import load_golden, video_frame
from tracker.cli import app
from tracker.io.pts import read_pts
from tracker.io.video import VideoReader
from tracker.jobs.pipeline import PipelineConfig, RunOutputs, run_video
from tracker.network.factory import PredictorConfig

FRAMES = 8
CSV_DECIMALS = 0.005  # the CSV writes pixels with 2 decimals
# A tracked still frame against the golden still-image points of the same frame: the tracker crops from
# the detection and then from its last points, and the clip is H.264-coded (measured: mean 0.6-0.8 px,
# largest 2.8 px, on a face 75 px wide).
TRACKED_MEAN_PX = 1.5
TRACKED_MAX_PX = 5.0
DRAWN = 60  # a pixel the overlay drew on: this much change (summed over RGB) from the input frame
DRAWN_SHARE = 0.8  # of the golden points, at least this share drawn on...
UNDRAWN_RADIUS = 20  # ...and farther than this from every point
UNDRAWN_SHARE = 0.01  # at most this share of the pixels changed (coding noise only)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> "Path":  # noqa: F821
    """Grace Hopper's portrait drifting a few pixels a frame across a 320x320 frame."""
    portrait = cv2.resize(golden.portrait(), (220, 280), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(FRAMES):
        frame = np.full((320, 320, 3), 90, np.uint8)
        x, y = 40 + 3 * i, 20 + i
        frame[y : y + 280, x : x + 220] = portrait[: 320 - y, : 320 - x][:280, :220]
        frames.append(frame)
    return write_video(tmp_path_factory.mktemp("clip") / "face.mp4", frames)


def _points_of_row(row: dict[str, str]) -> np.ndarray:
    return np.array([[float(row[f"x_{i}"]), float(row[f"y_{i}"])] for i in range(68)])


def _assert_near_golden(points: np.ndarray, golden: np.ndarray, what: str) -> None:
    error = np.linalg.norm(points - golden, axis=1)
    assert error.mean() < TRACKED_MEAN_PX and error.max() < TRACKED_MAX_PX, f"{what}: {error.mean():.2f} / {error.max():.2f} px"


def test_tracker_run_writes_the_golden_points_in_every_format(tmp_path):
    """The golden "video frame" case held still for a few frames, through the command line."""
    from typer.testing import CliRunner

    golden = load_golden()[1]["video frame"].points
    clip = write_video(tmp_path / "still.mp4", [video_frame()] * 4)
    outputs = {"--out": tmp_path / "o.mp4", "--csv": tmp_path / "o.csv", "--json": tmp_path / "o.json", "--pts-dir": tmp_path / "pts"}
    args = ["run", str(clip), *(str(v) for pair in outputs.items() for v in pair), "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(outputs["--csv"].open()))
    frames = json.loads(outputs["--json"].read_text())["frames"]
    assert len(rows) == len(frames) == 4 and all(len(f["faces"]) == 1 for f in frames)
    for i, (row, frame) in enumerate(zip(rows, frames)):
        _assert_near_golden(_points_of_row(row), golden, f"CSV frame {i}")
        _assert_near_golden(np.array(frame["faces"][0]["points"]), golden, f"JSON frame {i}")
        _assert_near_golden(read_pts(outputs["--pts-dir"] / "annot" / f"{i + 1:06d}.pts"), golden, f".pts frame {i}")
    with VideoReader(outputs["--out"]) as overlay, VideoReader(clip) as video:
        drawn, source = [f.image for f in overlay], [f.image for f in video]
    assert len(drawn) == 4
    change = np.abs(drawn[-1].astype(int) - source[-1].astype(int)).sum(axis=2)
    assert np.mean([change[round(y), round(x)] > DRAWN for x, y in golden]) > DRAWN_SHARE  # the points are drawn there
    yy, xx = np.mgrid[: change.shape[0], : change.shape[1]]
    far = np.all((xx[..., None] - golden[:, 0]) ** 2 + (yy[..., None] - golden[:, 1]) ** 2 > UNDRAWN_RADIUS**2, axis=2)
    assert np.mean(change[far] > DRAWN) < UNDRAWN_SHARE  # and not elsewhere


@pytest.fixture(scope="module")
def api_frames(face_clip):
    with tracker.VideoTracker(device="cpu") as video:
        return list(video.track(face_clip))


def test_the_shipped_weights_find_the_face_on_every_frame(api_frames):
    assert len(api_frames) == FRAMES
    assert all(len(f.faces) == 1 for f in api_frames)
    assert len({f.faces[0].face_id for f in api_frames}) == 1
    nose = np.array([f.faces[0].points[30] for f in api_frames])
    assert 100 < nose[0, 0] < 220 and 100 < nose[0, 1] < 260  # on the face, not somewhere else
    assert np.all(np.diff(nose[:, 0]) > 0)  # the face moves right, and so do its points


def test_csv_json_and_pts_hold_the_api_s_points(tmp_path, face_clip, api_frames):
    table, doc, pts_dir = tmp_path / "o.csv", tmp_path / "o.json", tmp_path / "pts"
    with tracker.VideoTracker(device="cpu") as video:
        video.write(face_clip, csv=table, json=doc, pts_dir=pts_dir)
    rows = list(csv.DictReader(table.open()))
    data = json.loads(doc.read_text())
    assert len(rows) == len(data["frames"]) == FRAMES
    for frame, row, entry in zip(api_frames, rows, data["frames"]):
        face = frame.faces[0]
        assert int(row["frame"]) == frame.index and row["status"] in ("detected", "tracked")
        assert int(row["face_id"]) == face.face_id == entry["faces"][0]["id"]
        cs = np.array([float(row[f"c_{i}"]) for i in range(68)])
        np.testing.assert_allclose(_points_of_row(row), face.points, atol=CSV_DECIMALS)
        np.testing.assert_allclose(cs, face.point_confidence, atol=0.0005)
        assert float(row["face_score"]) == pytest.approx(face.face_score, abs=5e-5)
        np.testing.assert_allclose(np.array(entry["faces"][0]["points"]), face.points, atol=0.01)
        np.testing.assert_allclose(np.array(entry["faces"][0]["point_confidence"]), face.point_confidence, atol=0.001)
        np.testing.assert_allclose(read_pts(pts_dir / "annot" / f"{frame.index + 1:06d}.pts"), face.points, atol=0.001)


def test_threaded_and_plain_pipelines_write_the_same_points(tmp_path, face_clip):
    tables = []
    for threads in (True, False):
        out = RunOutputs(csv=tmp_path / f"o{threads}.csv")
        summary = run_video(face_clip, out, PipelineConfig(PredictorConfig(device="cpu"), threads=threads))
        assert summary.frames == FRAMES and summary.frames_with_faces == FRAMES
        tables.append(out.csv.read_text())
    assert tables[0] == tables[1]
    assert "x_30" in tables[0].splitlines()[0] and all(r.split(",")[3] != "no_face" for r in tables[0].splitlines()[1:])
