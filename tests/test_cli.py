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
                                  ["quantize", "--help"], ["pack-faces", "--help"], ["network-cost", "--help"],
                                  ["face-check", "--help"], ["eval", "detection", "--help"], ["eval", "crowd", "--help"]])
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
