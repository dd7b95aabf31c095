"""Files written whole or not at all: each is written as a hidden partial beside its final path, then
renamed onto it (atomic on one file system); a failed or interrupted write removes the partial."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_TAG = "partial"


def partial_path(path: Path) -> Path:
    """``.<stem>.<pid>.partial<suffix>`` beside ``path``: hidden, the suffix kept (for writers that pick
    the format by it) and one per process (two processes writing one file do not mix)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{PARTIAL_TAG}{path.suffix}")


def commit(partial: Path, path: Path) -> None:
    """Move a finished partial (a file or a folder) onto ``path``."""
    os.replace(partial, path)


def discard(partial: Path) -> None:
    if partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yields the partial path to write ``path`` through; it replaces ``path`` when the block ends and is
    removed if the block raises (Ctrl-C included)."""
    partial = partial_path(path)
    try:
        yield partial
    except BaseException:
        discard(partial)
        raise
    commit(partial, path)
