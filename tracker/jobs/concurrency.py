"""Overlap I/O with compute: a read-ahead thread for decoding and an in-order worker for encoding.

Decoding (PyAV), encoding (libx264), OpenCV and PyTorch release the GIL, so one producer thread and
one consumer thread keep the network busy while frames are decoded and overlays encoded. Errors in
either thread are re-raised in the caller's thread.

Every wait on a queue is a short timed wait that re-checks whether to stop. A Ctrl-C raised in the
main thread in the middle of a queue operation can lose a wakeup (Python's locks and conditions are
not safe against asynchronous exceptions); an untimed wait would then block forever and the run
would hang instead of stopping.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

READ_AHEAD = 8  # frames decoded ahead of the tracker
WRITE_BEHIND = 8  # frames waiting to be drawn and encoded
POLL_SECONDS = 0.1  # how often a waiting thread re-checks for a stop
_DONE = object()


class _Cancelled(Exception):
    pass


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``items`` produced by a background thread up to ``depth`` ahead of the consumer.

    Use as a context manager: leaving it stops and joins the thread, so the source can be closed.
    """

    def __init__(self, items: Iterable[T], depth: int = READ_AHEAD) -> None:
        self.items = items
        self.buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="read-ahead", daemon=True)

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless the consumer has stopped; False once it has."""
        while not self.stop.is_set():
            try:
                self.buffer.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            self._put(_Failure(err))

    def __enter__(self) -> ReadAhead[T]:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self.buffer.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self.thread.is_alive() and self.buffer.empty():
                    return  # the producer was stopped before its end: nothing more will come
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]


class InOrderWorker(Generic[T]):
    """Run ``handle`` on submitted items, in submission order, in one background thread."""

    def __init__(self, handle: Callable[[T], None], depth: int = WRITE_BEHIND) -> None:
        self.handle = handle
        self.buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._consume, name="write-behind", daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.buffer.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if self.error is None:
                try:
                    self.handle(item)  # type: ignore[arg-type]
                except BaseException as err:
                    self.error = err  # later items are drained unhandled; submit/finish raise it

    def submit(self, item: T) -> None:
        self._raise()
        self._put(item)

    def _put(self, item: object) -> None:
        while self.thread.is_alive():
            try:
                self.buffer.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def cancel(self) -> None:
        """Drop whatever is still queued and stop the thread (after a failure elsewhere)."""
        if self.error is None:
            self.error = _Cancelled()
        self.stop.set()
        self.thread.join()

    def finish(self) -> None:
        """Wait until every submitted item is handled; raise the first error."""
        self._put(_DONE)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
