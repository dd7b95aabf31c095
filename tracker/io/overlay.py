"""The overlay video as an output like the others: each frame drawn and encoded as it comes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tracker.io.draw import DrawConfig, draw_faces
from tracker.io.outputs import FrameRecord
from tracker.io.video import VideoInfo, VideoReader, VideoWriter
from tracker.timing import NULL_TIMER, StageTimer


class OverlayOutput:
    """H.264 overlay of the faces on each frame; a frame that could not be decoded repeats the previous
    picture, so the timing is kept. ``close`` copies the source's audio and moves the file into place."""

    def __init__(
        self, path: Path, info: VideoInfo, source: VideoReader, source_path: Path, draw: DrawConfig, preset: str,
        timer: StageTimer = NULL_TIMER,
    ) -> None:
        self.writer = VideoWriter(path, info, source, preset=preset)
        self.path, self.source_path, self.draw, self.timer = path, source_path, draw, timer
        self.last: np.ndarray | None = None

    def add(self, record: FrameRecord) -> None:
        if record.image is not None:
            with self.timer.stage("draw"):
                self.last = draw_faces(record.image, record.faces, self.draw)
        if self.last is not None:
            with self.timer.stage("encode"):
                self.writer.write(self.last, record.pts)

    def close(self) -> None:
        with self.timer.stage("encode"):
            self.writer.close(self.source_path)

    def abort(self) -> None:
        self.writer.abort()
