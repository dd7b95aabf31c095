"""Stopping a run from outside: SIGTERM (Slurm, Kubernetes, systemd) ends it as Ctrl-C does, cleaning up."""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. A ``BaseException``, as ``KeyboardInterrupt`` is, so every cleanup path that
    removes partial outputs on an interrupt runs for it too, and ``except Exception`` does not swallow it."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises ``Terminated`` in the main thread (a no-op outside it)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


_working = threading.Event()  # a batch worker is inside a video (else it waits for one)


def _stop_worker(signum: int, frame: FrameType | None) -> None:
    if _working.is_set():
        raise Terminated  # the video's cleanup removes its partial files
    os._exit(EXIT_TERMINATED)  # idle: nothing to clean, and no traceback from the executor's loop


def worker_signals() -> None:
    """For batch worker processes: Ctrl-C is the parent's to handle (it stops the workers with SIGTERM),
    so a worker ignores SIGINT; SIGTERM ends the video at hand cleanly (see ``working``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)


@contextmanager
def working() -> Iterator[None]:
    """Marks a worker busy with a video: SIGTERM then raises ``Terminated`` inside it."""
    _working.set()
    try:
        yield
    finally:
        _working.clear()
