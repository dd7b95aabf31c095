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


def labelled_box(gt: np.ndarray) -> np.ndarray:
    """(F, 4) boxes (x0, y0, x1, y1) of each face's labelled (finite) points: AFLW_MERLRAV's face size,
    as MERL-RAV's benchmark (LUVLi) normalises, where an unlabelled eye corner leaves no inter-ocular."""
    gt = np.asarray(gt, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.concatenate([np.nanmin(gt, axis=-2), np.nanmax(gt, axis=-2)], axis=-1)


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
    ``visible`` (F, N) excludes invisible or unlabelled points (AFLW, AFLW_MERLRAV; an unlabelled point may
    be NaN). The normaliser is always computed on the full ground truth (NaN where it needs an
    unlabelled point). A face with no point left to score has NaN error (it cannot be scored).
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
    counted = mask.sum(-1)
    mean_err = np.where(counted > 0, np.where(mask, err, 0.0).sum(-1) / np.maximum(counted, 1), np.nan)
    return mean_err / norm


def signed_error(pred: np.ndarray, gt: np.ndarray, normaliser: Normaliser = "inter_pupil") -> np.ndarray:
    """Per-face mean signed error (x, y) over the normaliser, (F, 2) fractions: a systematic shift of the
    predictions shows here, where the point-to-point NME cannot tell it from scatter."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    return (pred - gt).mean(axis=-2) / NORMALISERS[normaliser](gt)[..., None]


def signed_error_per_point(pred: np.ndarray, gt: np.ndarray, normaliser: Normaliser = "inter_pupil") -> np.ndarray:
    """(N, 2) mean over faces of each point's signed error (x, y) over the normaliser, as fractions."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    return ((pred - gt) / NORMALISERS[normaliser](gt)[..., None, None]).mean(axis=0)


def ced(errors: np.ndarray, threshold: float, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: x in [0, threshold] and the fraction of errors <= x."""
    x = np.linspace(0.0, threshold, steps + 1)
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    y = np.searchsorted(errors, x, side="right") / max(len(errors), 1)
    return x, y


def auc(errors: np.ndarray, threshold: float, steps: int = 1000) -> float:
    """Area under the CED up to ``threshold``, normalised to [0, 1]."""
    x, y = ced(errors, threshold, steps)
    area = ((y[1:] + y[:-1]) / 2 * np.diff(x)).sum()  # the trapezoid rule (NumPy 1.x has no np.trapezoid)
    return float(area / threshold)


def failure_rate(errors: np.ndarray, threshold: float) -> float:
    """Fraction of faces whose error exceeds ``threshold``."""
    errors = np.asarray(errors, dtype=np.float64)
    return float((errors > threshold).mean()) if errors.size else float("nan")
