"""Multi-face landmark tracking: detect, then crop each next frame from the current landmarks.

Per frame: every live track is cropped from its last landmarks (optionally de-rotated by the eye
line). The detector runs on the first frame, on the frame after a track was lost, every
``redetect_every`` frames while faces are tracked (to pick up new ones; in the background, its
boxes used a few frames later) and every ``search_every`` frames at most while none is (sooner
right after a loss), or at once when the picture cuts. A search while nothing is tracked is
exhaustive (``FaceDetector.detect``): a face the check refuses, e.g. a man in profile, must not hide
the dim faces behind him. Boxes that no track covers start new tracks (after a refining second pass
from their own landmarks). A crop whose face score (the model's learned face check, or the mean
heatmap peak for weights without one) falls below the threshold is not a face: a new box is
rejected; a track is dropped below a lower one (``keep_score_ratio`` x the threshold). All crops of
a frame go through the network as one batch.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracker.detection import Detection, FaceDetector
from tracker.detection.base import iou
from tracker.errors import InputError
from tracker.geometry import FaceCrop, crop_from_points, levelled_crop
from tracker.network.crop_predictor import CropPredictor
from tracker.pose import HeadPose, PoseConfig, PoseEstimator
from tracker.results import Face, Source
from tracker.tracking.smoothing import LandmarkSmoother, PoseSmoother, PoseSmoothingConfig, SmoothingConfig
from tracker.timing import NULL_TIMER, StageTimer
from tracker.defaults import MAX_FACES, REDETECT_EVERY, SEARCH_EVERY

log = logging.getLogger(__name__)

NEVER = 1 << 30  # frames since the last detection, before the first one
THUMBNAIL_SIZE = (32, 18)  # (w, h) of the picture summary used to spot cuts


def thumbnail(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass(frozen=True)
class TrackerConfig:
    redetect_every: int = REDETECT_EVERY  # frames between detections while faces are tracked (new faces)
    # While no face is tracked the detector runs 1, 2, 4, ... frames apart, at most ``search_every``
    # (a lost face often comes back soon; a faceless shot need not be searched on every frame)...
    search_every: int = SEARCH_EVERY
    cut_threshold: float = 20.0  # ...or at once on a cut: this mean change (0-255) of a tiny thumbnail
    min_face_score: float | None = None  # face score below which a new face is rejected; None: the model's
    # A tracked face is lost when its score falls below this fraction of that threshold (hysteresis: a
    # dim or blurred face's score wavers around the threshold from frame to frame)
    keep_score_ratio: float = 0.6
    derotate: bool = True
    smoothing: bool = True
    max_faces: int = MAX_FACES  # tracks at most; a crowd of more keeps the first found (logged once)
    same_face_iou: float = 0.3  # a detection overlapping a track this much is that track's face
    duplicate_iou: float = 0.5  # two tracks overlapping this much are merged (the older kept)
    refine_new_faces: bool = True
    # The next crop of a track leads its last landmarks by this fraction of their last move (0: none):
    # a fast face stays inside its crop instead of being lost and found again
    motion_lead: float = 1.0
    # While faces are tracked, the periodic detection of frame t runs in a background thread and its
    # new faces start on frame t + detection_lag, so the network keeps working meanwhile (0: inline).
    # The result is always used exactly that many frames later, never "when ready", so the output
    # does not depend on timing.
    detection_lag: int = 4
    smoothing_config: SmoothingConfig = field(default_factory=SmoothingConfig)
    pose: bool = True  # head pose per face (``tracker.pose``), fitted to the raw points and smoothed
    pose_config: PoseConfig = field(default_factory=PoseConfig)
    pose_smoothing: PoseSmoothingConfig = field(default_factory=PoseSmoothingConfig)

    def __post_init__(self) -> None:
        for name in ("redetect_every", "search_every", "max_faces"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class Track:
    face_id: int
    points: np.ndarray  # last raw network landmarks
    confidence: np.ndarray
    smoother: LandmarkSmoother
    age: int = 0
    face_score: float = float("nan")
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # landmark centre's last move, px/frame
    raw_pose: HeadPose | None = None  # the last fitted pose, where the next frame's fit starts
    pose_smoother: PoseSmoother | None = None

    def expected_points(self, lead: float) -> np.ndarray:
        """Where the landmarks should be on the next frame if the face keeps ``lead`` x its last move."""
        return self.points + lead * self.velocity


def crop_box(crop: FaceCrop) -> tuple[float, float, float, float]:
    h = crop.size / 2
    return (crop.cx - h, crop.cy - h, crop.cx + h, crop.cy + h)


class FaceTracker:
    def __init__(
        self, predictor: CropPredictor, detector: FaceDetector, config: TrackerConfig = TrackerConfig(),
        timer: StageTimer = NULL_TIMER,
    ) -> None:
        self.predictor = predictor
        self.detector = detector
        self.config = config
        self.timer = timer
        self.tracks: list[Track] = []
        self.frame_index = -1
        self.next_id = 0
        self._lost = False
        self._warned_max_faces = False
        self._since_detection = NEVER
        self._pending: Future[list[Detection]] | None = None
        self._pending_age = 0
        self._last_thumbnail: np.ndarray | None = None
        self._idle_wait = 1  # while nothing is tracked: frames from the last search to the next
        self._idle_gap = 1  # ...and the wait after that one
        self._background: ThreadPoolExecutor | None = None
        self._detector_lock = threading.Lock()
        self.pose_estimator = PoseEstimator(config.pose_config) if config.pose else None
        self._frame_size = (0, 0)  # (width, height) of the frame being tracked

    def close(self) -> None:
        """Stop the background detection thread and the predictor's face threads, if started."""
        if self._background is not None:
            self._background.shutdown(wait=True, cancel_futures=True)
            self._background = None
        self._pending = None
        self.predictor.close()

    def _crop_for(self, points: np.ndarray) -> FaceCrop:
        return levelled_crop(points) if self.config.derotate else crop_from_points(points)

    def reset(self) -> None:
        self.tracks.clear()
        self._lost = False
        self._since_detection = NEVER
        self._last_thumbnail = None
        self._idle_wait = self._idle_gap = 1
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _detect(self, image: np.ndarray, exhaustive: bool = False) -> list[Detection]:
        # one call at a time: a detection needed now may start while the background one still runs,
        # and detectors (OpenCV's DNN networks, the cascade) are not safe to call from two threads
        # the speed benchmark times exhaustive searches (nothing tracked: dim shots, empty frames) apart
        with self._detector_lock, self.timer.stage("search" if exhaustive else "detect"):
            return self.detector.detect(image, exhaustive=exhaustive)

    def _gather_detections(self, image: np.ndarray) -> list[Detection]:
        """The background detection started ``detection_lag`` frames ago (at once if every track was
        lost meanwhile) plus, when one is due now and cannot go to the background, this frame's."""
        detections: list[Detection] = []
        if self._pending is not None:
            self._pending_age += 1
            if self._pending_age >= self.config.detection_lag or not self.tracks:
                detections, self._pending = self._pending.result(), None
        self._since_detection += 1
        if not self._detection_due(image):
            return detections
        self._since_detection = 0
        if self.config.detection_lag > 0 and self.tracks and not self._lost and self._pending is None:
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
            self._pending = self._background.submit(self._detect, image.copy())  # callers may draw on image
            self._pending_age = 0
            return detections
        return detections + self._detect(image, exhaustive=not self.tracks)

    def _detection_due(self, image: np.ndarray) -> bool:
        cfg = self.config
        if self._lost:
            return True
        if self.tracks:  # a cut loses the tracks, which triggers a detection on the next frame
            self._last_thumbnail = None
            self._idle_wait = self._idle_gap = 1
            return self._since_detection >= cfg.redetect_every
        previous, self._last_thumbnail = self._last_thumbnail, thumbnail(image)
        cut = previous is not None and float(np.abs(self._last_thumbnail - previous).mean()) > cfg.cut_threshold
        if cut:
            self._idle_gap = 1
        due = cut or self._since_detection >= self._idle_wait
        if due:
            self._idle_wait, self._idle_gap = self._idle_gap, min(2 * self._idle_gap, cfg.search_every)
        return due

    def seed(self, image: np.ndarray, crop: FaceCrop) -> list[Face]:
        """Start a track from a given crop (e.g. a ground-truth box) instead of a detection."""
        self.frame_index += 1
        self._frame_size = (image.shape[1], image.shape[0])
        self._since_detection = 0  # the seed stands in for a detection
        out = self.predictor.predict_scored([image], [crop])
        if self.config.refine_new_faces:
            out = self.predictor.predict_scored([image], [self._crop_for(out.points[0])])
        track = self._new_track(out.points[0], out.confidence[0], float(out.face_score[0]))
        self.tracks.append(track)
        return [self._result(track, "detected")]

    def _new_track(self, points: np.ndarray, confidence: np.ndarray, face_score: float) -> Track:
        track = Track(self.next_id, points, confidence, LandmarkSmoother(self.config.smoothing_config), face_score=face_score)
        self.next_id += 1
        return track

    def step(self, image: np.ndarray) -> list[Face]:
        cfg = self.config
        self.frame_index += 1
        self._frame_size = (image.shape[1], image.shape[0])
        track_crops = [self._crop_for(t.expected_points(cfg.motion_lead)) for t in self.tracks]
        new_crops: list[FaceCrop] = []
        taken = [crop_box(c) for c in track_crops]
        for det in self._gather_detections(image):
            crop = self.detector.calibration.crop(det)
            box = crop_box(crop)
            if any(iou(box, t) >= cfg.same_face_iou for t in taken):
                continue
            if len(self.tracks) + len(new_crops) >= cfg.max_faces:
                if not self._warned_max_faces:
                    log.warning("frame %d holds more than %d faces: the first %d are tracked (max_faces, --max-faces)",
                                self.frame_index, cfg.max_faces, cfg.max_faces)
                    self._warned_max_faces = True
                break
            new_crops.append(crop)
            taken.append(box)
        self._lost = False
        crops = track_crops + new_crops
        out = self.predictor.predict_scored([image] * len(crops), crops)
        points, conf, score = out.points, out.confidence, out.face_score
        n_tracks = len(track_crops)
        if new_crops and cfg.refine_new_faces:
            refined = [self._crop_for(p) for p in points[n_tracks:]]
            again = self.predictor.predict_scored([image] * len(refined), refined)
            points[n_tracks:], conf[n_tracks:], score[n_tracks:] = again.points, again.confidence, again.face_score
        threshold = self.face_threshold
        keep = threshold * cfg.keep_score_ratio
        results: list[Face] = []
        survivors: list[Track] = []
        for i, track in enumerate(self.tracks):
            if score[i] < keep:
                self._lost = True
                continue
            track.velocity = points[i].mean(axis=0) - track.points.mean(axis=0)
            track.points, track.confidence, track.age, track.face_score = points[i], conf[i], track.age + 1, float(score[i])
            survivors.append(track)
            results.append(self._result(track, "tracked"))
        for j in range(n_tracks, len(points)):
            if score[j] < threshold:
                continue
            track = self._new_track(points[j], conf[j], float(score[j]))
            survivors.append(track)
            results.append(self._result(track, "detected"))
        self.tracks = self._drop_duplicates(survivors)
        alive = {t.face_id for t in self.tracks}
        return [r for r in results if r.face_id in alive]

    def _result(self, track: Track, source: Source) -> Face:
        with self.timer.stage("smoothing"):
            smoothed = track.smoother(track.points, track.confidence) if self.config.smoothing else track.points
        raw_pose = pose = None
        if (estimator := self.pose_estimator) is not None:
            with self.timer.stage("pose"):
                raw_pose = estimator.estimate(track.points, self._frame_size, track.confidence, track.raw_pose)
                track.raw_pose = raw_pose
                if raw_pose is not None and self.config.smoothing:
                    if track.pose_smoother is None:
                        track.pose_smoother = PoseSmoother(self.config.pose_smoothing)
                    pose = track.pose_smoother(raw_pose)
                else:
                    pose = raw_pose
        return Face(smoothed, track.confidence, track.face_id, track.face_score, source, pose, raw_pose)

    @property
    def face_threshold(self) -> float:
        """The face score below which a crop is not a face: the config's, else the model's own."""
        chosen = self.config.min_face_score
        return self.predictor.face_threshold if chosen is None else chosen

    def _drop_duplicates(self, tracks: list[Track]) -> list[Track]:
        kept: list[Track] = []
        for track in sorted(tracks, key=lambda t: t.face_id):  # older ids first
            box = crop_box(crop_from_points(track.points))
            if all(iou(box, crop_box(crop_from_points(k.points))) < self.config.duplicate_iou for k in kept):
                kept.append(track)
        return kept
