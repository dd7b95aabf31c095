"""Decode and crop every training face once; epochs then read small uint8 crops from memory."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.io.atomic import atomic_write
from tracker.datasets import FaceSample, load_image_rgb, protocol_crop
from tracker.geometry import FaceCrop, to_crop, warp_image

log = logging.getLogger(__name__)


@dataclass
class CropCache:
    """``images`` (M, S, S, 3) uint8 crops centred on each face, ``points`` (M, N, 2) in crop pixels.

    The canonical crop (``tracker.geometry.CROP_SCALE``) is the centred square of side
    ``S / margin``; ``crops`` maps cache pixels back to the source images.
    """

    images: np.ndarray
    points: np.ndarray
    margin: float
    crops: list[FaceCrop]
    names: list[str]

    @property
    def size(self) -> int:
        return self.images.shape[1]

    @property
    def canonical(self) -> FaceCrop:
        """The canonical crop expressed in cache pixels."""
        half = (self.size - 1) / 2.0
        return FaceCrop(half, half, self.size / self.margin)

    def __len__(self) -> int:
        return len(self.images)


def _key(faces: list[FaceSample], size: int, margin: float) -> str:
    h = hashlib.sha1(json.dumps([size, margin]).encode())
    for f in faces:
        h.update(str(f.image_path).encode())
        h.update(np.ascontiguousarray(f.points, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def build_cache(faces: list[FaceSample], size: int, margin: float, cache_dir: Path | None = None) -> CropCache:
    """Crop each face to ``size`` px covering ``margin`` x its canonical crop; reuse a saved cache."""
    key = _key(faces, size, margin)
    path = cache_dir / f"crops-{key}.npz" if cache_dir is not None else None
    crops = []
    for f in faces:
        c = protocol_crop(f)  # as evaluation frames it: the landmarks' canonical crop, or the dataset's box
        crops.append(FaceCrop(c.cx, c.cy, c.size * margin))
    names = [f.name for f in faces]
    if path is not None and path.is_file():
        data = np.load(path)
        log.info("loaded %d cached crops from %s", len(data["images"]), path)
        return CropCache(data["images"], data["points"], margin, crops, names)
    images = np.empty((len(faces), size, size, 3), dtype=np.uint8)
    points = np.empty((len(faces), *faces[0].points.shape), dtype=np.float32) if faces else np.empty((0, 68, 2), np.float32)
    for i, (face, crop) in enumerate(zip(faces, crops)):
        images[i] = warp_image(load_image_rgb(face.image_path), crop, size)
        points[i] = to_crop(face.points, crop, size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:  # one partial per process: runs sharing a cache write apart
            np.savez(tmp, images=images, points=points)
    return CropCache(images, points, margin, crops, names)
