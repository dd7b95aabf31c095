"""Crops in, landmarks out: the hourglass, heatmap decoding and the optional GHCU, batched."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tracker.errors import InputError
from tracker.geometry import FaceCrop, from_crop, levelled_crop, warp_image
from tracker.network.dark_crops import equalise_if_dark
from tracker.network.heatmaps import MODULATION_SIGMA, decode, heatmap_to_input
from tracker.network.inference import cached_graph, freeze_for_inference, graph_key
from tracker.markup import NUM_POINTS, flip_permutation
from tracker.models import LandmarkModel
from tracker.models.hourglass import FirstStacks
from tracker.network.quantization import int8_ranges_for, quantize
from tracker.timing import NULL_TIMER, StageTimer

MIN_MEAN_PEAK = 0.35  # for weights without a face check: a crop whose mean heatmap peak is lower is not a face

PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


def to_network_input(crops: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB crops -> normalised float (B, 3, S, S) on ``device``."""
    x = torch.as_tensor(crops).to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return x.sub_(PIXEL_MEAN).div_(PIXEL_STD).contiguous(memory_format=torch.channels_last)


def heatmap_to_unit(points: torch.Tensor, size: int) -> torch.Tensor:
    """Heatmap pixels -> GHCU's normalised coordinates (0..1 across the map)."""
    return (points + 0.5) / size


def unit_to_heatmap(points: torch.Tensor, size: int) -> torch.Tensor:
    return points * size - 0.5


@dataclass
class CropPrediction:
    """Landmarks in crop-input pixels (B, N, 2), confidences (B, N), the raw heatmaps and face scores (B,)."""

    points: torch.Tensor
    confidence: torch.Tensor
    heatmaps: torch.Tensor
    face_score: torch.Tensor

    @staticmethod
    def concat(parts: Sequence[CropPrediction]) -> CropPrediction:
        if len(parts) == 1:
            return parts[0]
        fields = zip(*((p.points, p.confidence, p.heatmaps, p.face_score) for p in parts))
        return CropPrediction(*(torch.cat(field) for field in fields))


@dataclass
class FacePredictions:
    """Per crop: landmarks in image pixels (F, N, 2), per-point confidences (F, N) and the face score (F,):
    p(face) from the model's face check, or the mean heatmap peak for weights without one."""

    points: np.ndarray
    confidence: np.ndarray
    face_score: np.ndarray


class LandmarkPredictor:
    """Batched crops -> landmarks.

    ``flip_test`` also runs the mirrored crop and averages the un-mirrored heatmaps (2x the cost).
    ``freeze`` runs frozen TorchScript graphs on the CPU (same outputs to ~1e-6, about 1.5x faster);
    they snapshot the weights, so code that keeps training the model (validation) leaves it off.
    ``num_stacks`` runs only the first stacks of the hourglass (faster, less accurate).
    ``int8`` runs the hourglass quantized to int8 (CPU, weights with int8 ranges; see
    ``tracker.network.quantization``).
    ``equalise_dark`` contrast-equalises crops darker than ``DARK_CROP_LUMA`` before the network.
    The model's ``point_offsets`` (its mean signed error on its training faces) are subtracted from
    every point, in crop coordinates.
    ``face_threads`` > 1 splits a batch of faces over that many threads (CPU: a batch-1 network uses
    one core well but two poorly, so two faces on two threads finish in about the time of one).
    """

    def __init__(
        self, model: LandmarkModel, device: torch.device | str = "cpu", use_ghcu: bool = True, flip_test: bool = False,
        freeze: bool = False, timer: StageTimer = NULL_TIMER, num_stacks: int | None = None, face_threads: int = 1,
        int8: bool = False, modulation_sigma: float | None = MODULATION_SIGMA, equalise_dark: bool = True,
    ) -> None:
        if face_threads < 1:
            raise InputError(f"face_threads must be at least 1, got {face_threads}")
        self.device = torch.device(device)
        self.face_threads = face_threads
        self.equalise_dark = equalise_dark
        self.modulation_sigma = modulation_sigma  # DARK decoding (``tracker.network.heatmaps.modulate``); None: off
        self._pool: ThreadPoolExecutor | None = None
        self.flip_test = flip_test
        self.timer = timer
        self.num_points = model.config.num_points
        self.flip_index = torch.as_tensor(flip_permutation(model.config.num_points), device=self.device)
        self.input_size = model.config.input_size
        self.heatmap_size = model.config.heatmap_size
        self.heatmap_stride = model.config.heatmap_stride
        network = model.hourglass.to(self.device).eval().to(memory_format=torch.channels_last)
        self.hourglass: nn.Module = network if num_stacks is None else FirstStacks(network, num_stacks)
        self.ghcu = model.ghcu.to(self.device).eval() if (use_ghcu and model.ghcu is not None) else None
        self.face_check = model.face_check.to(self.device).eval() if model.face_check is not None else None
        offsets = model.point_offsets if model.point_offsets is not None else np.zeros((self.num_points, 2))
        self.point_offsets = torch.as_tensor(offsets * self.input_size, dtype=torch.float32, device=self.device)
        # the face score below which a crop is not a face: the face check's own, else the mean-peak rule
        self.face_threshold = model.face_check.config.threshold if model.face_check is not None else MIN_MEAN_PEAK
        image = to_network_input(np.zeros((1, self.input_size, self.input_size, 3), np.uint8))
        self.int8 = int8
        ranges = int8_ranges_for(model, self.device) if int8 else None
        float_network = self.hourglass

        def build_hourglass() -> nn.Module:
            if ranges is None:
                return float_network
            return quantize(FirstStacks(network, num_stacks or model.config.num_stacks), ranges, image)

        if freeze and self.device.type == "cpu":
            key = graph_key("hourglass-int8" if int8 else "hourglass", [network], num_stacks, ranges)
            self.hourglass = cached_graph(key, lambda: freeze_for_inference(build_hourglass(), image))
            if (ghcu := self.ghcu) is not None:
                maps = torch.zeros(1, self.num_points, self.heatmap_size, self.heatmap_size)
                points = torch.zeros(1, self.num_points, 2)
                self.ghcu = cached_graph(graph_key("ghcu", [ghcu]), lambda: freeze_for_inference(ghcu, maps, points))
        else:
            self.hourglass = build_hourglass()

    def close(self) -> None:
        """Stop the face threads, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def predict_batch(self, crops: np.ndarray | torch.Tensor) -> CropPrediction:
        """Predict on (B, S, S, 3) uint8 crops already warped to the input size."""
        parts = np.array_split(np.arange(len(crops)), min(self.face_threads, max(len(crops), 1)))
        if len(parts) == 1:
            return self._predict_chunk(crops)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.face_threads - 1, thread_name_prefix="faces")
        others = [self._pool.submit(self._predict_chunk, crops[idx[0] : idx[-1] + 1]) for idx in parts[1:]]
        first = self._predict_chunk(crops[parts[0][0] : parts[0][-1] + 1])  # this thread takes a share too
        return CropPrediction.concat([first] + [f.result() for f in others])

    def predict_warped(self, crops: np.ndarray) -> CropPrediction:
        """Predict on (B, S, S, 3) uint8 crops warped to the input size, lit as the runtime lights them
        (dark crops equalised): what ``predict`` does after warping."""
        return self.predict_batch(np.stack([self._lit(c) for c in crops]))

    @torch.inference_mode()  # thread-local, so here rather than on predict_batch
    def _predict_chunk(self, crops: np.ndarray | torch.Tensor) -> CropPrediction:
        timer = self.timer
        with timer.stage("hourglass"):
            x = to_network_input(crops, self.device)
            heatmaps = self.hourglass(x)[-1].float()
            if self.flip_test:  # heatmap pixel j mirrors to H-1-j exactly, since the stride divides the input
                mirrored = self.hourglass(torch.flip(x, dims=[3]))[-1].float()
                heatmaps = (heatmaps + torch.flip(mirrored, dims=[3])[:, self.flip_index]) / 2
        with timer.stage("heatmap decode"):
            points, confidence = decode(heatmaps, self.modulation_sigma)
        with timer.stage("face check"):
            face_score = self.face_check.probability(heatmaps) if self.face_check is not None else confidence.mean(dim=1)
        if self.ghcu is not None:
            with timer.stage("ghcu"):
                unit = self.ghcu(heatmaps, heatmap_to_unit(points, self.heatmap_size))
                points = unit_to_heatmap(unit, self.heatmap_size)
        points = heatmap_to_input(points, self.heatmap_stride) - self.point_offsets
        return CropPrediction(points, confidence, heatmaps, face_score)

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
        pts = out.points.cpu().numpy().astype(np.float64)
        image_pts = np.stack([from_crop(p, c, self.input_size) for p, c in zip(pts, crops)])
        return FacePredictions(image_pts, out.confidence.cpu().numpy(), out.face_score.float().cpu().numpy())
