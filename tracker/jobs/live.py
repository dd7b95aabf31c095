"""``tracker webcam``: live overlay from a camera (OpenCV capture) or a file (PyAV), with frames/s."""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from tracker.io.draw import DrawConfig, draw_faces
from tracker.io.video import Frame, VideoError, VideoReader
from tracker.jobs.pipeline import FrameTracker

WINDOW = "tracker"
QUIT_KEYS = (ord("q"), 27)
FPS_SMOOTHING = 0.9


def open_camera(index: int) -> cv2.VideoCapture:
    """The camera at ``index``, or a one-line ``VideoError``; OpenCV's own multi-line reports of a
    missing device are silenced while it looks."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        capture = cv2.VideoCapture(index)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        raise VideoError(f"no camera at index {index}")
    return capture


def camera_frames(index: int) -> Iterator[Frame]:
    capture = open_camera(index)
    try:
        i = 0
        start = time.perf_counter()
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield Frame(i, None, time.perf_counter() - start, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        capture.release()


def file_frames(path: Path, stream: int | None = None) -> Iterator[Frame]:
    with VideoReader(path, stream) as reader:
        yield from reader


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or os.name == "nt"


def run_live(frames: Iterable[Frame], tracker: FrameTracker, draw: DrawConfig, headless: bool, max_frames: int | None) -> tuple[int, float]:
    """Track ``frames`` with a window showing the overlay and frames/s (none when ``headless`` or
    without a display). Returns (frames shown, mean frames/s)."""
    show = not headless and has_display()
    fps, count, last = 0.0, 0, time.perf_counter()
    start = last
    try:
        for frame in frames:
            if frame.image is None:
                continue
            faces = tracker.step(frame.image)
            now = time.perf_counter()
            fps = 1.0 / max(now - last, 1e-6) if count == 0 else FPS_SMOOTHING * fps + (1 - FPS_SMOOTHING) / max(now - last, 1e-6)
            last = now
            count += 1
            if show:
                canvas = draw_faces(np.ascontiguousarray(frame.image), faces, draw)
                cv2.putText(canvas, f"{fps:.1f} fps", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2, cv2.LINE_AA)
                cv2.imshow(WINDOW, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF in QUIT_KEYS:
                    break
            if max_frames is not None and count >= max_frames:
                break
    finally:
        if show:
            cv2.destroyAllWindows()
    elapsed = time.perf_counter() - start
    return count, count / elapsed if elapsed > 0 else 0.0
