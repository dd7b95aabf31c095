"""OpenCV's frontal-face Haar cascade (inside opencv-python): upright faces, retried at two rolls."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.detection.base import BoxCalibration, Detection, RetryTurns

# Medians over the even-indexed 300-W training faces the cascade finds
# (`tracker eval calibrate-detector --root ../shared/data/300W` prints them and their spread).
HAAR_CALIBRATION = BoxCalibration(dx=0.005, dy=0.148, scale=1.124)


@dataclass(frozen=True)
class HaarSettings:
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face: int = 24  # pixels at detection resolution
    max_side: int = 640  # images are downscaled to this longest side before detection
    # When the upright pass finds nothing, retry on copies rotated by these angles (degrees): the
    # frontal cascade misses faces rolled more than about 10 degrees. The first faceless call after a
    # find (or the first call) tries them all; later ones in a row try one each, taking turns, so a
    # search in a run of faceless frames costs one full pass and one quarter-size pass.
    retry_angles: tuple[float, ...] = (20.0, -20.0)
    retries_in_a_row: int = 1  # angles tried by a faceless call that follows a faceless call
    # Retries run at this longest side: a quarter of the pixels at 640x360 (about a quarter of the
    # time of a full pass); rolled faces narrower than about 2 x min_face pixels are only found upright.
    retry_max_side: int = 320


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, shipped inside opencv-python (no download)."""

    calibration = HAAR_CALIBRATION

    def __init__(self, settings: HaarSettings = HaarSettings()) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade at {path}")
        self.settings = settings
        self._turns = RetryTurns(settings.retries_in_a_row)

    def reset(self) -> None:
        """Forget the search history: the next call tries every retry (a new, unrelated image)."""
        self._turns.reset()

    def detect(self, image: np.ndarray, exhaustive: bool = False) -> list[Detection]:
        """Faces, best first. The cascade always searches a histogram-equalised image, so an
        ``exhaustive`` search (``FaceDetector.detect``) has no further view to try."""
        s = self.settings
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        dets = self._detect_at(_equalized(gray, s.max_side), 0.0)
        retries = [] if dets else self._turns.choose(s.retry_angles)
        small = _equalized(gray, s.retry_max_side) if retries else None
        for angle in retries:
            dets = self._detect_at(small, angle)
            if dets:
                break
        self._turns.record(bool(dets))
        return sorted(dets, key=lambda d: -d.score)

    def _detect_at(self, view: tuple[np.ndarray, float], angle: float) -> list[Detection]:
        """Detect on a scaled grey ``view`` rotated by ``angle`` degrees; boxes map back to the input."""
        s = self.settings
        gray, factor = view
        h, w = gray.shape
        rotation = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        rotated = cv2.warpAffine(gray, rotation, (w, h), borderMode=cv2.BORDER_REPLICATE) if angle else gray
        boxes, _, weights = self.cascade.detectMultiScale3(
            rotated, s.scale_factor, s.min_neighbors, minSize=(s.min_face, s.min_face), outputRejectLevels=True
        )
        back = cv2.invertAffineTransform(rotation)
        dets = []
        for (x, y, bw, bh), score in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            cx, cy = back @ np.array([x + bw / 2, y + bh / 2, 1.0])
            box = ((cx - bw / 2) / factor, (cy - bh / 2) / factor, (cx + bw / 2) / factor, (cy + bh / 2) / factor)
            dets.append(Detection(box, float(score)))
        return dets


def _equalized(gray: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale to ``max_side`` (never up) and equalise the histogram; returns the image and its scale."""
    factor = min(1.0, max_side / max(gray.shape[:2]))
    if factor < 1.0:
        gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return cv2.equalizeHist(gray), factor


