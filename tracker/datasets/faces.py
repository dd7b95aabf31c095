"""A still annotated face and image loading shared by every dataset reader."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class FaceSample:
    """One annotated face: its image file, 0-based (N, 2) points and an optional face box.

    ``box`` (x0, y0, x1, y1) is a dataset-provided face box (AFLW); ``None`` where the protocol
    derives the box from the points.
    """

    image_path: Path
    points: np.ndarray
    subset: str
    box: tuple[float, float, float, float] | None = None
    visible: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{self.subset}/{self.image_path.stem}"


def load_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB; grayscale becomes three equal channels."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def find_image(pts_path: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (pts_path.with_suffix(suffix), pts_path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None
