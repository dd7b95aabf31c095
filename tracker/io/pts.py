"""Read and write ``.pts`` landmark files (300-W / 300-VW): 1-based coordinates on disk, 0-based in memory."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tracker.errors import PtsFormatError


def read_pts(path: str | os.PathLike[str]) -> np.ndarray:
    """Return an (N, 2) float array of 0-based pixel coordinates."""
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="strict").splitlines()]
    except (UnicodeDecodeError, OSError) as err:
        raise PtsFormatError(f"{path}: cannot read as text ({err})") from None
    lines = [ln for ln in lines if ln]
    try:
        n_line = next(ln for ln in lines if ln.lower().startswith("n_points"))
        n_points = int(n_line.split(":", 1)[1])
        start = lines.index("{") + 1
        end = lines.index("}", start)
    except (StopIteration, ValueError, IndexError):
        raise PtsFormatError(f"{path}: missing 'n_points:' header or '{{ }}' block") from None
    body = lines[start:end]
    if len(body) != n_points:
        raise PtsFormatError(f"{path}: header says {n_points} points, found {len(body)}")
    try:
        pts = np.array([[float(v) for v in ln.split()[:2]] for ln in body], dtype=np.float64)
    except ValueError:
        raise PtsFormatError(f"{path}: non-numeric coordinate") from None
    if pts.shape != (n_points, 2) or not np.all(np.isfinite(pts)):
        raise PtsFormatError(f"{path}: each point needs two finite coordinates")
    return pts - 1.0


UNLABELLED = -1.0  # on disk, "-1 -1" marks a point with no label (MERL-RAV's self-occluded points)


def read_labelled_pts(path: str | os.PathLike[str]) -> np.ndarray:
    """As ``read_pts``, with NaN for the points written ``-1 -1`` (no label): every later use of such a
    point must mask it, and one that does not shows NaN instead of a silently wrong number."""
    pts = read_pts(path)
    unlabelled = np.all(pts + 1.0 == UNLABELLED, axis=1)
    pts[unlabelled] = np.nan
    return pts


def format_pts(points: np.ndarray) -> str:
    """Serialise 0-based (N, 2) points in the 300-W text layout."""
    points = np.asarray(points, dtype=np.float64)
    body = "\n".join(f"{x + 1.0:.3f} {y + 1.0:.3f}" for x, y in points)
    return f"version: 1\nn_points: {len(points)}\n{{\n{body}\n}}\n"


def write_pts(path: str | os.PathLike[str], points: np.ndarray) -> None:
    Path(path).write_text(format_pts(points), encoding="utf-8")
