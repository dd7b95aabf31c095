"""Any folder of images with 300-W-style ``.pts`` files beside them (``-1 -1`` marks an unlabelled point)."""
from __future__ import annotations

from pathlib import Path

from tracker.datasets.faces import FaceSample, labelled_pairs
from tracker.errors import InputError
from tracker.geometry import crop_from_points

FOLDER_SUBSET = "images"


def load_folder(root: str | Path) -> list[FaceSample]:
    """Every ``.pts`` under ``root`` (recursively) with an image of the same name beside it. A face with
    unlabelled points is framed by its labelled ones; one with none, or with another point count, is an
    error, as is a folder without a face."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    faces = []
    for image, points, visible in labelled_pairs(sorted(root.rglob("*.pts"))):
        if not visible.any():
            raise InputError(f"{image.with_suffix('.pts')} has no labelled point")
        if visible.all():
            faces.append(FaceSample(image, points, FOLDER_SUBSET))
        else:
            faces.append(FaceSample(image, points, FOLDER_SUBSET, visible=visible, crop=crop_from_points(points[visible])))
    if not faces:
        raise InputError(f"no image + .pts pairs under {root}")
    return faces
