"""Still-image protocols (300-W, AFLW): the face box comes from the protocol, never from a detector.

300-W: the canonical crop of the ground-truth points (``tracker.geometry.crop_from_points``:
centre of the landmark box, side 1.3 x its larger side), as in training. AFLW: the dataset's box,
mapped with the same relation a square landmark box has to its canonical crop.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracker.eval.metrics import nme
from tracker.datasets import FaceSample, load_image_rgb
from tracker.geometry import CROP_SCALE, FaceCrop, crop_from_points
from tracker.network.predictor import LandmarkPredictor

BATCH = 32


def protocol_crop(face: FaceSample) -> FaceCrop:
    if face.box is None:
        return crop_from_points(face.points)
    x0, y0, x1, y1 = face.box
    return FaceCrop((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * CROP_SCALE)


def predict_faces(predictor: LandmarkPredictor, faces: Sequence[FaceSample], norm: bool = False) -> np.ndarray:
    """(F, N, 2) predictions in image pixels, batched over faces; ``norm``: second pass on the levelled crop."""
    out = []
    for start in range(0, len(faces), BATCH):
        chunk = faces[start : start + BATCH]
        images = [load_image_rgb(f.image_path) for f in chunk]
        points, _ = predictor.predict_pairs(images, [protocol_crop(f) for f in chunk], norm)
        out.append(points)
    return np.concatenate(out)


def still_errors(pred: np.ndarray, faces: Sequence[FaceSample], with_box: bool = False) -> dict[str, np.ndarray]:
    gt = np.stack([f.points for f in faces])
    errors = {"nme_ip": nme(pred, gt, "inter_pupil"), "nme_io": nme(pred, gt, "inter_ocular")} if gt.shape[1] == 68 else {}
    if with_box:
        boxes = np.array([f.box for f in faces], dtype=np.float64)
        visible = np.stack([f.visible for f in faces]) if faces[0].visible is not None else None
        errors["nme_box"] = nme(pred, gt, "box", boxes=boxes, visible=visible)
    return errors
