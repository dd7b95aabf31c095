"""Landmark error metrics: one NME function, the normaliser chosen per protocol; CED, AUC, failure rate."""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from tracker.markup import GROUPS, LEFT_EYE_OUTER, RIGHT_EYE_OUTER, eye_centres

Normaliser = Literal["inter_pupil", "inter_ocular", "box"]
NO_JAW = np.array([i for i in range(68) if i not in GROUPS["jaw"]])  # the 49-point 300-VW variant


def inter_pupil(gt: np.ndarray) -> np.ndarray:
    right, left = eye_centres(gt)
    return np.linalg.norm(left - right, axis=-1)


def inter_ocular(gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(gt[..., LEFT_EYE_OUTER, :] - gt[..., RIGHT_EYE_OUTER, :], axis=-1)


NORMALISERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "inter_pupil": inter_pupil,
    "inter_ocular": inter_ocular,
}


def box_size(boxes: np.ndarray) -> np.ndarray:
    """AFLW face size: sqrt(w * h) of (x0, y0, x1, y1) boxes."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.sqrt((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))


def nme(
    pred: np.ndarray,
    gt: np.ndarray,
    normaliser: Normaliser = "inter_pupil",
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Per-face mean point-to-point error over the normaliser, as a fraction (multiply by 100 for %).

    ``pred``/``gt`` are (F, N, 2). ``points`` restricts the mean to those indices (e.g. ``NO_JAW``);
    ``visible`` (F, N) excludes invisible points (AFLW). The normaliser is always computed on the
    full ground truth.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ")
    if normaliser == "box":
        if boxes is None:
            raise ValueError("normaliser 'box' needs boxes")
        norm = box_size(boxes)
    else:
        norm = NORMALISERS[normaliser](gt)
    err = np.linalg.norm(pred - gt, axis=-1)
    mask = np.ones(err.shape, dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    if points is not None:
        keep = np.zeros(err.shape[-1], dtype=bool)
        keep[points] = True
        mask = mask & keep
    mean_err = (err * mask).sum(-1) / np.maximum(mask.sum(-1), 1)
    return mean_err / norm


def ced(errors: np.ndarray, threshold: float, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: x in [0, threshold] and the fraction of errors <= x."""
    x = np.linspace(0.0, threshold, steps + 1)
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    y = np.searchsorted(errors, x, side="right") / max(len(errors), 1)
    return x, y


def auc(errors: np.ndarray, threshold: float, steps: int = 1000) -> float:
    """Area under the CED up to ``threshold``, normalised to [0, 1]."""
    x, y = ced(errors, threshold, steps)
    return float(np.trapezoid(y, x) / threshold)


def failure_rate(errors: np.ndarray, threshold: float) -> float:
    """Fraction of faces whose error exceeds ``threshold``."""
    errors = np.asarray(errors, dtype=np.float64)
    return float((errors > threshold).mean()) if errors.size else float("nan")
