"""The video job behind ``tracker run``: decode, detect/track, landmarks, smooth, draw, encode, write."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tracker.defaults import DEFAULT_DETECTOR
from tracker.detection import create_detector
from tracker.io.draw import DrawConfig
from tracker.io.overlay import OverlayOutput
from tracker.io.outputs import UNREADABLE, CsvOutput, FrameRecord, JsonOutput, PtsDirOutput, check_distinct_outputs, check_output_path
from tracker.errors import OutputError, TrackerError
from tracker.io.video import WRITE_ERRORS, X264_PRESET, VideoReader
from tracker.jobs.concurrency import InOrderWorker, ReadAhead
from tracker.network.factory import PredictorConfig, build_predictor
from tracker.timing import NULL_TIMER, StageTimer, timed
from tracker.results import Face
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig

log = logging.getLogger(__name__)
OVERLAY = "overlay"
OUTPUT_FAILURES = (TrackerError, *WRITE_ERRORS)  # an output's own failure, which costs only that output


@dataclass(frozen=True)
class PipelineConfig:
    predictor: PredictorConfig = PredictorConfig()  # weights, device, network options, threads
    detector: str = DEFAULT_DETECTOR
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    draw: DrawConfig = field(default_factory=DrawConfig)
    threads: bool = True  # decode ahead and encode behind the tracker in their own threads
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

    def step(self, image: np.ndarray) -> list[Face]: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def add(self, record: FrameRecord) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@dataclass
class RunSinks:
    """A run's outputs by name, each finished on its own: one that fails (while writing or at its close)
    is aborted and left out, the others go on and are moved into place, and ``close`` then raises one
    ``OutputError`` naming what failed. A stop or a tracking error aborts them all (``abort``)."""

    timer: StageTimer = NULL_TIMER  # the per-frame files' time, as stage "outputs" (the overlay times its own)
    sinks: dict[str, Sink] = field(default_factory=dict)
    failed: dict[str, BaseException] = field(default_factory=dict)

    def add(self, record: FrameRecord) -> None:
        for name, sink in list(self.sinks.items()):
            try:
                with nullcontext() if name == OVERLAY else self.timer.stage("outputs"):
                    sink.add(record)
            except OUTPUT_FAILURES as err:  # this output only: the others still get every frame
                self._drop(name, err)

    def close(self) -> None:
        for name, sink in list(self.sinks.items()):
            try:
                sink.close()
            except OUTPUT_FAILURES as err:
                self._drop(name, err)
            else:
                del self.sinks[name]
        if self.failed:
            detail = "; ".join(f"{name}: {_first_line(err)}" for name, err in self.failed.items())
            raise OutputError(f"could not write the {' and '.join(self.failed)} output ({detail}); the others are complete")

    def abort(self) -> None:
        for sink in self.sinks.values():
            sink.abort()
        self.sinks.clear()

    def _drop(self, name: str, err: BaseException) -> None:
        self.failed[name] = err  # reported once, by close
        sink = self.sinks.pop(name)
        try:
            sink.abort()
        except OUTPUT_FAILURES:  # its partial file may already be gone; nothing more to clean
            pass


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def build_tracker(config: PipelineConfig, timer: StageTimer = NULL_TIMER) -> FaceTracker:
    return FaceTracker(build_predictor(config.predictor, timer), create_detector(config.detector), config.tracking, timer=timer)


def run_video(
    source: Path,
    outputs: RunOutputs,
    config: PipelineConfig = PipelineConfig(),
    progress: Callable[[int, int | None], None] | None = None,
    timer: StageTimer = NULL_TIMER,
    tracker: FrameTracker | TrackerBuild | None = None,
) -> RunSummary:
    """Track every frame of ``source`` and write the requested outputs; nothing partial is left on failure.

    With ``config.threads`` decoding runs ahead in one thread and drawing, encoding and the per-frame
    files run behind in another, overlapping the network; results are identical either way.
    ``tracker`` replaces the one ``config`` describes (the API passes its own, maybe still building; the
    speed benchmark runs a peer this way); the caller then closes it, while one built here (in the
    background, once the video has opened: ``TrackerBuild``) is closed here.
    """
    for path in (outputs.overlay, outputs.csv, outputs.json):
        check_output_path(path)
    check_distinct_outputs(source, {"overlay": outputs.overlay, "csv": outputs.csv, "json": outputs.json, "pts": outputs.pts_dir})
    with VideoReader(source, config.stream) as reader:
        if tracker is not None:
            return _run(reader, source, outputs, config, progress, timer, tracker)
        build = TrackerBuild(config, timer)
        try:
            return _run(reader, source, outputs, config, progress, timer, build)
        finally:
            build.close()


class TrackerBuild:
    """A tracker built in a background thread, so the network loads while the outputs start and the
    first frames decode; ``get`` waits for it, ``close`` waits for it and closes it (a stopped run still
    lets a build finish: a process must not exit while a thread is inside ONNX Runtime or PyTorch)."""

    def __init__(self, config: PipelineConfig, timer: StageTimer = NULL_TIMER) -> None:
        self._future: Future[FaceTracker] = Future()
        threading.Thread(target=self._build, args=(config, timer), name="build").start()

    def _build(self, config: PipelineConfig, timer: StageTimer) -> None:
        try:
            self._future.set_result(build_tracker(config, timer))
        except BaseException as err:  # handed to whoever calls get()
            self._future.set_exception(err)

    def ready(self) -> bool:
        return self._future.done()

    def get(self) -> FaceTracker:
        return self._future.result()

    def close(self) -> None:
        if self._future.exception() is None:  # waits for the build
            self._future.result().close()


def _run(
    reader: VideoReader, source: Path, outputs: RunOutputs, config: PipelineConfig,
    progress: Callable[[int, int | None], None] | None, timer: StageTimer, tracker_or_build: FrameTracker | TrackerBuild,
) -> RunSummary:
    summary = RunSummary()
    outs = RunSinks(timer)
    worker: InOrderWorker[FrameRecord] | None = None
    info = reader.info
    try:
        if outputs.csv:
            outs.sinks["csv"] = CsvOutput(outputs.csv)
        if outputs.json:
            header = {"video": str(source), "width": info.width, "height": info.height, "fps": float(info.rate)}
            outs.sinks["json"] = JsonOutput(outputs.json, header)
        if outputs.pts_dir:
            outs.sinks["pts"] = PtsDirOutput(outputs.pts_dir)
        if outputs.overlay:
            outs.sinks[OVERLAY] = OverlayOutput(outputs.overlay, info, reader, source, config.draw, config.x264_preset, timer)

        start = time.perf_counter()
        if config.threads:
            worker = InOrderWorker(outs.add)
        frames = timed(reader, timer, "decode")
        with ReadAhead(frames) if config.threads else nullcontext(frames) as decoded:
            tracker = tracker_or_build.get() if isinstance(tracker_or_build, TrackerBuild) else tracker_or_build
            for frame in decoded:
                faces = tracker.step(frame.image) if frame.image is not None else []
                summary.frames += 1
                summary.unreadable += frame.image is None
                summary.frames_with_faces += bool(faces)
                summary.faces += len(faces)
                status = UNREADABLE if frame.image is None else None
                record = FrameRecord(frame.index, frame.time, faces, status, frame.image, frame.pts)
                (worker.submit if worker is not None else outs.add)(record)
                if progress is not None:
                    progress(summary.frames, info.frame_count)
        if worker is not None:
            worker.finish()
        outs.close()  # each output on its own; raises naming any that failed, once the others are in place
        summary.seconds = time.perf_counter() - start
    except BaseException:
        if worker is not None:
            worker.cancel()
        outs.abort()
        raise
    if summary.unreadable:
        log.warning("%d frame(s) could not be decoded; recorded as '%s'", summary.unreadable, UNREADABLE)
    return summary
