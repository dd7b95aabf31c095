"""300-VW: ``<video>/vid.avi`` + ``<video>/annot/NNNNNN.pts`` or extracted ``<video>/imgs/`` + ``annot/``."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.datasets.faces import FaceSample, load_image_rgb
from tracker.io.pts import PtsFormatError, read_pts
from tracker.io.video import Frame, VideoReader

log = logging.getLogger(__name__)

CATEGORIES: dict[int, tuple[str, ...]] = {
    1: tuple("114 124 125 126 150 158 401 402 505 506 507 508 509 510 511 514 515 518 519 520 521 522 "
             "524 525 537 538 540 541 546 547 548".split()),
    2: tuple("203 208 211 212 213 214 218 224 403 404 405 406 407 408 409 412 550 551 553".split()),
    3: tuple("410 411 516 517 526 528 529 530 531 533 557 558 559 562".split()),
}
TEST_VIDEOS = frozenset(v for ids in CATEGORIES.values() for v in ids)
VIDEO_FILE = "vid.avi"
IMAGES_RATE = 30.0  # 300-VW videos are ~30 frames/s; timestamps for the imgs/ layout assume it


@dataclass(frozen=True)
class Sequence:
    """One 300-VW video folder: frames from ``vid.avi`` or ``imgs/``, annotations by 1-based frame number."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def video_path(self) -> Path | None:
        path = self.root / VIDEO_FILE
        return path if path.is_file() else None

    def annotations(self) -> dict[int, np.ndarray]:
        """{0-based frame index: (68, 2) points}; unreadable ``.pts`` are skipped with a warning."""
        result = {}
        for pts_path in sorted((self.root / "annot").glob("*.pts")):
            try:
                result[int(pts_path.stem) - 1] = read_pts(pts_path)
            except (PtsFormatError, ValueError) as err:
                log.warning("skipping %s: %s", pts_path, err)
        return result

    def frames(self) -> Iterator[Frame]:
        """Frames in order; for ``imgs/`` the index comes from the file name (1-based on disk)."""
        if self.video_path is not None:
            with VideoReader(self.video_path) as reader:
                yield from reader
            return
        images = sorted(p for p in (self.root / "imgs").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for path in images:
            index = int(path.stem) - 1
            try:
                image = load_image_rgb(path)
                yield Frame(index, None, index / IMAGES_RATE, image)
            except FileNotFoundError as err:
                yield Frame(index, None, index / IMAGES_RATE, None, str(err))


def is_sequence(folder: Path) -> bool:
    return (folder / "annot").is_dir() and ((folder / VIDEO_FILE).is_file() or (folder / "imgs").is_dir())


def find_sequences(root: str | Path, names: list[str] | None = None) -> tuple[list[Sequence], list[str]]:
    """The sequences under ``root`` (all found, or those in ``names``) and the requested names absent."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"300-VW root not found: {root}")
    present = {p.name: Sequence(p) for p in sorted(root.iterdir()) if p.is_dir() and is_sequence(p)}
    if names is None:
        return list(present.values()), []
    return [present[n] for n in names if n in present], [n for n in names if n not in present]


def training_faces(root: str | Path, frames_dir: Path, every: int = 1) -> list[FaceSample]:
    """Annotated frames of the 50 training videos (every video not in the test categories) as stills.

    Video frames are extracted once to ``frames_dir/<video>/NNNNNN.jpg`` so training can crop them.
    """
    import cv2

    sequences, _ = find_sequences(root)
    faces = []
    for seq in sequences:
        if seq.name in TEST_VIDEOS:
            continue
        notes = seq.annotations()
        out = frames_dir / seq.name
        out.mkdir(parents=True, exist_ok=True)
        for frame in seq.frames():
            if frame.index not in notes or frame.index % every or frame.image is None:
                continue
            path = out / f"{frame.index + 1:06d}.jpg"
            if not path.is_file():
                cv2.imwrite(str(path), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
            faces.append(FaceSample(path, notes[frame.index], f"300vw_{seq.name}"))
    return faces
