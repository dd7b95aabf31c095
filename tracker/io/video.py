"""Video in and out with PyAV: any container FFmpeg reads; H.264 (libx264, yuv420p) out with audio copied
(re-encoded where the output container cannot hold the source's audio codec).

Frames come out upright (rotation metadata applied), as RGB uint8, with their presentation
timestamps so variable frame rate survives the round trip.
"""
from __future__ import annotations

import functools
import heapq
import io
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tracker.io.atomic import commit, discard, partial_path
from tracker.errors import VideoError
from tracker.defaults import X264_PRESET  # noqa: F401  (re-exported: the encoder's default)

log = logging.getLogger(__name__)

DEFAULT_RATE = Fraction(30)  # when a stream declares no frame rate at all
# What writing a file can raise (a full disk, a codec or muxer that refuses the data), as opposed to a bug
WRITE_ERRORS: tuple[type[Exception], ...] = (OSError, av.error.FFmpegError)
H264_CRF = 20  # x264 constant rate factor: visually near-lossless for overlays
STREAMABLE = {"movflags": "+faststart"}  # MP4/MOV index at the front: players stream from the start
ISO_MEDIA_SUFFIXES = (".mp4", ".m4v", ".mov")
# The standard layout for a channel count, for audio whose header names none (PCM in AVI, many cameras)
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
AUDIO_FALLBACK_CODEC = "aac"  # what audio the output container cannot hold as it is becomes (MP4, MOV, MKV take it)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# The fastest preset by default: the same CRF keeps the visual quality, files are bigger (README,
# Output formats, has the sizes on the test clip).


@dataclass(frozen=True)
class VideoInfo:
    width: int  # upright (after rotation)
    height: int
    rate: Fraction
    time_base: Fraction
    frame_count: int | None  # as declared by the container; None when unknown
    rotation: int  # degrees counter-clockwise to make frames upright
    has_audio: bool


@dataclass
class Frame:
    index: int
    pts: int | None
    time: float  # seconds
    image: np.ndarray | None  # None: the frame could not be decoded
    error: str | None = None


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation in degrees counter-clockwise."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def choose_video_stream(container: av.container.InputContainer, index: int | None = None) -> av.video.stream.VideoStream:
    """Stream ``index`` if given (a video stream, numbered as ffprobe numbers them); else the video stream
    marked default, as players and ffmpeg choose (several: the largest of them), else the largest."""
    videos = list(container.streams.video)
    if index is not None:
        chosen = [s for s in videos if s.index == index]
        if not chosen:
            raise VideoError(f"stream {index} is not a video stream (video streams: {', '.join(str(s.index) for s in videos)})")
        return chosen[0]
    marked = [s for s in videos if s.disposition & av.stream.Disposition.default]
    return max(marked or videos, key=lambda s: (s.width or 0) * (s.height or 0))


class VideoReader:
    """Iterate frames of a video file; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], stream: int | None = None) -> None:
        """``stream``: the index (as ffprobe numbers the file's streams) of the video stream to read;
        None takes the one marked default, else the largest (``choose_video_stream``)."""
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"input not found: {self.path}")
        if self.path.is_dir():
            raise VideoError(f"input is a directory, not a video: {self.path}")
        try:
            self.container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
            raise VideoError(f"not a readable video: {self.path} ({_short(err)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"no video stream in {self.path}")
        try:
            self.stream = choose_video_stream(self.container, stream)
        except VideoError:
            self.container.close()
            raise
        if len(self.container.streams.video) > 1:
            log.warning("%s has %d video streams: reading stream %d (%dx%d; --stream N chooses)", self.path.name, len(self.container.streams.video),
                     self.stream.index, self.stream.width, self.stream.height)
        self.stream.thread_type = "SLICE"  # frame threads cost ~35% more CPU here; decoding has its own thread
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self._first: Frame | None = None
        self._iter = self._decode()
        self._first = next(self._iter, None)  # also reveals rotation and zero-frame files up front
        if self._first is None:
            self.close()
            raise VideoError(f"video has no decodable frames: {self.path}")
        self.info = self._make_info()

    def _make_info(self) -> VideoInfo:
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate or DEFAULT_RATE
        assert self._first is not None
        h, w = self._first.image.shape[:2] if self._first.image is not None else (self.stream.height, self.stream.width)
        return VideoInfo(
            width=w, height=h, rate=Fraction(rate), time_base=Fraction(self.stream.time_base or Fraction(1, 90000)),
            frame_count=self.stream.frames or None, rotation=self._rotation, has_audio=self.audio is not None,
        )

    _rotation: int = 0

    def _decode(self) -> Iterator[Frame]:
        index = 0
        tb = float(self.stream.time_base or 0)
        rate = float(self.stream.average_rate or self.stream.guessed_rate or DEFAULT_RATE)
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as err:
                    if packet.size == 0:
                        continue
                    yield Frame(index, packet.pts, _time(packet.pts, tb, index, rate), None, f"undecodable frame ({_short(err)})")
                    index += 1
                    continue
                for frame in frames:
                    self._rotation = int(getattr(frame, "rotation", 0) or 0)
                    image = _rotate(frame.to_ndarray(format="rgb24"), self._rotation)
                    yield Frame(index, frame.pts, _time(frame.pts, tb, index, rate), image)
                    index += 1
        except av.error.FFmpegError as err:
            log.warning("%s: stopped reading after %d frames (%s)", self.path, index, _short(err))

    def __iter__(self) -> Iterator[Frame]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._iter

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _time(pts: int | None, tb: float, index: int, rate: float) -> float:
    return float(pts * tb) if pts is not None and tb else index / rate


@dataclass(frozen=True)
class AudioPlan:
    reencode: bool  # False: the source's packets are copied
    rate: int
    layout: str | None


def _seconds(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * packet.time_base) if stamp is not None and packet.time_base else 0.0


def _copied(src: av.container.InputContainer, stream: av.audio.stream.AudioStream, end: float | None) -> Iterator[tuple[float, av.Packet]]:
    for packet in src.demux(stream):
        if packet.dts is None:
            continue
        if end is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= end:
            return
        yield _seconds(packet), packet


def _reencoded(
    src: av.container.InputContainer, stream: av.audio.stream.AudioStream, out: av.audio.stream.AudioStream, end: float | None,
) -> Iterator[tuple[float, av.Packet]]:
    """The source's audio decoded, converted to ``out``'s format, layout and rate, and encoded."""
    resampler = av.AudioResampler(format=out.format.name, layout=out.layout.name, rate=out.rate)
    for frame in src.decode(stream):
        if end is not None and frame.time is not None and frame.time >= end:
            break
        frame.pts = None  # the encoder counts samples from the start
        for converted in resampler.resample(frame):
            yield from ((_seconds(p), p) for p in out.encode(converted))
    for converted in resampler.resample(None):
        yield from ((_seconds(p), p) for p in out.encode(converted))
    yield from ((_seconds(p), p) for p in out.encode())


H264_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".flv", ".mpg", ".3gp")  # containers the overlay is tested in


@functools.lru_cache(maxsize=None)
def _holds_h264(fmt: str) -> bool:
    """Whether container format ``fmt`` takes an H.264 stream: a header and a frame written to memory."""
    try:
        with av.open(io.BytesIO(), mode="w", format=fmt) as probe:
            stream = probe.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = 0
            for packet in [*stream.encode(frame), *stream.encode()]:
                probe.mux(packet)
        return True
    except (av.error.FFmpegError, ValueError):
        return False


def audio_layout(audio: av.audio.stream.AudioStream) -> str | None:
    """The stream's channel layout by name, or the standard one for its channel count where the header
    names none (FFmpeg then calls it "N channels"); None for a count without a standard layout."""
    name = audio.codec_context.layout.name
    if name and not name.endswith("channels"):
        return name
    return DEFAULT_LAYOUTS.get(audio.codec_context.channels)


def _short(err: BaseException) -> str:
    return str(err).splitlines()[0][:160] if str(err) else type(err).__name__


class VideoWriter:
    """H.264 / yuv420p writer at the source's size and timestamps, with the source's audio copied.

    Writes to a temporary name beside ``path`` and renames on :meth:`close`; :meth:`abort` (or an
    exception inside ``with``) removes the partial file, so no half-written output is ever left.
    """

    def __init__(
        self, path: str | os.PathLike[str], info: VideoInfo, source: VideoReader | None = None, crf: int = H264_CRF,
        preset: str = X264_PRESET,
    ) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise VideoError(f"output folder does not exist: {self.path.parent}")
        if preset not in X264_PRESETS:
            raise VideoError(f"unknown x264 preset {preset!r}; use one of {', '.join(X264_PRESETS)}")
        self.tmp = partial_path(self.path if self.path.suffix else self.path.with_name(self.path.name + ".mp4"))
        fmt = None if self.path.suffix else "mp4"
        try:
            options = STREAMABLE if self.path.suffix.lower() in ISO_MEDIA_SUFFIXES or fmt else {}
            self.container = av.open(str(self.tmp), mode="w", format=fmt, options=options)
        except (av.error.FFmpegError, ValueError) as err:
            raise VideoError(f"cannot write {self.path} ({_short(err)})") from None
        if not _holds_h264(self.container.format.name):
            self.container.close()
            discard(self.tmp)
            raise VideoError(f"an overlay cannot be {self.path.suffix or 'without a suffix'}: H.264 goes into {', '.join(H264_SUFFIXES)}")
        self.stream = self.container.add_stream("libx264", rate=info.rate)
        # yuv420p needs even sizes: odd frames are padded by one replicated row/column
        self.width, self.height = info.width + info.width % 2, info.height + info.height % 2
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = info.time_base
        self.stream.codec_context.time_base = info.time_base  # frame pts are in the source's time base
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.options = options
        self.audio = self._audio_plan(source.audio if source is not None else None)
        self.time_base = info.time_base
        self._last_pts: int | None = None
        self._count = 0

    def _audio_plan(self, audio: av.audio.stream.AudioStream | None) -> AudioPlan | None:
        """How the source's audio goes into the overlay: its packets copied where this container holds
        their codec, else re-encoded to ``AUDIO_FALLBACK_CODEC``, else none (with a warning). Decided
        here, before any tracking, by writing a header into a scratch container; ``close`` still
        finishes the overlay silent where the sound fails after all."""
        if audio is None:
            return None
        fmt = self.container.format.name

        def holds(add: Callable[[av.container.OutputContainer], object]) -> bool:
            try:
                with av.open(io.BytesIO(), mode="w", format=fmt) as probe:
                    add(probe)
                    probe.start_encoding()
                return True
            except (av.error.FFmpegError, ValueError):
                return False

        rate, layout = audio.codec_context.sample_rate, audio_layout(audio)
        if holds(lambda c: c.add_stream_from_template(audio)):
            return AudioPlan(reencode=False, rate=rate, layout=layout)
        if rate and layout and holds(lambda c: c.add_stream(AUDIO_FALLBACK_CODEC, rate=rate, layout=layout)):
            log.warning("%s audio cannot go into %s as it is: re-encoded to %s", audio.codec_context.name, self.path.name,
                        AUDIO_FALLBACK_CODEC)
            return AudioPlan(reencode=True, rate=rate, layout=layout)
        log.warning("%s audio cannot go into %s: the overlay has no sound", audio.codec_context.name, self.path.name)
        return None

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        h, w = image.shape[:2]
        if (w, h) != (self.width, self.height):
            image = np.pad(image, ((0, self.height - h), (0, self.width - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = self._count if self._last_pts is None else self._last_pts + 1
        frame.pts = pts
        self._last_pts = pts
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self._count += 1

    def _video_end(self) -> float | None:
        """The time just after the last frame written, in seconds (None before any)."""
        if self._last_pts is None:
            return None
        return float((self._last_pts + 1) * self.time_base)

    def close(self, source_path: Path | None = None) -> int:
        """Flush, add the source's sound, and move the finished file into place; returns frames written.

        The frames are written without sound; ``close`` then remuxes them with the source's audio into a
        second partial (packets interleaved by time, audio past the last frame left out). Sound is best
        effort: where it fails, the silent overlay is kept and one warning says so."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        if self.audio is not None and source_path is not None:
            self._add_sound(source_path, self.audio)
        commit(self.tmp, self.path)
        return self._count

    def _add_sound(self, source_path: Path, plan: AudioPlan) -> None:
        """Remux the silent partial with the source's audio as ``plan`` says; copied packets the muxer
        refuses after all are re-encoded instead; where that fails too, the partial stays silent."""
        sound = self.tmp.with_name(f"{self.tmp.stem}.sound{self.tmp.suffix}")
        try:
            self._remux_with_audio(source_path, sound, plan)
            commit(sound, self.tmp)
            return
        except WRITE_ERRORS as err:
            discard(sound)
            error = err
        if not plan.reencode and plan.rate and plan.layout:
            log.warning("the source's audio cannot be copied into %s (%s): re-encoded to %s", self.path.name, _short(error),
                        AUDIO_FALLBACK_CODEC)
            return self._add_sound(source_path, replace(plan, reencode=True))
        log.warning("the source's audio could not be written (%s): %s has no sound", _short(error), self.path.name)

    def _remux_with_audio(self, source_path: Path, sound: Path, plan: AudioPlan) -> None:
        fmt = self.container.format.name
        end = self._video_end()
        with av.open(str(self.tmp)) as silent, av.open(str(source_path)) as src, \
                av.open(str(sound), mode="w", format=fmt, options=self.options) as out:
            video_in, audio_in = silent.streams.video[0], src.streams.audio[0]  # the audio stream VideoReader takes
            video_out = out.add_stream_from_template(video_in)
            if plan.reencode:
                audio_out = out.add_stream(AUDIO_FALLBACK_CODEC, rate=plan.rate, layout=plan.layout)
                audio = _reencoded(src, audio_in, audio_out, end)
            else:
                audio_out = out.add_stream_from_template(audio_in)
                audio = _copied(src, audio_in, end)
            video = ((_seconds(p), p) for p in silent.demux(video_in) if p.dts is not None)
            for _, packet in heapq.merge(video, audio, key=lambda item: item[0]):
                packet.stream = video_out if packet.stream is video_in else audio_out
                out.mux(packet)

    def abort(self) -> None:
        try:
            self.container.close()
        except av.error.FFmpegError:
            pass
        discard(self.tmp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()


def count_frames(path: str | os.PathLike[str]) -> tuple[int, tuple[int, int]]:
    """Decode a whole file: (frames, (width, height)). For tests and checks."""
    with VideoReader(path) as reader:
        n = sum(1 for f in reader if f.image is not None)
        return n, (reader.info.width, reader.info.height)
