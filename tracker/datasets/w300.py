"""300-W in its official folder layout with the standard train / common / challenge / full splits."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import InputError
from tracker.datasets.faces import FaceSample, find_image
from tracker.markup import NUM_POINTS
from tracker.io.pts import read_pts

log = logging.getLogger(__name__)

FOLDERS: dict[str, str] = {
    "lfpw_train": "lfpw/trainset",
    "lfpw_test": "lfpw/testset",
    "helen_train": "helen/trainset",
    "helen_test": "helen/testset",
    "afw": "afw",
    "ibug": "ibug",
}
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("lfpw_train", "helen_train", "afw"),  # 3,148 faces in the full set
    "common": ("lfpw_test", "helen_test"),  # 554
    "challenge": ("ibug",),  # 135
    "full": ("lfpw_test", "helen_test", "ibug"),  # 689
    "lfpw_test": ("lfpw_test",),
    "lfpw_train": ("lfpw_train",),  # 811: same source and annotators as LFPW test, for a like-for-like fit check
    "helen_train": ("helen_train",),
    "afw": ("afw",),
}


@dataclass
class SplitLoad:
    """The faces of a split and the names of its subsets that were absent under the root."""

    faces: list[FaceSample] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def describe_missing(self) -> str:
        if not self.missing:
            return ""
        folders = ", ".join(FOLDERS[m] for m in self.missing)
        return f"absent from this 300-W root (evaluated without them): {folders}"


def load_subset(root: Path, subset: str) -> list[FaceSample]:
    folder = Path(root) / FOLDERS[subset]
    faces = []
    for pts_path in sorted(folder.glob("*.pts")):
        image = find_image(pts_path)
        if image is None:
            log.warning("no image beside %s; skipped", pts_path)
            continue
        points = read_pts(pts_path)
        if len(points) != NUM_POINTS:
            log.warning("%s has %d points, not %d; skipped", pts_path, len(points), NUM_POINTS)
            continue
        faces.append(FaceSample(image, points, subset))
    return faces


def load_split(root: str | Path, split: str) -> SplitLoad:
    """Load every present subset of ``split``; absent subsets are reported, not fatal."""
    if split not in SPLITS:
        raise InputError(f"unknown 300-W split {split!r}; choose from {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"300-W root not found: {root}")
    result = SplitLoad()
    for subset in SPLITS[split]:
        folder = root / FOLDERS[subset]
        faces = load_subset(root, subset) if folder.is_dir() else []
        if faces:
            result.faces.extend(faces)
        else:
            result.missing.append(subset)
    if not result.faces:
        raise FileNotFoundError(f"no 300-W faces for split {split!r} under {root} (looked in {', '.join(FOLDERS[s] for s in SPLITS[split])})")
    return result
