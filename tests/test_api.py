"""The public API, used as a user would: ``import tracker``."""
import numpy as np
import pytest

import tracker
from tracker.errors import InputError
from tracker.geometry import levelled_crop
from tests.conftest import synthetic_face, write_video


def test_landmarker_on_given_boxes_and_on_detections(tiny_weights):
    image, _ = synthetic_face(np.random.default_rng(0))
    with tracker.Landmarker(weights=tiny_weights, device="cpu") as landmarker:
        faces = landmarker.landmarks(image, boxes=[(30, 40, 130, 150)])
        assert len(faces) == 1 and faces[0].points.shape == (68, 2) and faces[0].point_confidence.shape == (68,)
        assert 0 <= faces[0].confidence <= 1 and faces[0].face_id is None
        assert faces[0].face_score == pytest.approx(faces[0].confidence, abs=1e-5)  # no face check: the mean peak
        x0, y0, x1, y1 = faces[0].box
        assert x0 <= x1 and y0 <= y1
        gray = landmarker.landmarks(image[..., 0], boxes=[(30, 40, 130, 150)])
        np.testing.assert_allclose(gray[0].points, faces[0].points)
        assert landmarker.landmarks(np.zeros((64, 64, 3), np.uint8)) == []  # nothing detected
        with pytest.raises(ValueError, match="RGB uint8"):
            landmarker.landmarks(np.zeros((8, 8, 3), np.float32))
        with pytest.raises(ValueError, match="x1 > x0"):
            landmarker.landmarks(image, boxes=[(10, 10, 5, 20)])


def test_landmarker_searches_each_still_afresh_and_exhaustively(tiny_weights):
    from tracker.detection import BoxCalibration, Detection

    class Recording:
        calibration = BoxCalibration()

        def __init__(self):
            self.calls = []

        def reset(self):
            self.calls.append("reset")

        def detect(self, image, exhaustive=False):
            self.calls.append(exhaustive)
            return [Detection((30.0, 40.0, 130.0, 150.0), 1.0)]

    image, _ = synthetic_face(np.random.default_rng(0))
    with tracker.Landmarker(weights=tiny_weights, device="cpu", min_face_score=0.0) as landmarker:
        landmarker.detector = detector = Recording()
        assert len(landmarker.landmarks(image)) == 1 and len(landmarker.landmarks(image)) == 1
        assert detector.calls == ["reset", True, "reset", True]  # every face is checked: search it all


def test_norm_off_is_the_single_pass(tiny_weights):
    image, _ = synthetic_face(np.random.default_rng(1))
    box = [(30, 40, 130, 150)]
    single = tracker.Landmarker(weights=tiny_weights, device="cpu", norm=False)
    one = single.landmarks(image, box)
    two = tracker.Landmarker(weights=tiny_weights, device="cpu").landmarks(image, box)
    # norm is a second pass on the crop the first answer levels and frames: exactly that, nothing else
    again, _ = single.predictor.predict(image, [levelled_crop(one[0].points)])
    np.testing.assert_allclose(two[0].points, again[0], atol=1e-4)
    assert np.abs(two[0].points - one[0].points).max() > 1e-3


def test_video_tracker_yields_one_result_per_frame_from_a_file_and_from_frames(tmp_path, tiny_weights):
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(5)]
    path = write_video(tmp_path / "v.mp4", frames)
    with tracker.VideoTracker(weights=tiny_weights, device="cpu") as video:
        from_file = list(video.track(path))
        from_frames = list(video.track(iter(frames)))
    assert [r.index for r in from_file] == list(range(5)) == [r.index for r in from_frames]
    assert all(r.readable and r.faces == [] for r in from_file + from_frames)  # blank frames: no face
    assert from_file[1].time > from_file[0].time


def test_import_tracker_is_light():
    import subprocess
    import sys

    code = "import sys, tracker; print('torch' in sys.modules, 'cv2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]


def test_readme_python_examples_run_as_written(tmp_path):
    """Every ```python block of the README, run in a fresh interpreter with the default weights."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for code in blocks:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip()


def test_video_tracker_writes_files_for_one_video_and_for_many(tmp_path, tiny_weights):
    """``write`` and ``write_many`` are what ``tracker run`` calls: same files, same skips and error rows."""
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(4)]
    clip = write_video(tmp_path / "a.mp4", frames)
    bad = tmp_path / "b.mp4"
    bad.write_text("not a video")
    seen: list[tuple[int, int | None]] = []
    with tracker.VideoTracker(weights=tiny_weights, device="cpu") as video:
        summary = video.write(clip, out=tmp_path / "o.mp4", csv=tmp_path / "o.csv", progress=lambda d, t: seen.append((d, t)))
        assert summary.frames == 4 and (tmp_path / "o.mp4").stat().st_size > 0
        assert len((tmp_path / "o.csv").read_text().splitlines()) == 1 + 4  # header + a no_face row per frame
        assert [d for d, _ in seen] == [1, 2, 3, 4]
        assert len(list(video.track(clip))) == 4  # the tracker still works after a write
        with pytest.raises(ValueError, match="nothing to write"):
            video.write(clip)
        rows = video.write_many([clip, bad], tmp_path / "out")
        assert [(r.status, r.frames) for r in rows] == [("done", 4), ("error", 0)] and rows[1].error
        assert [r.status for r in video.write_many([tmp_path / "a.mp4"], tmp_path / "out")] == ["skipped"]
        frames_shown, fps = video.show(clip, headless=True)
    assert frames_shown == 4 and fps > 0


def test_a_box_outside_the_image_is_a_one_line_error_and_one_at_its_edge_works(tiny_weights):
    image = np.zeros((100, 120, 3), np.uint8)
    with tracker.Landmarker(weights=tiny_weights, device="cpu") as landmarker:
        with pytest.raises(InputError, match="outside the 120x100 image"):
            landmarker.landmarks(image, boxes=[(500, 500, 600, 600)])
        assert len(landmarker.landmarks(image, boxes=[(-20, -20, 50, 50)])) == 1


@pytest.mark.parametrize("box, message", [
    ((0, 0, np.inf, 50), "must be finite"), ((10, 10, 10.5, 10.5), "by a pixel at least"), ((1, 2, 3), "got 3 values"),
])
def test_a_bad_face_box_is_a_one_line_error(tiny_weights, box, message):
    with tracker.Landmarker(weights=tiny_weights, device="cpu") as landmarker:
        with pytest.raises(InputError, match=message):
            landmarker.landmarks(np.zeros((100, 120, 3), np.uint8), boxes=[box])


def test_an_empty_image_and_an_impossible_shard_are_refused(tiny_weights, tmp_path):
    with tracker.Landmarker(weights=tiny_weights, device="cpu") as landmarker:
        with pytest.raises(InputError, match="empty"):
            landmarker.landmarks(np.zeros((0, 0, 3), np.uint8))
    with tracker.VideoTracker(weights=tiny_weights, device="cpu") as video:
        with pytest.raises(InputError, match="0 <= i < n"):
            video.write_many([tmp_path / "a.mp4"], tmp_path / "out", shard=(3, 2))
