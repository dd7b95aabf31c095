"""The CPU runtime: the landmark graph (``tracker.network.onnx_export``) on ONNX Runtime, no PyTorch.

A weights file's graph is exported once and cached by content: the key hashes the weights file, the
options that shape the graph, the source files whose code is in it, and the PyTorch and ONNX versions
that wrote it. A later run finds it by that key and never imports PyTorch; a change to any of those
rebuilds it (PyTorch is imported then, for the export only).
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.network.crop_predictor import CropPrediction, CropPredictor
from tracker.network.options import GraphOptions
from tracker.network.graph_cache import graph_cache_dir, package_version, source_digest
from tracker.timing import NULL_TIMER, StageTimer

if TYPE_CHECKING:
    import onnxruntime

# Code baked into the exported graph: a change to any of these files rebuilds cached graphs.
ONNX_GRAPH_SOURCES = (
    "models/hourglass.py", "models/ghcu.py", "models/face_check.py", "models/weights.py", "markup.py",
    "network/heatmaps.py", "network/predictor.py", "network/crop_predictor.py", "network/onnx_export.py",
    "network/options.py",
)
READ_CHUNK = 1 << 20


def graph_key(weights: Path, options: GraphOptions) -> str:
    """A digest of everything that determines the exported graph of ``weights`` under ``options``."""
    digest = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode())
    digest.update(f"torch {package_version('torch')} onnx {package_version('onnx')}".encode())
    source_digest(digest, ONNX_GRAPH_SOURCES)
    with open(weights, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return f"landmarks-{digest.hexdigest()[:24]}"


def landmark_graph(weights: Path, options: GraphOptions) -> Path:
    """The ONNX graph of ``weights`` under ``options``: from the cache, else exported (and cached).

    Where the cache cannot be written (caching off, a read-only home, a full disk) the graph goes to a
    scratch folder that is removed when the process exits.
    """
    folder = graph_cache_dir()
    key = graph_key(weights, options)
    if folder is not None and (folder / f"{key}.onnx").is_file():
        return folder / f"{key}.onnx"
    from tracker.models import load_weights
    from tracker.network.onnx_export import export_landmark_graph

    model = load_weights(weights)
    if folder is not None:
        try:
            return export_landmark_graph(model, folder / f"{key}.onnx", options)
        except OSError:  # the cache folder cannot be made or written: run without it
            pass
    scratch = Path(tempfile.mkdtemp(prefix="sa-tracker-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return export_landmark_graph(model, scratch / f"{key}.onnx", options)


def open_session(path: Path, threads: int = 1) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session on ``threads`` threads (1: runs on the calling thread, so face threads
    run faces side by side)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


class OnnxPredictor(CropPredictor):
    """Batched crops -> landmarks with the landmark graph on ONNX Runtime (``CropPredictor`` does the
    cropping and threading). Same results as ``LandmarkPredictor`` with the same options, to float
    rounding (tests/test_onnx_runtime.py states the tolerance). ``with_heatmaps`` also fetches the
    heatmaps (the tracker does not need them; they are the largest output)."""

    device_type = "cpu"

    def __init__(
        self, graph: Path, face_threads: int = 1, threads: int = 1, timer: StageTimer = NULL_TIMER,
        equalise_dark: bool = True, with_heatmaps: bool = False,
    ) -> None:
        super().__init__(face_threads, equalise_dark, timer)
        self.session = open_session(graph, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, Any] = dict(meta)
        self.num_points = int(meta["num_points"])
        self.input_size = int(meta["input_size"])
        self.face_threshold = float(meta["face_threshold"])
        self.has_ghcu = meta["ghcu"] == "yes"
        self._input = self.session.get_inputs()[0].name
        self._outputs = ["points", "confidence", "face_score"] + (["heatmaps"] if with_heatmaps else [])

    @classmethod
    def for_weights(cls, weights: Path, options: GraphOptions, **kwargs: Any) -> OnnxPredictor:
        return cls(landmark_graph(weights, options), **kwargs)

    def _predict_chunk(self, crops: np.ndarray) -> CropPrediction:
        with self.timer.stage("network"):
            points, confidence, face_score, *heatmaps = self.session.run(self._outputs, {self._input: np.ascontiguousarray(crops)})
        return CropPrediction(points, confidence, heatmaps[0] if heatmaps else None, face_score)
