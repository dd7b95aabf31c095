import csv
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import write_video
from tests.processes import stop_after_start
from tests.videos import grayscale_video, mjpeg_with_corrupt_frame, video_with_audio, zero_frame_video
from tracker.cli import app
from tracker.io.outputs import CSV_COLUMNS
from tracker.io.video import count_frames

runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def leftovers(folder):
    return [p.name for p in folder.rglob("*partial*")]


def test_run_writes_overlay_csv_json_and_no_face_rows(tmp_path, blank_video, tiny_weights):
    out, table, doc = tmp_path / "o.mp4", tmp_path / "o.csv", tmp_path / "o.json"
    result = run_cli("run", blank_video, "--out", out, "--csv", table, "--json", doc, "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 0, result.output
    assert count_frames(out) == (6, (64, 48))
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert [r["frame"] for r in rows] == [str(i) for i in range(6)]
    assert all(r["status"] == "no_face" and r["x_0"] == "" for r in rows)  # random weights find no face
    data = json.loads(doc.read_text())
    assert len(data["frames"]) == 6 and data["frames"][0]["status"] == "no_face"
    assert not leftovers(tmp_path)


def test_unreadable_frame_gets_its_own_row_and_the_run_succeeds(tmp_path, tiny_weights):
    src = mjpeg_with_corrupt_frame(tmp_path / "bad.avi")
    table, out = tmp_path / "o.csv", tmp_path / "o.mp4"
    result = run_cli("run", src, "--csv", table, "--out", out, "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 0, result.output
    statuses = [r["status"] for r in csv.DictReader(table.open())]
    assert statuses == ["no_face", "no_face", "unreadable", "no_face", "no_face", "no_face"]
    assert count_frames(out)[0] == 6  # the unreadable frame repeats the previous overlay


@pytest.mark.parametrize("case", ["missing", "text", "zero_frames", "directory", "out_folder_missing", "bad_weights", "no_outputs"])
def test_bad_inputs_fail_with_one_line_and_nonzero_exit(tmp_path, blank_video, tiny_weights, case):
    src, out, weights = blank_video, tmp_path / "o.mp4", tiny_weights
    if case == "missing":
        src = tmp_path / "missing.mp4"
    elif case == "text":
        src = tmp_path / "notes.mp4"
        src.write_text("this is not a video")
    elif case == "zero_frames":
        src = zero_frame_video(tmp_path / "zero.mp4")
    elif case == "directory":
        src = tmp_path
    elif case == "out_folder_missing":
        out = tmp_path / "no" / "such" / "o.mp4"
    elif case == "bad_weights":
        weights = tmp_path / "w.pt"
        weights.write_bytes(b"garbage")
    args = ["run", src, "--weights", weights, "--quiet"] + ([] if case == "no_outputs" else ["--out", out])
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert not out.exists() and not leftovers(tmp_path)


def test_grayscale_odd_sized_input_runs(tmp_path, tiny_weights):
    src = grayscale_video(tmp_path / "g.mkv", size=(63, 47))
    out = tmp_path / "o.mp4"
    assert run_cli("run", src, "--out", out, "--weights", tiny_weights, "--quiet").exit_code == 0
    assert count_frames(out) == (3, (64, 48))


def test_large_4k_frames_run(tmp_path, tiny_weights):
    frames = [np.full((2160, 3840, 3), 90, np.uint8)] * 2
    src = write_video(tmp_path / "uhd.mp4", frames)
    table = tmp_path / "o.csv"
    assert run_cli("run", src, "--csv", table, "--weights", tiny_weights, "--quiet").exit_code == 0
    assert len(list(csv.DictReader(table.open()))) == 2


def test_audio_stream_is_copied_to_the_overlay(tmp_path, tiny_weights):
    src = video_with_audio(tmp_path / "a.mp4")
    out = tmp_path / "o.mp4"
    assert run_cli("run", src, "--out", out, "--weights", tiny_weights, "--quiet").exit_code == 0
    with av.open(str(out)) as c:
        assert sorted(s.type for s in c.streams) == ["audio", "video"]


def test_pts_dir_uses_300vw_layout(tmp_path, blank_video, tiny_weights):
    target = tmp_path / "pts"
    assert run_cli("run", blank_video, "--pts-dir", target, "--weights", tiny_weights, "--quiet").exit_code == 0
    assert (target / "annot").is_dir() and not leftovers(tmp_path)


def test_webcam_headless_from_file_and_missing_camera(tmp_path, blank_video, tiny_weights):
    result = run_cli("webcam", "--source", blank_video, "--headless", "--weights", tiny_weights)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("6 frames")
    result = run_cli("webcam", "--camera", "57", "--headless", "--weights", tiny_weights)
    assert result.exit_code == 1 and result.output.strip() == "error: no camera at index 57"


def test_installed_console_script_lists_plugins():
    out = subprocess.run([sys.executable, "-c", "import sys; from tracker.cli import main; sys.argv=['tracker','--help']; main()"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "eval" in out.stdout and "run" in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["train", "--help"], ["eval", "300w", "--help"],
                                  ["pack-faces", "--help"], ["network-cost", "--help"],
                                  ["face-check", "--help"], ["point-offsets", "--help"], ["train-speed", "--help"], ["eval", "detection", "--help"], ["eval", "crowd", "--help"]])
def test_help_imports_no_heavy_package(args):
    """Every --help answers from the command line's own modules: no PyTorch, OpenCV, PyAV, numpy."""
    code = ("import sys\nfrom tracker.cli import main\nsys.argv = ['tracker', *%r]\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nprint(sorted(m for m in ('torch', 'cv2', 'av', 'numpy', 'filterpy') if m in sys.modules))") % (args,)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_many_videos_in_parallel_with_a_bad_one_then_a_rerun_skips_the_finished(tmp_path, tiny_weights):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(4)]
    (tmp_path / "in").mkdir()
    a = write_video(tmp_path / "in" / "a.mp4", frames)
    b = write_video(tmp_path / "in" / "b.mp4", frames)
    bad = tmp_path / "in" / "notavideo.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    args = ["run", str(a), str(b), str(bad), "--out-dir", str(out), "--workers", "2", "--weights", str(tiny_weights), "--device", "cpu"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output
    for name in ("a", "b"):
        assert (out / f"{name}.mp4").is_file() and (out / f"{name}.csv").is_file()
    assert not (out / "notavideo.mp4").exists() and not (out / "notavideo.csv").exists()
    rows = {Path(r["video"]).name: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert rows["a.mp4"]["status"] == rows["b.mp4"]["status"] == "done" and rows["a.mp4"]["frames"] == "4"
    assert rows["notavideo.mp4"]["status"] == "error" and rows["notavideo.mp4"]["error"] and "\n" not in rows["notavideo.mp4"]["error"]
    again = runner.invoke(app, ["run", str(tmp_path / "in"), "--out-dir", str(out), "--weights", str(tiny_weights), "--device", "cpu"])
    rows = {Path(r["video"]).name: r["status"] for r in csv.DictReader(open(out / "summary.csv"))}
    assert again.exit_code == 1 and rows == {"a.mp4": "skipped", "b.mp4": "skipped", "notavideo.mp4": "error"}


def test_shards_split_a_list_and_several_videos_need_an_out_dir(tmp_path, tiny_weights):
    from tracker.jobs.batch import parse_shard

    videos = [write_video(tmp_path / f"v{i}.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2) for i in range(3)]
    seen = []
    for i in range(2):
        result = runner.invoke(app, ["run", *map(str, videos), "--out-dir", str(tmp_path / "o"), "--shard", f"{i}/2",
                                     "--weights", str(tiny_weights), "--device", "cpu"])
        assert result.exit_code == 0, result.output
        seen += [r["video"] for r in csv.DictReader(open(tmp_path / "o" / f"summary.shard{i}of2.csv"))]
    assert sorted(seen) == sorted(map(str, videos))
    assert runner.invoke(app, ["run", *map(str, videos[:2]), "--out", "x.mp4"]).exit_code == 1
    with pytest.raises(ValueError, match="i/n"):
        parse_shard("2/2")


def test_pts_dir_follows_the_face_tracked_longest_not_the_lowest_id(tmp_path):
    """Face 1 is seen on frames 0-2 only, face 2 on frames 1-9: the series is face 2's, all of it."""
    from tracker.io.outputs import FrameRecord, PtsDirOutput
    from tracker.io.pts import read_pts
    from tracker.results import Face

    def face(face_id: int, frame: int) -> Face:
        points = np.full((68, 2), 10.0 * face_id + frame)
        return Face(points, np.ones(68), face_id, source="tracked")

    out = PtsDirOutput(tmp_path / "pts")
    for frame in range(10):
        faces = [face(i, frame) for i, (start, stop) in ((1, (0, 3)), (2, (1, 10))) if start <= frame < stop]
        out.add(FrameRecord(frame, frame / 25, faces))
    out.close()
    files = sorted((tmp_path / "pts" / "annot").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.pts" for i in range(2, 11)]  # 1-based frames 1..9
    for f in files:
        frame = int(f.stem) - 1
        np.testing.assert_allclose(read_pts(f), 20.0 + frame, atol=1e-3)
    assert not leftovers(tmp_path)


def test_a_glob_that_matches_nothing_fails_the_batch(tmp_path, blank_video, tiny_weights):
    pattern = tmp_path / "*.mpp"  # a mistyped extension
    result = run_cli("run", str(pattern), str(blank_video), "--out-dir", tmp_path / "out", "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1, result.output
    assert "*.mpp" in result.output


def test_only_bad_input_becomes_a_one_line_error(tmp_path, blank_video, tiny_weights, monkeypatch):
    """A bad option is one line and exit 1; a ValueError from a bug keeps its traceback."""
    result = run_cli("run", blank_video, "--out", tmp_path / "o.mp4", "--weights", tiny_weights, "--detector", "nope", "--quiet")
    assert result.exit_code == 1 and result.output.startswith("error: unknown detector 'nope'")

    def broken(*args, **kwargs):
        raise ValueError("a bug deep inside")

    monkeypatch.setattr("tracker.io.outputs.CsvOutput.add", broken)
    result = run_cli("run", blank_video, "--csv", tmp_path / "p.csv", "--weights", tiny_weights, "--quiet")
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError) and str(result.exception) == "a bug deep inside"
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("codec, name", [("pcm_mulaw", "mulaw.mov"), ("pcm_s16le", "camera.avi")])
def test_audio_the_output_cannot_hold_is_reencoded_not_fatal(tmp_path, codec, name, tiny_weights):
    """PCM audio from cameras (AVI, MOV): copied where MP4 takes it, else re-encoded to AAC, decided
    before tracking; the run and its CSV never fail over sound."""
    src = video_with_audio(tmp_path / name, audio_codec=codec, video_codec="mjpeg" if name.endswith(".avi") else "libx264")
    out, table = tmp_path / "o.mp4", tmp_path / "o.csv"
    result = run_cli("run", src, "--out", out, "--csv", table, "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 0, result.output
    assert table.is_file() and len(table.read_text().splitlines()) == 1 + 10
    with av.open(str(out)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name in (codec, "aac") and c.streams.video[0].frames == 10
        assert sum(1 for _ in c.demux(audio)) > 1
    assert not leftovers(tmp_path)


def test_overlays_are_streamable_with_the_index_at_the_front(tmp_path, blank_video, tiny_weights):
    out = tmp_path / "o.mp4"
    assert run_cli("run", blank_video, "--out", out, "--weights", tiny_weights, "--quiet").exit_code == 0
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_batch_redoes_outputs_that_are_not_complete_and_keeps_earlier_numbers(tmp_path, tiny_weights):
    """Only complete outputs are skipped: a cut overlay, an empty one and a CSV cut short are redone;
    skipped videos keep the numbers of the run that tracked them in summary.csv."""
    rng = np.random.default_rng(0)
    clips = [write_video(tmp_path / f"v{i}.mp4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(8)])
             for i in range(4)]
    out = tmp_path / "out"
    args = ["run", *clips, "--out-dir", out, "--weights", tiny_weights, "--quiet"]
    assert run_cli(*args).exit_code == 0
    overlay = (out / "v0.mp4").read_bytes()
    (out / "v0.mp4").write_bytes(overlay[: len(overlay) * 2 // 3])  # cut off
    (out / "v1.mp4").write_bytes(b"")  # emptied
    table = (out / "v2.csv").read_text().splitlines(keepends=True)
    (out / "v2.csv").write_text("".join(table[:-2]))  # two frames short
    assert run_cli(*args).exit_code == 0
    rows = {Path(r["video"]).name: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert {n: r["status"] for n, r in rows.items()} == {"v0.mp4": "done", "v1.mp4": "done", "v2.mp4": "done", "v3.mp4": "skipped"}
    assert rows["v3.mp4"]["frames"] == "8" and float(rows["v3.mp4"]["fps"]) > 0  # the first run's numbers
    assert count_frames(out / "v0.mp4")[0] == 8 and len((out / "v2.csv").read_text().splitlines()) == 1 + 8


def test_a_video_named_summary_keeps_its_landmarks_apart_from_the_batch_summary(tmp_path, blank_video, tiny_weights):
    clip = tmp_path / "summary.mp4"
    clip.write_bytes(blank_video.read_bytes())
    out = tmp_path / "out"
    for _ in range(2):
        assert run_cli("run", clip, "--out-dir", out, "--weights", tiny_weights, "--quiet").exit_code == 0
    table = list(csv.DictReader(open(out / "summary_video.csv")))
    assert len(table) == 6 and list(table[0].keys()) == CSV_COLUMNS
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["status"] for r in summary] == ["skipped"] and summary[0]["frames"] == "6"


def _long_clip(path: Path, frames: int = 400) -> Path:
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    return write_video(path, [np.roll(base, 3 * i, axis=1) for i in range(frames)])


@pytest.mark.parametrize("signame, code, word", [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_signal_ends_one_video_with_one_line_and_no_partial_files(tmp_path, tiny_weights, signame, code, word):
    import signal

    clip = _long_clip(tmp_path / "long.mp4")
    cmd = [sys.executable, "-m", "tracker", "run", str(clip), "--out", "o.mp4", "--csv", "o.csv", "--weights", str(tiny_weights), "--quiet"]
    proc, _ = stop_after_start(cmd, getattr(signal, signame), tmp_path, tmp_path / ".o.*.partial.mp4")
    assert proc.returncode == code, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == word and "Traceback" not in proc.stderr
    assert not leftovers(tmp_path) and not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("signame, code, word, group", [("SIGTERM", 143, "terminated", False), ("SIGINT", 130, "interrupted", True)])
def test_a_signal_to_a_batch_stops_its_workers_and_keeps_what_finished(tmp_path, blank_video, tiny_weights, signame, code, word, group):
    """SIGTERM to the parent (Slurm, Kubernetes), or Ctrl-C in a terminal (SIGINT to every process):
    workers stop and clean up, the summary lists what finished, one line, no traceback."""
    import signal
    import time

    videos = [blank_video] + [_long_clip(tmp_path / f"long{i}.mp4") for i in range(2)]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tracker", "run", *map(str, videos), "--out-dir", str(out), "--workers", "2",
           "--weights", str(tiny_weights), "--quiet"]
    proc, _ = stop_after_start(cmd, getattr(signal, signame), tmp_path, out / ".long*.partial.mp4", group=group)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == word
    time.sleep(2.0)  # orphaned workers would go on writing their partial overlays meanwhile
    assert not leftovers(out)
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert [Path(r["video"]).name for r in summary if r["status"] == "done"] == ["blank.mp4"]
    assert (out / "blank.mp4").is_file() and not (out / "long0.mp4").exists()



@pytest.mark.parametrize("flag", ["--out", "--csv", "--json"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, blank_video, tiny_weights, flag):
    before = blank_video.read_bytes()
    result = run_cli("run", blank_video, flag, blank_video, "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1 and "is the input video" in result.output
    assert blank_video.read_bytes() == before and leftovers(blank_video.parent) == []


def test_two_outputs_on_one_file_are_refused(tmp_path, blank_video, tiny_weights):
    same = tmp_path / "o.txt"
    result = run_cli("run", blank_video, "--csv", same, "--json", same, "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1 and "are the same file" in result.output and not same.exists()


@pytest.mark.parametrize("option", ["--redetect-every", "--search-every"])
def test_a_detection_interval_of_zero_is_refused(blank_video, tiny_weights, tmp_path, option):
    result = run_cli("run", blank_video, "--csv", tmp_path / "o.csv", option, "0", "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 2 and "greater than or equal to 1" in result.output and not (tmp_path / "o.csv").exists()


def test_the_api_refuses_a_detection_interval_of_zero():
    from tracker.errors import InputError
    from tracker.tracking.face_tracker import TrackerConfig

    with pytest.raises(InputError, match="redetect_every must be at least 1"):
        TrackerConfig(redetect_every=0)


@pytest.mark.parametrize("failing, method", [("overlay", "close"), ("overlay", "add"), ("json", "close")])
def test_a_failed_output_costs_only_itself(tmp_path, blank_video, tiny_weights, monkeypatch, failing, method):
    """An output that fails while writing or at its close (here the overlay's muxer, or the JSON's disk)
    is left out with one error line and exit status 1; the others are finished and complete."""
    target = {"overlay": "tracker.io.overlay.OverlayOutput", "json": "tracker.io.outputs.JsonOutput"}[failing]

    def refuse(*args, **kwargs):
        raise av.error.ArgumentError(22, "Invalid argument") if failing == "overlay" else OSError(28, "No space left on device")

    monkeypatch.setattr(f"{target}.{method}", refuse)
    paths = {"--out": tmp_path / "o.mp4", "--csv": tmp_path / "o.csv", "--json": tmp_path / "o.json", "--pts-dir": tmp_path / "pts"}
    result = run_cli("run", blank_video, *(v for pair in paths.items() for v in pair), "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"the {failing} output" in errors[0] and "Traceback" not in result.output
    written = {"overlay": paths["--out"], "json": paths["--json"]}
    assert not written[failing].exists()
    assert len(list(csv.DictReader(paths["--csv"].open()))) == 6  # every frame, whole
    if failing != "json":
        assert len(json.loads(paths["--json"].read_text())["frames"]) == 6
    if failing != "overlay":
        assert count_frames(paths["--out"])[0] == 6
    assert (paths["--pts-dir"] / "annot").is_dir() and not leftovers(tmp_path)


def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(tmp_path, blank_video, tiny_weights, monkeypatch):
    """A read-only folder (tried for real on a read-only mount; root ignores permission bits, so the
    test asks os.access as a read-only mount answers it)."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked and mode == os.W_OK else real_access(path, mode))
    for flag, name in [("--csv", "o.csv"), ("--out", "o.mp4"), ("--pts-dir", "pts")]:
        result = run_cli("run", blank_video, flag, locked / name, "--weights", tiny_weights, "--quiet")
        assert result.exit_code == 1 and result.output.strip() == f"error: output folder is not writable: {locked}", result.output
    assert not list(locked.iterdir())


@pytest.mark.parametrize("suffix", [".webm", ".gif", ".ogv"])
def test_an_overlay_format_that_cannot_hold_h264_is_refused_up_front(tmp_path, blank_video, tiny_weights, suffix):
    result = run_cli("run", blank_video, "--out", tmp_path / f"o{suffix}", "--csv", tmp_path / "o.csv", "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1 and result.output.startswith(f"error: an overlay cannot be {suffix}: H.264 goes into .mp4")
    assert not leftovers(tmp_path) and not (tmp_path / "o.csv").exists()


def test_an_overlay_in_matroska_works(tmp_path, blank_video, tiny_weights):
    out = tmp_path / "o.mkv"
    assert run_cli("run", blank_video, "--out", out, "--weights", tiny_weights, "--quiet").exit_code == 0
    assert count_frames(out)[0] == 6


def test_a_folder_of_ts_files_is_tracked_and_a_folder_without_videos_fails(tmp_path, tiny_weights):
    videos, empty = tmp_path / "videos", tmp_path / "empty"
    videos.mkdir()
    empty.mkdir()
    (empty / "notes.txt").write_text("no video here")
    rng = np.random.default_rng(3)  # a textured picture: MPEG-TS needs more than a few bytes to be recognised
    write_video(videos / "cam.ts", [rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for _ in range(10)])
    result = run_cli("run", videos, empty, "--out-dir", tmp_path / "out", "--weights", tiny_weights, "--quiet")
    assert result.exit_code == 1, result.output
    rows = {Path(r["video"]).name: r for r in csv.DictReader((tmp_path / "out" / "summary.csv").open())}
    assert rows["cam.ts"]["status"] == "done" and rows["empty"]["status"] == "error"
    assert rows["empty"]["error"].startswith("no video file in this folder")
