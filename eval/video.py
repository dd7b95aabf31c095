"""300-VW protocol: the tracker runs over each test video as a video, as users run it.

Error per annotated frame = mean point-to-point error / outer-eye-corner distance (68 points, or 49
without the jaw line). Each video is initialised either by the face detector on its frames
(``init="detector"``: the default, the user's situation) or by the canonical crop of the first
annotated frame's ground truth (``init="ground-truth"``). With several faces in view, the one
whose landmark box overlaps the annotation most is scored. A frame where the tracker has no face
counts as a failure (error = inf): it is in the failure rate and left out of the mean error. A frame
where a tracked face does not overlap the annotated one at all is a stray frame (in these
one-face sequences: a track on something that is not a face).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tracker.metrics import NO_JAW, nme
from tracker.datasets.vw300 import Sequence
from tracker.geometry import crop_from_points
from tracker.results import Face
from tracker.tracking.face_tracker import FaceTracker, crop_box, iou

Init = Literal["detector", "ground-truth"]


@dataclass
class SequenceResult:
    name: str
    errors: dict[str, np.ndarray]  # per annotated frame; inf where no face was tracked
    frames: int
    stray_frames: int = 0  # annotated frames with a tracked face that does not overlap the annotation


def _overlaps(faces: list[Face], gt: np.ndarray) -> list[float]:
    box = crop_box(crop_from_points(gt))
    return [iou(box, crop_box(crop_from_points(f.points))) for f in faces]


def best_match(faces: list[Face], gt: np.ndarray, overlaps: list[float] | None = None) -> Face | None:
    """The face whose landmark box overlaps the annotation's most (``overlaps``: already computed)."""
    if not faces:
        return None
    overlaps = _overlaps(faces, gt) if overlaps is None else overlaps
    best = int(np.argmax(overlaps))
    return faces[best] if overlaps[best] > 0 else None


def evaluate_sequence(
    sequence: Sequence, make_tracker: Callable[[], FaceTracker], init: Init = "detector"
) -> SequenceResult:
    notes = sequence.annotations()
    tracker = make_tracker()
    preds, gts = [], []
    frames = stray = 0
    for frame in sequence.frames():
        frames += 1
        if frame.image is None:
            faces: list[Face] = []
        elif init == "ground-truth" and not tracker.tracks and not gts and frame.index in notes:
            faces = tracker.seed(frame.image, crop_from_points(notes[frame.index]))
        else:
            faces = tracker.step(frame.image)
        if frame.index not in notes:
            continue
        gt = notes[frame.index]
        overlaps = _overlaps(faces, gt)
        stray += int(any(overlap == 0 for overlap in overlaps))
        match = best_match(faces, gt, overlaps)
        preds.append(match.points if match is not None else np.full_like(gt, np.nan))
        gts.append(gt)
    if not gts:
        return SequenceResult(sequence.name, {"nme_io": np.zeros(0), "nme_io_49": np.zeros(0)}, frames)
    pred, gt = np.stack(preds), np.stack(gts)
    errors = {"nme_io": nme(pred, gt, "inter_ocular"), "nme_io_49": nme(pred, gt, "inter_ocular", points=NO_JAW)}
    return SequenceResult(sequence.name, {k: np.where(np.isnan(v), np.inf, v) for k, v in errors.items()}, frames, stray)
