"""Many videos in one command: inputs expanded, finished videos skipped, processes in parallel, shards.

Each video writes ``OUT/<stem>.mp4`` (overlay) and ``OUT/<stem>.csv``; both are written under a
temporary name and renamed at the end, so a video whose two files exist is finished and a re-run
skips it. ``OUT/summary.csv`` gets one line per video of this run: done, skipped or error (with the
one-line error), frames, frames with faces, face rows and frames/s. ``--shard i/n`` takes every
n-th video of the sorted list, from the i-th (0-based), so n machines or array jobs share a list.
"""
from __future__ import annotations

import csv
import glob
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tracker.jobs.pipeline import PipelineConfig, RunOutputs

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
SUMMARY_NAME = "summary.csv"
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
        raise ValueError(f"--shard takes i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return index, count


def expand_inputs(items: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders as their video files, and glob patterns; sorted, without repeats.

    A path that names nothing is kept, so that it gets its own error line."""
    found: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.update(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif not path.exists() and glob.has_magic(str(item)):
            found.update(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
        else:
            found.add(path)
    return sorted(found)


def outputs_for(video: Path, out_dir: Path) -> RunOutputs:
    return RunOutputs(overlay=out_dir / f"{video.stem}.mp4", csv=out_dir / f"{video.stem}.csv")


def is_finished(outputs: RunOutputs) -> bool:
    return all(p is not None and p.is_file() for p in (outputs.overlay, outputs.csv))


def track_one(video: Path, out_dir: Path, config: PipelineConfig) -> VideoRow:
    """One video to its overlay and CSV; any failure becomes an error row (the batch goes on)."""
    from tracker.jobs.pipeline import run_video

    outputs = outputs_for(video, out_dir)
    if is_finished(outputs):
        return VideoRow(str(video), SKIPPED)
    try:
        summary = run_video(video, outputs, config)
    except Exception as err:  # noqa: BLE001  one bad file must not stop the others
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        return VideoRow(str(video), ERROR, error=message)
    return VideoRow(str(video), DONE, summary.frames, summary.frames_with_faces, summary.faces, round(summary.fps, 2))


def run_batch(
    videos: Sequence[Path], out_dir: Path, config: PipelineConfig, workers: int = 1, shard: tuple[int, int] = (0, 1),
    report: Callable[[VideoRow], None] | None = None,
) -> list[VideoRow]:
    """Track ``videos`` (this shard's share) into ``out_dir``; rows in input order, also in summary.csv."""
    stems = [v.stem for v in videos]
    if duplicates := sorted({s for s in stems if stems.count(s) > 1}):
        raise ValueError(f"two inputs share the name {duplicates[0]!r}: their outputs would collide")
    out_dir.mkdir(parents=True, exist_ok=True)
    index, count = shard
    mine = [v for i, v in enumerate(videos) if i % count == index]
    rows: list[VideoRow] = []
    if workers <= 1:
        for video in mine:
            rows.append(track_one(video, out_dir, config))
            if report:
                report(rows[-1])
    else:
        # spawn, not fork: a forked PyTorch process can hang on its parent's OpenMP state
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for row in pool.map(track_one, mine, [out_dir] * len(mine), [config] * len(mine)):
                rows.append(row)
                if report:
                    report(row)
    summary = out_dir / (SUMMARY_NAME if count == 1 else f"summary.shard{index}of{count}.csv")
    tmp = summary.with_name(summary.name + ".partial")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(VideoRow("", "")).keys()))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    tmp.replace(summary)
    return rows


__all__ = ["VideoRow", "expand_inputs", "parse_shard", "run_batch", "track_one"]
