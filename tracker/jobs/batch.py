"""Many videos in one command: inputs expanded, finished videos skipped, processes in parallel, shards.

Each video writes ``OUT/<stem>.mp4`` (overlay) and ``OUT/<stem>.csv`` (``<stem>_video.*`` for a video
named like the summary); both are written under a temporary name and renamed at the end. A re-run
skips a video only if both are complete (the CSV covers frames 0..n-1 and the overlay holds n frames);
anything else is redone. ``OUT/summary.csv`` gets one line per video of this run: done, skipped or error (with the
one-line error), frames, frames with faces, face rows and frames/s. ``--shard i/n`` takes every
n-th video of the sorted list, from the i-th (0-based), so n machines or array jobs share a list.
"""
from __future__ import annotations

import csv
import glob
import io
import multiprocessing
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tracker.io.atomic import atomic_write
from tracker.errors import InputError
from tracker.jobs.interruption import worker_signals, working
from tracker.jobs.pipeline import PipelineConfig, RunOutputs

# What a folder's videos are called: the containers FFmpeg (so PyAV) reads that hold video
VIDEO_SUFFIXES = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp",
    ".3g2", ".ogv", ".mxf", ".vob", ".asf", ".f4v", ".divx", ".nut", ".y4m", ".h264", ".264", ".h265", ".hevc", ".mjpeg",
)
SUMMARY_NAME = "summary.csv"
WORKER_EXIT_SECONDS = 30  # how long an interrupted batch waits for each worker to clean up
RESERVED_SUFFIX = "_video"  # appended to the outputs of a video named like a summary
DONE, SKIPPED, ERROR = "done", "skipped", "error"


@dataclass
class VideoRow:
    video: str
    status: str
    frames: int = 0
    frames_with_faces: int = 0
    faces: int = 0
    fps: float = 0.0
    error: str = ""


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"--shard takes i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise InputError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return index, count


def expand_inputs(items: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders as their video files, and glob patterns; sorted, without repeats.

    A path that names nothing, a pattern that matches no file, or a folder without a video is kept as
    given, so that it gets its own error line (and the run its failing exit code)."""
    found: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            videos = {p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES}
            found.update(videos or {path})
        elif not path.exists() and glob.has_magic(str(item)):
            matches = {Path(p) for p in glob.glob(str(item)) if Path(p).is_file()}
            found.update(matches or {path})
        else:
            found.add(path)
    return sorted(found)


def summary_path(out_dir: Path, shard: tuple[int, int] = (0, 1)) -> Path:
    index, count = shard
    return out_dir / (SUMMARY_NAME if count == 1 else f"summary.shard{index}of{count}.csv")


def output_stem(video: Path) -> str:
    """The name of a video's outputs: its stem, unless that is a batch summary's name (``summary`` or
    ``summary.shardIofN``), whose outputs then get ``_video`` appended so the two never collide."""
    stem = video.stem
    reserved = stem.lower() == Path(SUMMARY_NAME).stem or re.fullmatch(r"summary\.shard\d+of\d+", stem.lower())
    return f"{stem}{RESERVED_SUFFIX}" if reserved else stem


def outputs_for(video: Path, out_dir: Path) -> RunOutputs:
    stem = output_stem(video)
    return RunOutputs(overlay=out_dir / f"{stem}.mp4", csv=out_dir / f"{stem}.csv")


def csv_frames(path: Path) -> int | None:
    """Frames a landmark CSV covers (0..n-1, each with at least one row, file ending in a full line), or None."""
    try:
        text = path.read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or not text.endswith("\n") or any(len(r) != len(rows[0]) or None in r.values() for r in rows):
        return None
    try:
        frames = sorted({int(r["frame"]) for r in rows})
    except (KeyError, TypeError, ValueError):
        return None
    return len(frames) if frames == list(range(len(frames))) else None


def overlay_frames(path: Path) -> int | None:
    """Video packets an overlay really holds (demuxed, so a cut-off file counts what is left), or None."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def is_finished(outputs: RunOutputs) -> bool:
    """Whether a video's outputs are complete: the CSV covers frames 0..n-1 and the overlay holds n frames."""
    if not all(p is not None and p.is_file() for p in (outputs.overlay, outputs.csv)):
        return False
    assert outputs.csv is not None and outputs.overlay is not None
    frames = csv_frames(outputs.csv)
    return frames is not None and overlay_frames(outputs.overlay) == frames


def track_one(video: Path, out_dir: Path, config: PipelineConfig) -> VideoRow:
    """One video to its overlay and CSV; any failure becomes an error row (the batch goes on)."""
    from tracker.jobs.pipeline import run_video

    if video.is_dir():
        return VideoRow(str(video), ERROR, error=f"no video file in this folder (looked for {', '.join(VIDEO_SUFFIXES)})")
    outputs = outputs_for(video, out_dir)
    if is_finished(outputs):
        return VideoRow(str(video), SKIPPED)
    try:
        with working():
            summary = run_video(video, outputs, config)
    except Exception as err:  # noqa: BLE001  one bad file must not stop the others
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        return VideoRow(str(video), ERROR, error=message)
    return VideoRow(str(video), DONE, summary.frames, summary.frames_with_faces, summary.faces, round(summary.fps, 2))


def read_summary(path: Path) -> dict[str, VideoRow]:
    """The rows of an earlier run's summary, by video (empty where there is none or it is unreadable)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {r["video"]: VideoRow(r["video"], r["status"], int(r["frames"]), int(r["frames_with_faces"]), int(r["faces"]),
                                     float(r["fps"]), r["error"]) for r in rows}
    except (OSError, KeyError, TypeError, ValueError, csv.Error):
        return {}


def with_earlier_numbers(rows: list[VideoRow], earlier: dict[str, VideoRow]) -> list[VideoRow]:
    """Skipped videos keep the numbers of the run that tracked them (status stays ``skipped``)."""
    out = []
    for row in rows:
        before = earlier.get(row.video)
        if row.status == SKIPPED and before is not None and before.frames:
            row = VideoRow(row.video, SKIPPED, before.frames, before.frames_with_faces, before.faces, before.fps)
        out.append(row)
    return out


def run_batch(
    videos: Sequence[Path], out_dir: Path, config: PipelineConfig, workers: int = 1, shard: tuple[int, int] = (0, 1),
    report: Callable[[VideoRow], None] | None = None,
) -> list[VideoRow]:
    """Track ``videos`` (this shard's share) into ``out_dir``; rows in input order, also in summary.csv."""
    stems = [output_stem(v) for v in videos]
    if duplicates := sorted({s for s in stems if stems.count(s) > 1}):
        raise InputError(f"two inputs share the name {duplicates[0]!r}: their outputs would collide")
    index, count = shard
    if not 0 <= index < count:
        raise InputError(f"shard (i, n) needs 0 <= i < n, got {shard}")
    out_dir.mkdir(parents=True, exist_ok=True)
    mine = [v for i, v in enumerate(videos) if i % count == index]
    rows: list[VideoRow] = []

    def finished(row: VideoRow) -> None:
        rows.append(row)
        if report:
            report(row)

    try:
        if workers <= 1:
            for video in mine:
                finished(track_one(video, out_dir, config))
        else:
            _track_in_processes(mine, out_dir, config, workers, finished)
    finally:  # on Ctrl-C or SIGTERM too: the summary of what finished, then the interrupt goes on
        write_summary(summary_path(out_dir, shard), rows)
    return rows


def _track_in_processes(
    videos: Sequence[Path], out_dir: Path, config: PipelineConfig, workers: int, finished: Callable[[VideoRow], None],
) -> None:
    """``track_one`` over worker processes, rows in input order. If this process is interrupted (Ctrl-C,
    SIGTERM) the workers get SIGTERM, remove their partial files and exit before the interrupt goes on."""
    # spawn, not fork: a forked PyTorch process can hang on its parent's OpenMP state
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_signals)
    try:
        futures = [pool.submit(track_one, video, out_dir, config) for video in videos]
        for future in futures:
            finished(future.result())
    except BaseException:
        processes = list(pool._processes.values())  # the executor has no public way to stop running work
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(WORKER_EXIT_SECONDS)
        raise
    pool.shutdown()


def write_summary(summary: Path, rows: list[VideoRow]) -> None:
    """One line per video of this run; skipped videos keep the numbers of the run that tracked them."""
    rows = with_earlier_numbers(rows, read_summary(summary))
    with atomic_write(summary) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(VideoRow("", "")).keys()))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


__all__ = ["VideoRow", "expand_inputs", "parse_shard", "run_batch", "track_one"]
