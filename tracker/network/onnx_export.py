"""The per-crop computation (``tracker.network.computation.LandmarkGraph``) as one ONNX graph.

ONNX Runtime runs all of it, so no decoding is left to re-implement outside. ``export_landmark_graph``
writes it with the facts a runtime needs in the model's metadata (``GRAPH_FORMAT``; docs/export.md
has the contract). PyTorch's TorchScript-based exporter is used: its ``torch.export`` successor
cannot yet trace this graph with a free batch size (batch 1 specialises).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from tracker.io.atomic import atomic_write
from tracker.models import LandmarkModel
from tracker.network.codec import face_threshold
from tracker.network.computation import OUTPUT_NAMES, LandmarkGraph
from tracker.network.options import GraphOptions

GRAPH_FORMAT = "sa-tracker-landmarks-onnx/1"
OPSET = 17
INPUT_NAME = "crops"


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
        "face_threshold": str(face_threshold(model)),
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
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as partial:
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
    return path
