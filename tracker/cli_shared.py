"""What the ``tracker``, ``tracker train`` and ``tracker eval`` command lines share: the options that
mean the same everywhere, one-line error reporting and the exit statuses of a stop."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from tracker.errors import TrackerError
from tracker.jobs.interruption import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

EXIT_FAILURE = 1
DEFAULT_DEVICE = "auto"

WeightsOpt = Annotated[Path | None, typer.Option("--weights", help="weights file (default: the bundled model)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (a CUDA GPU where PyTorch sees one, else the CPU) | cpu | cuda[:i]")]
GhcuOpt = Annotated[bool, typer.Option("--ghcu/--no-ghcu", help="apply the GHCU (the points regressed from all heatmaps at once)")]
FlipOpt = Annotated[bool, typer.Option("--flip-test/--no-flip-test", help="also run the mirrored crop and average: more accurate, 2x the network time")]
StacksOpt = Annotated[int | None, typer.Option("--stacks", min=1, help="run only the first N hourglass stacks: faster, less accurate")]
SmoothOpt = Annotated[bool, typer.Option("--smooth/--no-smooth", help="Kalman smoothing of the points over time")]


def fail(err: BaseException | str) -> NoReturn:
    """``error: <first line>`` on stderr and exit status 1, no traceback."""
    text = str(err)
    first = text.splitlines()[0] if text else type(err).__name__
    typer.echo(f"error: {first}", err=True)
    raise typer.Exit(EXIT_FAILURE) from None


@contextmanager
def user_errors(extra: tuple[type[BaseException], ...] = (), stopped: str = "") -> Iterator[None]:
    """Turn a ``TrackerError``, a missing file (and ``extra``) into ``error: <first line>`` and exit 1,
    Ctrl-C into ``interrupted`` (exit 130) and SIGTERM into ``terminated`` (143), each followed by
    ``stopped`` where given, once the run has removed its partial files; anything else propagates with
    its traceback."""
    suffix = f": {stopped}" if stopped else ""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(f"interrupted{suffix}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Terminated:
        typer.echo(f"terminated{suffix}", err=True)
        raise typer.Exit(EXIT_TERMINATED) from None
    except (TrackerError, FileNotFoundError, *extra) as err:
        fail(err)
