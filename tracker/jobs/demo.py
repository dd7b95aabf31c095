"""A sample clip made on the spot: a portrait that ships with matplotlib, moved by a smooth camera path."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook

from tracker.geometry import FaceCrop, warp_image
from tracker.io.video import VideoInfo, VideoWriter

DEMO_SIZE = (480, 360)  # width, height
DEMO_RATE = 30


def portrait() -> np.ndarray:
    """Grace Hopper (public domain), from matplotlib's bundled sample data, as RGB."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def camera_path(t: float) -> tuple[float, float, float, float]:
    """Smooth pan / zoom / roll for t in [0, 1]: (dx, dy) as fractions of the view, zoom, angle (rad)."""
    return (
        0.12 * math.sin(2 * math.pi * t),
        0.08 * math.sin(4 * math.pi * t + 0.5),
        1.0 + 0.25 * math.sin(2 * math.pi * t + 1.0),
        math.radians(12) * math.sin(2 * math.pi * t + 2.0),
    )


def make_demo_clip(path: Path, frames: int = 90) -> Path:
    image = portrait()
    h, w = image.shape[:2]
    out_w, out_h = DEMO_SIZE
    info = VideoInfo(out_w, out_h, Fraction(DEMO_RATE), Fraction(1, DEMO_RATE), frames, 0, False)
    with VideoWriter(path, info) as writer:
        for i in range(frames):
            dx, dy, zoom, angle = camera_path(i / frames)
            side = 0.75 * min(w, h) / zoom
            crop = FaceCrop(w / 2 + dx * w, h * 0.42 + dy * h, side, angle)
            view = warp_image(image, crop, out_h)  # square view, then letterboxed into the frame
            frame = np.zeros((out_h, out_w, 3), np.uint8)
            x0 = (out_w - out_h) // 2
            frame[:, x0 : x0 + out_h] = view
            writer.write(frame, i)
        writer.close()
    return path
