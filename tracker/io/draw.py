"""Overlay drawing: landmarks coloured by confidence, optional contour lines, face ids."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tracker.markup import EDGES
from tracker.pose import HeadPose
from tracker.pose.estimate import NOSE_TIP
from tracker.pose.mean_face import load_mean_face
from tracker.results import Face

SURE = np.array([0, 230, 0], dtype=np.float32)  # RGB for confidence 1
UNSURE = np.array([255, 40, 0], dtype=np.float32)  # RGB for confidence 0
LINE_COLOUR = (255, 255, 255)
REFERENCE_HEIGHT = 720  # marker sizes scale with the frame height relative to this
AXIS_LENGTH_MM = 40.0  # the pose axes' length on the mean face
AXIS_COLOURS = ((255, 60, 60), (60, 255, 60), (60, 120, 255))  # RGB of the face's x (its left), y (down), z (forward)


@dataclass(frozen=True)
class DrawConfig:
    lines: bool = True  # the markup's edges between the points (``tracker run --no-lines`` turns them off)
    pose_axes: bool = True  # the head pose as a small 3-D axis at the nose (``tracker run --no-pose-axes`` turns it off)


def confidence_colours(confidence: np.ndarray) -> np.ndarray:
    c = np.clip(confidence, 0.0, 1.0)[:, None]
    return (UNSURE + (SURE - UNSURE) * c).astype(np.uint8)


def draw_faces(image: np.ndarray, faces: Sequence[Face], config: DrawConfig = DrawConfig()) -> np.ndarray:
    """Draw in place on an RGB uint8 image and return it."""
    scale = max(image.shape[0] / REFERENCE_HEIGHT, 0.35)
    radius = max(1, round(2.5 * scale))
    thickness = max(1, round(1.5 * scale))
    for face in faces:
        pts = np.round(face.points * 16).astype(np.int32)  # 4 fractional bits: sub-pixel drawing
        if config.lines:
            for a, b in EDGES:
                cv2.line(image, tuple(pts[a]), tuple(pts[b]), LINE_COLOUR, 1, cv2.LINE_AA, shift=4)
        for p, col in zip(pts, confidence_colours(face.point_confidence)):
            cv2.circle(image, tuple(p), radius * 16, tuple(int(v) for v in col), -1, cv2.LINE_AA, shift=4)
        if config.pose_axes and face.pose is not None:
            draw_pose_axes(image, face.pose, thickness)
        x0, y0 = face.points.min(axis=0)
        label = f"#{face.face_id} {face.confidence:.2f}"
        org = (int(x0), max(int(y0) - 6, 12))
        cv2.putText(image, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale + 0.2, (255, 255, 0), thickness, cv2.LINE_AA)
    return image


def draw_pose_axes(image: np.ndarray, pose: HeadPose, thickness: int = 1) -> None:
    """The face's axes from its nose tip, ``AXIS_LENGTH_MM`` long: x (the subject's left) red, y (down)
    green, z (the way the face looks, out of the face) blue."""
    nose = load_mean_face()[NOSE_TIP]
    ends = nose + np.array([[0, 0, 0], [AXIS_LENGTH_MM, 0, 0], [0, AXIS_LENGTH_MM, 0], [0, 0, -AXIS_LENGTH_MM]])
    projected = pose.project(ends)
    if not np.isfinite(projected).all() or np.abs(projected).max() > 1e5:
        return
    pts = np.round(projected * 16).astype(np.int32)
    for end, colour in zip(pts[1:], AXIS_COLOURS):
        cv2.line(image, tuple(pts[0]), tuple(end), colour, thickness + 1, cv2.LINE_AA, shift=4)
