"""Similarity crops of a face to the network input and their exact inverse.

Coordinates are 0-based with integer values at pixel centres (the OpenCV convention and that of
``.pts`` after subtracting 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.markup import eye_centres

# A crop's side is this many times the larger side of the landmark bounding box. The same rule
# frames faces in training, evaluation and tracking, so the network always sees the same framing.
CROP_SCALE = 1.3


@dataclass(frozen=True)
class FaceCrop:
    """A square region of an image: centre (image px), side (image px) and in-plane angle (radians)."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def matrix(self, out_size: int) -> np.ndarray:
        """2x3 affine matrix from image to crop pixels for an ``out_size`` square output."""
        k = out_size / self.size
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = k * np.array([[c, s], [-s, c]])  # rotating the image by -angle makes the face upright
        half = (out_size - 1) / 2.0
        shift = np.array([half, half]) - rot @ np.array([self.cx, self.cy])
        return np.hstack([rot, shift[:, None]])

    def inverse_matrix(self, out_size: int) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix(out_size))


def crop_from_points(points: np.ndarray, scale: float = CROP_SCALE, angle: float = 0.0) -> FaceCrop:
    """The canonical crop of a face from its landmarks: box centre, ``scale`` x the larger box side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2.0
    side = float(max(hi - lo)) * scale
    return FaceCrop(float(centre[0]), float(centre[1]), max(side, 1.0), angle)


def levelled_crop(points: np.ndarray) -> FaceCrop:
    """The canonical crop of 68 landmarks, rotated so the eye line is level: how the tracker crops the
    next frame, and the second pass of ``norm`` prediction (the paper's "+Norm")."""
    return crop_from_points(points, angle=eye_line_angle(points))


def warp_image(image: np.ndarray, crop: FaceCrop, out_size: int) -> np.ndarray:
    return cv2.warpAffine(
        image, crop.matrix(out_size), (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (..., 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def to_crop(points: np.ndarray, crop: FaceCrop, out_size: int) -> np.ndarray:
    return apply_affine(crop.matrix(out_size), points)


def from_crop(points: np.ndarray, crop: FaceCrop, out_size: int) -> np.ndarray:
    return apply_affine(crop.inverse_matrix(out_size), points)


def eye_line_angle(points: np.ndarray) -> float:
    """Angle of the line from the right eye to the left eye (0 for an upright face)."""
    right, left = eye_centres(points)
    d = left - right
    return float(np.arctan2(d[1], d[0]))
