"""Every output with a real face in it: the shipped weights on a portrait that ships with matplotlib.

The CSV's point columns, the JSON ``faces[]`` and the ``.pts`` files must hold what the API returns for
the same frames, and the threaded and plain pipelines must write the same points.
"""
import csv
import json

import cv2
import numpy as np
import pytest
from matplotlib import cbook

import tracker
from tests.conftest import write_video
from tracker.io.pts import read_pts
from tracker.jobs.pipeline import PipelineConfig, RunOutputs, run_video

FRAMES = 8
CSV_DECIMALS = 0.005  # the CSV writes pixels with 2 decimals


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory) -> "Path":  # noqa: F821
    """Grace Hopper's portrait drifting a few pixels a frame across a 320x320 frame."""
    image = cv2.cvtColor(cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))), cv2.COLOR_BGR2RGB)
    portrait = cv2.resize(image, (220, 280), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(FRAMES):
        frame = np.full((320, 320, 3), 90, np.uint8)
        x, y = 40 + 3 * i, 20 + i
        frame[y : y + 280, x : x + 220] = portrait[: 320 - y, : 320 - x][:280, :220]
        frames.append(frame)
    return write_video(tmp_path_factory.mktemp("clip") / "face.mp4", frames)


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
        xs = np.array([float(row[f"x_{i}"]) for i in range(68)])
        ys = np.array([float(row[f"y_{i}"]) for i in range(68)])
        cs = np.array([float(row[f"c_{i}"]) for i in range(68)])
        np.testing.assert_allclose(np.stack([xs, ys], axis=1), face.points, atol=CSV_DECIMALS)
        np.testing.assert_allclose(cs, face.point_confidence, atol=0.0005)
        assert float(row["face_score"]) == pytest.approx(face.face_score, abs=5e-5)
        np.testing.assert_allclose(np.array(entry["faces"][0]["points"]), face.points, atol=0.01)
        np.testing.assert_allclose(np.array(entry["faces"][0]["point_confidence"]), face.point_confidence, atol=0.001)
        np.testing.assert_allclose(read_pts(pts_dir / "annot" / f"{frame.index + 1:06d}.pts"), face.points, atol=0.001)


def test_threaded_and_plain_pipelines_write_the_same_points(tmp_path, face_clip):
    tables = []
    for threads in (True, False):
        out = RunOutputs(csv=tmp_path / f"o{threads}.csv")
        summary = run_video(face_clip, out, PipelineConfig(device="cpu", threads=threads))
        assert summary.frames == FRAMES and summary.frames_with_faces == FRAMES
        tables.append(out.csv.read_text())
    assert tables[0] == tables[1]
    assert "x_30" in tables[0].splitlines()[0] and all(r.split(",")[3] != "no_face" for r in tables[0].splitlines()[1:])
