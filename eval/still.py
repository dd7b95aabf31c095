"""Still-image protocols (300-W, AFLW): the face box comes from the protocol, never from a detector.

300-W: the canonical crop of the ground-truth points (``tracker.geometry.crop_from_points``:
centre of the landmark box, side 1.3 x its larger side), as in training. AFLW: the dataset's box,
mapped with the same relation a square landmark box has to its canonical crop.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracker.datasets import FaceSample
from tracker.markup import NUM_POINTS
from tracker.metrics import nme, signed_error

def still_errors(pred: np.ndarray, faces: Sequence[FaceSample], with_box: bool = False) -> dict[str, np.ndarray]:
    """Per-face errors by normaliser: NME (``nme_*``) and, for 68 points, the signed error in x and y
    over the inter-pupil distance (``signed_x_ip``, ``signed_y_ip``: a systematic shift shows there)."""
    gt = np.stack([f.points for f in faces])
    errors = {}
    if gt.shape[1] == NUM_POINTS:
        signed = signed_error(pred, gt, "inter_pupil")
        errors = {"nme_ip": nme(pred, gt, "inter_pupil"), "nme_io": nme(pred, gt, "inter_ocular"),
                  "signed_x_ip": signed[:, 0], "signed_y_ip": signed[:, 1]}
    if with_box:
        boxes = np.array([f.box for f in faces], dtype=np.float64)
        visible = np.stack([f.visible for f in faces]) if faces[0].visible is not None else None
        errors["nme_box"] = nme(pred, gt, "box", boxes=boxes, visible=visible)
    return errors
