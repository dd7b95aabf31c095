"""Head pose checks on real faces: roll against the eye line, the yaw sign on mirrored faces, frontal
faces' yaw, and how much steadier the smoothed pose is than the raw one (``tracker eval pose``)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracker.datasets import mirror_face, w300
from tracker.datasets.vw300 import find_sequences
from tracker.network.still_faces import predict_face_batches
from tracker.eval.video import best_match
from tracker.io.draw import AXIS_COLOURS, draw_pose_axes
from tracker.io.video import VideoReader
from tracker.markup import GROUPS
from tracker.network.crop_predictor import CropPredictor
from tracker.pose import HeadPose, PoseConfig, PoseEstimator, rotation_from_angles
from tracker.pose.estimate import camera_matrix
from tracker.pose.mean_face import load_mean_face
from tracker.results import Face
from tracker.tracking.face_tracker import FaceTracker

FRONTAL_YAW = 5.0  # |yaw| above which a face's mirror image must have the opposite sign
# A pair of consecutive frames counts as steady when the face's landmark centre moved less than this
# fraction of the inter-ocular distance.
STEADY_MOVE_IOD = 0.02


def eye_line_angle(points: np.ndarray) -> float:
    """Degrees of the line from the right eye's centre to the left eye's (the image's left to right),
    positive when it tilts down to the right: what ``roll`` measures for a face turned neither way."""
    right, left = points[GROUPS["right_eye"]].mean(axis=0), points[GROUPS["left_eye"]].mean(axis=0)
    return float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))


def _angle_gap(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def roll_on_sequences(root: Path, make_tracker: Callable[[], FaceTracker]) -> dict[str, Any]:
    """|roll - the annotated eye line| on every annotated frame of the 300-VW-layout sequences under
    ``root`` where the tracker has the face; median per level (``<level>_<face>`` names) and overall."""
    sequences, _ = find_sequences(root)
    if not sequences:
        raise FileNotFoundError(f"no 300-VW sequences found under {root}")
    gaps: dict[str, list[float]] = {}
    for sequence in sequences:
        notes = sequence.annotations()
        tracker = make_tracker()
        level = sequence.name.partition("_")[0]
        for frame in sequence.frames():
            faces = tracker.step(frame.image) if frame.image is not None else []
            if frame.index not in notes:
                continue
            match = best_match(faces, notes[frame.index])
            if match is not None and match.pose is not None:
                gaps.setdefault(level, []).append(_angle_gap(match.pose.roll, eye_line_angle(notes[frame.index])))
        tracker.close()
    every = [g for values in gaps.values() for g in values]
    rows = {f"level {k}": {"frames": len(v), "median_roll_gap_deg": statistics.median(v)} for k, v in sorted(gaps.items())}
    rows["all"] = {"frames": len(every), "median_roll_gap_deg": statistics.median(every)}
    return rows


def pose_on_video(video: Path, tracker: FaceTracker) -> dict[str, Any]:
    """On a video without annotations: |roll - the tracked points' eye line|, the frame-to-frame change
    of the smoothed and the raw pose of each track (all consecutive pairs, and the steady ones), and the
    pose's cost per face (both fits; from the tracker's timer, which must be enabled)."""
    roll_gaps: list[float] = []
    changes: dict[str, list[float]] = {"smoothed": [], "raw": [], "smoothed steady": [], "raw steady": []}
    last: dict[int, Face] = {}
    with VideoReader(video) as reader:
        for frame in reader:
            faces = tracker.step(frame.image) if frame.image is not None else []
            current = {}
            for face in faces:
                if face.pose is None or face.raw_pose is None:
                    continue
                current[face.face_id] = face
                roll_gaps.append(_angle_gap(face.pose.roll, eye_line_angle(face.points)))
                before = last.get(face.face_id)
                if before is None:
                    continue
                iod = np.linalg.norm(face.points[36] - face.points[45])
                steady = np.linalg.norm(face.points.mean(axis=0) - before.points.mean(axis=0)) < STEADY_MOVE_IOD * iod
                for name, now, then in (("smoothed", face.pose, before.pose), ("raw", face.raw_pose, before.raw_pose)):
                    change = max(_angle_gap(getattr(now, a), getattr(then, a)) for a in ("yaw", "pitch", "roll"))
                    changes[name].append(change)
                    if steady:
                        changes[f"{name} steady"].append(change)
            last = current
    rows = {name: {"pairs": len(v), "median_change_deg": statistics.median(v) if v else None,
                   "mean_change_deg": float(np.mean(v)) if v else None} for name, v in changes.items()}
    calls = tracker.timer.calls.get("pose", 0)
    return {"roll_vs_tracked_eye_line": {"faces": len(roll_gaps), "median_gap_deg": statistics.median(roll_gaps) if roll_gaps else None},
            "frame_to_frame": rows, "pose_ms_per_face": 1e3 * tracker.timer.seconds["pose"] / calls if calls else None}


def _still_poses(predictor: CropPredictor, faces: list, estimator: PoseEstimator) -> list[HeadPose | None]:
    poses = []
    for images, out in predict_face_batches(predictor, faces):
        for image, points, confidence in zip(images, out.points, out.confidence):
            poses.append(estimator.estimate(points, (image.shape[1], image.shape[0]), confidence))
    return poses


def yaw_on_stills(root: Path, subset: str, predictor: CropPredictor) -> dict[str, Any]:
    """Median |yaw| (and pitch, roll) of a 300-W subset's faces, from predicted points; and the same faces
    mirrored: the share whose yaw changes sign (faces with |yaw| > ``FRONTAL_YAW``)."""
    faces = w300.load_split(root, subset).faces
    if not faces:
        raise FileNotFoundError(f"no 300-W {subset} faces under {root}")
    estimator = PoseEstimator()
    poses = _still_poses(predictor, faces, estimator)
    mirrored = _still_poses(predictor, [mirror_face(f) for f in faces], estimator)
    pairs = [(a, b) for a, b in zip(poses, mirrored) if a is not None and b is not None]
    turned = [(a, b) for a, b in pairs if abs(a.yaw) > FRONTAL_YAW]
    return {
        "subset": subset, "faces": len(faces), "fitted": len(pairs),
        "median_abs_yaw_deg": statistics.median(abs(a.yaw) for a, _ in pairs),
        "median_abs_pitch_deg": statistics.median(abs(a.pitch) for a, _ in pairs),
        "median_abs_roll_deg": statistics.median(abs(a.roll) for a, _ in pairs),
        "turned_faces": len(turned),
        "mirror_flips_yaw_sign": sum(np.sign(a.yaw) == -np.sign(b.yaw) for a, b in turned) / max(len(turned), 1),
        "median_abs_yaw_plus_mirrored_deg": statistics.median(abs(a.yaw + b.yaw) for a, b in pairs),
    }


def convention_figure(path: Path, size: int = 240) -> None:
    """The mean face's points and pose axes at a few poses, labelled: the picture in docs/pose.md."""
    cases = [(0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 25)]
    matrix = camera_matrix((size, size), PoseConfig())
    face = load_mean_face()
    font, black = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0)
    tiles = []
    for yaw, pitch, roll in cases:
        tile = np.full((size, size, 3), 255, np.uint8)
        pose = HeadPose(yaw, pitch, roll, rotation_from_angles(yaw, pitch, roll), np.array([0.0, -25.0, 330.0]), 0.0, matrix)
        for x, y in pose.project(face):
            cv2.circle(tile, (int(round(x)), int(round(y))), 2, (40, 40, 40), -1, cv2.LINE_AA)
        draw_pose_axes(tile, pose, 1)
        cv2.putText(tile, f"yaw {yaw:+d}  pitch {pitch:+d}  roll {roll:+d}", (8, size - 8), font, 0.45, black, 1, cv2.LINE_AA)
        tiles.append(tile)
    legend = np.full((28, 3 * size, 3), 255, np.uint8)
    for i, (text, colour) in enumerate(zip(("x: the subject's left", "y: down", "z: where the face looks"), AXIS_COLOURS)):
        cv2.putText(legend, text, (8 + i * size, 20), font, 0.5, colour, 1, cv2.LINE_AA)
    grid = np.vstack([legend, np.hstack(tiles[:3]), np.hstack(tiles[3:])])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def time_pose(frames: int = 500, seed: int = 0) -> float:
    """Timing of what the tracker adds per face and frame: the warm-started fit and the
    pose smoothing, on a synthetic face swaying by a few degrees (ms per face)."""
    from tracker.tracking.smoothing import PoseSmoother

    size = (640, 360)
    matrix = camera_matrix(size, PoseConfig())
    face = load_mean_face()
    rng = np.random.default_rng(seed)
    sequence = []
    for i in range(frames):
        rvec = cv2.Rodrigues(rotation_from_angles(20 + 5 * np.sin(i / 20), 5, 10))[0]
        points = cv2.projectPoints(face, rvec, np.array([10.0, 5.0, 700.0]), matrix, None)[0].reshape(-1, 2)
        sequence.append(points + rng.normal(0, 0.7, points.shape))
    confidence = np.full(len(face), 0.6)
    estimator, smoother = PoseEstimator(), PoseSmoother()

    def run() -> None:
        previous = None
        for points in sequence:
            previous = estimator.estimate(points, size, confidence, previous)
            smoother(previous)

    run()  # warm
    start = time.perf_counter()
    run()
    return 1e3 * (time.perf_counter() - start) / frames
