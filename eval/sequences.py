"""Stress sequences in the official 300-VW layout, made from annotated still faces.

Each still face becomes a short video (``<out>/<level>_<face>/vid.avi`` + ``annot/000001.pts``)
seen through a smooth virtual camera (translation, zoom, in-plane roll); the ground truth is the
annotation moved by the same transform. Three levels in the spirit of the 300-VW categories:

1. mild motion, good light;
2. lighting changes, motion blur, strong compression;
3. moving occluders, strong down-scaling (small faces), sensor noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tracker.datasets import FaceSample, load_image_rgb
from tracker.geometry import apply_affine
from tracker.io.pts import write_pts
from tracker.io.video import VideoInfo, VideoWriter

FRAME_SIZE = (480, 360)  # width, height
RATE = 25


@dataclass(frozen=True)
class Level:
    name: int
    motion: float  # amplitude of the camera path, x face size
    roll_deg: float
    zoom: float  # relative zoom amplitude
    face_height: float  # face (landmark box) height as a fraction of the frame height
    lighting: float = 0.0  # amplitude of brightness / colour changes
    motion_blur: bool = False
    crf: int = 20
    occluders: int = 0
    downscale: float = 1.0  # render at this fraction of the size, then upscale
    noise: float = 0.0


LEVELS: dict[int, Level] = {
    1: Level(1, motion=0.25, roll_deg=8, zoom=0.1, face_height=0.45),
    2: Level(2, motion=0.5, roll_deg=15, zoom=0.2, face_height=0.4, lighting=0.45, motion_blur=True, crf=36),
    3: Level(3, motion=0.5, roll_deg=20, zoom=0.3, face_height=0.35, occluders=2, downscale=0.3, noise=10.0),
}


def _camera(level: Level, t: float, phase: np.ndarray) -> tuple[float, float, float, float]:
    w = 2 * math.pi
    return (
        level.motion * math.sin(w * t + phase[0]),
        0.6 * level.motion * math.sin(2 * w * t + phase[1]),
        1.0 + level.zoom * math.sin(w * t + phase[2]),
        math.radians(level.roll_deg) * math.sin(w * t + phase[3]),
    )


def _view_matrix(points: np.ndarray, level: Level, t: float, phase: np.ndarray) -> np.ndarray:
    """Similarity from the still image to the frame for time t in [0, 1)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, height = (lo + hi) / 2, max(hi[1] - lo[1], 1.0)
    dx, dy, zoom, roll = _camera(level, t, phase)
    w, h = FRAME_SIZE
    scale = level.face_height * h / height * zoom
    c, s = math.cos(roll) * scale, math.sin(roll) * scale
    rot = np.array([[c, -s], [s, c]])
    target = np.array([w / 2 + dx * level.face_height * h, h / 2 + dy * level.face_height * h])
    return np.hstack([rot, (target - rot @ centre)[:, None]])


def _occluder(frame: np.ndarray, t: float, k: int, rng_phase: float) -> None:
    h, w = frame.shape[:2]
    cx = int((0.2 + 0.6 * ((t * (1 + k) + rng_phase) % 1.0)) * w)
    cy = int(h * (0.35 + 0.3 * math.sin(2 * math.pi * (t + rng_phase))))
    axes = (int(0.09 * w), int(0.14 * h))
    colour = (int(60 + 150 * rng_phase), 80, int(200 - 120 * rng_phase))
    cv2.ellipse(frame, (cx, cy), axes, 30 * k, 0, 360, colour, -1, cv2.LINE_AA)


def render_sequence(face: FaceSample, level: Level, out_dir: Path, frames: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi, 4)
    occluder_phase = rng.uniform(0, 1, max(level.occluders, 1))
    image = load_image_rgb(face.image_path)
    w, h = FRAME_SIZE
    (out_dir / "annot").mkdir(parents=True, exist_ok=True)
    info = VideoInfo(w, h, Fraction(RATE), Fraction(1, RATE), frames, 0, False)
    with VideoWriter(out_dir / "vid.avi", info, crf=level.crf) as writer:
        previous = None
        for i in range(frames):
            t = i / frames
            m = _view_matrix(face.points, level, t, phase)
            frame = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            pts = apply_affine(m, face.points)
            if level.motion_blur and previous is not None:
                shift = np.abs(pts.mean(0) - previous).max()
                k = int(min(max(shift * 1.5, 1), 15))
                if k > 1:
                    kernel = np.zeros((k, k), np.float32)
                    kernel[k // 2, :] = 1.0 / k
                    frame = cv2.filter2D(frame, -1, kernel)
            previous = pts.mean(0)
            if level.lighting:
                gain = 1.0 + level.lighting * math.sin(2 * math.pi * t * 1.5 + phase[0])
                cast = 1.0 + 0.3 * level.lighting * np.array([math.sin(2 * math.pi * t + c) for c in (0, 2, 4)])
                frame = np.clip(frame.astype(np.float32) * gain * cast, 0, 255).astype(np.uint8)
            for k in range(level.occluders):
                _occluder(frame, t, k, float(occluder_phase[k]))
            if level.downscale < 1.0:
                small = cv2.resize(frame, None, fx=level.downscale, fy=level.downscale, interpolation=cv2.INTER_AREA)
                frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            if level.noise:
                noisy = frame.astype(np.float32) + rng.normal(0, level.noise, frame.shape).astype(np.float32)
                frame = np.clip(noisy, 0, 255).astype(np.uint8)
            writer.write(frame, i)
            write_pts(out_dir / "annot" / f"{i + 1:06d}.pts", pts)
        writer.close()
    return out_dir


def make_sequences(faces: list[FaceSample], out: Path, levels: tuple[int, ...] = (1, 2, 3), frames: int = 50) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for level in levels:
        for i, face in enumerate(faces):
            name = f"{level}_{face.image_path.stem}"
            made.append(render_sequence(face, LEVELS[level], out / name, frames, seed=1000 * level + i))
    return made
