"""What every detector returns, and how a detection becomes the network's canonical crop.

A detector returns boxes (and, if it finds them, five facial keypoints) in its own convention; its
calibration maps a detection to the canonical landmark crop (``tracker.geometry.CROP_SCALE`` x the
landmark box, levelled by the eye line when keypoints give the roll) that the network was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np

from tracker.geometry import FaceCrop

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
# The five keypoints' order: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    keypoints: np.ndarray | None = None  # (5, 2) image pixels in KEYPOINT_NAMES order, if the detector finds them


class Calibration(Protocol):
    def crop(self, detection: Detection) -> FaceCrop:
        """The canonical landmark crop for a detection."""
        ...


@dataclass(frozen=True)
class BoxCalibration:
    """Canonical crop from a detector box: centre shifted by (dx, dy) box widths, side = scale x width."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def crop(self, detection: Detection) -> FaceCrop:
        x0, y0, x1, y1 = detection.box
        w = x1 - x0
        return FaceCrop((x0 + x1) / 2 + self.dx * w, (y0 + y1) / 2 + self.dy * w, self.scale * w)


@dataclass(frozen=True)
class KeypointCalibration:
    """Canonical crop from five keypoints: the similarity that best maps ``template`` onto them.

    ``template`` holds the mean keypoints in the levelled canonical crop's frame (origin at the crop's
    centre, unit = the crop's side, eye line level), so the fitted similarity *is* the crop: its
    translation the centre, its scale the side, its rotation the face's roll. Detections without
    keypoints fall back to ``boxes``.
    """

    template: tuple[tuple[float, float], ...]
    boxes: BoxCalibration

    def crop(self, detection: Detection) -> FaceCrop:
        if detection.keypoints is None:
            return self.boxes.crop(detection)
        return similarity_crop(np.asarray(self.template, dtype=np.float64), np.asarray(detection.keypoints, dtype=np.float64))


def similarity_crop(template: np.ndarray, points: np.ndarray) -> FaceCrop:
    """Least-squares similarity ``points ~ a * template + b`` (complex numbers), read as a FaceCrop."""
    w = template[:, 0] + 1j * template[:, 1]
    z = points[:, 0] + 1j * points[:, 1]
    wc, zc = w - w.mean(), z - z.mean()
    a = np.vdot(wc, zc) / np.vdot(wc, wc).real
    b = z.mean() - a * w.mean()
    return FaceCrop(float(b.real), float(b.imag), max(float(abs(a)), 1.0), float(np.angle(a)))


View = TypeVar("View")


class RetryTurns:
    """Which retries a detection call that found nothing tries: all of them on the first faceless call
    after a find (or the very first call, or after ``reset``); later faceless calls in a row try
    ``in_a_row`` each, taking turns, so a search through a faceless shot stays cheap."""

    def __init__(self, in_a_row: int) -> None:
        self.in_a_row = in_a_row
        self.found_last_time = True
        self._next = 0

    def choose(self, views: Sequence[View]) -> list[View]:
        if self.found_last_time or not views:
            return list(views)
        count = min(self.in_a_row, len(views))
        chosen = [views[(self._next + i) % len(views)] for i in range(count)]
        self._next += count
        return chosen

    def record(self, found: bool) -> None:
        self.found_last_time = found

    def reset(self) -> None:
        self.found_last_time = True


class FaceDetector(Protocol):
    calibration: Calibration

    def detect(self, image: np.ndarray, exhaustive: bool = False) -> list[Detection]:
        """Faces in an RGB uint8 image, best first.

        ``exhaustive``: the caller tracks no face and checks every face itself (the tracker's face
        check), so search the views a detector keeps for faceless images (a dark frame's equalised
        copy) even where the plain view found faces (e.g. a man in profile the check will refuse),
        and take fainter faces there.
        """
        ...
