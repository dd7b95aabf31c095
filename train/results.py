"""A run's results as a few files of bounded size: weights, logs, metrics and plots, not checkpoints.

Machines that hand back only a few small files (a lent GPU: at most 8 files of 16 MiB) get the run
directory as one uncompressed tar (weights do not compress) cut into parts; ``cat run.tar.* > run.tar``
joins them again.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

PART_BYTES = 15 * 2**20  # under a 16 MiB transfer limit
SKIPPED = ("checkpoint.pt", "checkpoint.partial")  # resumable state stays with the run, not the results
ARCHIVE = "run.tar"


def bundle_results(run_dir: Path, out_dir: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """Write ``run_dir`` (less its checkpoint) to ``out_dir/run.tar.NN`` parts; returns the parts."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.name not in SKIPPED:
                tar.add(path, arcname=str(path.relative_to(run_dir)))
    data = buffer.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f"{ARCHIVE}.*"):
        old.unlink()
    parts = []
    for index, start in enumerate(range(0, len(data), part_bytes)):
        part = out_dir / f"{ARCHIVE}.{index:02d}"
        part.write_bytes(data[start : start + part_bytes])
        parts.append(part)
    return parts


def unbundle_results(parts_dir: Path, out_dir: Path) -> None:
    """Join ``run.tar.NN`` parts and extract them into ``out_dir``."""
    data = b"".join(p.read_bytes() for p in sorted(Path(parts_dir).glob(f"{ARCHIVE}.*")))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(out_dir, filter="data")


__all__ = ["bundle_results", "unbundle_results"]
