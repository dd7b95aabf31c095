"""Head pose: the bundled mean face recovered at known poses, occluders held off by confidence, the
angle conventions, and pose in every output."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.golden import portrait
from tracker.markup import FLIP_PERMUTATION, LEFT_EYE_OUTER, RIGHT_EYE_OUTER
from tracker.pose import PoseConfig, PoseEstimator, euler_angles, load_mean_face, rotation_from_angles
from tracker.pose.estimate import camera_matrix

FRAME = (640, 480)
NOISE_IOD = 0.01  # pixel noise: 1 % of the inter-ocular distance
TOLERANCE_DEG = 3.0
OCCLUDED_TOLERANCE_DEG = 5.0
OCCLUDED_POINTS = (48, 49, 50, 51, 52, 53, 54, 60, 61, 62)  # a hand over the mouth


def project(yaw: float, pitch: float, roll: float, distance: float = 600.0, shift=(0.0, 0.0)) -> np.ndarray:
    """The mean face at a pose, seen by the default camera of a FRAME-sized image."""
    rotation = rotation_from_angles(yaw, pitch, roll)
    translation = np.array([shift[0], shift[1], distance])
    matrix = camera_matrix(FRAME, PoseConfig())
    return cv2.projectPoints(load_mean_face(), cv2.Rodrigues(rotation)[0], translation, matrix, None)[0].reshape(-1, 2)


def poses(count: int, seed: int = 0) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    corners = [(y, p, r) for y in (-60, 60) for p in (-30, 30) for r in (-45, 45)]
    return corners + [tuple(rng.uniform((-60, -30, -45), (60, 30, 45))) for _ in range(count)]


def angle_errors(pose, truth) -> np.ndarray:
    return np.abs(np.array([pose.yaw, pose.pitch, pose.roll]) - np.array(truth))


def test_angles_round_trip_and_mean_face_is_mirror_symmetric():
    for truth in poses(50):
        np.testing.assert_allclose(euler_angles(rotation_from_angles(*truth)), truth, atol=1e-9)
    face = load_mean_face()
    assert face.shape == (68, 3)
    np.testing.assert_array_equal(face[list(FLIP_PERMUTATION)] * (-1, 1, 1), face)


def test_known_poses_are_recovered_within_3_degrees_with_noise():
    rng = np.random.default_rng(1)
    estimator = PoseEstimator()
    worst = 0.0
    for truth in poses(200):
        points = project(*truth, distance=rng.uniform(400, 1200), shift=rng.uniform(-60, 60, 2))
        iod = np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER])
        noisy = points + rng.normal(0, NOISE_IOD * iod, points.shape)
        worst = max(worst, angle_errors(estimator.estimate(noisy, FRAME), truth).max())
    assert worst < TOLERANCE_DEG


def test_low_confidence_keeps_an_occluder_from_swinging_the_pose():
    rng = np.random.default_rng(2)
    estimator = PoseEstimator()
    worst_ignored, worst_blind = 0.0, 0.0
    for truth in poses(100, seed=3):
        points = project(*truth)
        iod = np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER])
        points = points + rng.normal(0, NOISE_IOD * iod, points.shape)
        points[list(OCCLUDED_POINTS)] += rng.uniform(1.5, 3.0, (len(OCCLUDED_POINTS), 2)) * iod * rng.choice((-1, 1), 2)
        confidence = np.full(68, 0.8)
        confidence[list(OCCLUDED_POINTS)] = 0.05
        worst_ignored = max(worst_ignored, angle_errors(estimator.estimate(points, FRAME, confidence), truth).max())
        worst_blind = max(worst_blind, angle_errors(estimator.estimate(points, FRAME), truth).max())
    assert worst_ignored < OCCLUDED_TOLERANCE_DEG
    assert worst_blind > OCCLUDED_TOLERANCE_DEG  # the occluder does swing a fit that trusts every point


def test_sign_conventions():
    estimator = PoseEstimator()
    frontal = estimator.estimate(project(0, 0, 0), FRAME)
    assert max(abs(frontal.yaw), abs(frontal.pitch), abs(frontal.roll)) < 1e-3
    nose, chin = 30, 8
    turned = project(30, 0, 0)  # yaw > 0: the nose points to the image's right
    assert turned[nose, 0] > project(0, 0, 0)[nose, 0]
    up = project(0, 20, 0)  # pitch > 0: the nose points up (image y decreases)
    assert up[nose, 1] - up[chin, 1] < project(0, 0, 0)[nose, 1] - project(0, 0, 0)[chin, 1]
    leaning = project(0, 0, 20)  # roll > 0: the eye line tilts down to the right (clockwise in the image)
    dx, dy = leaning[LEFT_EYE_OUTER] - leaning[RIGHT_EYE_OUTER]
    assert np.degrees(np.arctan2(dy, dx)) == pytest.approx(20, abs=1.0)


def test_mirrored_face_has_opposite_yaw_and_roll():
    estimator = PoseEstimator()
    points = project(35, 10, 15)
    mirrored = points[list(FLIP_PERMUTATION)].copy()
    mirrored[:, 0] = FRAME[0] - 1 - mirrored[:, 0]
    a, b = estimator.estimate(points, FRAME), estimator.estimate(mirrored, FRAME)
    assert a.yaw == pytest.approx(-b.yaw, abs=0.5) and a.roll == pytest.approx(-b.roll, abs=0.5)
    assert a.pitch == pytest.approx(b.pitch, abs=0.5) and a.yaw == pytest.approx(35, abs=0.5)


def test_a_warm_start_gives_the_fresh_answer():
    estimator = PoseEstimator()
    points = project(20, -10, 5)
    fresh = estimator.estimate(points, FRAME)
    warm = estimator.estimate(project(22, -9, 6), FRAME, previous=fresh)
    assert angle_errors(warm, (22, -9, 6)).max() < 0.1


def test_given_intrinsics_are_used():
    focal = 1500.0
    rotation = rotation_from_angles(25, 5, -10)
    matrix = camera_matrix(FRAME, PoseConfig(focal_length=focal))
    points = cv2.projectPoints(load_mean_face(), cv2.Rodrigues(rotation)[0], np.array([0, 0, 900.0]), matrix, None)[0].reshape(-1, 2)
    pose = PoseEstimator(PoseConfig(focal_length=focal)).estimate(points, FRAME)
    assert angle_errors(pose, (25, 5, -10)).max() < 0.05
    assert pose.translation[2] == pytest.approx(900, rel=1e-3)


def test_pose_in_every_output(tmp_path: Path):
    """CSV columns, JSON fields and the API's Face.pose, on a real face (the shipped weights)."""
    import tracker
    from tests.conftest import write_video

    image = portrait()
    frame = cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)
    clip = write_video(tmp_path / "face.mp4", [frame] * 4)
    with tracker.VideoTracker(device="cpu") as video:
        results = list(video.track(clip))
        video.write(clip, out=tmp_path / "o.mp4", csv=tmp_path / "f.csv", json=tmp_path / "f.json")
    face = results[-1].faces[0]
    assert face.pose is not None and face.raw_pose is not None
    assert abs(face.pose.yaw) < 30 and abs(face.pose.pitch) < 30 and abs(face.pose.roll) < 15  # a near-frontal portrait
    with open(tmp_path / "f.csv") as handle:
        row = list(csv.DictReader(handle))[-1]
    assert float(row["yaw"]) == pytest.approx(face.pose.yaw, abs=0.01)
    assert float(row["tz"]) == pytest.approx(face.pose.translation[2], abs=0.1)
    document = json.loads((tmp_path / "f.json").read_text())
    pose = document["frames"][-1]["faces"][0]["pose"]
    assert pose["roll"] == pytest.approx(face.pose.roll, abs=0.01) and np.array(pose["rotation"]).shape == (3, 3)
    with tracker.Landmarker(device="cpu") as still:
        assert still.landmarks(frame)[0].pose is not None


def test_smoothed_pose_is_steadier_and_follows_a_real_turn():
    from tracker.tracking.smoothing import PoseSmoother

    rng = np.random.default_rng(4)
    estimator, smoother = PoseEstimator(), PoseSmoother()
    truth = [(min(frame, 40) * 0.5, 0.0, 0.0) for frame in range(80)]  # turns to 20 degrees, then holds
    raw, smoothed = [], []
    previous = None
    for yaw, pitch, roll in truth:
        points = project(yaw, pitch, roll)
        iod = np.linalg.norm(points[RIGHT_EYE_OUTER] - points[LEFT_EYE_OUTER])
        previous = estimator.estimate(points + rng.normal(0, 0.02 * iod, points.shape), FRAME, previous=previous)
        raw.append(previous.yaw)
        smoothed.append(smoother(previous).yaw)
    raw, smoothed = np.array(raw), np.array(smoothed)
    assert np.abs(np.diff(smoothed[45:])).mean() < 0.5 * np.abs(np.diff(raw[45:])).mean()  # the hold: steadier
    assert abs(np.median(smoothed[60:]) - 20) < 1.5  # and it arrived


def _portrait_clip(tmp_path: Path, frames: int = 6) -> Path:
    from tests.conftest import write_video

    face = cv2.resize(portrait(), (256, 300), interpolation=cv2.INTER_AREA)
    return write_video(tmp_path / "face.mp4", [np.roll(face, 2 * i, axis=1) for i in range(frames)])


def test_eye_line_angle_follows_an_in_plane_rotation():
    from tracker.eval.pose import eye_line_angle

    points = project(0, 0, 0)
    centre = points.mean(axis=0)
    for angle in (-30.0, 0.0, 12.0):
        matrix = cv2.getRotationMatrix2D(tuple(centre), -angle, 1.0)  # OpenCV's positive angle is anticlockwise
        rotated = points @ matrix[:, :2].T + matrix[:, 2]
        assert eye_line_angle(rotated) == pytest.approx(angle, abs=1e-6)
        assert PoseEstimator().estimate(rotated, FRAME).roll == pytest.approx(angle, abs=0.5)


def test_eval_pose_command_on_a_video(tmp_path: Path):
    from typer.testing import CliRunner

    from tracker.cli import _add_plugins, app

    _add_plugins()
    out = tmp_path / "pose.json"
    figure = tmp_path / "axes.png"
    result = CliRunner().invoke(app, ["eval", "pose", "--video", str(_portrait_clip(tmp_path)), "--figure", str(figure),
                                      "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["video"]["roll_vs_tracked_eye_line"]["faces"] == 6
    assert data["video"]["frame_to_frame"]["raw"]["pairs"] == 5 and data["pose_ms_per_face"] > 0
    assert cv2.imread(str(figure)).shape[0] > 0


def test_eval_pose_command_on_real_annotations(shared_data: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from tracker.cli import _add_plugins, app

    _add_plugins()
    out = tmp_path / "pose.json"
    result = CliRunner().invoke(app, ["eval", "pose", "--sequences", str(shared_data / "300VW_frames"), "--w300-root",
                                      str(shared_data / "300W"), "--subset", "lfpw_test", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # 4 annotated frames (2 videos x 2); a frame where the detector finds no face has no pose to score
    assert data["sequences"]["all"]["frames"] >= 3 and data["sequences"]["all"]["median_roll_gap_deg"] < 5
    stills = data["stills"]
    assert stills["faces"] == 224 and stills["median_abs_yaw_deg"] < 10 and stills["mirror_flips_yaw_sign"] > 0.95


def test_overlay_draws_the_pose_axes_only_when_asked():
    from tracker.io.draw import DrawConfig, draw_faces
    from tracker.results import Face

    points = project(20, 10, 5)
    pose = PoseEstimator().estimate(points, FRAME)
    face = Face(points, np.full(68, 0.9), 0, 0.9, "tracked", pose, pose)
    blank = np.zeros((FRAME[1], FRAME[0], 3), np.uint8)
    with_axes = draw_faces(blank.copy(), [face], DrawConfig(lines=False, pose_axes=True))
    without = draw_faces(blank.copy(), [face], DrawConfig(lines=False, pose_axes=False))
    changed = np.any(with_axes != without, axis=2)
    assert changed.sum() > 50  # the three axis lines
    nose = points[30].round().astype(int)
    ys, xs = np.nonzero(changed)
    assert np.hypot(xs - nose[0], ys - nose[1]).min() < 3  # drawn from the nose


def test_run_options_no_pose_axes_and_focal_length(tmp_path: Path):
    from typer.testing import CliRunner

    from tracker.cli import app

    clip = _portrait_clip(tmp_path, frames=3)
    distances = {}
    for focal in (300, 600):
        out = tmp_path / f"f{focal}.csv"
        result = CliRunner().invoke(app, ["run", str(clip), "--csv", str(out), "--out", str(tmp_path / "o.mp4"), "--no-pose-axes",
                                          "--focal-length", str(focal), "--device", "cpu", "--quiet"])
        assert result.exit_code == 0, result.output
        with open(out) as handle:
            distances[focal] = float(list(csv.DictReader(handle))[-1]["tz"])  # --no-pose-axes: no axes, the numbers stay
    assert distances[600] / distances[300] == pytest.approx(2.0, rel=0.05)  # the same face, twice the focal length
