"""The failures a user's input causes, and the one place the commands turn them into one line.

Code raises ``InputError`` (a ``ValueError``) for bad input it was given: an unknown name, a box of the
wrong shape, an option out of range. Any other ``ValueError`` is a bug and keeps its traceback.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EXIT_FAILURE = 1


class InputError(ValueError):
    """Bad input from the user (an argument, an option, a file's contents): reported as one line."""


class WeightsError(InputError):
    """A file that is not a readable sa-tracker weights file."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """The failures a user's input can cause (imported when one happens, so ``--help`` stays light)."""
    from tracker.io.outputs import OutputError
    from tracker.io.pts import PtsFormatError
    from tracker.io.video import VideoError

    return InputError, VideoError, OutputError, PtsFormatError, FileNotFoundError


@contextmanager
def user_errors(extra: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn the failures of ``user_error_types`` (and ``extra``) into ``error: <first line>`` on stderr
    and exit code 1, Ctrl-C into ``interrupted`` (exit 130) and SIGTERM into ``terminated`` (143), once
    the run has removed its partial files; anything else propagates with its traceback."""
    import typer

    from tracker.jobs.interruption import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

    try:
        yield
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Terminated:
        typer.echo("terminated", err=True)
        raise typer.Exit(EXIT_TERMINATED) from None
    except Exception as err:
        if not isinstance(err, user_error_types() + extra):
            raise
        typer.echo(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
