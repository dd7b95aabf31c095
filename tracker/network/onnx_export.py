"""The whole per-crop computation as one ONNX graph: uint8 crops in, landmarks out.

``LandmarkGraph`` is what ``LandmarkPredictor._predict_chunk`` computes (normalisation, hourglass,
optional flip test, heatmap decoding, face check, GHCU, point offsets) as one module, so that
ONNX Runtime runs all of it and no decoding is left to re-implement outside. ``export_landmark_graph``
writes it with the facts a runtime needs in the model's metadata (``GRAPH_FORMAT``; docs/export.md
has the contract). PyTorch's TorchScript-based exporter is used: its ``torch.export`` successor
cannot yet trace this graph with a free batch size (batch 1 specialises).
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from tracker.markup import flip_permutation
from tracker.models import LandmarkModel
from tracker.models.hourglass import FirstStacks
from tracker.network.crop_predictor import MIN_MEAN_PEAK, PIXEL_MEAN, PIXEL_STD
from tracker.network.options import GraphOptions
from tracker.network.heatmaps import MODULATION_SIGMA, decode, heatmap_to_input
from tracker.network.predictor import heatmap_to_unit, unit_to_heatmap

GRAPH_FORMAT = "sa-tracker-landmarks-onnx/1"
OPSET = 17
INPUT_NAME = "crops"
OUTPUT_NAMES = ("points", "confidence", "face_score", "heatmaps")


class LandmarkGraph(nn.Module):
    """(B, S, S, 3) uint8 RGB crops -> points (B, N, 2) in crop pixels, confidence (B, N), face score (B,),
    heatmaps (B, N, H, W)."""

    def __init__(self, model: LandmarkModel, options: GraphOptions = GraphOptions()) -> None:
        super().__init__()
        config = model.config
        network = model.hourglass.eval()
        self.hourglass = FirstStacks(network, options.num_stacks) if options.num_stacks else network
        self.ghcu = model.ghcu.eval() if options.ghcu and model.ghcu is not None else None
        self.face_check = model.face_check.eval() if model.face_check is not None else None
        self.flip_test = options.flip_test
        self.heatmap_size = config.heatmap_size
        self.heatmap_stride = config.heatmap_stride
        offsets = model.point_offsets if model.point_offsets is not None else torch.zeros(config.num_points, 2)
        self.register_buffer("point_offsets", torch.as_tensor(offsets, dtype=torch.float32) * config.input_size)
        self.register_buffer("flip_index", torch.as_tensor(flip_permutation(config.num_points)))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = (crops.permute(0, 3, 1, 2).float() / 255.0 - PIXEL_MEAN) / PIXEL_STD
        heatmaps = self.hourglass(x)[-1]
        if self.flip_test:
            mirrored = self.hourglass(torch.flip(x, dims=[3]))[-1]
            heatmaps = (heatmaps + torch.flip(mirrored, dims=[3])[:, self.flip_index]) / 2
        points, confidence = decode(heatmaps, MODULATION_SIGMA)
        face_score = self.face_check.probability(heatmaps) if self.face_check is not None else confidence.mean(dim=1)
        if self.ghcu is not None:
            points = unit_to_heatmap(self.ghcu(heatmaps, heatmap_to_unit(points, self.heatmap_size)), self.heatmap_size)
        points = heatmap_to_input(points, self.heatmap_stride) - self.point_offsets
        return points, confidence, face_score, heatmaps


def graph_metadata(model: LandmarkModel, options: GraphOptions) -> dict[str, str]:
    """What a runtime needs to feed the graph and read its outputs (stored as ONNX metadata)."""
    config = model.config
    face_check = model.face_check is not None
    return {
        "format": GRAPH_FORMAT,
        "num_points": str(config.num_points),
        "input_size": str(config.input_size),
        "heatmap_size": str(config.heatmap_size),
        "heatmap_stride": str(config.heatmap_stride),
        "face_score": "face check p(face)" if face_check else "mean heatmap peak",
        "ghcu": "yes" if options.ghcu and model.ghcu is not None else "no",
        "face_threshold": str(model.face_check.config.threshold if face_check else MIN_MEAN_PEAK),
        "options": json.dumps(asdict(options)),
        "provenance": json.dumps(model.meta, default=str),
    }


def export_landmark_graph(model: LandmarkModel, path: Path, options: GraphOptions = GraphOptions()) -> Path:
    """Write ``model``'s ``LandmarkGraph`` to ``path`` (atomically), with ``graph_metadata``."""
    import onnx

    graph = LandmarkGraph(model, options).eval()
    size = model.config.input_size
    example = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    batch_axis = {0: "batch"}
    path = Path(path)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
            torch.onnx.export(
                graph, (example,), str(partial), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                dynamic_axes={name: batch_axis for name in (INPUT_NAME, *OUTPUT_NAMES)}, opset_version=OPSET,
                dynamo=False,
            )
        proto = onnx.load(str(partial))
        for key, value in graph_metadata(model, options).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
