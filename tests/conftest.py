"""Fixtures the tests build themselves: synthetic faces, tiny weights, small videos."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker.network.graph_cache import CACHE_ENV
from tracker.markup import FLIP_PERMUTATION, NUM_POINTS
from tracker.models import GHCU, GHCUConfig, HourglassConfig, LandmarkModel, StackedHourglass, save_weights
from tracker.io.pts import write_pts
from tracker.io.video import VideoInfo, VideoWriter

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _graph_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Built inference graphs go to a scratch folder, never the user's cache."""
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("graph-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs the project's shared data at {SHARED} (absent in a fresh clone)")
    return SHARED


def symmetric_shape(rng: np.random.Generator, centre: float = 0.0, half_width: float = 1.0) -> np.ndarray:
    """A random 68-point shape mirror-symmetric about x = centre under the markup's flip permutation."""
    pts = np.empty((NUM_POINTS, 2))
    for i in range(NUM_POINTS):
        j = FLIP_PERMUTATION[i]
        if j == i:
            pts[i] = (centre, rng.uniform(-1, 1) * half_width)
        elif i < j:
            x, y = rng.uniform(0.1, 1) * half_width, rng.uniform(-1, 1) * half_width
            pts[i] = (centre - x, y)
            pts[j] = (centre + x, y)
    return pts


def synthetic_face(rng: np.random.Generator, size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """An image of 68 white Gaussian dots on a dark background, and the dots' true positions."""
    pts = symmetric_shape(rng, centre=size / 2, half_width=size * 0.3)
    pts[:, 1] += size / 2
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.zeros((size, size), np.float64)
    for x, y in pts:
        image = np.maximum(image, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2)))
    rgb = np.repeat((image * 255).astype(np.uint8)[..., None], 3, axis=2)
    return rgb, pts


def write_w300_folder(root: Path, count: int, seed: int = 0, subset: str = "lfpw/trainset", offset: float = 0.0) -> list[np.ndarray]:
    """A 300-W style folder of synthetic faces; annotations = truth + ``offset``. Returns the truths."""
    rng = np.random.default_rng(seed)
    folder = root / subset
    folder.mkdir(parents=True, exist_ok=True)
    truths = []
    for i in range(count):
        image, pts = synthetic_face(rng)
        cv2.imwrite(str(folder / f"face_{i:03d}.png"), image)
        write_pts(folder / f"face_{i:03d}.pts", pts + offset)
        truths.append(pts)
    return truths


def make_model(ghcu: bool = True, seed: int = 0) -> LandmarkModel:
    torch.manual_seed(seed)
    hg = StackedHourglass(HourglassConfig(num_stacks=1, features=16, depth=1, input_size=32)).eval()
    unit = GHCU(GHCUConfig(heatmap_size=8, channels=(8, 8), hidden=16)).eval() if ghcu else None
    return LandmarkModel(hg, unit, {"note": "random test weights"})


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    save_weights(path, make_model())
    return path


def write_video(path: Path, frames: list[np.ndarray], rate: int = 25, pts: list[int] | None = None) -> Path:
    h, w = frames[0].shape[:2]
    info = VideoInfo(w, h, Fraction(rate), Fraction(1, rate * 10 if pts else rate), len(frames), 0, False)
    with VideoWriter(path, info) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, pts[i] if pts else i)
        writer.close()
    return path


@pytest.fixture
def blank_video(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    frames = [np.full((48, 64, 3), 40 + 10 * i, np.uint8) + rng.integers(0, 5, (48, 64, 3), dtype=np.uint8) for i in range(6)]
    return write_video(tmp_path / "blank.mp4", frames)
