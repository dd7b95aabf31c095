"""Each point's mean signed error on the training faces, stored with the weights and subtracted at run time.

Flip augmentation mirrors every annotation's offset from the image content; where 300-W's annotations
sit consistently right of the content, a network trained with flips learns the average of an offset and
its mirror image, and predicts every face left of its annotation (docs/accuracy.md, "The horizontal
bias"). The offset is measured in crop coordinates, so it rotates and scales with each crop.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tracker.datasets import FaceSample, protocol_crop
from tracker.network.still_faces import predict_faces
from tracker.geometry import to_crop
from tracker.models import LandmarkModel
from tracker.network.predictor import LandmarkPredictor

BATCH = 32


def crop_errors(predicted: np.ndarray, annotated: np.ndarray, input_size: int) -> np.ndarray:
    """(N, 2) mean signed error (prediction - annotation) of (F, N, 2) crop-pixel points, in crop sides,
    over the faces where each point has a label (an unlabelled annotation is NaN); 0 where none has."""
    errors = np.asarray(predicted, np.float64) - np.asarray(annotated, np.float64)
    counted = np.isfinite(errors).sum(axis=0)
    return np.where(counted > 0, np.nansum(errors, axis=0) / np.maximum(counted, 1), 0.0) / input_size


def measure_on_crops(model: LandmarkModel, crops: np.ndarray, annotated: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Point offsets of ``model`` (its own offsets left out) from (F, S, S, 3) uint8 canonical crops at
    the model's input size and their (F, N, 2) annotations in crop pixels."""
    predictor = LandmarkPredictor(replace(model, point_offsets=None), device)
    predicted = [
        predictor.predict_warped(crops[start : start + BATCH]).points.cpu().numpy() for start in range(0, len(crops), BATCH)
    ]
    predictor.close()
    return crop_errors(np.concatenate(predicted), annotated, model.config.input_size)


def measure_on_faces(model: LandmarkModel, faces: Sequence[FaceSample], device: str = "cpu") -> np.ndarray:
    """Point offsets of ``model`` on still faces, framed as the still protocols frame them (``tracker.network.still_faces``)."""
    predictor = LandmarkPredictor(replace(model, point_offsets=None), device)
    size = model.config.input_size
    image_points = predict_faces(predictor, faces)
    predictor.close()
    crops = [protocol_crop(f) for f in faces]
    predicted = np.stack([to_crop(p, c, size) for p, c in zip(image_points, crops)])
    annotated = np.stack([to_crop(f.points, c, size) for f, c in zip(faces, crops)])
    return crop_errors(predicted, annotated, size)
