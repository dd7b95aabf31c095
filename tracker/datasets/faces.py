"""A still annotated face and image loading shared by every dataset reader."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tracker.errors import InputError
from tracker.geometry import CROP_SCALE, FaceCrop, crop_from_points
from tracker.io.pts import read_labelled_pts
from tracker.markup import NUM_POINTS, flip_permutation, flip_points

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class FaceSample:
    """One annotated face: its image file, 0-based (N, 2) points and an optional face box.

    ``box`` (x0, y0, x1, y1) is a dataset-provided face box (AFLW); ``None`` where the protocol
    derives the box from the points. ``crop``: the canonical crop where the dataset frames the face
    itself (AFLW_MERLRAV, whose unlabelled points cannot); it wins over ``box`` and the points.
    ``visible`` (N,): which points carry a label (AFLW, AFLW_MERLRAV); an unlabelled point is NaN in
    ``points`` where the reader says so. ``mirrored``: the face is the left-right mirror image of the file
    (``mirror_face``), its points already mirrored; ``load_face_image`` mirrors the pixels.
    """

    image_path: Path
    points: np.ndarray
    subset: str
    box: tuple[float, float, float, float] | None = None
    visible: np.ndarray | None = None
    mirrored: bool = False
    crop: FaceCrop | None = None

    @property
    def name(self) -> str:
        return f"{self.subset}/{self.image_path.stem}"


def load_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB; grayscale becomes three equal channels."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def protocol_crop(face: FaceSample) -> FaceCrop:
    """How a protocol frames the face: the dataset's own crop (AFLW_MERLRAV), else the canonical crop of
    its points (300-W), or of its dataset box (AFLW: the box mapped with the relation a square landmark
    box has to its canonical crop)."""
    if face.crop is not None:
        return face.crop
    if face.box is None:
        return crop_from_points(face.points)
    x0, y0, x1, y1 = face.box
    return FaceCrop((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * CROP_SCALE)


def load_face_image(face: FaceSample) -> np.ndarray:
    """The face's image as RGB, mirrored left-right where the sample is."""
    image = load_image_rgb(face.image_path)
    return np.ascontiguousarray(image[:, ::-1]) if face.mirrored else image


def mirror_face(face: FaceSample) -> FaceSample:
    """The sample's left-right mirror image: points mirrored and relabelled (``flip_points``), box mirrored."""
    width = load_image_rgb(face.image_path).shape[1]
    box = None if face.box is None else (width - 1 - face.box[2], face.box[1], width - 1 - face.box[0], face.box[3])
    visible = None
    if face.visible is not None:
        visible = face.visible[flip_permutation(len(face.visible))]
    crop = None if face.crop is None else FaceCrop(width - 1 - face.crop.cx, face.crop.cy, face.crop.size, -face.crop.angle)
    return FaceSample(face.image_path, flip_points(face.points, width), face.subset, box, visible, not face.mirrored, crop)


def find_image(pts_path: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (pts_path.with_suffix(suffix), pts_path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def labelled_pairs(pts_paths: Iterable[Path]) -> Iterator[tuple[Path, np.ndarray, np.ndarray]]:
    """(image, points, labelled) for each ``.pts`` with an image of the same name beside it (others are
    skipped): 0-based points with NaN where the file says ``-1 -1``, and which points carry a label. A
    file with another point count than the markup's is an ``InputError``."""
    for pts_path in pts_paths:
        image = find_image(pts_path)
        if image is None:
            continue
        points = read_labelled_pts(pts_path)
        if len(points) != NUM_POINTS:
            raise InputError(f"{pts_path} has {len(points)} points, not {NUM_POINTS}")
        yield image, points, np.isfinite(points).all(axis=1)
