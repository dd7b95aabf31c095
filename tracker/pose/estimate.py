"""Yaw, pitch and roll of a face from its 2-D landmarks (``cv2.solvePnP`` against the mean face).

Convention (docs/pose.md has a picture): camera axes x right, y down, z forward; the rotation R maps
mean-face coordinates to camera coordinates, and R = Rz(roll) @ Ry(-yaw) @ Rx(-pitch), so that
- yaw > 0: the face turns toward the image's right (the subject's left), its nose pointing right;
- pitch > 0: the face tilts up, its nose pointing up;
- roll > 0: the face leans clockwise in the image (the eye line tilts down to the right);
all 0 for a face looking straight into the camera, upright.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tracker.pose.mean_face import load_mean_face

MIN_POSE_POINTS = 6  # fewer than this and the fit is not attempted
NOSE_TIP = 30  # where the overlay draws the pose axes


@dataclass(frozen=True)
class PoseConfig:
    """``focal_length`` and ``principal_point`` (pixels) are the camera intrinsics; None: focal length =
    the frame's larger side (a field of view of about 53 degrees), principal point = the frame's centre."""

    focal_length: float | None = None
    principal_point: tuple[float, float] | None = None
    # Points whose confidence is below this are left out of the fit (occluded or unsure)...
    min_confidence: float = 0.2
    # ...unless fewer than this many are left; then the most confident this many are used.
    min_points: int = 12


@dataclass(frozen=True)
class HeadPose:
    """Angles in degrees (see the module docstring); ``rotation`` (3, 3) and ``translation`` (3,) map
    mean-face millimetres to camera coordinates (the face's origin, midway between the inner eye corners,
    is at ``translation`` mm) as seen by the pinhole ``camera`` (3, 3) intrinsics; ``error`` is the fit's
    RMS reprojection error in pixels over the points used."""

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    translation: np.ndarray
    error: float
    camera: np.ndarray

    def project(self, model_points: np.ndarray) -> np.ndarray:
        """Image pixels (K, 2) of mean-face coordinates (K, 3) in mm under this pose."""
        rvec = cv2.Rodrigues(self.rotation)[0]
        projected = cv2.projectPoints(np.asarray(model_points, np.float64), rvec, self.translation, self.camera, None)[0]
        return projected.reshape(-1, 2)

    @property
    def rotation_vector(self) -> np.ndarray:
        return cv2.Rodrigues(self.rotation)[0].ravel()


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(roll) @ Ry(-yaw) @ Rx(-pitch), angles in degrees."""
    a, b, g = math.radians(-pitch), math.radians(-yaw), math.radians(roll)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(g), -math.sin(g), 0], [math.sin(g), math.cos(g), 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of ``rotation`` (the inverse of ``rotation_from_angles``)."""
    b = math.asin(max(-1.0, min(1.0, -rotation[2, 0])))
    a = math.atan2(rotation[2, 1], rotation[2, 2])
    g = math.atan2(rotation[1, 0], rotation[0, 0])
    return -math.degrees(b), -math.degrees(a), math.degrees(g)


def camera_matrix(frame_size: tuple[int, int], config: PoseConfig) -> np.ndarray:
    """The 3x3 intrinsics for a (width, height) frame."""
    width, height = frame_size
    focal = config.focal_length or float(max(width, height))
    cx, cy = config.principal_point or (width / 2, height / 2)
    return np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], dtype=np.float64)


class PoseEstimator:
    """Pose of one face per call; ``previous`` (the same face's last pose) starts the fit in video."""

    def __init__(self, config: PoseConfig = PoseConfig(), model: np.ndarray | None = None) -> None:
        self.config = config
        self.model = load_mean_face() if model is None else np.asarray(model, dtype=np.float64)

    def fit_points(self, confidence: np.ndarray | None) -> np.ndarray:
        """Indices of the points the fit uses: confident ones, or the most confident ``min_points``."""
        n = len(self.model)
        if confidence is None:
            return np.arange(n)
        keep = np.flatnonzero(confidence >= self.config.min_confidence)
        if len(keep) < self.config.min_points:
            keep = np.sort(np.argsort(-confidence)[: self.config.min_points])
        return keep

    def estimate(
        self, points: np.ndarray, frame_size: tuple[int, int], confidence: np.ndarray | None = None,
        previous: HeadPose | None = None,
    ) -> HeadPose | None:
        """The pose of the face whose (68, 2) image ``points`` are given, or None when it cannot be fitted.

        A new face is solved globally (SQPnP); with ``previous``, the same face's last pose, the fit
        starts there (Levenberg-Marquardt on the reprojection error), which keeps a video's poses on one
        branch where two are nearly as good."""
        use = self.fit_points(confidence)
        if len(use) < MIN_POSE_POINTS or not np.isfinite(points[use]).all():
            return None
        object_points = self.model[use]
        image_points = np.ascontiguousarray(points[use], dtype=np.float64)
        matrix = camera_matrix(frame_size, self.config)
        if previous is not None:
            rvec = cv2.Rodrigues(previous.rotation)[0]
            tvec = previous.translation.reshape(3, 1).astype(np.float64)
            ok, rvec, tvec = cv2.solvePnP(object_points, image_points, matrix, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
        else:
            ok, rvec, tvec = cv2.solvePnP(object_points, image_points, matrix, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok or tvec[2, 0] <= 0:  # a face behind the camera is a failed fit
            return None
        rotation = cv2.Rodrigues(rvec)[0]
        translation = tvec.ravel()
        camera_points = object_points @ rotation.T + translation
        projected = camera_points[:, :2] / camera_points[:, 2:] * matrix[0, 0] + matrix[:2, 2]
        error = float(np.sqrt(np.mean(np.sum((projected - image_points) ** 2, axis=1))))
        yaw, pitch, roll = euler_angles(rotation)
        return HeadPose(yaw, pitch, roll, rotation, translation, error, matrix)
