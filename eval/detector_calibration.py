"""Fit a detector's calibration: how its detections map to the canonical landmark crop of 300-W faces."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.errors import InputError
from tracker.datasets import FaceSample, load_image_rgb
from tracker.detection import BoxCalibration, Detection, FaceDetector, KeypointCalibration
from tracker.geometry import crop_from_points, levelled_crop, to_crop

MAX_CENTRE_OFFSET = 0.3  # a detection matches a face when its box centre is this many box widths from the crop's


@dataclass(frozen=True)
class FittedCalibration:
    matched: int
    faces: int
    boxes: BoxCalibration
    box_iqr: np.ndarray  # (2, 3): 25th and 75th percentiles of dx, dy, scale
    keypoints: KeypointCalibration | None  # None when the detector gives no keypoints


def _match(detections: list[Detection], face: FaceSample) -> Detection | None:
    crop = crop_from_points(face.points)
    best, best_offset = None, MAX_CENTRE_OFFSET
    for det in detections:
        x0, y0, x1, y1 = det.box
        offset = np.hypot((x0 + x1) / 2 - crop.cx, (y0 + y1) / 2 - crop.cy) / max(x1 - x0, 1.0)
        if offset < best_offset:
            best, best_offset = det, offset
    return best


def fit_calibration(detector: FaceDetector, faces: list[FaceSample]) -> FittedCalibration:
    """Median box mapping, and the mean keypoints in the levelled canonical crop, over matched faces."""
    box_rows, templates = [], []
    for face in faces:
        det = _match(detector.detect(load_image_rgb(face.image_path)), face)
        if det is None:
            continue
        x0, y0, x1, y1 = det.box
        w = x1 - x0
        crop = crop_from_points(face.points)
        box_rows.append(((crop.cx - (x0 + x1) / 2) / w, (crop.cy - (y0 + y1) / 2) / w, crop.size / w))
        if det.keypoints is not None:
            templates.append(to_crop(det.keypoints, levelled_crop(face.points), 1))
    if not box_rows:
        raise InputError("the detector matched no face")
    rows = np.array(box_rows)
    med = np.median(rows, axis=0)
    boxes = BoxCalibration(*(round(float(v), 3) for v in med))
    keypoints = None
    if templates:
        mean = np.mean(templates, axis=0)
        keypoints = KeypointCalibration(tuple((round(float(x), 3), round(float(y), 3)) for x, y in mean), boxes)
    return FittedCalibration(len(rows), len(faces), boxes, np.percentile(rows, [25, 75], axis=0), keypoints)
