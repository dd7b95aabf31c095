"""Camera-style files (tests/camera_files.py) track whole, with sound in the overlay or one warning."""
import csv

import av
import pytest
from typer.testing import CliRunner

from tests.camera_files import CAMERA_FILES, FRAME_RATE, VIDEO_SECONDS, camera_file
from tracker.cli import app

FRAMES = FRAME_RATE * VIDEO_SECONDS
AUDIO_SLACK_S = 0.1  # one audio frame of any codec here


@pytest.mark.parametrize("name", list(CAMERA_FILES))
def test_a_camera_file_gives_an_overlay_with_sound_and_a_complete_csv(tmp_path, tiny_weights, name):
    source = camera_file(tmp_path, name)
    overlay, table = tmp_path / "o.mp4", tmp_path / "o.csv"
    result = CliRunner().invoke(app, ["run", str(source), "--out", str(overlay), "--csv", str(table), "--weights", str(tiny_weights), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert len(list(csv.DictReader(table.open()))) == FRAMES
    with av.open(str(overlay)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert sum(1 for _ in container.demux(video)) - 1 == FRAMES  # the demuxer ends with an empty packet
        container.seek(0)
        packets = [p for p in container.demux(audio) if p.pts is not None]
        end = max(float((p.pts + p.duration) * p.time_base) for p in packets)
    expected = min(CAMERA_FILES[name][-1], VIDEO_SECONDS)  # audio past the last frame is left out, none of the rest
    assert expected - AUDIO_SLACK_S <= end <= expected + AUDIO_SLACK_S
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name]
