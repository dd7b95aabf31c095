import av
import numpy as np
import pytest

from tests.conftest import write_video
from tests.videos import grayscale_video, mjpeg_with_corrupt_frame, two_video_streams, video_with_audio, zero_frame_video
from tracker.io.video import VideoError, VideoReader, VideoWriter, _rotate, count_frames


def test_encode_decode_round_trip_keeps_count_size_and_codec(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for _ in range(12)]
    path = write_video(tmp_path / "v.mp4", frames)
    assert count_frames(path) == (12, (96, 72))
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.name, ctx.pix_fmt) == ("h264", "yuv420p")
    assert not list(tmp_path.glob(".*partial*"))


def test_variable_frame_rate_timestamps_survive(tmp_path):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(5)]
    pts = [0, 10, 15, 40, 41]  # time base 1/250 s
    path = write_video(tmp_path / "vfr.mp4", frames, rate=25, pts=pts)
    with VideoReader(path) as reader:
        times = [f.time for f in reader]
    np.testing.assert_allclose(times, np.array(pts) / 250, atol=1e-3)


def test_odd_sizes_and_grayscale_decode_to_rgb(tmp_path):
    path = grayscale_video(tmp_path / "g.mkv", size=(63, 47))
    with VideoReader(path) as reader:
        images = [f.image for f in reader]
        assert (reader.info.width, reader.info.height) == (63, 47)
    assert len(images) == 3 and images[0].shape == (47, 63, 3)
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, VideoReader(path).info) as writer:  # yuv420p needs even sizes: padded by one
        for image in images:
            writer.write(image)
        writer.close()
    assert count_frames(out) == (3, (64, 48))


def test_corrupt_frame_mid_stream_is_reported_not_raised(tmp_path):
    path = mjpeg_with_corrupt_frame(tmp_path / "bad.avi")
    with VideoReader(path) as reader:
        frames = list(reader)
    assert [f.image is None for f in frames] == [False, False, True, False, False, False]
    assert "undecodable" in frames[2].error


@pytest.mark.parametrize("maker,message", [
    (lambda p: p / "missing.mp4", "not found"),
    (lambda p: (p / "a.txt").write_text("hello") and p / "a.txt", "not a readable video"),
    (lambda p: zero_frame_video(p / "zero.mp4"), "video"),
    (lambda p: p, "directory"),
])
def test_unreadable_inputs_raise_one_line_errors(tmp_path, maker, message):
    with pytest.raises(VideoError, match=message) as info:
        VideoReader(maker(tmp_path))
    assert "\n" not in str(info.value)


def test_audio_is_copied_into_the_output(tmp_path):
    src = video_with_audio(tmp_path / "a.mp4")
    out = tmp_path / "out.mp4"
    with VideoReader(src) as reader:
        with VideoWriter(out, reader.info, reader) as writer:
            for frame in reader:
                writer.write(frame.image, frame.pts)
            writer.close(src)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert sum(1 for _ in c.demux(c.streams.audio[0])) > 5


def test_writer_into_missing_folder_fails_before_writing(tmp_path):
    with VideoReader(write_video(tmp_path / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)) as reader:
        with pytest.raises(VideoError, match="does not exist"):
            VideoWriter(tmp_path / "nope" / "o.mp4", reader.info)


def test_aborted_writer_leaves_nothing(tmp_path):
    with VideoReader(write_video(tmp_path / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)) as reader:
        with pytest.raises(RuntimeError):
            with VideoWriter(tmp_path / "o.mp4", reader.info) as writer:
                writer.write(np.zeros((16, 16, 3), np.uint8))
                raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_rotation_metadata_is_applied_counter_clockwise():
    image = np.arange(6).reshape(2, 3)
    assert _rotate(image, 90).shape == (3, 2)
    assert _rotate(image, 90)[0, 0] == 2  # top-right moves to top-left
    assert np.array_equal(_rotate(image, 360), image)


@pytest.mark.parametrize("default_second", [True, False])
def test_the_default_video_stream_is_read_else_the_largest_and_stream_chooses(tmp_path, default_second):
    from tracker.io.video import VideoError, VideoReader

    path = two_video_streams(tmp_path / "two.mkv", default_second)
    with VideoReader(path) as reader:
        assert (reader.info.width, reader.info.height) == (64, 48)  # marked default, or the largest
    with VideoReader(path, stream=0) as reader:
        assert (reader.info.width, reader.info.height) == (32, 24) and len(list(reader)) == 5
    with pytest.raises(VideoError, match="stream 7 is not a video stream"):
        VideoReader(path, stream=7)


def test_run_takes_the_stream_option(tmp_path, tiny_weights):
    from typer.testing import CliRunner

    from tracker.cli import app

    path = two_video_streams(tmp_path / "two.mkv")
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o.mp4"), "--stream", "0", "--weights", str(tiny_weights), "--quiet"])
    assert result.exit_code == 0, result.output
    assert count_frames(tmp_path / "o.mp4") == (5, (32, 24))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "p.mp4"), "--weights", str(tiny_weights), "--quiet"])
    assert result.exit_code == 0 and count_frames(tmp_path / "p.mp4") == (5, (64, 48))
