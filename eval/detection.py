"""Detection benchmark: recall by face size and roll and on dim faces, false hits on face-free images, a real clip, speed.

Everything is made from data the detectors never saw in training here: 300-W test faces (common
split) are pasted, rolled and scaled, onto face-free backgrounds; the face-free images are regions of
the same test images away from their annotated face, hair / ear / neck strips cut next to it, and
procedural textures. A detection finds a face when its calibrated crop (what the tracker would feed
the network) overlaps the face's levelled canonical crop by IoU >= ``HIT_IOU`` (as upright squares).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from tracker.datasets import FaceSample, load_image_rgb
from tracker.datasets.face_free import STRIP_KINDS, face_box, strip, texture
from tracker.detection import Detection, FaceDetector
from tracker.geometry import FaceCrop, apply_affine, levelled_crop
from tracker.detection.base import iou
from tracker.network.crop_predictor import CropPredictor
from tracker.tracking.face_tracker import crop_box

CANVAS = (640, 360)  # (w, h): the frame size of the benchmark images, a typical webcam / 360p video
WIDTHS = (40, 60, 100, 200)  # face widths (landmark box side, px) the faces are pasted at
ROLLS = (0.0, 25.0, 45.0)  # in-plane rotations (degrees), alternating in sign from face to face
HIT_IOU = 0.4  # a calibrated crop this close to the true canonical crop finds the face
TEXTURES_PER_FACE = 2  # face-free procedural pictures, per test face
DARK_GAIN = 0.2  # plus one as dim as a dark hall (detectors may equalise dark frames), per test face
# ...and each test face once more as a face in a dark audience: this wide, dimmed by DARK_GAIN, out of focus
DIM_WIDTH = 60
DIM_DEFOCUS = 1.5  # Gaussian blur sigma, pixels
DIM_FACE = "dim face"
CHECKED = "+check"  # a detector name with this suffix: its exhaustive search filtered by the face check (CheckedSearch)
CONTEXT = 0.95  # pasted region radius / landmark box side: the face, hair and some neck
FEATHER = 0.2  # fraction of the pasted radius over which the face blends into the background
BACKGROUND_CLEARANCE = 1.0  # face-free bands start this many landmark-box sides from the face centre


@dataclass(frozen=True)
class BenchmarkImage:
    image: np.ndarray
    truth: FaceCrop | None = None  # canonical crop of the pasted face; None for a face-free image
    width: int = 0
    roll: float = 0.0
    kind: str = "face"


@dataclass
class DetectorScore:
    found: dict[tuple[int, float], list[bool]] = field(default_factory=dict)
    dim_found: list[bool] = field(default_factory=list)
    false_images: dict[str, int] = field(default_factory=dict)  # face-free images with any detection, by kind
    free_images: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    clip_frames_with_face: int = 0
    clip_frames: int = 0

    def recall(self, width: int | None = None, roll: float | None = None) -> float:
        hits = [h for (w, r), v in self.found.items() if width in (None, w) and roll in (None, r) for h in v]
        return 100.0 * float(np.mean(hits)) if hits else float("nan")

    def row(self) -> dict[str, float | str]:
        row: dict[str, float | str] = {"ms_per_frame": 1000.0 * float(np.median(self.seconds)), "recall": self.recall()}
        row.update({f"recall_{w}px": self.recall(width=w) for w in WIDTHS})
        row.update({f"recall_roll_{r:g}": self.recall(roll=r) for r in ROLLS})
        row["recall_dim"] = 100.0 * float(np.mean(self.dim_found)) if self.dim_found else float("nan")
        free, false = sum(self.free_images.values()), sum(self.false_images.values())
        row["false_hits"] = f"{false} / {free}"
        row["false_per_100"] = 100.0 * false / free if free else float("nan")
        row.update({f"false_{k}": f"{self.false_images.get(k, 0)} / {n}" for k, n in self.free_images.items()})
        if self.clip_frames:
            row["clip_frames_with_face"] = 100.0 * self.clip_frames_with_face / self.clip_frames
        return row


def _cover(image: np.ndarray, size: tuple[int, int] = CANVAS) -> np.ndarray:
    """Scale ``image`` to cover ``size`` (w, h) and cut the centre."""
    w, h = size
    k = max(w / image.shape[1], h / image.shape[0])
    scaled = cv2.resize(image, (max(w, round(image.shape[1] * k)), max(h, round(image.shape[0] * k))), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    y0, x0 = (scaled.shape[0] - h) // 2, (scaled.shape[1] - w) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + h, x0 : x0 + w])


def background_region(image: np.ndarray, face: FaceSample) -> np.ndarray | None:
    """The largest band of ``image`` at least ``BACKGROUND_CLEARANCE`` box sides from the annotated face centre."""
    centre, side = face_box(face)
    h, w = image.shape[:2]
    x0, y0 = int(max(0, centre[0] - BACKGROUND_CLEARANCE * side)), int(max(0, centre[1] - BACKGROUND_CLEARANCE * side))
    x1, y1 = int(min(w, centre[0] + BACKGROUND_CLEARANCE * side)), int(min(h, centre[1] + BACKGROUND_CLEARANCE * side))
    bands = [image[:, :x0], image[:, x1:], image[:y0, :], image[y1:, :]]
    bands = [b for b in bands if min(b.shape[:2]) >= 64]
    return max(bands, key=lambda b: b.size) if bands else None


def blend_face(canvas: np.ndarray, image: np.ndarray, matrix: np.ndarray, centre: np.ndarray, radius: float) -> None:
    """Warp ``image`` by ``matrix`` into ``canvas`` (in place) inside a feathered disc at ``centre``."""
    h, w = canvas.shape[:2]
    x0, y0 = max(0, int(centre[0] - radius)), max(0, int(centre[1] - radius))
    x1, y1 = min(w, int(np.ceil(centre[0] + radius)) + 1), min(h, int(np.ceil(centre[1] + radius)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    local = matrix.copy()
    local[:, 2] -= (x0, y0)  # warp straight into the disc's bounding box
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    warped = cv2.warpAffine(image, local, (x1 - x0, y1 - y0), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    distance = np.hypot(xx - centre[0], yy - centre[1]) / radius
    alpha = np.clip((1.0 - distance) / FEATHER, 0.0, 1.0)[..., None]
    region = canvas[y0:y1, x0:x1]
    region[:] = (alpha * warped + (1 - alpha) * region).astype(np.uint8)


def face_matrix(face: FaceSample, width: float, roll: float, target: np.ndarray) -> np.ndarray:
    """The similarity that rolls ``face`` by ``roll`` degrees, scales its landmark box to ``width`` and centres it on ``target``."""
    centre, side = face_box(face)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), roll, width / side)
    matrix[:, 2] += target - centre
    return matrix


def paste_face(
    background: np.ndarray, image: np.ndarray, face: FaceSample, width: int, roll: float, rng: np.random.Generator,
) -> BenchmarkImage:
    """``face`` rolled by ``roll`` degrees and scaled to a ``width`` px landmark box, blended at a random place."""
    h, w = background.shape[:2]
    radius = CONTEXT * width
    margin = min(radius, w / 2 - 1, h / 2 - 1)
    target = np.array([rng.uniform(margin, w - margin), rng.uniform(margin, h - margin)])
    matrix = face_matrix(face, width, roll, target)
    canvas = background.copy()
    blend_face(canvas, image, matrix, target, radius)
    return BenchmarkImage(canvas, levelled_crop(apply_affine(matrix, face.points)), width, roll)


def dimmed(item: BenchmarkImage) -> BenchmarkImage:
    """``item`` as a face in a dark hall: dimmed by ``DARK_GAIN`` and out of focus."""
    dark = cv2.GaussianBlur(item.image.astype(np.float32) * DARK_GAIN, (0, 0), DIM_DEFOCUS)
    return replace(item, image=np.clip(dark, 0, 255).astype(np.uint8), kind=DIM_FACE)


def paste_region(background: np.ndarray, region: np.ndarray, rng: np.random.Generator, kind: str) -> BenchmarkImage:
    """A face-free region scaled to 60-200 px and laid on a background at a random place."""
    h, w = background.shape[:2]
    k = rng.uniform(60, 200) / max(region.shape[:2])
    region = cv2.resize(region, (max(1, round(region.shape[1] * k)), max(1, round(region.shape[0] * k))))
    rh, rw = min(region.shape[0], h), min(region.shape[1], w)
    y0, x0 = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    out = background.copy()
    out[y0 : y0 + rh, x0 : x0 + rw] = region[:rh, :rw]
    return BenchmarkImage(out, kind=kind)


def make_benchmark(faces: Sequence[FaceSample], seed: int = 0) -> tuple[list[BenchmarkImage], list[BenchmarkImage]]:
    """Pasted faces (every face at every width and roll, and once dim) and face-free images, all from ``faces``' pictures."""
    rng = np.random.default_rng(seed)
    pictures = [load_image_rgb(f.image_path) for f in faces]
    free: list[BenchmarkImage] = []
    for image, face in zip(pictures, faces):
        region = background_region(image, face)
        if region is not None:
            free.append(BenchmarkImage(_cover(region), kind="background"))
    backgrounds = [b.image for b in free] + [texture(rng) for _ in range(TEXTURES_PER_FACE * len(faces))]
    free += [BenchmarkImage(b, kind="texture") for b in backgrounds[len(free) :]]
    free += [BenchmarkImage((texture(rng) * DARK_GAIN).astype(np.uint8), kind="dark texture") for _ in faces]
    for image, face in zip(pictures, faces):
        for kind in STRIP_KINDS:
            if (region := strip(image, face, kind)) is not None:
                free.append(paste_region(backgrounds[int(rng.integers(len(backgrounds)))], region, rng, kind))
    pasted = []
    for i, (image, face) in enumerate(zip(pictures, faces)):
        sign = 1.0 if i % 2 == 0 else -1.0
        for width in WIDTHS:
            for roll in ROLLS:
                background = backgrounds[int(rng.integers(len(backgrounds)))]
                pasted.append(paste_face(background, image, face, width, sign * roll, rng))
    for image, face in zip(pictures, faces):
        pasted.append(dimmed(paste_face(backgrounds[int(rng.integers(len(backgrounds)))], image, face, DIM_WIDTH, 0.0, rng)))
    return pasted, free


class CheckedSearch:
    """What the tracker keeps of an exhaustive search, the one it makes while it tracks no face: the
    detector's faces (``exhaustive``) whose refined crops the face check accepts."""

    def __init__(self, detector: FaceDetector, predictor: CropPredictor) -> None:
        self.detector = detector
        self.predictor = predictor
        self.calibration = detector.calibration

    def reset(self) -> None:
        if (reset := getattr(self.detector, "reset", None)) is not None:
            reset()

    def detect(self, image: np.ndarray, exhaustive: bool = True) -> list[Detection]:
        detections = self.detector.detect(image, exhaustive=True)
        if not detections:
            return []
        crops = [self.calibration.crop(d) for d in detections]
        first = self.predictor.predict_scored([image] * len(crops), crops)
        refined = [levelled_crop(p) for p in first.points]  # the tracker's second pass on a new face
        scores = self.predictor.predict_scored([image] * len(refined), refined).face_score
        return [d for d, score in zip(detections, scores) if score >= self.predictor.face_threshold]


def finds(detector: FaceDetector, item: BenchmarkImage) -> tuple[bool, int, float]:
    """(the pasted face was found, detections, seconds) for one benchmark image."""
    if (reset := getattr(detector, "reset", None)) is not None:
        reset()  # each benchmark image is a new picture: the detector's full search, not a search in a run of faceless frames
    start = time.perf_counter()
    detections = detector.detect(item.image)
    seconds = time.perf_counter() - start
    if item.truth is None:
        return False, len(detections), seconds
    truth = crop_box(item.truth)
    found = any(iou(crop_box(detector.calibration.crop(d)), truth) >= HIT_IOU for d in detections)
    return found, len(detections), seconds


def score_detector(
    detector: FaceDetector, pasted: Sequence[BenchmarkImage], free: Sequence[BenchmarkImage],
    clip: Iterator[np.ndarray] | None = None,
) -> DetectorScore:
    score = DetectorScore()
    for item in pasted:
        found, _, seconds = finds(detector, item)
        if item.kind == DIM_FACE:
            score.dim_found.append(found)
            continue
        score.found.setdefault((item.width, abs(item.roll)), []).append(found)
        score.seconds.append(seconds)
    for item in free:
        _, count, _ = finds(detector, item)
        score.free_images[item.kind] = score.free_images.get(item.kind, 0) + 1
        score.false_images[item.kind] = score.false_images.get(item.kind, 0) + int(count > 0)
    for frame in clip or ():
        score.clip_frames += 1
        score.clip_frames_with_face += int(bool(detector.detect(frame)))
    return score


def run_benchmark(
    detectors: dict[str, Callable[[], FaceDetector]], faces: Sequence[FaceSample],
    clip_frames: Callable[[], Iterator[np.ndarray]] | None = None, seed: int = 0,
) -> dict[str, dict[str, float | str]]:
    """One row per detector, all on the same images (made once)."""
    pasted, free = make_benchmark(faces, seed)
    rows = {}
    for name, factory in detectors.items():
        score = score_detector(factory(), pasted, free, clip_frames() if clip_frames else None)
        rows[name] = {"faces": len(pasted), "face_free": len(free), **score.row()}
    return rows
