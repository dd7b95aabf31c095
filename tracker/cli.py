"""The ``tracker`` command. Training and evaluation subcommands are entry-point plugins."""
from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.defaults import DEFAULT_DETECTOR, MAX_FACES, REDETECT_EVERY, SEARCH_EVERY, X264_PRESET
from tracker.cli_shared import (
    DEFAULT_DEVICE, EXIT_FAILURE, DeviceOpt, FlipOpt, GhcuOpt, SmoothOpt, StacksOpt, WeightsOpt, fail, user_errors,
)
from tracker.jobs.interruption import raise_on_sigterm

if TYPE_CHECKING:
    from tracker.api import VideoTracker
    from tracker.jobs.pipeline import RunOutputs, RunSummary

app = typer.Typer(help="Face-landmark video tracker (stacked hourglass + Semantic Alignment + GHCU).", no_args_is_help=True, rich_markup_mode=None)

PLUGIN_GROUP = "sa_tracker.commands"

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or summary")]


@contextmanager
def progress_bar(quiet: bool, label: str) -> Iterator[Callable[[int, int | None], None] | None]:
    if quiet or not sys.stderr.isatty() and not sys.stdout.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[fps]:.1f} frames/s"), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=None, fps=0.0)
        clock: list[float] = []

        def update(done: int, total: int | None) -> None:
            import time

            now = time.perf_counter()
            clock.append(now)
            rate = (len(clock) - 1) / (now - clock[0]) if len(clock) > 1 and now > clock[0] else 0.0
            bar.update(task, completed=done, total=total, fps=rate)

        yield update


def _report(summary: RunSummary, outputs: RunOutputs, quiet: bool) -> None:
    if quiet:
        return
    written = ", ".join(str(p) for p in (outputs.overlay, outputs.csv, outputs.json, outputs.pts_dir) if p)
    typer.echo(
        f"{summary.frames} frames ({summary.frames_with_faces} with faces, {summary.unreadable} unreadable) "
        f"in {summary.seconds:.1f}s, {summary.fps:.1f} frames/s -> {written or 'no outputs requested'}"
    )


@app.command()
def run(
    videos: Annotated[list[Path], typer.Argument(help="input video(s) (any format FFmpeg reads), folders of videos or quoted globs")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="overlay video (H.264 .mp4)")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="per-frame, per-face CSV")] = None,
    json: Annotated[Path | None, typer.Option("--json", help="per-frame JSON")] = None,
    pts_dir: Annotated[Path | None, typer.Option("--pts-dir", help="write DIR/annot/000001.pts (300-VW layout)")] = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = DEFAULT_DEVICE,
    ghcu: GhcuOpt = True,
    smooth: SmoothOpt = True,
    redetect_every: Annotated[int, typer.Option(min=1, help="while tracking, detect every N frames to pick up new faces")] = REDETECT_EVERY,
    search_every: Annotated[int, typer.Option(min=1, help="with no face tracked, detect every N frames (and on every cut)")] = SEARCH_EVERY,
    max_faces: Annotated[int, typer.Option(min=1, help="faces tracked at once; in a bigger crowd the first found are kept, and the run says so")] = MAX_FACES,
    derotate: Annotated[bool, typer.Option("--derotate/--no-derotate", help="level each crop by the eye line")] = True,
    lines: Annotated[bool, typer.Option("--lines/--no-lines", help="draw contour lines")] = True,
    pose_axes: Annotated[bool, typer.Option("--pose-axes/--no-pose-axes", help="draw the head pose as a 3-D axis at the nose (the pose is in every output either way)")] = True,
    focal_length: Annotated[float | None, typer.Option(min=1.0, help="the camera's focal length in pixels, for the head pose (default: the frame's larger side)")] = None,
    detector: Annotated[str, typer.Option(help="face detector plugin (mtcnn, haar or a registered one)")] = DEFAULT_DETECTOR,
    flip_test: FlipOpt = False,
    stacks: StacksOpt = None,
    x264_preset: Annotated[str, typer.Option(help="overlay encoding: ultrafast (fastest, bigger) ... veryslow")] = X264_PRESET,
    stream: Annotated[int | None, typer.Option(min=0, help="the input's video stream, numbered as ffprobe does (default: the one marked default, else the largest)")] = None,
    face_threads: Annotated[int | None, typer.Option(min=1, help="CPU threads sharing a frame's faces (default: one per core, up to 4)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="many videos: OUT_DIR/<name>.mp4 + <name>.csv each, and summary.csv")] = None,
    workers: Annotated[int, typer.Option(min=1, help="with --out-dir: videos tracked in parallel processes")] = 1,
    shard: Annotated[str, typer.Option(help="with --out-dir: i/n takes every n-th video from the i-th (0-based), for n machines")] = "0/1",
    quiet: QuietOpt = False,
) -> None:
    """Track 68 landmarks on every face of each video and write an overlay and/or per-frame files."""
    from tracker.api import DrawConfig, GraphOptions, TrackerConfig, VideoTracker
    from tracker.jobs.batch import parse_shard
    from tracker.jobs.pipeline import RunOutputs
    from tracker.pose import PoseConfig

    if out_dir is None and len(videos) != 1:
        fail("several videos need --out-dir (one overlay and CSV per video there)")
    outputs = RunOutputs(out, csv, json, pts_dir)
    if out_dir is None and not any((out, csv, json, pts_dir)):
        fail("nothing to write: give --out, --csv, --json and/or --pts-dir")
    with user_errors():
        shard_of = parse_shard(shard)
        tracking = TrackerConfig(
            redetect_every=redetect_every, search_every=search_every, max_faces=max_faces, derotate=derotate,
            smoothing=smooth, pose_config=PoseConfig(focal_length=focal_length),
        )
        network = GraphOptions(ghcu=ghcu, flip_test=flip_test, num_stacks=stacks)
        look = {"draw": DrawConfig(lines=lines, pose_axes=pose_axes), "x264_preset": x264_preset, "stream": stream}
        with VideoTracker(weights, device, detector, tracking, network, face_threads) as tracker:
            if out_dir is not None:
                _run_many(tracker, videos, out_dir, workers, shard_of, quiet, look)
                return
            with progress_bar(quiet, videos[0].name) as progress:
                summary = tracker.write(videos[0], out, csv, json, pts_dir, progress, **look)
    _report(summary, outputs, quiet)


def _run_many(
    tracker: VideoTracker, videos: list[Path], out_dir: Path, workers: int, shard: tuple[int, int], quiet: bool,
    look: dict[str, Any],
) -> None:
    from tracker.jobs.batch import ERROR

    def report(row) -> None:
        if row.status == ERROR:  # even with --quiet: a failed input is never silent
            typer.echo(f"{row.status:7s} {row.video}: {row.error}", err=True)
        elif not quiet:
            detail = f"{row.frames} frames, {row.fps:.1f} frames/s" if row.frames else ""
            typer.echo(f"{row.status:7s} {row.video}" + (f": {detail}" if detail else ""))

    rows = tracker.write_many(videos, out_dir, workers, shard, report, **look)
    failed = sum(r.status == ERROR for r in rows)
    if not quiet:
        typer.echo(f"{len(rows)} videos: {len(rows) - failed} done or skipped, {failed} failed -> {out_dir}")
    if failed:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="overlay video to write")] = Path("demo_overlay.mp4"),
    csv: Annotated[Path | None, typer.Option("--csv", help="per-frame CSV")] = None,
    frames: Annotated[int, typer.Option(help="length of the generated clip")] = 90,
    weights: WeightsOpt = None,
    device: DeviceOpt = DEFAULT_DEVICE,
    quiet: QuietOpt = False,
) -> None:
    """Make a short sample clip (a bundled portrait under a moving camera) and track it."""
    from tracker.api import VideoTracker
    from tracker.jobs.demo import make_demo_clip
    from tracker.jobs.pipeline import RunOutputs

    with tempfile.TemporaryDirectory() as tmp, user_errors(), VideoTracker(weights=weights, device=device) as tracker:
        clip = make_demo_clip(Path(tmp) / "demo_input.mp4", frames)
        with progress_bar(quiet, "demo") as progress:
            summary = tracker.write(clip, out=out, csv=csv, progress=progress)
    _report(summary, RunOutputs(overlay=out, csv=csv), quiet)


@app.command()
def webcam(
    camera: Annotated[int, typer.Option(help="camera index")] = 0,
    source: Annotated[Path | None, typer.Option(help="read this video file instead of a camera")] = None,
    headless: Annotated[bool, typer.Option(help="no window (for tests and servers): print per-frame fps instead")] = False,
    max_frames: Annotated[int | None, typer.Option(help="stop after this many frames")] = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = DEFAULT_DEVICE,
    ghcu: GhcuOpt = True,
    smooth: SmoothOpt = True,
) -> None:
    """Live overlay with frames/s from a camera (or a file); q or Esc quits."""
    from tracker.api import GraphOptions, TrackerConfig, VideoTracker

    tracking, network = TrackerConfig(smoothing=smooth), GraphOptions(ghcu=ghcu)
    with user_errors(), VideoTracker(weights, device, tracking=tracking, network=network) as tracker:
        frames, fps = tracker.show(source if source is not None else camera, headless, max_frames)
    typer.echo(f"{frames} frames, {fps:.1f} frames/s")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="the ONNX file to write (docs/export.md: inputs, outputs, metadata)")],
    weights: WeightsOpt = None,
    ghcu: GhcuOpt = True,
    flip_test: FlipOpt = False,
    stacks: StacksOpt = None,
) -> None:
    """Write the landmark network as one ONNX graph (uint8 crops in; points, confidences, face score out),
    the graph `tracker run` runs on a CPU, for use elsewhere."""
    from tracker.network.options import GraphOptions
    from tracker.network.weights_registry import weights_path

    with user_errors():
        from tracker.models import load_weights
        from tracker.network.onnx_export import export_landmark_graph

        path = export_landmark_graph(load_weights(weights_path(weights)), out, GraphOptions(ghcu, flip_test, stacks))
    typer.echo(f"wrote {path}")


def _add_plugins() -> None:
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            plugin = ep.load()
        except ImportError as err:  # e.g. an optional extra missing: the rest of the CLI still works
            logging.getLogger(__name__).debug("plugin %s unavailable: %s", ep.name, err)
            continue
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=ep.name)
        else:
            app.command(ep.name)(plugin)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    builtin = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback is not None}
    if len(sys.argv) < 2 or sys.argv[1] not in builtin:  # a built-in command needs no plugin loaded
        _add_plugins()
    raise_on_sigterm()  # SIGTERM ends a run as Ctrl-C does: partial files removed, one line (cli_shared.user_errors)
    app()
