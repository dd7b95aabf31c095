"""A crowd clip: many small faces moving over a face-free scene in a large frame, and how well the
tracker keeps each of them (share of frames tracked, id changes, tracks on no face).

The faces are 300-W test faces (never trained on), each with its own smooth path inside its own
cell of a grid (so they never overlap), a slowly changing size within ``widths`` and a little roll.
The truth is every face's 68 points per frame, saved beside the clip.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tracker.errors import InputError
from tracker.eval.detection import CONTEXT, blend_face, face_matrix, texture
from tracker.datasets import FaceSample, load_image_rgb
from tracker.geometry import apply_affine, crop_from_points
from tracker.tracking.face_tracker import FaceTracker, crop_box, iou
from tracker.io.video import VideoInfo, VideoReader, VideoWriter

CROWD_SIZE = (1920, 1080)
RATE = 25
SWAY = (2.0, 1.0)  # each face's path spans this many face widths each way (x, y): a walk, about 0.1 face width per frame
MATCH_IOU = 0.3  # a track covers a face when their landmark boxes overlap this much
CLIP_NAME, TRUTH_NAME = "crowd.mp4", "crowd_truth.npy"


@dataclass(frozen=True)
class CrowdSpec:
    faces: int = 10
    frames: int = 100
    widths: tuple[float, float] = (40.0, 150.0)  # landmark box side, px, in the full frame
    max_roll: float = 15.0  # degrees
    seed: int = 0


def _grid(count: int, size: tuple[int, int]) -> tuple[int, int]:
    """Columns and rows of a grid of at least ``count`` cells, as square as the frame allows."""
    w, h = size
    cols = max(1, math.ceil(math.sqrt(count * w / h)))
    return cols, math.ceil(count / cols)


def make_crowd(faces: Sequence[FaceSample], out: Path, spec: CrowdSpec = CrowdSpec(), size: tuple[int, int] = CROWD_SIZE) -> tuple[Path, Path]:
    """Write ``out/crowd.mp4`` and its truth ``out/crowd_truth.npy`` (frames, faces, 68, 2)."""
    if len(faces) < spec.faces:
        raise InputError(f"a crowd of {spec.faces} needs as many faces; got {len(faces)}")
    rng = np.random.default_rng(spec.seed)
    chosen = [faces[i] for i in rng.choice(len(faces), spec.faces, replace=False)]
    pictures = [load_image_rgb(f.image_path) for f in chosen]
    w, h = size
    cols, rows = _grid(spec.faces, size)
    cell = np.array([w / cols, h / rows])
    lo, hi = spec.widths
    base_widths = np.linspace(lo, hi, spec.faces)[rng.permutation(spec.faces)]
    phases = rng.uniform(0, 2 * np.pi, (spec.faces, 4))
    scene = texture(rng, size)
    truth = np.zeros((spec.frames, spec.faces, chosen[0].points.shape[0], 2))
    out.mkdir(parents=True, exist_ok=True)
    info = VideoInfo(w, h, Fraction(RATE), Fraction(1, RATE), spec.frames, 0, False)
    with VideoWriter(out / CLIP_NAME, info) as writer:
        for t in range(spec.frames):
            frame = scene.copy()
            u = 2 * np.pi * t / spec.frames
            for k, (face, picture) in enumerate(zip(chosen, pictures)):
                width = float(np.clip(base_widths[k] * (1 + 0.15 * math.sin(u + phases[k, 0])), lo, hi))
                room = np.maximum(cell / 2 - CONTEXT * width, 0)  # the face's disc stays inside its cell
                sway = np.minimum(room, np.array(SWAY) * width)
                centre = (np.array([k % cols, k // cols]) + 0.5) * cell
                centre += sway * np.array([math.sin(u + phases[k, 1]), math.sin(2 * u + phases[k, 2])])
                roll = spec.max_roll * math.sin(u + phases[k, 3])
                matrix = face_matrix(face, width, roll, centre)
                blend_face(frame, picture, matrix, centre, CONTEXT * width)
                truth[t, k] = apply_affine(matrix, face.points)
            writer.write(frame, t)
        writer.close()
    np.save(out / TRUTH_NAME, truth)
    return out / CLIP_NAME, out / TRUTH_NAME


def evaluate_crowd(video: Path, truth: np.ndarray, tracker: FaceTracker) -> dict[str, float | int]:
    """Track ``video``; per true face, the share of frames a track covers it and how often its id changes."""
    frames, faces = truth.shape[:2]
    covered = np.zeros((frames, faces), bool)
    ids = np.full((frames, faces), -1)
    stray = 0  # tracked faces that cover no true face
    start = time.perf_counter()
    with VideoReader(video) as reader:
        for t, frame in enumerate(reader):
            if t >= frames:
                break
            tracked = tracker.step(frame.image) if frame.image is not None else []
            boxes = [crop_box(crop_from_points(f.points)) for f in tracked]
            for f, box in zip(tracked, boxes):
                overlaps = [iou(box, crop_box(crop_from_points(truth[t, k]))) for k in range(faces)]
                best = int(np.argmax(overlaps))
                if overlaps[best] >= MATCH_IOU:
                    covered[t, best], ids[t, best] = True, f.face_id
                else:
                    stray += 1
    seconds = time.perf_counter() - start
    coverage = 100.0 * covered.mean(axis=0)
    switches = sum(int(np.count_nonzero(np.diff(row[row >= 0]))) for row in ids.T)
    return {
        "faces": faces, "frames": frames, "min_coverage": float(coverage.min()), "mean_coverage": float(coverage.mean()),
        "faces_at_90": int((coverage >= 90).sum()), "id_changes": switches, "stray_tracks": stray,
        "fps": frames / seconds,
    }


def crowd_report(
    faces: Sequence[FaceSample], out: Path, spec: CrowdSpec, make_tracker: Callable[[], FaceTracker],
) -> dict[str, float | int]:
    """Make the clip if ``out`` does not hold it yet, then track and score it."""
    clip, truth_path = out / CLIP_NAME, out / TRUTH_NAME
    made = clip.is_file() and truth_path.is_file() and np.load(truth_path, mmap_mode="r").shape[:2] == (spec.frames, spec.faces)
    if not made:
        clip, truth_path = make_crowd(faces, out, spec)
    return evaluate_crowd(clip, np.load(truth_path), make_tracker())
