"""The video job behind ``tracker run``: decode, detect/track, landmarks, smooth, draw, encode, write."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tracker.detection import create_detector
from tracker.devices import resolve_device
from tracker.draw import DrawConfig, draw_faces
from tracker.outputs import UNREADABLE, CsvOutput, FrameRecord, JsonOutput, PtsDirOutput, check_output_path
from tracker.predictor import LandmarkPredictor
from tracker.tracking import FaceResult, FaceTracker, TrackerConfig
from tracker.video import Frame, VideoReader, VideoWriter
from tracker.weights_registry import load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    weights: Path | None = None
    device: str = "auto"
    detector: str = "haar"
    ghcu: bool = True
    flip_test: bool = False
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    draw: DrawConfig = field(default_factory=DrawConfig)


@dataclass(frozen=True)
class RunOutputs:
    overlay: Path | None = None
    csv: Path | None = None
    json: Path | None = None
    pts_dir: Path | None = None


@dataclass
class RunSummary:
    frames: int = 0
    frames_with_faces: int = 0
    unreadable: int = 0
    faces: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class Sink(Protocol):
    def add(self, record: FrameRecord) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def build_tracker(config: PipelineConfig) -> FaceTracker:
    device = resolve_device(config.device)
    model = load_model(config.weights, device=str(device))
    predictor = LandmarkPredictor(model, device, use_ghcu=config.ghcu, flip_test=config.flip_test)
    return FaceTracker(predictor, create_detector(config.detector), config.tracking)


def track_frames(frames: Iterable[Frame], tracker: FaceTracker, on_frame: Callable[[Frame, list[FaceResult]], None]) -> None:
    """Run the tracker over frames, calling ``on_frame`` with each frame's faces ([] when unreadable)."""
    for frame in frames:
        faces = tracker.step(frame.image) if frame.image is not None else []
        on_frame(frame, faces)


def run_video(
    source: Path,
    outputs: RunOutputs,
    config: PipelineConfig = PipelineConfig(),
    progress: Callable[[int, int | None], None] | None = None,
) -> RunSummary:
    """Track every frame of ``source`` and write the requested outputs; nothing partial is left on failure."""
    for path in (outputs.overlay, outputs.csv, outputs.json):
        check_output_path(path)
    tracker = build_tracker(config)
    summary = RunSummary()
    sinks: list[Sink] = []
    writer: VideoWriter | None = None
    with VideoReader(source) as reader:
        info = reader.info
        try:
            if outputs.csv:
                sinks.append(CsvOutput(outputs.csv))
            if outputs.json:
                header = {"video": str(source), "width": info.width, "height": info.height, "fps": float(info.rate)}
                sinks.append(JsonOutput(outputs.json, header))
            if outputs.pts_dir:
                sinks.append(PtsDirOutput(outputs.pts_dir))
            if outputs.overlay:
                writer = VideoWriter(outputs.overlay, info, reader)
            last_overlay: list[np.ndarray] = []
            start = time.perf_counter()

            def on_frame(frame: Frame, faces: list[FaceResult]) -> None:
                status = UNREADABLE if frame.image is None else None
                record = FrameRecord(frame.index, frame.time, faces, status)
                for sink in sinks:
                    sink.add(record)
                summary.frames += 1
                summary.unreadable += frame.image is None
                summary.frames_with_faces += bool(faces)
                summary.faces += len(faces)
                if writer is not None:
                    if frame.image is not None:
                        last_overlay[:] = [draw_faces(frame.image, faces, config.draw)]
                    if last_overlay:  # an unreadable frame repeats the previous one, keeping timing
                        writer.write(last_overlay[0], frame.pts)
                if progress is not None:
                    progress(summary.frames, info.frame_count)

            track_frames(reader, tracker, on_frame)
            summary.seconds = time.perf_counter() - start
            if writer is not None:
                writer.close(source)
            for sink in sinks:
                sink.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            for sink in sinks:
                sink.abort()
            raise
    if summary.unreadable:
        log.warning("%d frame(s) could not be decoded; recorded as '%s'", summary.unreadable, UNREADABLE)
    return summary
