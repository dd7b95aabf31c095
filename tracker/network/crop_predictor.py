"""What every landmark predictor shares, whatever runs its network: crops cut from images and lit,
batches split over face threads, points mapped back to the image.

Subclasses run the per-crop computation on a batch of crops (``_predict_chunk``): ``LandmarkPredictor``
with PyTorch (GPUs, training's checks), ``OnnxPredictor`` with ONNX Runtime (the CPU runtime, no
PyTorch import).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracker.errors import InputError
from tracker.geometry import FaceCrop, from_crop, levelled_crop, warp_image
from tracker.markup import NUM_POINTS
from tracker.network.dark_crops import equalise_if_dark
from tracker.timing import NULL_TIMER, StageTimer


@dataclass
class CropPrediction:
    """Landmarks in crop-input pixels (B, N, 2), confidences (B, N), the raw heatmaps (B, N, H, W; None where
    not fetched) and face scores (B,): PyTorch tensors from ``LandmarkPredictor``, NumPy arrays from
    ``OnnxPredictor``."""

    points: Any
    confidence: Any
    heatmaps: Any
    face_score: Any

    @staticmethod
    def concat(parts: Sequence[CropPrediction], cat: Callable[[list[Any]], Any]) -> CropPrediction:
        if len(parts) == 1:
            return parts[0]
        fields = zip(*((p.points, p.confidence, p.heatmaps, p.face_score) for p in parts))
        return CropPrediction(*(cat(list(field)) if field[0] is not None else None for field in fields))


@dataclass
class FacePredictions:
    """Per crop: landmarks in image pixels (F, N, 2), per-point confidences (F, N) and the face score (F,):
    p(face) from the model's face check, or the mean heatmap peak for weights without one."""

    points: np.ndarray
    confidence: np.ndarray
    face_score: np.ndarray


class CropPredictor:
    """Batched crops -> landmarks; subclasses set the attributes below and implement ``_predict_chunk``.

    ``equalise_dark`` contrast-equalises crops darker than ``DARK_CROP_LUMA`` before the network.
    ``face_threads`` > 1 splits a batch of faces over that many threads (CPU: a batch-1 network uses
    one core well but two poorly, so two faces on two threads finish in about the time of one).
    """

    device_type: str  # "cpu" or "cuda": where the network runs
    num_points: int
    input_size: int
    face_threshold: float  # the face score below which a crop is not a face
    has_ghcu: bool  # whether a GHCU corrects the points

    def __init__(self, face_threads: int = 1, equalise_dark: bool = True, timer: StageTimer = NULL_TIMER) -> None:
        if face_threads < 1:
            raise InputError(f"face_threads must be at least 1, got {face_threads}")
        self.face_threads = face_threads
        self.equalise_dark = equalise_dark
        self.timer = timer
        self._pool: ThreadPoolExecutor | None = None

    def _predict_chunk(self, crops: np.ndarray) -> CropPrediction:
        raise NotImplementedError

    def _concat(self, parts: list[Any]) -> Any:
        return np.concatenate(parts)

    def _numpy(self, values: Any) -> np.ndarray:
        return np.asarray(values)

    def close(self) -> None:
        """Stop the face threads, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def predict_batch(self, crops: np.ndarray) -> CropPrediction:
        """Predict on (B, S, S, 3) uint8 crops already warped to the input size."""
        parts = np.array_split(np.arange(len(crops)), min(self.face_threads, max(len(crops), 1)))
        if len(parts) == 1:
            return self._predict_chunk(crops)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.face_threads - 1, thread_name_prefix="faces")
        others = [self._pool.submit(self._predict_chunk, crops[idx[0] : idx[-1] + 1]) for idx in parts[1:]]
        first = self._predict_chunk(crops[parts[0][0] : parts[0][-1] + 1])  # this thread takes a share too
        return CropPrediction.concat([first] + [f.result() for f in others], self._concat)

    def predict_warped(self, crops: np.ndarray) -> CropPrediction:
        """Predict on (B, S, S, 3) uint8 crops warped to the input size, lit as the runtime lights them
        (dark crops equalised): what ``predict`` does after warping."""
        return self.predict_batch(np.stack([self._lit(c) for c in crops]))

    def predict(self, image: np.ndarray, crops: Sequence[FaceCrop], norm: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks in image pixels (F, N, 2) and confidences (F, N) for each crop of ``image``.

        ``norm`` predicts twice, the second time on the crop levelled by the first answer's eye line
        (``levelled_crop``; the paper's "+Norm", 68 points only): 2x the cost, better on rolled faces.
        """
        return self.predict_pairs([image] * len(crops), crops, norm)

    def predict_pairs(
        self, images: Sequence[np.ndarray], crops: Sequence[FaceCrop], norm: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As ``predict``, for one crop of each of ``images`` (faces of different stills in one batch)."""
        out = self.predict_scored(images, crops, norm)
        return out.points, out.confidence

    def predict_scored(self, images: Sequence[np.ndarray], crops: Sequence[FaceCrop], norm: bool = False) -> FacePredictions:
        """As ``predict_pairs``, with each crop's face score (compare with ``face_threshold``)."""
        if not crops:
            return FacePredictions(np.zeros((0, self.num_points, 2)), np.zeros((0, self.num_points)), np.zeros(0))
        if norm and self.num_points != NUM_POINTS:
            raise InputError(f"norm needs the {NUM_POINTS}-point markup's eyes; this model has {self.num_points} points")
        out = self._predict_crops(images, crops)
        if norm:
            out = self._predict_crops(images, [levelled_crop(p) for p in out.points])
        return out

    def _lit(self, crop: np.ndarray) -> np.ndarray:
        """A crop darker than ``DARK_CROP_LUMA`` on average, contrast-equalised (``equalise_dark``)."""
        return equalise_if_dark(crop) if self.equalise_dark else crop

    def _predict_crops(self, images: Sequence[np.ndarray], crops: Sequence[FaceCrop]) -> FacePredictions:
        with self.timer.stage("crop"):
            batch = np.stack([self._lit(warp_image(image, c, self.input_size)) for image, c in zip(images, crops)])
        out = self.predict_batch(batch)
        pts = self._numpy(out.points).astype(np.float64)
        image_pts = np.stack([from_crop(p, c, self.input_size) for p, c in zip(pts, crops)])
        return FacePredictions(image_pts, self._numpy(out.confidence), self._numpy(out.face_score).astype(np.float32))
