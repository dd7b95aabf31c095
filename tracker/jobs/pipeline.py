"""The video job behind ``tracker run``: decode, detect/track, landmarks, smooth, draw, encode, write."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from tracker.jobs.concurrency import InOrderWorker, ReadAhead
from tracker.defaults import DEFAULT_DETECTOR
from tracker.detection import create_detector
from tracker.network.devices import resolve_device
from tracker.io.draw import DrawConfig, draw_faces
from tracker.io.outputs import UNREADABLE, CsvOutput, FrameRecord, JsonOutput, PtsDirOutput, check_output_path
from tracker.network.predictor import LandmarkPredictor
from tracker.network.quantization import use_int8
from tracker.timing import NULL_TIMER, StageTimer, timed
from tracker.tracking.face_tracker import FaceResult, FaceTracker, TrackerConfig
from tracker.io.video import X264_PRESET, Frame, VideoReader, VideoWriter
from tracker.network.weights_registry import load_model

log = logging.getLogger(__name__)

MAX_FACE_THREADS = 4


@dataclass(frozen=True)
class PipelineConfig:
    weights: Path | None = None
    device: str = "auto"
    detector: str = DEFAULT_DETECTOR
    ghcu: bool = True
    flip_test: bool = False
    num_stacks: int | None = None  # run only the first N hourglass stacks (faster, less accurate)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    draw: DrawConfig = field(default_factory=DrawConfig)
    freeze: bool = True  # frozen TorchScript networks on the CPU (same outputs, ~1.5x faster)
    threads: bool = True  # decode ahead and encode behind the tracker in their own threads
    # PyTorch CPU threads. One is faster end to end on small CPUs: a batch-1 network scales poorly
    # across cores and idle OpenMP workers spin, starving the decode, encode and detection threads.
    torch_threads: int | None = 1
    # Threads that share a frame's faces on the CPU (None: one per core, at most MAX_FACE_THREADS;
    # always 1 on a GPU, which takes the faces as one batch).
    face_threads: int | None = None
    # Hourglass arithmetic: "int8" (CPU; weights calibrated by `tracker quantize`), "float", or "auto":
    # int8 where the weights and this CPU allow it, float elsewhere.
    precision: str = "auto"
    x264_preset: str = X264_PRESET  # overlay encoding speed: ultrafast ... veryslow (smaller files)
    stream: int | None = None  # the input's video stream (ffprobe's numbering); None: default-marked, else largest


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


class FrameTracker(Protocol):
    """What the pipeline drives: :class:`FaceTracker`, or a peer method behind the same interface."""

    def step(self, image: np.ndarray) -> list[FaceResult]: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def add(self, record: FrameRecord) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


def face_threads_for(config: PipelineConfig, device: torch.device) -> int:
    if device.type != "cpu":
        return 1
    if config.face_threads is not None:
        return config.face_threads
    return max(1, min(os.cpu_count() or 1, MAX_FACE_THREADS))


def build_tracker(config: PipelineConfig, timer: StageTimer = NULL_TIMER) -> FaceTracker:
    device = resolve_device(config.device)
    if device.type == "cpu" and config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    model = load_model(config.weights, device=str(device))
    predictor = LandmarkPredictor(
        model, device, use_ghcu=config.ghcu, flip_test=config.flip_test, freeze=config.freeze, timer=timer,
        num_stacks=config.num_stacks, face_threads=face_threads_for(config, device),
        int8=use_int8(config.precision, model, device),
    )
    return FaceTracker(predictor, create_detector(config.detector), config.tracking, timer=timer)


def run_video(
    source: Path,
    outputs: RunOutputs,
    config: PipelineConfig = PipelineConfig(),
    progress: Callable[[int, int | None], None] | None = None,
    timer: StageTimer = NULL_TIMER,
    tracker: FrameTracker | None = None,
) -> RunSummary:
    """Track every frame of ``source`` and write the requested outputs; nothing partial is left on failure.

    With ``config.threads`` decoding runs ahead in one thread and drawing, encoding and the per-frame
    files run behind in another, overlapping the network; results are identical either way.
    ``tracker`` replaces the one ``config`` describes (the API passes its own; the speed benchmark runs a
    peer this way); the caller then closes it, while one built here is closed here.
    """
    for path in (outputs.overlay, outputs.csv, outputs.json):
        check_output_path(path)
    owned = tracker is None
    if tracker is None:
        tracker = build_tracker(config, timer)
    summary = RunSummary()
    sinks: list[Sink] = []
    writer: VideoWriter | None = None
    worker: InOrderWorker[tuple[Frame, list[FaceResult]]] | None = None
    with VideoReader(source, config.stream) as reader:
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
                writer = VideoWriter(outputs.overlay, info, reader, preset=config.x264_preset)
            last_overlay: list[np.ndarray] = []

            def emit(item: tuple[Frame, list[FaceResult]]) -> None:
                frame, faces = item
                with timer.stage("outputs"):
                    record = FrameRecord(frame.index, frame.time, faces, UNREADABLE if frame.image is None else None)
                    for sink in sinks:
                        sink.add(record)
                if writer is None:
                    return
                if frame.image is not None:
                    with timer.stage("draw"):
                        last_overlay[:] = [draw_faces(frame.image, faces, config.draw)]
                if last_overlay:  # an unreadable frame repeats the previous one, keeping timing
                    with timer.stage("encode"):
                        writer.write(last_overlay[0], frame.pts)

            start = time.perf_counter()
            if config.threads:
                worker = InOrderWorker(emit)
            frames = timed(reader, timer, "decode")
            with ReadAhead(frames) if config.threads else nullcontext(frames) as decoded:
                for frame in decoded:
                    faces = tracker.step(frame.image) if frame.image is not None else []
                    summary.frames += 1
                    summary.unreadable += frame.image is None
                    summary.frames_with_faces += bool(faces)
                    summary.faces += len(faces)
                    (worker.submit if worker is not None else emit)((frame, faces))
                    if progress is not None:
                        progress(summary.frames, info.frame_count)
            if owned:
                tracker.close()
            if worker is not None:
                worker.finish()
            if writer is not None:
                with timer.stage("encode"):
                    writer.close(source)
            for sink in sinks:
                sink.close()
            summary.seconds = time.perf_counter() - start
        except BaseException:
            if owned:
                tracker.close()
            if worker is not None:
                worker.cancel()
            if writer is not None:
                writer.abort()
            for sink in sinks:
                sink.abort()
            raise
    if summary.unreadable:
        log.warning("%d frame(s) could not be decoded; recorded as '%s'", summary.unreadable, UNREADABLE)
    return summary
