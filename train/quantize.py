"""Int8 activation ranges, calibrated on 300-W training faces, added to a weights file (``tracker quantize``)."""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from tracker.eval.speed import time_interleaved
from tracker.eval.still import predict_faces, still_errors
from tracker.datasets import FaceSample, load_image_rgb, w300
from tracker.geometry import crop_from_points, warp_image
from tracker.models import LandmarkModel, save_weights
from tracker.models.hourglass import FirstStacks
from tracker.network.crop_predictor import CropPredictor
from tracker.network.onnx_export import INPUT_NAME, export_landmark_graph
from tracker.network.onnx_runtime import OnnxPredictor
from tracker.network.predictor import LandmarkPredictor, to_network_input
from tracker.network.quantization import QuantizationError, calibrate, int8_available
from tracker.network.weights_registry import load_model

CALIBRATION_BATCH = 32
# Int8 may cost this fraction of the float network's NME before its ranges are refused: a network whose
# activations do not fit 8 bits (e.g. a residual stream grown to thousands) must not run in int8.
MAX_INT8_LOSS = 0.10
ONNX_HOURGLASS_PREFIX = "/hourglass/"  # the exported graph's hourglass nodes (the rest stays float)


def calibration_batches(faces: Sequence[FaceSample], size: int) -> Iterator[torch.Tensor]:
    """Network inputs of the faces' canonical crops (as in training and evaluation), in batches."""
    for start in range(0, len(faces), CALIBRATION_BATCH):
        chunk = faces[start : start + CALIBRATION_BATCH]
        crops = [warp_image(load_image_rgb(f.image_path), crop_from_points(f.points), size) for f in chunk]
        yield to_network_input(np.stack(crops))


def _nme(predictor: CropPredictor, faces: Sequence[FaceSample]) -> float:
    return float(still_errors(predict_faces(predictor, faces), faces)["nme_ip"].mean() * 100)


def onnx_int8_report(model: LandmarkModel, calibration: Sequence[FaceSample], test: Sequence[FaceSample], label: str) -> list[str]:
    """ONNX Runtime's static int8 (QDQ; weights per channel, activations uint8 from MinMax ranges on the
    ``calibration`` faces; only the hourglass quantized, decoding and heads in float) beside ONNX Runtime
    float: NME on ``test`` and ms per face (batch 1, one thread, interleaved). Measured, not used: the
    runtime runs ONNX Runtime float (docs/speed.md)."""
    size = model.config.input_size
    crops = [warp_image(load_image_rgb(f.image_path), crop_from_points(f.points), size)[None] for f in calibration]

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{INPUT_NAME: c} for c in crops])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        float_path = export_landmark_graph(model, Path(tmp) / "float.onnx")
        outside = [n.name for n in onnx.load(str(float_path)).graph.node if not n.name.startswith(ONNX_HOURGLASS_PREFIX)]
        int8_path = Path(tmp) / "int8.onnx"
        logging.disable(logging.WARNING)  # ONNX Runtime's advice on pre-processing and per-channel axes
        try:
            quantize_static(str(float_path), str(int8_path), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=outside)
        finally:
            logging.disable(logging.NOTSET)
        predictors = {"onnxruntime float": OnnxPredictor(float_path), "onnxruntime int8": OnnxPredictor(int8_path)}
        lines = [f"{label} NME inter-pupil, {name}: {_nme(p, test):.2f}%" for name, p in predictors.items()]
        one = np.stack(crops[:1])[0]
        ms = time_interleaved({name: (lambda p=p: p.predict_batch(one)) for name, p in predictors.items()}, 10, 10)
    lines += [f"{name}: {value:.2f} ms per face" for name, value in ms.items()]
    return lines


def add_int8_ranges(root: Path, out: Path, weights: Path | None = None, faces: int = 128, seed: int = 0) -> list[str]:
    """Calibrate int8 ranges for ``weights`` on ``faces`` 300-W training faces and write ``out``;
    returns report lines (float and int8 NME on 300-W common, where the root has it; and ONNX Runtime's
    int8 beside its float, ``onnx_int8_report``)."""
    if not int8_available():
        raise QuantizationError("this PyTorch build has no fbgemm engine (x86 CPUs): int8 is not available")
    model = load_model(weights)
    train = w300.load_split(root, "train").faces
    order = np.random.default_rng(seed).choice(len(train), min(faces, len(train)), replace=False).tolist()
    chosen, picked = [train[i] for i in order], set(order)
    network = FirstStacks(model.hourglass, model.config.num_stacks)
    model.int8_ranges = calibrate(network, calibration_batches(chosen, model.config.input_size))
    model.meta["int8_calibration"] = {"data": "300-W train", "faces": len(chosen), "seed": seed}
    try:
        test = w300.load_split(root, "common").faces
    except FileNotFoundError:
        test = []
    if test:
        label = f"300-W common ({len(test)} faces)"
    else:  # no test faces: check on training faces the calibration did not see
        unseen = [i for i in range(len(train)) if i not in picked]
        test, label = [train[i] for i in unseen[:faces]], f"{min(faces, len(unseen))} other 300-W training faces"
    lines, nme = [], {}
    if test:
        lines += onnx_int8_report(model, chosen, test, label)
    for name, int8 in (("float", False), ("int8", True)) if test else ():
        nme[name] = _nme(LandmarkPredictor(model, "cpu", freeze=True, int8=int8), test)
        lines.append(f"{label} NME inter-pupil, {name}: {nme[name]:.2f}%")
    if nme and nme["int8"] > nme["float"] * (1 + MAX_INT8_LOSS):
        raise QuantizationError(
            f"int8 NME {nme['int8']:.2f}% is more than {MAX_INT8_LOSS:.0%} above float's {nme['float']:.2f}% on {label}: "
            "this network's activations do not fit 8 bits; no ranges written (it runs in float)"
        )
    save_weights(out, model)
    lines.append(f"wrote {out} (int8 ranges from {len(chosen)} 300-W training faces)")
    return lines
