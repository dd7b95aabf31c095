"""Videos made the way cameras and old editors make them, with FFmpeg's own command-line tool.

PyAV writes a channel layout into every audio stream it makes; files from the field often carry
none (PCM in AVI), or odd formats and rates. ``ffmpeg`` comes from the test extra's imageio-ffmpeg
(or the PATH); without it the tests that need these files skip.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

VIDEO_SECONDS = 2
FRAME_RATE = 10
SIZE = "96x72"

# name -> (container suffix, video codec, audio codec, sample rate, channels, audio seconds)
CAMERA_FILES = {
    "pcm_in_avi_no_layout": (".avi", "mjpeg", "pcm_s16le", 44100, 2, VIDEO_SECONDS),
    "mulaw_in_mov": (".mov", "mjpeg", "pcm_mulaw", 8000, 1, VIDEO_SECONDS),
    "unsigned_8_bit_pcm": (".avi", "mjpeg", "pcm_u8", 22050, 1, VIDEO_SECONDS),
    "mono_8_khz": (".avi", "mjpeg", "pcm_s16le", 8000, 1, VIDEO_SECONDS),
    "six_channel_aac": (".mp4", "libx264", "aac", 48000, 6, VIDEO_SECONDS),
    "audio_longer_than_video": (".mp4", "libx264", "aac", 44100, 2, 3 * VIDEO_SECONDS),
    "audio_shorter_than_video": (".mkv", "libx264", "pcm_s16le", 48000, 2, VIDEO_SECONDS / 2),
}


def ffmpeg() -> str:
    """The ffmpeg executable, or a skip."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.skip("needs ffmpeg (pip install imageio-ffmpeg, or ffmpeg on the PATH) to make camera-style files")
    return found


def camera_file(folder: Path, name: str) -> Path:
    """Make ``CAMERA_FILES[name]`` in ``folder``: a moving test pattern with a tone."""
    suffix, vcodec, acodec, rate, channels, audio_seconds = CAMERA_FILES[name]
    path = folder / f"{name}{suffix}"
    command = [
        ffmpeg(), "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc=size={SIZE}:rate={FRAME_RATE}:duration={VIDEO_SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={audio_seconds}",
        "-c:v", vcodec, "-c:a", acodec, "-ar", str(rate), "-ac", str(channels),
    ]
    subprocess.run([*command, str(path)], check=True, capture_output=True)
    return path
