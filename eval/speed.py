"""End-to-end speed of ``tracker run`` on a real clip, beside dlib's per-frame pipeline in the same run.

Every pipeline goes through the same :func:`tracker.jobs.pipeline.run_video` (decode, detect/track,
landmarks, smoothing, drawing, H.264 encode, CSV), so only the landmark method differs. Runs are
interleaved (ours, dlib, ours, ...) and the median of ``repeats`` is reported, so machine noise hits
both sides alike; speeds are given as ratios to dlib measured in the same run.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tracker.detection import HaarDetector, HaarSettings, register_detector
from tracker.network.devices import resolve_device
from tracker.jobs.pipeline import FrameTracker, PipelineConfig, RunOutputs, run_video
from tracker.network.predictor import LandmarkPredictor, to_network_input
from tracker.models import LandmarkModel, StackedHourglass
from tracker.models.hourglass import FirstStacks, HourglassConfig
from tracker.network.quantization import calibrate, int8_available, use_int8
from tracker.timing import StageTimer
from tracker.tracking.face_tracker import TrackerConfig
from tracker.network.weights_registry import load_model

STAGES = ("decode", "detect", "crop", "hourglass", "heatmap decode", "face check", "ghcu", "landmarks", "smoothing", "draw", "encode", "outputs")
UNOPTIMISED_DETECTOR = "haar-every-angle"
NETWORK_ROUNDS = 10
NETWORK_CALLS_PER_ROUND = 10


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
    return replace(
        config, freeze=False, threads=False, torch_threads=None, x264_preset="veryfast", detector=UNOPTIMISED_DETECTOR,
        precision="float", face_threads=1,
        tracking=replace(config.tracking, redetect_every=15, search_every=1, detection_lag=0),
    )


def variants(config: PipelineConfig) -> dict[str, PipelineConfig]:
    """The speed/accuracy knobs of ``tracker run``, each changed alone from ``config``."""
    unoptimised = settings_before_speed_work(config)
    return {
        "defaults (timed again beside the knobs)": config,
        "--precision float": replace(config, precision="float"),
        "--face-threads 1": replace(config, face_threads=1),
        "--no-ghcu": replace(config, ghcu=False),
        "--stacks 1": replace(config, num_stacks=1),
        "--stacks 1 --no-ghcu": replace(config, num_stacks=1, ghcu=False),
        "--flip-test": replace(config, flip_test=True),
        "--redetect-every 15": replace(config, tracking=replace(config.tracking, redetect_every=15)),
        "--search-every 1": replace(config, tracking=replace(config.tracking, search_every=1)),
        "--no-smooth": replace(config, tracking=replace(config.tracking, smoothing=False)),
        "--x264-preset veryfast": replace(config, x264_preset="veryfast"),
        "before the speed work (eager float, no threads, search every frame)": unoptimised,
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
            faces=summary.faces, detections=timer.calls.get("detect", 0),
            stage_ms={s: stage_ms[s] for s in STAGES if s in stage_ms}, runs_fps=fps_values,
        )
    return results


def time_network(
    weights: Path | None, rounds: int = NETWORK_ROUNDS, calls: int = NETWORK_CALLS_PER_ROUND,
) -> dict[str, float]:
    """Median ms per face of the hourglass alone (frozen, batch 1, one PyTorch thread) in each precision
    the weights allow, interleaved: the like-for-like network cost, whatever faces a clip's tracks keep."""
    model = load_model(weights)
    cpu = torch.device("cpu")
    precisions = ["float"] + (["int8"] if use_int8("auto", model, cpu) else [])
    networks = {p: LandmarkPredictor(model, cpu, use_ghcu=False, freeze=True, int8=p == "int8").hourglass for p in precisions}
    return _time_interleaved(networks, model.config.input_size, rounds, calls)


def time_architectures(
    configs: dict[str, HourglassConfig], rounds: int = NETWORK_ROUNDS, calls: int = NETWORK_CALLS_PER_ROUND,
) -> dict[str, dict[str, float]]:
    """Like ``time_network`` for untrained architectures (random weights; int8 ranges from random
    input, which sets the arithmetic, not the accuracy): ms per face, float and int8, interleaved."""
    networks = {}
    rng = torch.Generator().manual_seed(0)
    for name, config in configs.items():
        torch.manual_seed(0)
        network = StackedHourglass(config).eval()
        size = config.input_size
        model = LandmarkModel(network)
        if int8_available():
            batches = [torch.randn(8, 3, size, size, generator=rng) for _ in range(2)]
            model.int8_ranges = calibrate(FirstStacks(network, config.num_stacks), batches)
        for precision in ("float", "int8") if model.int8_ranges is not None else ("float",):
            predictor = LandmarkPredictor(model, "cpu", use_ghcu=False, freeze=True, int8=precision == "int8")
            networks[(name, precision)] = (predictor.hourglass, size)
    timed = _time_interleaved({k: v[0] for k, v in networks.items()}, {k: v[1] for k, v in networks.items()}, rounds, calls)
    result: dict[str, dict[str, float]] = {name: {} for name in configs}
    for (name, precision), ms in timed.items():
        result[name][precision] = ms
    return result


def _time_interleaved(networks: dict, sizes: int | dict, rounds: int, calls: int) -> dict:
    """Median ms per call of each network on one random face, one PyTorch thread, rounds interleaved."""
    rng = np.random.default_rng(0)
    inputs = {k: to_network_input(rng.integers(0, 255, (1, s, s, 3), dtype=np.uint8))
              for k, s in ((k, sizes if isinstance(sizes, int) else sizes[k]) for k in networks)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict = {k: [] for k in networks}
    try:
        with torch.inference_mode():
            for _ in range(rounds):
                for name, network in networks.items():
                    x = inputs[name]
                    network(x)  # warm
                    start = time.perf_counter()
                    for _ in range(calls):
                        network(x)
                    times[name].append(1e3 * (time.perf_counter() - start) / calls)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(values) for name, values in times.items()}


def run_speed_benchmark(
    video: Path, weights: Path | None = None, device: str = "cpu", repeats: int = 3, with_variants: bool = True,
    with_dlib: bool = True,
) -> dict[str, Any]:
    config = PipelineConfig(weights=weights, device=device, tracking=TrackerConfig())
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
    network_ms = time_network(weights) if resolve_device(device).type == "cpu" else {}
    return {"benchmark": "speed", "video": str(video), "device": device, "repeats": repeats, "peer": peer_note, "rows": rows,
            "network_ms_per_face": network_ms}
