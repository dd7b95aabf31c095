"""The public API, used as a user would: ``import tracker``."""
import numpy as np
import pytest

import tracker
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


def test_norm_off_is_the_single_pass(tiny_weights):
    image, _ = synthetic_face(np.random.default_rng(1))
    box = [(30, 40, 130, 150)]
    one = tracker.Landmarker(weights=tiny_weights, device="cpu", norm=False).landmarks(image, box)
    two = tracker.Landmarker(weights=tiny_weights, device="cpu").landmarks(image, box)
    assert not np.allclose(one[0].points, two[0].points)


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
