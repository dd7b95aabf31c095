"""The speed machinery gives the same answers as the plain path: first stacks, threads, schedules."""
import threading
import time

import numpy as np
import pytest
import torch

from tests.conftest import make_model, write_video
from tracker.jobs.concurrency import InOrderWorker, ReadAhead
from tracker.detection import BoxCalibration, Detection, HaarDetector, HaarSettings
from tracker.models import HourglassConfig, StackedHourglass
from tracker.models.hourglass import FirstStacks
from tracker.jobs.pipeline import PipelineConfig, RunOutputs, run_video
from tracker.network.factory import PredictorConfig
from tracker.network.predictor import LandmarkPredictor
from tracker.timing import StageTimer, timed
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig
from tracker.io.video import VideoError, VideoInfo, VideoWriter


def test_first_stacks_returns_the_intermediate_prediction():
    torch.manual_seed(0)
    net = StackedHourglass(HourglassConfig(num_stacks=2, features=16, depth=1, input_size=32)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = net(x)
        first = FirstStacks(net, 1)(x)
    assert len(full) == 2 and len(first) == 1
    torch.testing.assert_close(first[0], full[0])
    with pytest.raises(ValueError):
        FirstStacks(net, 3)


def test_read_ahead_yields_in_order_and_reraises_producer_errors():
    with ReadAhead(iter(range(50)), depth=3) as items:
        assert list(items) == list(range(50))

    def broken():
        yield 1
        raise RuntimeError("decoder broke")

    with ReadAhead(broken()) as items, pytest.raises(RuntimeError, match="decoder broke"):
        list(items)


def test_read_ahead_stops_its_thread_when_the_consumer_leaves_early():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    with ReadAhead(endless(), depth=2) as items:
        for item in items:
            if item == 3:
                break
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 2  # bounded read-ahead


def test_in_order_worker_keeps_order_and_surfaces_errors():
    seen = []
    worker = InOrderWorker(lambda x: (time.sleep(0.001 * (x % 3)), seen.append(x)))
    for i in range(20):
        worker.submit(i)
    worker.finish()
    assert seen == list(range(20))

    def fail_on_five(x):
        if x == 5:
            raise ValueError("encoder broke")

    worker = InOrderWorker(fail_on_five)
    with pytest.raises(ValueError, match="encoder broke"):
        for i in range(50):
            worker.submit(i)
        worker.finish()


def test_stage_timer_charges_each_stage():
    timer = StageTimer()
    assert list(timed(iter([1, 2, 3]), timer, "decode")) == [1, 2, 3]
    with timer.stage("work"):
        time.sleep(0.01)
    assert timer.calls["decode"] == 4 and timer.calls["work"] == 1  # 3 items + the final StopIteration
    assert timer.per_frame_ms(1)["work"] >= 10


class CountingDetector:
    """Finds a face box at a fixed place on every call; records the frames it was called on."""

    calibration = BoxCalibration()

    def __init__(self, box=(8.0, 8.0, 40.0, 40.0)) -> None:
        self.box = box
        self.calls: list[int] = []
        self.frame = -1

    def detect(self, image, exhaustive=False):
        self.calls.append(int(image[0, 0, 0]))  # frames carry their index in the first pixel
        return [Detection(self.box, 1.0)] if self.box else []


def frames(n, cut_at=None):
    images = []
    for i in range(n):
        value = 200 if cut_at is not None and i >= cut_at else 40
        image = np.full((48, 48, 3), value, np.uint8)
        image[0, 0, 0] = i
        images.append(image)
    return images


def tracker_with(detector, **config):
    predictor = LandmarkPredictor(make_model(), "cpu")
    return FaceTracker(predictor, detector, TrackerConfig(smoothing=False, **config))


def test_idle_search_backs_off_to_every_n_frames_and_runs_at_once_on_a_cut():
    detector = CountingDetector(box=None)
    tracker = tracker_with(detector, search_every=5)
    for image in frames(17):
        tracker.step(image)
    assert detector.calls == [0, 1, 3, 7, 12]  # 1, 2, 4 frames apart, then at most 5
    detector = CountingDetector(box=None)
    tracker = tracker_with(detector, search_every=5)
    for image in frames(17, cut_at=9):
        tracker.step(image)
    assert detector.calls == [0, 1, 3, 7, 9, 10, 12, 16]  # the cut at 9 searches at once and restarts the back-off


def record_gathered_detections(tracker):
    """Wrap the tracker's detection intake; returns the list of (frame, detections) it fills."""
    gather = tracker._gather_detections
    consumed = []

    def recording(image):
        out = gather(image)
        consumed.append((int(image[0, 0, 0]), len(out)))
        return out

    tracker._gather_detections = recording
    return consumed


def test_background_detection_is_used_exactly_lag_frames_later():
    """With a face tracked, the periodic detection of frame t reaches the tracker on frame t + lag."""
    used = {}
    for lag in (0, 3):
        detector = CountingDetector()
        tracker = tracker_with(detector, redetect_every=4, detection_lag=lag, min_face_score=0.0)
        consumed = record_gathered_detections(tracker)
        for image in frames(10):
            tracker.step(image)
        tracker.close()
        assert detector.calls == [0, 4, 8]
        used[lag] = [frame for frame, n in consumed if n]
    assert used[0] == [0, 4, 8]
    assert used[3] == [0, 7]  # frame 8's detection would arrive on frame 11


def test_haar_tries_every_angle_once_then_one_angle_per_call_at_reduced_size():
    detector = HaarDetector(HaarSettings(retry_angles=(20.0, -20.0), retries_in_a_row=1, max_side=64, retry_max_side=32))
    tried = []
    detector._detect_at = lambda view, angle: tried.append((angle, view[0].shape)) or []
    blank = np.zeros((40, 64, 3), np.uint8)
    for _ in range(3):
        detector.detect(blank)
    assert [a for a, _ in tried] == [0.0, 20.0, -20.0, 0.0, 20.0, 0.0, -20.0]
    assert {shape for a, shape in tried if a == 0.0} == {(40, 64)}
    assert {shape for a, shape in tried if a != 0.0} == {(20, 32)}


def test_threaded_and_plain_pipelines_write_identical_outputs(tmp_path, tiny_weights):
    rng = np.random.default_rng(0)
    clip = write_video(tmp_path / "in.mp4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(12)])
    tables = []
    for threads in (True, False):
        out = RunOutputs(overlay=tmp_path / f"o{threads}.mp4", csv=tmp_path / f"o{threads}.csv")
        summary = run_video(clip, out, PipelineConfig(PredictorConfig(tiny_weights, "cpu"), threads=threads))
        assert summary.frames == 12
        tables.append(out.csv.read_text())
    assert tables[0] == tables[1]


def test_unknown_x264_preset_is_a_one_line_error(tmp_path):
    info = VideoInfo(16, 16, 25, 1 / 25, None, 0, False)
    with pytest.raises(VideoError, match="unknown x264 preset"):
        VideoWriter(tmp_path / "x.mp4", info, preset="warp-speed")
    assert not list(tmp_path.iterdir())


def test_run_speed_options_and_a_bad_stack_count(tmp_path, blank_video, tiny_weights):
    from typer.testing import CliRunner

    from tracker.cli import app

    runner = CliRunner()
    common = ["run", str(blank_video), "--weights", str(tiny_weights), "--device", "cpu", "--quiet"]
    ok = runner.invoke(app, [*common, "--out", str(tmp_path / "o.mp4"), "--search-every", "3", "--x264-preset", "veryfast", "--stacks", "1"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, [*common, "--out", str(tmp_path / "p.mp4"), "--stacks", "2"])
    assert bad.exit_code == 1 and "num_stacks must be 1..1" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "p.mp4").exists()


def test_speed_benchmark_times_both_pipelines_and_the_knobs(tmp_path, tiny_weights):
    pytest.importorskip("dlib", reason="the dlib peer is in the [test] and [peers] extras")
    from tracker.eval.peers import dlib_model_path
    from tracker.eval.speed import run_speed_benchmark

    try:
        dlib_model_path()
    except ImportError as err:
        pytest.skip(str(err))

    rng = np.random.default_rng(0)
    clip = write_video(tmp_path / "in.mp4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)])
    result = run_speed_benchmark(clip, tiny_weights, "cpu", repeats=1, with_variants=True)
    rows = result["rows"]
    assert {"sa-tracker", "dlib", "--no-ghcu", "--flip-test"} <= set(rows)
    assert rows["dlib"]["speed_vs_dlib"] == 1.0 and rows["sa-tracker"]["speed_vs_dlib"] > 0
    assert rows["dlib"]["detections"] == 6  # dlib detects on every frame
    assert {"decode", "search", "encode"} <= set(rows["sa-tracker"]["stage_ms"])  # noise frames: no face, searched
    assert {"detect", "landmarks"} <= set(rows["dlib"]["stage_ms"])
    assert set(result["network_ms_per_face"]) == {"onnxruntime float", "pytorch float (eager)"}
    assert all(ms > 0 for ms in result["network_ms_per_face"].values())
    processes = result["whole_process"]  # tracker run and the plain dlib script, as fresh processes
    assert processes["plain dlib script (whole process)"]["vs_plain_dlib"] == 1.0
    assert processes["tracker run (whole process)"]["fps"] > 0


def test_detector_is_never_called_from_two_threads_at_once():
    """The background detection and a detection needed at once (a face was lost) take turns."""
    import threading

    class OneAtATime:
        calibration = BoxCalibration()

        def __init__(self):
            self.busy = threading.Lock()
            self.overlaps = 0

        def detect(self, image, exhaustive=False):
            if not self.busy.acquire(blocking=False):
                self.overlaps += 1
                return []
            time.sleep(0.05)
            self.busy.release()
            return []

    detector = OneAtATime()
    tracker = tracker_with(detector)
    threads = [threading.Thread(target=tracker._detect, args=(np.zeros((8, 8, 3), np.uint8),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert detector.overlaps == 0
