"""Wall-clock time per pipeline stage, for the speed benchmark (``tracker eval speed``).

Stages may run in different threads (decode, compute, draw/encode overlap), so their sum can
exceed the end-to-end time. A disabled timer (the default everywhere else) only enters and leaves
an empty context per stage.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_END = object()


class StageTimer:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        """Milliseconds per frame for each stage (total time / frames, not per call)."""
        return {name: 1e3 * s / max(frames, 1) for name, s in self.seconds.items()}


NULL_TIMER = StageTimer(enabled=False)


def timed(items: Iterable[T], timer: StageTimer, name: str) -> Iterator[T]:
    """Yield from ``items``, charging the time spent producing each item to stage ``name``."""
    iterator = iter(items)
    while True:
        with timer.stage(name):
            item = next(iterator, _END)
        if item is _END:
            return
        yield item  # type: ignore[misc]
