"""Small videos made by the tests: corrupt, empty, grayscale, with audio."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def _flush(out: av.container.OutputContainer, *streams: av.stream.Stream) -> None:
    """Drain each encoder into the file."""
    for stream in streams:
        for packet in stream.encode():
            out.mux(packet)


def _encode(path: Path, codec: str, pix_fmt: str, images: list[np.ndarray], image_format: str) -> Path:
    """``images`` (all one size) as a 10 frames/s video in ``codec`` / ``pix_fmt``."""
    h, w = images[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format=image_format)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        _flush(out, stream)
    return path


def mjpeg_with_corrupt_frame(path: Path, frames: int = 6, corrupt: int = 2) -> Path:
    """An MJPEG AVI whose frame ``corrupt`` is overwritten with random bytes."""
    _encode(path, "mjpeg", "yuvj420p", [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(frames)], "rgb24")
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    begin, end = starts[corrupt], starts[corrupt + 1] - 20
    data[begin:end] = np.random.default_rng(0).integers(0, 256, end - begin, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def zero_frame_video(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = 64, 48
        out.start_encoding()
    return path


def grayscale_video(path: Path, size: tuple[int, int] = (63, 47), frames: int = 3) -> Path:
    """FFV1 in Matroska with a single-channel pixel format and odd frame sizes."""
    w, h = size
    return _encode(path, "ffv1", "gray", [np.full((h, w), 50 * i, np.uint8) for i in range(frames)], "gray")


AUDIO_SAMPLE_FORMATS = {"aac": "fltp", "pcm_s16le": "s16", "pcm_mulaw": "s16"}


def video_with_audio(path: Path, frames: int = 10, rate: int = 10, audio_codec: str = "aac", video_codec: str = "libx264") -> Path:
    """A video plus a sine tone of the same duration in ``audio_codec`` (AAC; PCM as cameras write it)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=rate)
        video.width, video.height = 64, 48
        video.pix_fmt = "yuvj420p" if video_codec == "mjpeg" else "yuv420p"
        audio = out.add_stream(audio_codec, rate=16000)
        audio.format = AUDIO_SAMPLE_FORMATS[audio_codec]
        audio.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        samples = np.sin(np.arange(16000 * frames // rate) * 2 * np.pi * 440 / 16000).astype(np.float32)
        chunk = 1024
        for start in range(0, len(samples) - chunk + 1, chunk):
            af = av.AudioFrame.from_ndarray(samples[None, start : start + chunk], format="fltp", layout="mono")
            if audio.format.name != "fltp":
                af = av.AudioFrame.from_ndarray((samples[None, start : start + chunk] * 20000).astype(np.int16), format="s16", layout="mono")
            af.sample_rate, af.pts = 16000, start
            for packet in audio.encode(af):
                out.mux(packet)
        _flush(out, video, audio)
    return path


def two_video_streams(path, default_second: bool = True):
    """Stream 0: a small 32x24 test pattern; stream 1: the 64x48 picture (marked default if asked)."""
    with av.open(str(path), "w") as out:
        small = out.add_stream("libx264", rate=10)
        small.width, small.height, small.pix_fmt = 32, 24, "yuv420p"
        big = out.add_stream("libx264", rate=10)
        big.width, big.height, big.pix_fmt = 64, 48, "yuv420p"
        small.disposition = av.stream.Disposition(0)
        big.disposition = av.stream.Disposition.default if default_second else av.stream.Disposition(0)
        for i in range(5):
            for stream, (h, w) in ((small, (24, 32)), (big, (48, 64))):
                frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 30 * i, np.uint8), format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    out.mux(packet)
        _flush(out, small, big)
    return path
