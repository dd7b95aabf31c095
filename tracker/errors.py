"""The failures a user's input or environment causes, as exception types; this module imports nothing.

Code raises ``InputError`` (a ``ValueError``) for bad input it was given: an unknown name, a box of the
wrong shape, an option out of range. Any other ``ValueError`` is a bug and keeps its traceback. Every
type here derives from ``TrackerError``, which the commands report as one line
(``tracker.cli_shared.user_errors``).
"""
from __future__ import annotations


class TrackerError(Exception):
    """A failure the user can act on (bad input, a file that cannot be read or written): one line, exit 1."""


class InputError(TrackerError, ValueError):
    """Bad input from the user (an argument, an option, a file's contents)."""


class WeightsError(InputError):
    """A file that is not a readable sa-tracker weights file."""


class PtsFormatError(TrackerError, ValueError):
    """A ``.pts`` file that does not follow the ``version / n_points / { ... }`` layout."""


class VideoError(TrackerError, RuntimeError):
    """A video that cannot be opened, decoded or written; the message is one line for the user."""


class OutputError(TrackerError, RuntimeError):
    """An output file that cannot be written."""
