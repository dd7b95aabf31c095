"""AFLW faces with MERL-RAV's manual 68-point labels (300-W markup), in the ``AFLW_MERLRAV`` layout.

``ROOT/trainset`` and ``ROOT/testset`` hold ``imageNNNNN.jpg`` + ``.pts`` (1-based, ``-1 -1`` where a
point is self-occluded and has no label), ``ROOT/faces.csv`` one row per face (split, yaw, flags).
Unlabelled points are NaN in ``FaceSample.points`` and False in ``FaceSample.visible``: they carry no
loss and take no part in any error or SA search.

The crops are 3DDFA's, centred on the face. A box of the labelled points alone is narrower on a
profile, so the face is framed from the image instead: its canonical crop (``CROP_SCALE`` x the
landmark box) is the centred square of ``CROP_SIDE`` x the image side, the median over the training
faces that have all 68 points (``measure_crop_relation``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.datasets.faces import FaceSample, labelled_pairs
from tracker.errors import InputError
from tracker.geometry import FaceCrop, crop_from_points
from tracker.markup import NUM_POINTS

SPLITS = {"train": "trainset", "test": "testset"}
FACES_TABLE = "faces.csv"
# Measured by ``measure_crop_relation`` on the 3,355 training faces with all 68 points labelled: the
# canonical crop's side over the image side (median; p10-p90 0.861-0.983), and its centre's offset from
# the image centre in image sides (median; spread 0.02 in x and y): well inside the augmentation's jitter.
CROP_SIDE = 0.923
CROP_OFFSET = (0.0034, 0.0035)


@dataclass(frozen=True)
class CropRelation:
    """How the canonical crop of a face's 68 points sits in its image (fractions of the image side)."""

    side: float
    offset_x: float
    offset_y: float
    faces: int


def subset_name(split: str) -> str:
    return f"merlrav_{split}"


def image_crop(width: int, height: int) -> FaceCrop:
    """The canonical crop of a face in a ``width`` x ``height`` AFLW_MERLRAV image."""
    side = max(width, height)
    return FaceCrop((width - 1) / 2 + CROP_OFFSET[0] * side, (height - 1) / 2 + CROP_OFFSET[1] * side, CROP_SIDE * side)


def face_table(root: Path) -> dict[str, dict[str, str]]:
    """``faces.csv`` keyed by ``split/stem`` (empty where the file is absent)."""
    path = Path(root) / FACES_TABLE
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {f"{row['split']}/{row['stem']}": row for row in csv.DictReader(handle)}


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"cannot read image: {path}")
    return image.shape[1], image.shape[0]


def load(root: str | Path, split: str = "train") -> list[FaceSample]:
    """The faces of ``split`` (train | test), each framed by its image (``image_crop``); a face with no
    labelled point is left out."""
    if split not in SPLITS:
        raise InputError(f"unknown AFLW_MERLRAV split {split!r}; choose from {', '.join(SPLITS)}")
    folder = Path(root) / SPLITS[split]
    if not folder.is_dir():
        raise FileNotFoundError(f"AFLW_MERLRAV folder not found: {folder}")
    faces = []
    for image, points, visible in labelled_pairs(sorted(folder.glob("*.pts"))):
        if visible.any():
            faces.append(FaceSample(image, points, subset_name(split), visible=visible, crop=image_crop(*_image_size(image))))
    if not faces:
        raise FileNotFoundError(f"no AFLW_MERLRAV faces (image + .pts) in {folder}")
    return faces


def measure_crop_relation(root: str | Path, split: str = "train") -> CropRelation:
    """Medians, over the faces of ``split`` with all 68 points labelled, of the canonical crop's side and
    centre offset as fractions of the image side (the constants ``CROP_SIDE`` and ``CROP_OFFSET``)."""
    rows = []
    for face in load(root, split):
        if not face.visible.all():
            continue
        crop = crop_from_points(face.points)
        width, height = _image_size(face.image_path)
        side = max(width, height)
        rows.append((crop.size / side, (crop.cx - (width - 1) / 2) / side, (crop.cy - (height - 1) / 2) / side))
    if not rows:
        raise InputError(f"no face with all {NUM_POINTS} points labelled under {root}")
    med = np.median(np.array(rows), axis=0)
    return CropRelation(float(med[0]), float(med[1]), float(med[2]), len(rows))
