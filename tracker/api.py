"""The public Python API: ``Landmarker`` for still images, ``VideoTracker`` for videos and cameras.

>>> import tracker
>>> faces = tracker.Landmarker().landmarks(image)          # RGB uint8 HxWx3; the detector finds faces
>>> for frame in tracker.VideoTracker().track("clip.mp4"):  # a path, a camera index or RGB frames
...     print(frame.index, [face.points.shape for face in frame.faces])

Points are (68, 2) arrays of 0-based image pixels (x, y) in the iBUG markup (``tracker.markup``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from tracker.errors import InputError
from tracker.defaults import DEFAULT_DETECTOR, X264_PRESET
from tracker.detection.base import Box
from tracker.geometry import CROP_SCALE, FaceCrop
from tracker.io.draw import DrawConfig
from tracker.io.video import Frame
from tracker.jobs.batch import VideoRow, expand_inputs, run_batch
from tracker.jobs.live import camera_frames, file_frames, run_live
from tracker.jobs.pipeline import PipelineConfig, RunOutputs, RunSummary, TrackerBuild, run_video
from tracker.network.factory import PredictorConfig, face_threads_for
from tracker.network.options import GraphOptions
from tracker.pose import HeadPose, PoseConfig, PoseEstimator
from tracker.results import Face
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig

Progress = Callable[[int, int | None], None]  # (frames done, frame count or None)
Self = TypeVar("Self", bound="_TrackerOwner")


@dataclass(frozen=True)
class FrameResult:
    """A video frame's faces; ``readable`` is False for a frame that could not be decoded."""

    index: int
    time: float | None
    faces: list[Face] = field(default_factory=list)
    readable: bool = True


def _path(weights: str | Path | None) -> Path | None:
    return Path(weights) if weights is not None else None


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise InputError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"the image is empty: {image.shape}")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


MIN_BOX_SIDE = 1.0  # pixels: a smaller face box holds no face to find


def _box(values: Sequence[float]) -> Box:
    """A user's face box as four finite floats (x0, y0, x1, y1), at least a pixel wide and high."""
    box = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
    if len(box) != 4:
        raise InputError(f"a face box is (x0, y0, x1, y1), got {len(box)} values")
    if not np.isfinite(box).all():
        raise InputError(f"a face box must be finite, got {box}")
    if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
        raise InputError(f"a face box is (x0, y0, x1, y1) with x1 > x0 and y1 > y0 by a pixel at least, got {box}")
    return box  # type: ignore[return-value]


def _inside(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` if it overlaps the image (a face at the edge may reach beyond it), else an ``InputError``."""
    x0, y0, x1, y1 = box
    height, width = shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise InputError(f"face box {box} lies outside the {width}x{height} image")
    return box


def box_to_crop(box: Box) -> FaceCrop:
    """A network crop around a user's face box, of any detector's style: the square of the box's
    larger side x ``CROP_SCALE``, centred on it (the second pass then frames the face exactly)."""
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise InputError(f"a face box is (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box}")
    return FaceCrop((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * CROP_SCALE)


class _TrackerOwner:
    """Owns a ``FaceTracker`` (its detection and face threads), built on first use from ``config``;
    ``close`` or a ``with`` block stops them."""

    config: PipelineConfig
    _build: TrackerBuild | None = None

    def _start_build(self) -> TrackerBuild:
        """The tracker's build, started in the background on first use."""
        if self._build is None:
            self._build = TrackerBuild(self.config)
        return self._build

    @property
    def _tracker(self) -> FaceTracker:
        return self._start_build().get()

    def close(self) -> None:
        if self._build is not None:
            self._build.close()
            self._build = None

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Landmarker(_TrackerOwner):
    """68 landmarks on the faces of still images.

    Each face is predicted twice, the second time on the crop levelled and framed by the first answer
    (``norm``, the paper's "+Norm"; what the tracker does for a new face), so any reasonable box works.
    Without boxes the detector finds the faces, searching each image afresh and exhaustively (as the
    tracker searches while it tracks nothing), and detections whose face score is under
    ``min_face_score`` (default: the model's threshold) are dropped as non-faces. ``network`` holds the
    per-crop computation's options (``GraphOptions``: GHCU, flip test, stacks); ``pose_config`` gives
    the camera's intrinsics for the head pose (default: from the image size).
    """

    def __init__(
        self, weights: str | Path | None = None, device: str = "auto", detector: str = DEFAULT_DETECTOR,
        network: GraphOptions = GraphOptions(), norm: bool = True, min_face_score: float | None = None,
        pose_config: PoseConfig = PoseConfig(),
    ) -> None:
        predictor = PredictorConfig(_path(weights), device, network)
        self.config = PipelineConfig(predictor, detector=detector)
        self.predictor = self._tracker.predictor
        self.detector = self._tracker.detector
        self.norm = norm
        self.pose_estimator = PoseEstimator(pose_config)
        self.min_face_score = self.predictor.face_threshold if min_face_score is None else min_face_score

    def detect(self, image: np.ndarray) -> list[Box]:
        """The detector's face boxes, best first."""
        return [d.box for d in self.detector.detect(_rgb(image))]

    def landmarks(self, image: np.ndarray, boxes: Sequence[Box] | None = None) -> list[Face]:
        """The faces of an RGB uint8 ``image`` (grayscale accepted), one per box, or per detected face."""
        image = _rgb(image)
        if boxes is None:
            if (reset := getattr(self.detector, "reset", None)) is not None:
                reset()  # each still is a new picture: the detector's full search, every retry
            # a still is a search with nothing tracked: exhaustive, since every face is checked below
            crops = [self.detector.calibration.crop(d) for d in self.detector.detect(image, exhaustive=True)]
        else:
            crops = [box_to_crop(_inside(_box(b), image.shape)) for b in boxes]
        out = self.predictor.predict_scored([image] * len(crops), crops, norm=self.norm)
        size = (image.shape[1], image.shape[0])
        faces = [Face(p, c, face_score=float(s), pose=self.pose_estimator.estimate(p, size, c))
                 for p, c, s in zip(out.points, out.confidence, out.face_score)]
        return faces if boxes is not None else [f for f in faces if f.face_score >= self.min_face_score]



class VideoTracker(_TrackerOwner):
    """Tracks every face over a video, a camera or a sequence of frames; one ``FrameResult`` per frame.

    The same tracker as ``tracker run``: ``tracking`` holds its detection schedule, smoothing, face
    score threshold and head pose (``TrackerConfig``), ``network`` the per-crop computation's options
    (``GraphOptions``: GHCU, flip test, stacks). ``track`` may be called again for another video (the
    tracks start afresh). ``write`` and ``write_many`` are ``tracker run`` itself: overlay and per-frame
    files, for one or many videos; how the overlay is drawn (``DrawConfig``) is theirs and ``show``'s.
    """

    def __init__(
        self, weights: str | Path | None = None, device: str = "auto", detector: str = DEFAULT_DETECTOR,
        tracking: TrackerConfig = TrackerConfig(), network: GraphOptions = GraphOptions(), face_threads: int | None = None,
    ) -> None:
        predictor = PredictorConfig(_path(weights), device, network, face_threads=face_threads)
        self.config = PipelineConfig(predictor, detector=detector, tracking=tracking)

    def _for_output(self, draw: DrawConfig, x264_preset: str, stream: int | None) -> PipelineConfig:
        return replace(self.config, draw=draw, x264_preset=x264_preset, stream=stream)

    @property
    def face_threads(self) -> int:
        return face_threads_for(self.config.predictor, self._tracker.predictor.device_type)

    def track(self, source: str | Path | int | Iterable[np.ndarray], stream: int | None = None) -> Iterator[FrameResult]:
        """Results frame by frame from a video file (its video ``stream``, numbered as ffprobe does;
        default: the one marked default, else the largest), a camera index, or an iterable of RGB frames."""
        self._tracker.reset()
        for frame in _frames(source, stream):
            if frame.image is None:
                yield FrameResult(frame.index, frame.time, [], readable=False)
                continue
            results = self._tracker.step(frame.image)
            yield FrameResult(frame.index, frame.time, results)

    def write(
        self, source: str | Path, out: str | Path | None = None, csv: str | Path | None = None,
        json: str | Path | None = None, pts_dir: str | Path | None = None, progress: Progress | None = None,
        draw: DrawConfig = DrawConfig(), x264_preset: str = X264_PRESET, stream: int | None = None,
    ) -> RunSummary:
        """Track a video file into an overlay video (``out``, H.264 at ``x264_preset``, drawn as ``draw``
        says) and/or per-frame files (``csv``, ``json``, ``pts_dir`` in the 300-VW layout), each written
        whole or not at all; ``progress(done, total)`` is called after every frame."""
        paths = [Path(p) if p is not None else None for p in (out, csv, json, pts_dir)]
        if not any(paths):
            raise InputError("nothing to write: give out, csv, json and/or pts_dir")
        build = self._start_build()  # loads while run_video opens the video and the outputs
        if build.ready():
            build.get().reset()  # a tracker used before; a new one has no tracks
        return run_video(Path(source), RunOutputs(*paths), self._for_output(draw, x264_preset, stream), progress, tracker=build)

    def write_many(
        self, videos: Iterable[str | Path], out_dir: str | Path, workers: int = 1, shard: tuple[int, int] = (0, 1),
        report: Callable[[VideoRow], None] | None = None, draw: DrawConfig = DrawConfig(), x264_preset: str = X264_PRESET,
        stream: int | None = None,
    ) -> list[VideoRow]:
        """Many videos (files, folders, glob patterns) into ``out_dir``: ``<name>.mp4`` and ``<name>.csv``
        each, finished videos skipped, a bad file an error row (not an exception), ``summary.csv``;
        ``workers`` processes in parallel; ``shard=(i, n)`` takes every n-th video from the i-th."""
        return run_batch(expand_inputs(videos), Path(out_dir), self._for_output(draw, x264_preset, stream), workers, shard, report)

    def show(
        self, source: str | Path | int = 0, headless: bool = False, max_frames: int | None = None, draw: DrawConfig = DrawConfig(),
        stream: int | None = None,
    ) -> tuple[int, float]:
        """A live overlay window with frames/s for a camera index or a video file (q or Esc quits);
        ``headless`` runs without a window. Returns (frames, mean frames/s)."""
        self._tracker.reset()
        return run_live(_frames(source, stream), self._tracker, draw, headless, max_frames)


def _frames(source: str | Path | int | Iterable[np.ndarray], stream: int | None = None) -> Iterable[Frame]:
    if isinstance(source, (str, Path)):
        return file_frames(Path(source), stream)
    if isinstance(source, int):
        return camera_frames(source)
    return (Frame(i, None, None, _rgb(image)) for i, image in enumerate(source))  # type: ignore[arg-type]


__all__ = [
    "Box", "DrawConfig", "Face", "FrameResult", "GraphOptions", "HeadPose", "Landmarker", "PoseConfig", "RunSummary",
    "TrackerConfig", "VideoRow", "VideoTracker", "box_to_crop",
]
