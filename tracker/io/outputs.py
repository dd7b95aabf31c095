"""Per-frame outputs: CSV rows, a JSON document and 300-VW style ``.pts`` files; written atomically."""
from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tracker.io.atomic import atomic_write, commit, discard, partial_path
from tracker.errors import OutputError
from tracker.markup import NUM_POINTS
from tracker.pose import HeadPose
from tracker.io.pts import write_pts
from tracker.results import Face

POSE_COLUMNS = ("yaw", "pitch", "roll", "tx", "ty", "tz")  # degrees; mm (docs/pose.md); empty when not fitted
NO_FACE = "no_face"
UNREADABLE = "unreadable"
CSV_COLUMNS = (
    ["frame", "time", "face_id", "status", "face_confidence", "face_score"]
    + [f"x_{i}" for i in range(NUM_POINTS)]
    + [f"y_{i}" for i in range(NUM_POINTS)]
    + [f"c_{i}" for i in range(NUM_POINTS)]
    + list(POSE_COLUMNS)
)


def pose_cells(pose: HeadPose | None) -> list[str]:
    if pose is None:
        return [""] * len(POSE_COLUMNS)
    return [f"{v:.2f}" for v in (pose.yaw, pose.pitch, pose.roll)] + [f"{v:.1f}" for v in pose.translation]


def pose_json(pose: HeadPose | None) -> dict[str, Any] | None:
    """Angles (degrees), the rotation as a 3x3 matrix and a Rodrigues vector, the translation (mm), the fit's
    reprojection error (px) and the camera intrinsics used."""
    if pose is None:
        return None
    return {
        "yaw": round(pose.yaw, 2), "pitch": round(pose.pitch, 2), "roll": round(pose.roll, 2),
        "rotation": np.round(pose.rotation, 5).tolist(), "rotation_vector": np.round(pose.rotation_vector, 5).tolist(),
        "translation": np.round(pose.translation, 2).tolist(), "error_px": round(pose.error, 3),
        "camera": np.round(pose.camera, 3).tolist(),
    }


def check_output_path(path: Path | None) -> None:
    """Fail before any work when an output cannot be written."""
    if path is not None and not path.parent.is_dir():
        raise OutputError(f"output folder does not exist: {path.parent}")
    if path is not None and path.is_dir():
        raise OutputError(f"output path is a directory: {path}")
    if path is not None and not os.access(path.parent, os.W_OK):
        raise OutputError(f"output folder is not writable: {path.parent}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_distinct_outputs(source: Path, outputs: dict[str, Path | None]) -> None:
    """Fail before any work when an output would overwrite the input or another output: the input is
    never replaced by what is made from it."""
    given = {name: Path(p) for name, p in outputs.items() if p is not None}
    for name, path in given.items():
        if _same_file(path, Path(source)):
            raise OutputError(f"{name} output {path} is the input video; choose another path")
    names = list(given)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if _same_file(given[first], given[second]):
                raise OutputError(f"{first} and {second} outputs are the same file: {given[first]}")


@dataclass
class FrameRecord:
    frame: int
    time: float
    faces: Sequence[Face]
    status: str | None = None  # None: faces (or no_face); UNREADABLE for an undecodable frame
    image: np.ndarray | None = None  # the decoded frame, for the overlay (None: undecodable)
    pts: int | None = None  # its presentation timestamp in the source's time base


class CsvOutput:
    """One row per frame and face; a row with status ``no_face`` (or ``unreadable``) for frames without."""

    def __init__(self, path: Path) -> None:
        check_output_path(path)
        self.path = path
        self.tmp = partial_path(path)
        self.fh: TextIO = open(self.tmp, "w", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(CSV_COLUMNS)

    def add(self, record: FrameRecord) -> None:
        head = [record.frame, f"{record.time:.6f}"]
        if not record.faces:
            empty = [""] * (3 * NUM_POINTS + len(POSE_COLUMNS))
            self.writer.writerow(head + ["", record.status or NO_FACE, "", ""] + empty)
            return
        for face in record.faces:
            pts, conf = face.points, face.point_confidence
            self.writer.writerow(
                head + [face.face_id, face.source, f"{face.confidence:.4f}", f"{face.face_score:.4f}"]
                + [f"{v:.2f}" for v in pts[:, 0]] + [f"{v:.2f}" for v in pts[:, 1]] + [f"{v:.3f}" for v in conf]
                + pose_cells(face.pose)
            )

    def close(self) -> None:
        self.fh.close()
        commit(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        discard(self.tmp)


@dataclass
class JsonOutput:
    path: Path
    header: dict[str, Any]
    frames: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_output_path(self.path)

    def add(self, record: FrameRecord) -> None:
        self.frames.append({
            "frame": record.frame,
            "time": round(record.time, 6),
            "status": record.status or ("faces" if record.faces else NO_FACE),
            "faces": [
                {
                    "id": f.face_id, "source": f.source, "confidence": round(f.confidence, 4),
                    "face_score": round(float(f.face_score), 4),
                    "points": [[round(float(x), 2), round(float(y), 2)] for x, y in f.points],
                    "point_confidence": [round(float(c), 3) for c in f.point_confidence],
                    "pose": pose_json(f.pose),
                }
                for f in record.faces
            ],
        })

    def close(self) -> None:
        with atomic_write(self.path) as tmp:
            tmp.write_text(json.dumps({**self.header, "frames": self.frames}))

    def abort(self) -> None:
        pass


class PtsDirOutput:
    """300-VW layout: ``DIR/annot/000001.pts`` (1-based frame numbers) for the face tracked on the most
    frames (one ``face_id``: the series never switches person). Each face's files are written as the
    video goes, in a hidden folder of their own; the longest series becomes ``annot`` at the end."""

    def __init__(self, root: Path) -> None:
        if root.exists() and not root.is_dir():
            raise OutputError(f"--pts-dir is a file: {root}")
        if not root.parent.is_dir():
            raise OutputError(f"output folder does not exist: {root.parent}")
        if not os.access(root.parent, os.W_OK):
            raise OutputError(f"output folder is not writable: {root.parent}")
        self.root = root
        self.tmp = partial_path(root)
        discard(self.tmp)
        self.tmp.mkdir(parents=True)
        self.frames_per_face: dict[int, int] = {}

    def add(self, record: FrameRecord) -> None:
        for face in record.faces:
            folder = self.tmp / f"face_{face.face_id}"
            if face.face_id not in self.frames_per_face:
                folder.mkdir()
                self.frames_per_face[face.face_id] = 0
            write_pts(folder / f"{record.frame + 1:06d}.pts", face.points)
            self.frames_per_face[face.face_id] += 1

    def close(self) -> None:
        target = self.root / "annot"
        self.root.mkdir(exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        if self.frames_per_face:  # the most frames; of equals, the first seen
            longest = max(self.frames_per_face, key=lambda face_id: (self.frames_per_face[face_id], -face_id))
            commit(self.tmp / f"face_{longest}", target)
        else:
            target.mkdir()
        discard(self.tmp)

    def abort(self) -> None:
        discard(self.tmp)
