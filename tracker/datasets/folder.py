"""Any folder of images with 300-W-style ``.pts`` files beside them (``-1 -1`` marks an unlabelled point)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tracker.datasets.faces import FaceSample, find_image
from tracker.errors import InputError
from tracker.geometry import crop_from_points
from tracker.io.pts import read_labelled_pts
from tracker.markup import NUM_POINTS

FOLDER_SUBSET = "images"


def load_folder(root: str | Path) -> list[FaceSample]:
    """Every ``.pts`` under ``root`` (recursively) with an image of the same name beside it. A face with
    unlabelled points is framed by its labelled ones; one with none, or with another point count, is an
    error, as is a folder without a face."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    faces = []
    for pts_path in sorted(root.rglob("*.pts")):
        image = find_image(pts_path)
        if image is None:
            continue
        points = read_labelled_pts(pts_path)
        if len(points) != NUM_POINTS:
            raise InputError(f"{pts_path} has {len(points)} points, not {NUM_POINTS}")
        visible = np.isfinite(points).all(axis=1)
        if not visible.any():
            raise InputError(f"{pts_path} has no labelled point")
        if visible.all():
            faces.append(FaceSample(image, points, FOLDER_SUBSET))
        else:
            faces.append(FaceSample(image, points, FOLDER_SUBSET, visible=visible, crop=crop_from_points(points[visible])))
    if not faces:
        raise InputError(f"no image + .pts pairs under {root}")
    return faces
