"""The CPU runtime: the landmark graph on ONNX Runtime, no PyTorch.

A weights file's graph is exported once and cached by content (``tracker.network.graph_cache``); a
run that finds it there never imports PyTorch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracker.network.crop_predictor import CropPrediction, CropPredictor
from tracker.network.options import GraphOptions
from tracker.network.graph_cache import landmark_graph
from tracker.timing import NULL_TIMER, StageTimer

if TYPE_CHECKING:
    import onnxruntime

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
