"""The bundled 3-D mean face: 68 points (iBUG markup) in millimetres, built by hand for this project.

Axes as the camera's for a face looking straight into it: x to the image's right (the subject's left),
y down, z away from the camera; the origin is midway between the inner eye corners. How it was made,
and its licence (MIT, as the code): docs/pose.md.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from tracker.network.weights_registry import assets_dir

MEAN_FACE_FILE = "mean_face_68.csv"


@lru_cache(maxsize=1)
def load_mean_face(path: Path | None = None) -> np.ndarray:
    """(68, 3) float64 model points in mm (read-only)."""
    table = np.loadtxt(path or assets_dir() / MEAN_FACE_FILE, delimiter=",", comments="#", skiprows=2)
    points = table[np.argsort(table[:, 0]), 1:4].astype(np.float64)
    points.setflags(write=False)
    return points
