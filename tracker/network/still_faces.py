"""Predictions on annotated still faces, each framed by its protocol crop (``tracker.datasets.protocol_crop``):
what the evaluation protocols and the training's point offsets both run."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tracker.datasets import FaceSample, load_face_image, protocol_crop
from tracker.network.crop_predictor import CropPredictor, FacePredictions

BATCH = 32


def predict_face_batches(
    predictor: CropPredictor, faces: Sequence[FaceSample], norm: bool = False,
) -> Iterator[tuple[list[np.ndarray], FacePredictions]]:
    """Each batch's images and predictions (points in image pixels, confidences, face scores) from the
    protocol's crops; ``norm``: second pass on the levelled crop."""
    for start in range(0, len(faces), BATCH):
        chunk = faces[start : start + BATCH]
        images = [load_face_image(f) for f in chunk]
        yield images, predictor.predict_scored(images, [protocol_crop(f) for f in chunk], norm)


def predict_faces(predictor: CropPredictor, faces: Sequence[FaceSample], norm: bool = False) -> np.ndarray:
    """(F, N, 2) predictions in image pixels, batched over faces; ``norm``: second pass on the levelled crop."""
    return np.concatenate([out.points for _, out in predict_face_batches(predictor, faces, norm)])
