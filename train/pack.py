"""Training faces packed into one small file, for training where the dataset folders are not.

A pack holds the decoded crop caches (``tracker.train.cache``) of the training and validation faces,
compressed as WebP: the training crops with the margin the augmentation needs, the validation
crops canonical. It needs nothing but numpy and OpenCV to read (no pickle), so a GPU machine with
a copy of the repository and the pack trains exactly as here, without the images.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tracker.io.atomic import atomic_write
from tracker.errors import InputError, TrackerError
from tracker.geometry import FaceCrop, to_crop
from tracker.train.cache import CropCache
from tracker.train.defaults import PACK_QUALITY

log = logging.getLogger(__name__)

FORMAT = "sa-tracker-pack/1"
SPLITS = ("train", "val")
IMAGE_FORMAT = ".webp"  # about half the size of JPEG at the same quality, decoded by every OpenCV build
DEFAULT_QUALITY = PACK_QUALITY


class PackError(TrackerError, ValueError):
    """A file that is not a readable training pack."""


@dataclass
class PackedSplit:
    """One split of a pack: its crop cache (image pixels kept for the metric) and optional face boxes."""

    cache: CropCache
    image_points: np.ndarray  # (M, N, 2) landmarks in source-image pixels
    boxes: np.ndarray | None  # (M, 4) dataset face boxes, where the protocol has them (AFLW)
    visible: np.ndarray | None = None  # (M, N) which points are visible, where the protocol says (AFLW)

    def resized(self, size: int) -> PackedSplit:
        """The same faces at ``size`` px (points recomputed exactly from the image-pixel landmarks)."""
        c = self.cache
        if size == c.size:
            return self
        interpolation = cv2.INTER_AREA if size < c.size else cv2.INTER_LINEAR
        images = np.stack([cv2.resize(im, (size, size), interpolation=interpolation) for im in c.images]) if len(c) else (
            np.empty((0, size, size, 3), np.uint8))
        points = np.stack([to_crop(p, crop, size) for p, crop in zip(self.image_points, c.crops)]).astype(np.float32) if len(c) else (
            c.points)
        return PackedSplit(CropCache(images, points, c.margin, c.crops, c.names), self.image_points, self.boxes, self.visible)


def _encode(images: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    blobs = []
    for image in images:
        ok, blob = cv2.imencode(IMAGE_FORMAT, np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise PackError(f"OpenCV cannot encode {IMAGE_FORMAT}")
        blobs.append(blob.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    data = np.concatenate(blobs) if blobs else np.empty(0, np.uint8)
    return data, offsets


def _decode(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    images = []
    for start, end in zip(offsets[:-1], offsets[1:]):
        image = cv2.imdecode(data[start:end], cv2.IMREAD_COLOR)
        if image is None:
            raise PackError("a packed image cannot be decoded")
        images.append(image[..., ::-1])
    return np.stack(images) if images else np.empty((0, 1, 1, 3), np.uint8)


def write_pack(path: Path, splits: dict[str, PackedSplit], quality: int = DEFAULT_QUALITY) -> int:
    """Write ``splits`` (keys from ``SPLITS``) to ``path`` atomically; returns the file size in bytes."""
    arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT)}
    for name, split in splits.items():
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; packs hold {SPLITS}")
        c = split.cache
        arrays[f"{name}_data"], arrays[f"{name}_offsets"] = _encode(c.images, quality)
        arrays[f"{name}_image_points"] = np.asarray(split.image_points, dtype=np.float64)
        arrays[f"{name}_crops"] = np.array([[k.cx, k.cy, k.size, k.angle] for k in c.crops], dtype=np.float64).reshape(-1, 4)
        arrays[f"{name}_names"] = np.array(c.names, dtype=np.str_)
        arrays[f"{name}_margin"] = np.array(c.margin)
        if split.boxes is not None:
            arrays[f"{name}_boxes"] = np.asarray(split.boxes, dtype=np.float64)
        if split.visible is not None:
            arrays[f"{name}_visible"] = np.asarray(split.visible, dtype=bool)
    path = Path(path)
    with atomic_write(path.with_suffix(".npz") if path.suffix != ".npz" else path) as tmp:
        np.savez(tmp, **arrays)
    return path.stat().st_size


def read_pack(path: Path) -> dict[str, PackedSplit]:
    """The splits of a pack at their stored size (``PackedSplit.resized`` for another)."""
    path = Path(path)
    if not path.is_file():
        raise PackError(f"pack not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise PackError(f"{path}: not a training pack ({type(err).__name__})") from None
    with data:
        if "format" not in data.files or str(data["format"]) != FORMAT:
            raise PackError(f"{path}: not a training pack (expected format {FORMAT})")
        splits = {}
        for name in SPLITS:
            if f"{name}_data" not in data.files:
                continue
            images = _decode(data[f"{name}_data"], data[f"{name}_offsets"])
            crops = [FaceCrop(*map(float, row)) for row in data[f"{name}_crops"]]
            image_points = data[f"{name}_image_points"]
            size = images.shape[1]
            points = np.stack([to_crop(p, c, size) for p, c in zip(image_points, crops)]).astype(np.float32) if crops else (
                np.empty((0, *image_points.shape[1:]), np.float32))
            cache = CropCache(images, points, float(data[f"{name}_margin"]), crops, [str(n) for n in data[f"{name}_names"]])
            boxes = data[f"{name}_boxes"] if f"{name}_boxes" in data.files else None
            visible = data[f"{name}_visible"] if f"{name}_visible" in data.files else None
            splits[name] = PackedSplit(cache, image_points, boxes, visible)
    if "train" not in splits:
        raise PackError(f"{path}: the pack holds no training faces")
    return splits


__all__ = ["FORMAT", "PackError", "PackedSplit", "read_pack", "write_pack"]
