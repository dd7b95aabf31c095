"""End-to-end speed of ``tracker run`` on a real clip, beside dlib's per-frame pipeline in the same run.

Every pipeline goes through the same :func:`tracker.jobs.pipeline.run_video` (decode, detect/track,
landmarks, smoothing, drawing, H.264 encode, CSV), so only the landmark method differs. Runs are
interleaved (ours, dlib, ours, ...) and the median of ``repeats`` is reported, so machine noise hits
both sides alike; speeds are given as ratios to dlib measured in the same run. ``time_processes`` adds
whole processes, start-up included: ``tracker run`` against the plain dlib script a user would write
(``tracker.eval.plain_dlib``).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tracker.detection import HaarDetector, HaarSettings, register_detector
from tracker.io.video import VideoReader
from tracker.jobs.pipeline import FrameTracker, PipelineConfig, RunOutputs, run_video
from tracker.network.crop_predictor import CropPredictor
from tracker.network.devices import resolve_device_name
from tracker.network.factory import PredictorConfig, build_predictor
from tracker.network.timing import NETWORK_CALLS_PER_ROUND, NETWORK_ROUNDS, time_interleaved
from tracker.timing import StageTimer
from tracker.tracking.face_tracker import TrackerConfig

STAGES = ("decode", "detect", "search", "crop", "network", "landmarks", "smoothing", "pose", "draw", "encode", "outputs")
UNOPTIMISED_DETECTOR = "haar-every-angle"


@dataclass
class SpeedResult:
    fps: float
    frames: int
    frames_with_faces: int
    faces: int
    detections: int  # frames on which the face detector ran
    stage_ms: dict[str, float] = field(default_factory=dict)  # per frame, each stage in its own thread
    runs_fps: list[float] = field(default_factory=list)


def settings_before_speed_work(config: PipelineConfig) -> PipelineConfig:
    """``config`` with the pipeline and detection schedule this project had before its speed work.

    Not switched back (no setting for them): slice- instead of frame-threaded decoding, and the
    heatmap decoder taking logs of the 3x3 peak patch only (same results).
    """
    register_detector(UNOPTIMISED_DETECTOR, lambda: HaarDetector(HaarSettings(retries_in_a_row=2, retry_max_side=HaarSettings.max_side)))
    predictor = replace(config.predictor, onnx_runtime=False, network_threads=None, face_threads=1)
    return replace(
        config, predictor=predictor, threads=False, x264_preset="veryfast", detector=UNOPTIMISED_DETECTOR,
        tracking=replace(config.tracking, redetect_every=15, search_every=1, detection_lag=0),
    )


def _network(config: PipelineConfig, **options: Any) -> PipelineConfig:
    """``config`` with ``options`` of the per-crop computation (``GraphOptions``) changed."""
    return replace(config, predictor=replace(config.predictor, options=replace(config.predictor.options, **options)))


def variants(config: PipelineConfig) -> dict[str, PipelineConfig]:
    """The speed/accuracy knobs of ``tracker run``, each changed alone from ``config``."""
    unoptimised = settings_before_speed_work(config)
    return {
        "defaults (timed again beside the knobs)": config,
        "--face-threads 1": replace(config, predictor=replace(config.predictor, face_threads=1)),
        "--no-ghcu": _network(config, ghcu=False),
        "--stacks 1": _network(config, num_stacks=1),
        "--stacks 1 --no-ghcu": _network(config, num_stacks=1, ghcu=False),
        "--flip-test": _network(config, flip_test=True),
        "--redetect-every 15": replace(config, tracking=replace(config.tracking, redetect_every=15)),
        "--search-every 1": replace(config, tracking=replace(config.tracking, search_every=1)),
        "--no-smooth": replace(config, tracking=replace(config.tracking, smoothing=False)),
        "no head pose (TrackerConfig(pose=False))": replace(config, tracking=replace(config.tracking, pose=False)),
        "--x264-preset veryfast": replace(config, x264_preset="veryfast"),
        "before the speed work (PyTorch eager, no threads, search every frame)": unoptimised,
    }


def _time_once(video: Path, config: PipelineConfig, make_tracker: Callable[[StageTimer], FrameTracker] | None,
               workdir: Path) -> tuple[float, StageTimer, Any]:
    timer = StageTimer()
    outputs = RunOutputs(overlay=workdir / "overlay.mp4", csv=workdir / "landmarks.csv")
    tracker = make_tracker(timer) if make_tracker is not None else None
    try:
        summary = run_video(video, outputs, config, timer=timer, tracker=tracker)
    finally:
        if tracker is not None:
            tracker.close()
    return summary.fps, timer, summary


def time_pipelines(
    video: Path, pipelines: dict[str, tuple[PipelineConfig, Callable[[StageTimer], FrameTracker] | None]], repeats: int,
) -> dict[str, SpeedResult]:
    """Run every pipeline ``repeats`` times, interleaved; keep the median run's stage times."""
    runs: dict[str, list[tuple[float, StageTimer, Any]]] = {name: [] for name in pipelines}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, (config, make_tracker) in pipelines.items():
                runs[name].append(_time_once(video, config, make_tracker, Path(tmp)))
    results = {}
    for name, done in runs.items():
        fps_values = [fps for fps, _, _ in done]
        median = sorted(done, key=lambda r: r[0])[len(done) // 2]
        _, timer, summary = median
        stage_ms = timer.per_frame_ms(summary.frames)
        results[name] = SpeedResult(
            fps=statistics.median(fps_values), frames=summary.frames, frames_with_faces=summary.frames_with_faces,
            faces=summary.faces, detections=timer.calls.get("detect", 0) + timer.calls.get("search", 0),
            stage_ms={s: stage_ms[s] for s in STAGES if s in stage_ms}, runs_fps=fps_values,
        )
    return results


def time_network(
    weights: Path | None, rounds: int = NETWORK_ROUNDS, calls: int = NETWORK_CALLS_PER_ROUND,
) -> dict[str, float]:
    """Median ms per face of the whole per-crop computation (network, heatmap decoding, face check, GHCU;
    batch 1, one thread) on ONNX Runtime (what ``tracker run`` runs on a CPU) and on PyTorch, interleaved:
    the like-for-like network cost, whatever faces a clip's tracks keep."""
    predictors: dict[str, CropPredictor] = {
        "onnxruntime float": build_predictor(PredictorConfig(weights, "cpu")),
        "pytorch float (eager)": build_predictor(PredictorConfig(weights, "cpu", onnx_runtime=False)),
    }
    size = predictors["onnxruntime float"].input_size
    crop = np.random.default_rng(0).integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    return time_interleaved({name: partial(p.predict_batch, crop) for name, p in predictors.items()}, rounds, calls)


def time_processes(video: Path, repeats: int, weights: Path | None = None) -> dict[str, dict[str, Any]]:
    """Whole-process frames/s, start-up included: ``tracker run VIDEO --out`` against the plain dlib script
    (``tracker.eval.plain_dlib``), each a fresh Python process, interleaved; median of ``repeats``."""
    frames = VideoReader(video).info.frame_count or 0
    weights_args = ["--weights", str(weights)] if weights else []
    commands = {  # each given the overlay path to write
        "tracker run (whole process)": lambda out: [sys.executable, "-m", "tracker", "run", str(video), "--out", out, "--quiet", *weights_args],
        "plain dlib script (whole process)": lambda out: [sys.executable, "-m", "tracker.eval.plain_dlib", str(video), out],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "overlay.mp4")
        for _ in range(repeats):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command(out), check=True, capture_output=True)
                seconds[name].append(time.perf_counter() - start)
    rows = {}
    reference = statistics.median(seconds["plain dlib script (whole process)"])
    for name, values in seconds.items():
        median = statistics.median(values)
        rows[name] = {"seconds": median, "fps": frames / median, "vs_plain_dlib": reference / median,
                      "runs_seconds": values}
    return rows


def run_speed_benchmark(
    video: Path, weights: Path | None = None, device: str = "cpu", repeats: int = 3, with_variants: bool = True,
    with_dlib: bool = True,
) -> dict[str, Any]:
    config = PipelineConfig(PredictorConfig(weights, device), tracking=TrackerConfig())
    pipelines: dict[str, tuple[PipelineConfig, Callable[[StageTimer], FrameTracker] | None]] = {"sa-tracker": (config, None)}
    peer_note = None
    if with_dlib:
        from tracker.eval.peers import DlibPeer, DlibTracker

        peer = DlibPeer()
        pipelines["dlib"] = (config, lambda timer: DlibTracker(peer, timer))
        peer_note = f"dlib HOG detector (upsample {peer.upsample}) + 68-point shape predictor, every frame"
    results = time_pipelines(video, pipelines, repeats)
    if with_variants:
        knobs = {name: (cfg, None) for name, cfg in variants(config).items()}
        results.update(time_pipelines(video, knobs, repeats))
    reference = results["dlib"].fps if with_dlib else None
    rows = {}
    for name, result in results.items():
        row = asdict(result)
        row["speed_vs_dlib"] = result.fps / reference if reference else None
        rows[name] = row
    network_ms = time_network(weights) if resolve_device_name(device) == "cpu" else {}
    processes = time_processes(video, repeats, weights) if with_dlib and resolve_device_name(device) == "cpu" else {}
    return {"benchmark": "speed", "video": str(video), "device": device, "repeats": repeats, "peer": peer_note, "rows": rows,
            "network_ms_per_face": network_ms, "whole_process": processes}
