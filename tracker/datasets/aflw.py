"""AFLW (19 points) from ``AFLWinfo_release.mat`` and its image folder, with the standard splits.

Fields: ``bbox`` N x 4 (left, right, top, bottom), ``data`` N x 38 (x1..x19 then y1..y19, 1-based),
``mask_new`` N x 19 visibility, ``nameList`` image paths relative to the image folder, ``ra`` a
1-based permutation: its first 20,000 entries are training faces, the remaining 4,386 the
AFLW-Full test set; AFLW-Frontal is the test faces with all 19 points visible.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tracker.errors import InputError
from tracker.datasets.faces import FaceSample

NUM_AFLW_POINTS = 19
TRAIN_COUNT = 20_000
SUBSETS = ("train", "full", "frontal")


def _loadmat(path: Path) -> dict:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError("reading AFLWinfo_release.mat needs scipy: pip install 'sa-tracker[aflw]'") from None
    return loadmat(str(path))


def _names(raw: np.ndarray) -> list[str]:
    names = []
    for item in np.asarray(raw).reshape(-1):
        while isinstance(item, np.ndarray):
            item = item.reshape(-1)[0]
        names.append(str(item))
    return names


def load(mat_path: str | Path, image_root: str | Path, subset: str = "full") -> list[FaceSample]:
    if subset not in SUBSETS:
        raise InputError(f"unknown AFLW subset {subset!r}; choose from {', '.join(SUBSETS)}")
    mat_path, image_root = Path(mat_path), Path(image_root)
    if not mat_path.is_file():
        raise FileNotFoundError(f"AFLW annotation file not found: {mat_path}")
    mat = _loadmat(mat_path)
    boxes = np.asarray(mat["bbox"], dtype=np.float64)  # left, right, top, bottom (1-based)
    data = np.asarray(mat["data"], dtype=np.float64)
    mask = np.asarray(mat["mask_new"]).astype(bool)
    names = _names(mat["nameList"])
    order = np.asarray(mat["ra"]).reshape(-1).astype(int) - 1
    chosen = order[:TRAIN_COUNT] if subset == "train" else order[TRAIN_COUNT:]
    if subset == "frontal":
        chosen = chosen[mask[chosen].all(axis=1)]
    faces = []
    for i in chosen:
        pts = np.stack([data[i, :NUM_AFLW_POINTS], data[i, NUM_AFLW_POINTS:]], axis=1) - 1.0
        left, right, top, bottom = boxes[i] - 1.0
        faces.append(FaceSample(image_root / names[i], pts, f"aflw_{subset}", (left, top, right, bottom), mask[i]))
    return faces
