"""Multi-face landmark tracking: detect, then crop each next frame from the current landmarks.

Per frame: every live track is cropped from its last landmarks (optionally de-rotated by the eye
line); the detector runs on the first frame, every ``redetect_every`` frames and whenever a track
was lost, and its boxes that no track covers start new tracks (after a refining second pass from
their own landmarks). A track whose mean heatmap confidence falls below ``min_confidence`` is
dropped. All crops of a frame go through the network as one batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tracker.detection import FaceDetector
from tracker.geometry import FaceCrop, crop_from_points, eye_line_angle
from tracker.predictor import LandmarkPredictor
from tracker.smoothing import LandmarkSmoother, SmoothingConfig

Source = Literal["detected", "tracked"]


@dataclass(frozen=True)
class TrackerConfig:
    redetect_every: int = 15
    min_confidence: float = 0.35  # mean heatmap peak below which a face is rejected / lost
    derotate: bool = True
    smoothing: bool = True
    max_faces: int = 8
    same_face_iou: float = 0.3  # a detection overlapping a track this much is that track's face
    duplicate_iou: float = 0.5  # two tracks overlapping this much are merged (the older kept)
    refine_new_faces: bool = True
    smoothing_config: SmoothingConfig = field(default_factory=SmoothingConfig)


@dataclass
class FaceResult:
    face_id: int
    points: np.ndarray  # (N, 2) image pixels, smoothed if smoothing is on
    confidence: np.ndarray  # (N,)
    source: Source
    raw_points: np.ndarray | None = None  # before smoothing

    @property
    def face_confidence(self) -> float:
        return float(self.confidence.mean())


@dataclass
class Track:
    face_id: int
    points: np.ndarray  # last raw network landmarks
    confidence: np.ndarray
    smoother: LandmarkSmoother
    age: int = 0


def crop_box(crop: FaceCrop) -> tuple[float, float, float, float]:
    h = crop.size / 2
    return (crop.cx - h, crop.cy - h, crop.cx + h, crop.cy + h)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    def __init__(self, predictor: LandmarkPredictor, detector: FaceDetector, config: TrackerConfig = TrackerConfig()) -> None:
        self.predictor = predictor
        self.detector = detector
        self.config = config
        self.tracks: list[Track] = []
        self.frame_index = -1
        self.next_id = 0
        self._lost = False
        self.detections_run = 0

    def _crop_for(self, points: np.ndarray) -> FaceCrop:
        angle = eye_line_angle(points) if self.config.derotate else 0.0
        return crop_from_points(points, angle=angle)

    def reset(self) -> None:
        self.tracks.clear()
        self._lost = False

    def seed(self, image: np.ndarray, crop: FaceCrop) -> list[FaceResult]:
        """Start a track from a given crop (e.g. a ground-truth box) instead of a detection."""
        self.frame_index += 1
        points, conf = self.predictor.predict(image, [crop])
        if self.config.refine_new_faces:
            points, conf = self.predictor.predict(image, [self._crop_for(points[0])])
        track = self._new_track(points[0], conf[0])
        self.tracks.append(track)
        return [self._result(track, "detected")]

    def _new_track(self, points: np.ndarray, confidence: np.ndarray) -> Track:
        track = Track(self.next_id, points, confidence, LandmarkSmoother(self.config.smoothing_config))
        self.next_id += 1
        return track

    def step(self, image: np.ndarray) -> list[FaceResult]:
        cfg = self.config
        self.frame_index += 1
        track_crops = [self._crop_for(t.points) for t in self.tracks]
        new_crops: list[FaceCrop] = []
        if not self.tracks or self._lost or self.frame_index % cfg.redetect_every == 0:
            self.detections_run += 1
            taken = [crop_box(c) for c in track_crops]
            for det in self.detector.detect(image):
                crop = self.detector.calibration.crop(det.box)
                box = crop_box(crop)
                if all(iou(box, t) < cfg.same_face_iou for t in taken) and len(self.tracks) + len(new_crops) < cfg.max_faces:
                    new_crops.append(crop)
                    taken.append(box)
        self._lost = False
        points, conf = self.predictor.predict(image, track_crops + new_crops)
        n_tracks = len(track_crops)
        if new_crops and cfg.refine_new_faces:
            refined = [self._crop_for(p) for p in points[n_tracks:]]
            points[n_tracks:], conf[n_tracks:] = self.predictor.predict(image, refined)
        results: list[FaceResult] = []
        survivors: list[Track] = []
        for i, track in enumerate(self.tracks):
            if conf[i].mean() < cfg.min_confidence:
                self._lost = True
                continue
            track.points, track.confidence, track.age = points[i], conf[i], track.age + 1
            survivors.append(track)
            results.append(self._result(track, "tracked"))
        for j in range(n_tracks, len(points)):
            if conf[j].mean() < cfg.min_confidence:
                continue
            track = self._new_track(points[j], conf[j])
            survivors.append(track)
            results.append(self._result(track, "detected"))
        self.tracks = self._drop_duplicates(survivors)
        alive = {t.face_id for t in self.tracks}
        return [r for r in results if r.face_id in alive]

    def _result(self, track: Track, source: Source) -> FaceResult:
        smoothed = track.smoother(track.points, track.confidence) if self.config.smoothing else track.points
        return FaceResult(track.face_id, smoothed, track.confidence, source, track.points)

    def _drop_duplicates(self, tracks: list[Track]) -> list[Track]:
        kept: list[Track] = []
        for track in sorted(tracks, key=lambda t: t.face_id):  # older ids first
            box = crop_box(crop_from_points(track.points))
            if all(iou(box, crop_box(crop_from_points(k.points))) < self.config.duplicate_iou for k in kept):
                kept.append(track)
        return kept
